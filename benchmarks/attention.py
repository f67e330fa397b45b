"""Sparse (block-wise) vs dense attention: forward + backward time and peak memory, side by side.

Cases, each one forward + backward on the same q, k, v (batch 1, H heads x Dh):
  dense causal   SDPA with is_causal=True (PyTorch's fused kernel: what a user would pick)
  masked pair    SDPA with the explicit n x n masks of block_local and block_transpose (two
                 layers; the masks are built inside the measured call, they are part of the cost)
  local          muse.core.attention.attend(..., "block_local")
  transpose      muse.core.attention.attend(..., "block_transpose")
  pair           local + transpose: one strided factorization of a dense layer

Time: median over interleaved repeats. Peak memory: on CPU the torch profiler's allocation
tracking (peak of "Total Allocated" during the call minus the level before it: every tensor the
call allocates, including gradients; q, k, v themselves excluded); on CUDA
torch.cuda.max_memory_allocated over the call.

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

Case = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], list[torch.Tensor]]


def make_cases(block_len: int) -> dict[str, Case]:
    def dense_causal(q, k, v):  # noqa: ANN001, ANN202
        return [F.scaled_dot_product_attention(q, k, v, is_causal=True)]

    def masked_pair(q, k, v):  # noqa: ANN001, ANN202
        n = q.shape[2]
        return [F.scaled_dot_product_attention(q, k, v, attn_mask=pattern_mask(p, n, block_len, device=q.device))
                for p in ("block_local", "block_transpose")]

    def local(q, k, v):  # noqa: ANN001, ANN202
        return [attend(q, k, v, "block_local", block_len)]

    def transpose(q, k, v):  # noqa: ANN001, ANN202
        return [attend(q, k, v, "block_transpose", block_len)]

    def pair(q, k, v):  # noqa: ANN001, ANN202
        return local(q, k, v) + transpose(q, k, v)

    return {"dense causal": dense_causal, "masked pair": masked_pair, "local": local,
            "transpose": transpose, "pair": pair}


def run_case(case: Case, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grad: torch.Tensor) -> int:
    """One forward + backward (``grad`` seeds every output), input gradients freshly allocated;
    returns the number of outputs (attention layers)."""
    for x in (q, k, v):
        x.grad = None
    outs = case(q, k, v)
    torch.autograd.backward(outs, [grad] * len(outs))
    for x in (q, k, v):
        x.grad = None
    return len(outs)


def measure(case: Case, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grad: torch.Tensor) -> tuple[float, int, int]:
    """(seconds, peak bytes allocated, layers) of one ``run_case`` (see the module docstring)."""
    if q.device.type == "cuda":
        torch.cuda.synchronize(q.device)
        base = torch.cuda.memory_allocated(q.device)
        torch.cuda.reset_peak_memory_stats(q.device)
        start = time.perf_counter()
        layers = run_case(case, q, k, v, grad)
        torch.cuda.synchronize(q.device)
        return time.perf_counter() - start, torch.cuda.max_memory_allocated(q.device) - base, layers
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        start = time.perf_counter()
        layers = run_case(case, q, k, v, grad)
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
        return seconds, 0, layers
    before = events[0]["Total Allocated"] - events[0]["Bytes"]
    return seconds, max(e["Total Allocated"] for e in events) - before, layers


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
        q, k, v, grad = (torch.randn(1, args.heads, n, args.head_dim, generator=g).to(device) for _ in range(4))
        for x in (q, k, v):
            x.requires_grad_()
        samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in cases}
        for r in range(args.repeats):  # interleaved, so load changes hit every case alike
            for name, case in cases.items():
                if r and sum(t for t, _, _ in samples[name]) > args.case_budget:
                    continue  # a slow baseline is measured fewer times
                samples[name].append(measure(case, q, k, v, grad))
        if n == 256:  # warm-up size (kernels, allocator, profiler), not reported
            continue
        times[n] = {name: statistics.median(t for t, _, _ in s) for name, s in samples.items()}
        mems[n] = {name: max(m for _, m, _ in s) for name, s in samples.items()}
        # Outputs and input gradients are the same for any attention; the rest is workspace.
        fixed = q.numel() * q.element_size()
        work[n] = {name: mems[n][name] - (s[0][2] + 3) * fixed for name, s in samples.items()}
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
        print(f"| {n} | " + " | ".join(cells) + f" | {fmt_ratio(w['masked pair'] / w['pair'])} "
              f"| {w['pair'] / w['dense causal']:.2f} |")


if __name__ == "__main__":
    main()
