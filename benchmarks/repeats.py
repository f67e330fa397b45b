"""Does a model repeat itself as music does? Copies after a recurring passage, on real and generated music.

A position "recurs" when the ``--match`` tokens ending at it occurred earlier in the same window (the most
recent occurrence); its copy is the token that followed them then. For each ``--model``:

1. on the validation windows of ``--pieces`` held-out pieces of ``--data`` (teacher-forced): the share of
   positions that recur, how often the next token is the copy (the data's own rate), and the mean
   probability the model gives the copy there (a calibrated model gives about that rate);
2. on ``--n`` pieces of ``--seconds`` s of piano per composer of ``--composers`` at the default settings
   (seed ``--seed``): the same share and rate, and the longest exact loop of each piece (the longest run of
   tokens equal to the token ``p`` earlier, over periods ``p`` of 1-64 tokens; median and max over pieces).

    .venv/bin/python benchmarks/repeats.py --model runs/stage6/model --model muse/assets/model --data DATA
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from muse.clock import Clock
from muse.core.errors import USER_ERRORS
from muse.core.token_shards import TokenDataset
from muse.fim import model_data_tokenizer
from muse.generate import MuseGenerator
from muse.train_data import WindowDataset

PERIODS = 64


def recurrences(ids: np.ndarray, match: int, start: int = 0) -> list[tuple[int, int]]:
    """(t, copy) for each t >= ``start`` whose ``match`` tokens ending at t occurred earlier in ``ids`` (T,)."""
    found, last = [], {}
    for t in range(match - 1, len(ids) - 1):
        key = tuple(ids[t - match + 1:t + 1].tolist())
        if t >= start and key in last:
            found.append((t, int(ids[last[key] + 1])))
        last[key] = t
    return found


def longest_loop(ids: np.ndarray) -> int:
    """The longest run of tokens equal to the token p before them, over p = 1..PERIODS (tokens)."""
    best = 0
    for p in range(1, min(PERIODS, len(ids) - 1) + 1):
        same = np.concatenate([[0], (ids[p:] == ids[:-p]).astype(np.int8), [0]])
        edges = np.diff(same)
        if (edges == 1).any():
            best = max(best, int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max()))
    return best


def teacher_forced(gen: MuseGenerator, data: TokenDataset, pieces: int, match: int) -> tuple[float, float, float]:
    """Share of scored positions that recur, the rate the next token is the copy, the model's mean p(copy)."""
    model = gen.model.float().eval()
    chosen = [int(i) for i in data.split_indices("valid")][:pieces]
    windows = WindowDataset(data, chosen, gen.tokenizer, model.n_ctx)
    scored = hits = 0
    probs: list[float] = []
    with torch.no_grad():
        for j in range(len(windows)):
            item = windows[j]
            ids = item["ids"][None]
            clock = Clock.of_inputs(item)
            mask = item["mask"].bool()
            seq = item["ids"].numpy()
            scored += int(mask.sum())
            found = [(t, copy) for t, copy in recurrences(seq, match) if t < len(mask) and mask[t]]
            if not found:
                continue
            copies = ids[:, 1:].clone()  # the copy at each recurring position: its nll is -log p(copy)
            at = torch.as_tensor([t for t, _ in found])
            copies[0, at] = torch.as_tensor([copy for _, copy in found])
            nll = model(ids[:, :-1], clock, item["total_us"][None], targets=copies)[0]
            hits += sum(int(seq[t + 1] == copy) for t, copy in found)
            probs.extend(torch.exp(-nll[at]).tolist())
    return len(probs) / max(scored, 1), hits / max(len(probs), 1), float(np.mean(probs)) if probs else float("nan")


def generated(gen: MuseGenerator, args: argparse.Namespace) -> tuple[float, float, list[int]]:
    """Share of generated tokens that recur, the rate they continue as the copy, each piece's longest loop."""
    tokens = recurring = hits = 0
    loops = []
    for composer in args.composers.split(","):
        for piece in gen.generate(composer, ["piano"], args.seconds, seed=args.seed, n=args.n):
            header = gen.vocab.header_length(piece.ids)
            ids = np.asarray(piece.ids)
            found = recurrences(ids, args.match, start=header)
            tokens += len(ids) - header
            recurring += len(found)
            hits += sum(int(ids[t + 1] == copy) for t, copy in found)
            loops.append(longest_loop(ids[header:]))
    return recurring / max(tokens, 1), hits / max(recurring, 1), loops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, help="model folder (repeat to compare)")
    p.add_argument("--data", required=True, help="dataset built with the models' tokenizer")
    p.add_argument("--pieces", type=int, default=40, help="held-out pieces (default: 40)")
    p.add_argument("--match", type=int, default=8, help="tokens that must recur (default: 8)")
    p.add_argument("--composers", default="bach,mozart", help="composers generated for (default: bach,mozart)")
    p.add_argument("--n", type=int, default=10, help="pieces per composer (default: 10)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each piece (default: 20)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        data = TokenDataset(args.data)
        print(f"{'model':<28} {'real: recur':>11} {'copied':>7} {'p(copy)':>8} | {'generated: recur':>16} "
              f"{'copied':>7} {'longest loop median/max':>24}")
        for path in args.model:
            gen = MuseGenerator(path)
            model_data_tokenizer(data.load_tokenizer(), gen.tokenizer, args.data)
            share, rate, p_copy = teacher_forced(gen, data, args.pieces, args.match)
            g_share, g_rate, loops = generated(gen, args)
            print(f"{path[-28:]:<28} {share:>11.1%} {rate:>7.1%} {p_copy:>8.3f} | {g_share:>16.1%} {g_rate:>7.1%} "
                  f"{np.median(loops):>15.0f} / {max(loops)} tokens", flush=True)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
