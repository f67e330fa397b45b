"""Sparse (block-wise) vs dense attention: forward + backward time and peak memory, side by side.

Cases, each one forward + backward (batch 1, H heads x Dh; a second layer has its own q, k, v):
  dense causal   SDPA with is_causal=True (PyTorch's fused kernel: what a user would pick)
  masked pair    two layers: SDPA with the explicit n x n mask of block_local, then of
                 block_transpose (the masks are built inside the measured call: part of the cost)
  local          muse.core.attention.attend(..., "block_local")
  transpose      muse.core.attention.attend(..., "block_transpose")
  pair           two layers, local then transpose: the strided factorization of one dense layer

Time: median over interleaved repeats. Peak memory: on CPU the torch profiler's allocation
tracking (peak of "Total Allocated" during the call minus the level before it: every tensor the
call allocates, including gradients; q, k, v themselves excluded); on CUDA
torch.cuda.max_memory_allocated over the call. "Workspace" subtracts what any attention must
allocate: its outputs and the gradients of its inputs.

    python benchmarks/attention.py                       # n = 1024 .. 8192, 8 heads x 64
    python benchmarks/attention.py --sizes 1024 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from muse.core.attention import attend, pattern_mask

log = logging.getLogger("benchmarks.attention")

Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Case = Callable[[Inputs, Inputs], list[torch.Tensor]]


def make_cases(block_len: int) -> dict[str, Case]:
    """Each case gets two layers' (q, k, v); single-layer cases use the first."""

    def masked(pattern: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        mask = pattern_mask(pattern, q.shape[2], block_len, device=q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    return {
        "dense causal": lambda a, b: [F.scaled_dot_product_attention(*a, is_causal=True)],
        "masked pair": lambda a, b: [masked("block_local", *a), masked("block_transpose", *b)],
        "local": lambda a, b: [attend(*a, "block_local", block_len)],
        "transpose": lambda a, b: [attend(*a, "block_transpose", block_len)],
        "pair": lambda a, b: [attend(*a, "block_local", block_len), attend(*b, "block_transpose", block_len)],
    }


def run_case(case: Case, a: Inputs, b: Inputs, grad: torch.Tensor) -> int:
    """One forward + backward (``grad`` seeds every output), input gradients freshly allocated.

    Returns how many tensors of q's size the call must allocate whatever the attention:
    its outputs and the gradients of the inputs it used.
    """
    inputs = (*a, *b)
    for x in inputs:
        x.grad = None
    outs = case(a, b)
    torch.autograd.backward(outs, [grad] * len(outs))
    unavoidable = len(outs) + sum(x.grad is not None for x in inputs)
    for x in inputs:
        x.grad = None
    return unavoidable


def measure(case: Case, a: Inputs, b: Inputs, grad: torch.Tensor) -> tuple[float, int, int]:
    """(seconds, peak bytes allocated, unavoidable tensors) of one ``run_case``."""
    device = grad.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        unavoidable = run_case(case, a, b, grad)
        torch.cuda.synchronize(device)
        return time.perf_counter() - start, torch.cuda.max_memory_allocated(device) - base, unavoidable
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        start = time.perf_counter()
        unavoidable = run_case(case, a, b, grad)
        seconds = time.perf_counter() - start
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = [e["args"] for e in json.load(f)["traceEvents"] if e.get("name") == "[memory]"]
    finally:
        os.remove(path)
    if not events:
        return seconds, 0, unavoidable
    before = events[0]["Total Allocated"] - events[0]["Bytes"]
    return seconds, max(e["Total Allocated"] for e in events) - before, unavoidable


def fmt_ratio(x: float) -> str:
    return f"{x:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--block-len", type=int, default=64, help="Jukebox: n_ctx 8192 / 128 blocks")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case-budget", type=float, default=60.0,
                        help="stop repeating a case once its samples took this many seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="# %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cases = make_cases(args.block_len)
    print(f"# attention fwd+bwd, batch 1, {args.heads} heads x {args.head_dim}, block_len {args.block_len}, "
          f"{device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    times: dict[int, dict[str, float]] = {}
    mems: dict[int, dict[str, int]] = {}
    work: dict[int, dict[str, int]] = {}
    for n in [256] + args.sizes:
        g = torch.Generator().manual_seed(0)
        x = [torch.randn(1, args.heads, n, args.head_dim, generator=g).to(device) for _ in range(7)]
        a, b, grad = tuple(t.requires_grad_() for t in x[:3]), tuple(t.requires_grad_() for t in x[3:6]), x[6]
        samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in cases}
        for r in range(args.repeats):  # interleaved, so load changes hit every case alike
            for name, case in cases.items():
                if r and sum(t for t, _, _ in samples[name]) > args.case_budget:
                    continue  # a slow baseline is measured fewer times
                samples[name].append(measure(case, a, b, grad))
        if n == 256:  # warm-up size (kernels, allocator, profiler), not reported
            continue
        times[n] = {name: statistics.median(t for t, _, _ in s) for name, s in samples.items()}
        mems[n] = {name: max(m for _, m, _ in s) for name, s in samples.items()}
        # Outputs and input gradients are the same for any attention; the rest is workspace.
        fixed = grad.numel() * grad.element_size()
        work[n] = {name: mems[n][name] - s[0][2] * fixed for name, s in samples.items()}
        counts = {name: len(s) for name, s in samples.items()}
        log.info("n=%d done (samples per case: %s)", n, counts)

    names = list(cases)
    print("\n## Time (s, forward + backward)\n")
    print("| n | " + " | ".join(names) + " | dense causal / pair | masked pair / pair |")
    print("|---" * (len(names) + 3) + "|")
    for n, t in times.items():
        cells = [f"{t[name]:.3f}" for name in names]
        print(f"| {n} | " + " | ".join(cells) + f" | {fmt_ratio(t['dense causal'] / t['pair'])} "
              f"| {fmt_ratio(t['masked pair'] / t['pair'])} |")
    print("\n## Peak memory (MiB allocated by the call)\n")
    print("| n | " + " | ".join(names) + " | masked pair / pair | pair / dense causal |")
    print("|---" * (len(names) + 3) + "|")
    for n, m in mems.items():
        cells = [f"{m[name] / 2**20:.1f}" for name in names]
        print(f"| {n} | " + " | ".join(cells) + f" | {fmt_ratio(m['masked pair'] / m['pair'])} "
              f"| {m['pair'] / m['dense causal']:.2f} |")
    print("\n## Attention workspace (MiB: peak minus the outputs and the q/k/v gradients)\n")
    print("| n | " + " | ".join(names) + " | masked pair / pair | pair / dense causal |")
    print("|---" * (len(names) + 3) + "|")
    for n, w in work.items():
        cells = [f"{w[name] / 2**20:.1f}" for name in names]
        print(f"| {n} | " + " | ".join(cells) + f" | {fmt_ratio(w['masked pair'] / max(w['pair'], 1))} "
              f"| {w['pair'] / w['dense causal']:.2f} |")


if __name__ == "__main__":
    main()
