"""Ablation: does adding the header (composer + instruments) at every position make the model use it?

Two short runs that differ only in ``model.header_conditioning`` (same data, seed, schedule and
attention geometry as the bundled preset: 512-token context, block_local/block_transpose in
32-token blocks, so a token deep in the window reaches the header only through strided tokens
unless it is added to every position). No composer dropout in either, so that the comparison
isolates the conditioning path. Each run is then measured by its composer posterior on the real
validation pieces of ``--composers`` (``benchmarks/composer_posterior.py``) and its validation
bits/token (``muse.evaluate``); a table is printed side by side.

    .venv/bin/python benchmarks/conditioning_ablation.py --data DATA --out /tmp/ablation
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from composer_posterior import DEFAULT_COMPOSERS, overall, posterior_rows  # noqa: E402

from muse.config import load_run_config  # noqa: E402
from muse.evaluate import evaluate  # noqa: E402
from muse.training import train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def preset(header_conditioning: bool, steps: int, width: int):  # noqa: ANN201 - MuseRunConfig
    """The bundled preset, narrowed to ``width`` x 2 layers, for ``steps`` steps."""
    run = load_run_config(REPO / "configs/muse/small.yaml")
    t = dataclasses.replace(run.model.transformer, width=width, depth=2, heads=2)
    model = dataclasses.replace(run.model, transformer=t, header_conditioning=header_conditioning)
    tc = dataclasses.replace(run.train, steps=steps, warmup_steps=max(1, steps // 10), eval_every=steps,
                             checkpoint_every=steps, log_every=max(1, steps // 10), lr=3e-3)
    data = dataclasses.replace(run.data, composer_dropout=0.0, val_crops=32)
    return dataclasses.replace(run, model=model, train=tc, data=data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset folder (muse data build)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the two run folders")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--composers", default=DEFAULT_COMPOSERS)
    parser.add_argument("--max-pieces", type=int, default=10, help="validation pieces per composer scored")
    parser.add_argument("--eval-pieces", type=int, default=60, help="validation pieces for bits/token")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    torch.set_num_threads(args.threads)
    composers = [c.strip() for c in args.composers.split(",")]
    results = {}
    for name, flag in (("header tokens only", False), ("header at every position", True)):
        folder = args.out / ("with" if flag else "without")
        start = time.perf_counter()
        if not (folder / "model").is_dir():
            train(preset(flag, args.steps, args.width), args.data, folder, progress=False)
        seconds = time.perf_counter() - start
        rows, candidates = posterior_rows(folder, args.data, composers, "valid", None, args.max_pieces)
        bits = evaluate(folder, args.data, max_pieces=args.eval_pieces).overall
        results[name] = {"overall": dataclasses.asdict(overall(rows)), "rows": [dataclasses.asdict(r) for r in rows],
                         "bits_per_token": bits.bits_per_token, "unigram": bits.unigram_bits_per_token,
                         "candidates": candidates, "train_seconds": round(seconds)}
    print(f"$ {' '.join(sys.argv)}\n")
    print("| run | top-1 | top-3 | mean posterior of the true composer | validation bits/token (unigram) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        o = r["overall"]
        print(f"| {name} | {100 * o['top1']:.0f}% | {100 * o['top3']:.0f}% | {o['mean_posterior']:.3f} | "
              f"{r['bits_per_token']:.3f} ({r['unigram']:.3f}) |")
    candidates = next(iter(results.values()))["candidates"]
    print(f"\n{candidates} candidates (chance {100 / candidates:.1f}% / {300 / candidates:.1f}%); "
          f"{args.steps} steps, width {args.width}, 2 layers")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
