"""Training throughput of a preset on this machine: tokens/s and the share of the CPU's matmul peak.

Side by side, in one run and with the same threads:

- the peak: float32 matrix products of the model's own shapes (tokens x width @ width x 4 width),
  the best this machine does on the work a training step is made of;
- a training step of the preset (forward, backward, AdamW), on real crops of ``--data`` when given
  (else random ids), timed over ``--steps`` steps after ``--warmup``;
- the data loader alone (``CropDataset`` items of the batch), as a share of the step.

Model FLOPs per token: 6 x (every weight of a matrix product a token goes through: the transformer's
linear layers and the factorized output head, rows + velocities) + 6 x depth x attention width x the
mean number of keys a query sees (QK and AV, forward and backward). Embedding lookups, norms and
element-wise work are not counted. MFU = model FLOP/s / peak FLOP/s.

    .venv/bin/python benchmarks/train.py --config configs/muse/small.yaml --data DATA
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from musetok import MidiTokenizer, TokenizerConfig

from muse.config import load_run_config
from muse.core.attention import pattern_mask
from muse.core.optim import build_optimizer
from muse.core.token_shards import TokenDataset
from muse.saved_model import build_model
from muse.train_data import CropDataset, muse_loss


def model_flops_per_token(model: torch.nn.Module) -> float:
    """Training FLOPs per token (see the module doc)."""
    t = model.config.transformer
    linear = sum(m.weight.numel() for m in model.transformer.modules() if isinstance(m, torch.nn.Linear))
    head = model.vocab.rows.weight.numel() + model.vocab.velocities.weight.numel()
    keys = 0.0
    for layer in range(t.depth):
        mask = pattern_mask(t.pattern(layer), t.n_ctx, t.resolved_block_len, prime_len=t.prime_len, spread=t.spread)
        keys += float(mask.sum()) / t.n_ctx
    return 6.0 * (linear + head) + 6.0 * t.attn_width * keys


def peak_flops(tokens: int, width: int, seconds: float = 3.0) -> float:
    """Best float32 FLOP/s of (tokens, width) @ (width, 4 width) products over ``seconds``."""
    a, b = torch.randn(tokens, width), torch.randn(width, 4 * width)
    a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * tokens * width * 4 * width / (time.perf_counter() - start))
    return best


def batches(args: argparse.Namespace, run, n_ctx: int):  # noqa: ANN001, ANN201
    """The tokenizer and a function returning the next collated batch (real crops or random ids)."""
    if args.data:
        data = TokenDataset(args.data)
        tokenizer = data.load_tokenizer()
        crops = CropDataset(data, data.split_indices("train"), tokenizer, n_ctx, items=10**6, seed=0,
                            augment_config=run.data.augment, composer_dropout=run.data.composer_dropout)
        counter = iter(range(10**6))

        def next_batch() -> dict:
            return default_collate([crops[next(counter)] for _ in range(run.train.batch_size)])

        return tokenizer, next_batch
    tokenizer = MidiTokenizer(TokenizerConfig(composers=("bach", "chopin")))
    generator = torch.Generator().manual_seed(0)

    def random_batch() -> dict:
        B, W = run.train.batch_size, n_ctx + 1
        ids = torch.randint(0, tokenizer.vocab.size, (B, W), generator=generator)
        zero = torch.zeros(B, W, dtype=torch.long)
        return {"ids": ids, "ticks": zero, "micros": zero, "chord": zero, "total_us": torch.full((B,), -1),
                "mask": torch.ones(B, W - 1, dtype=torch.bool)}

    return tokenizer, random_batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs/muse/small.yaml"))
    parser.add_argument("--data", help="dataset folder (default: random ids, no loader timing)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    run = load_run_config(args.config)
    n_ctx = run.model.transformer.n_ctx
    tokenizer, next_batch = batches(args, run, n_ctx)
    model = build_model(run.model, tokenizer).train()
    tc = run.train
    optimizer = build_optimizer(model, tc.lr, tc.weight_decay, tc.betas, tc.eps)
    tokens = run.train.batch_size * n_ctx
    flops = model_flops_per_token(model)

    loader, step = [], []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        batch = next_batch()
        loaded = time.perf_counter()
        muse_loss(model, batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= args.warmup:
            loader.append(loaded - start)
            step.append(time.perf_counter() - loaded)
    peak = peak_flops(tokens, run.model.transformer.width)
    compute = float(np.median(step))
    load = float(np.median(loader))
    tok_s = tokens / (compute + load)
    print(f"$ {' '.join(sys.argv)}\n")
    print(f"preset {args.config}: {model.num_parameters() / 1e6:.2f} M parameters, batch {run.train.batch_size} x "
          f"{n_ctx} tokens, {args.threads} threads, {'real crops' if args.data else 'random ids'}\n")
    print("| | value |\n|---|---|")
    print(f"| training tokens/s (median step incl. loading) | {tok_s:,.0f} |")
    print(f"| step: compute / data loading (s) | {compute:.3f} / {load:.3f} "
          f"({100 * load / (compute + load):.1f}% loading) |")
    print(f"| model FLOPs per token | {flops / 1e6:.1f} M |")
    print(f"| model FLOP/s | {flops * tok_s / 1e9:.1f} G |")
    print(f"| peak float32 matmul FLOP/s (model shapes) | {peak / 1e9:.1f} G |")
    print(f"| **MFU** (model / peak) | **{flops * tok_s / peak:.2f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
