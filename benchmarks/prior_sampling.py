"""Seconds per sampled token of a Jukebox top prior (random weights) through the KV cache.

The model is built from a preset (default: the official 1b_lyrics architecture, 0.95 B
parameters), conditioned on a random label row with lyrics, primed with ``--prompt`` codes (fed
in chunks, not timed), then ``--tokens`` new codes are sampled with ``JukeboxPrior.sample`` and
timed. The original implementation needs about 0.22 s/token for the 1b_lyrics top prior at one
CPU thread; the target is at most half of that.

    python benchmarks/prior_sampling.py              # 1b_lyrics, CPU, 1 thread, batch 1 and 3, fp32 and int8
    python benchmarks/prior_sampling.py --preset prior_tiny --tokens 256
    python benchmarks/prior_sampling.py --device cuda --dtype fp32 bf16
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from jukebox.prior.config import PriorConfig
from jukebox.prior.prior import JukeboxPrior
from jukebox.prior.windows import window_labels
from jukebox.sampling.int8_weights import quantize_int8
from muse.core.config import load_config
from muse.core.logits import SamplingConfig

PRESETS = Path(__file__).resolve().parents[1] / "configs" / "jukebox"
ORIGINAL_CPU_S_PER_TOKEN = {"prior_1b_lyrics": 0.22}


def build(preset: str, device: torch.device, dtype: torch.dtype) -> JukeboxPrior:
    """The preset's architecture with random weights, allocated once on ``device``."""
    config = load_config(PriorConfig, PRESETS / f"{preset}.yaml")
    with torch.device("meta"):
        model = JukeboxPrior(config)
    model = model.to_empty(device=device)
    model.tie_weights()
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.ndim == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=generator)
    return model.to(dtype).eval()


@torch.no_grad()
def seconds_per_token(model: JukeboxPrior, batch: int, prompt: int, tokens: int, device: torch.device) -> float:
    c = model.config
    song = int(60 * c.labels.sample_rate) // c.hop_length * c.hop_length
    lyrics = torch.randint(1, c.lyrics.n_vocab, (c.lyrics.n_tokens,)).tolist() if c.lyrics is not None else []
    labels = window_labels(c, song, 0, artist_id=1, genre_ids=[1], lyric_tokens=lyrics, batch=batch).to(device)
    cond = model.condition(labels)
    codes = torch.randint(0, c.n_bins, (batch, prompt), device=device)
    stamps: list[float] = []

    def tick(done: int, total: int) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    # the first token pays for feeding the prompt (and warm-up): time the tokens after it
    model.sample(cond, tokens + 1, codes, sampling=SamplingConfig(temperature=1.0), seed=0, chunk_size=256,
                 callback=tick)
    return (stamps[-1] - stamps[0]) / tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="prior_1b_lyrics", help="configs/jukebox preset (default: prior_1b_lyrics)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", nargs="+", choices=("fp32", "bf16", "int8"), default=["fp32", "int8"],
                        help="weight formats, measured one after the other (default: fp32 int8; int8 = CPU only)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--prompt", type=int, default=8, help="codes fed before timing starts (default: 8)")
    parser.add_argument("--tokens", type=int, default=16, help="codes sampled and timed (default: 16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = (f"{args.device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
             else f"cpu, {args.threads} thread(s)")
    original = ORIGINAL_CPU_S_PER_TOKEN.get(args.preset) if device.type == "cpu" and args.threads == 1 else None
    n_params = sum(p.numel() for p in build_config_params(args.preset))
    rows = []
    for fmt in args.dtype:
        model = build(args.preset, device, torch.bfloat16 if fmt == "bf16" else torch.float32)
        if fmt == "int8":
            model = quantize_int8(model)
        for batch in args.batch:
            rows.append((fmt, batch, seconds_per_token(model, batch, args.prompt, args.tokens, device)))
        del model
    print(f"{args.preset}: {n_params / 1e6:.2f} M parameters, {where}")
    base = {b: s for fmt, b, s in rows if fmt == args.dtype[0]}
    print(f"{'weights':>7}  {'batch':>5}  {'s/token':>9}  {'s/token/sample':>14}  {'vs ' + args.dtype[0]:>8}  "
          f"{'original':>9}  {'ours/original':>13}")
    for fmt, batch, s in rows:
        ratio = f"{s / original:13.2f}" if original else f"{'-':>13}"
        orig = f"{original:9.3f}" if original else f"{'-':>9}"
        print(f"{fmt:>7}  {batch:>5}  {s:9.4f}  {s / batch:14.4f}  {base[batch] / s:7.2f}x  {orig}  {ratio}")


def build_config_params(preset: str):  # noqa: ANN201
    """The preset's parameters on the meta device (to count them)."""
    config = load_config(PriorConfig, PRESETS / f"{preset}.yaml")
    with torch.device("meta"):
        return list(JukeboxPrior(config).parameters())


if __name__ == "__main__":
    main()
