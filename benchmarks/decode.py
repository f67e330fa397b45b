"""Cached vs uncached decoding: time per generated token at a given context length.

A small language model (token + learned position embeddings, ``muse.core`` Transformer, linear
head) predicts the next token at position ``context - 1``:
  uncached  one forward over the whole ``context``-token sequence (what decoding without a cache
            has to do for every new token)
  cached    one single-token step with a KV cache already holding ``context - 1`` tokens
            (the prompt is fed in one chunk first, not timed)
for the dense pattern and for Jukebox's strided cycle (block_local, block_transpose, prev_block).

    python benchmarks/decode.py                      # context 2048, width 512, 8 heads, depth 6
    python benchmarks/decode.py --context 1024 --depth 2
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import torch
from torch import nn

from muse.core.transformer import PositionalEmbedding, Transformer, TransformerConfig

log = logging.getLogger("benchmarks.decode")

ORDERS = {"dense": ("dense",), "strided (Jukebox)": ("block_local", "block_transpose", "prev_block")}


class LM(nn.Module):
    def __init__(self, config: TransformerConfig, vocab: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, config.width)
        self.pos = PositionalEmbedding(config.n_ctx, config.width)
        self.transformer = Transformer(config)
        self.head = nn.Linear(config.width, vocab)

    def forward(self, ids: torch.Tensor, cache=None) -> torch.Tensor:  # noqa: ANN001
        offset = 0 if cache is None else cache.offset
        return self.head(self.transformer(self.emb(ids) + self.pos(ids.shape[1], offset), cache))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:  # noqa: ANN001
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


@torch.no_grad()
def bench(order: tuple[str, ...], args: argparse.Namespace, device: torch.device) -> tuple[float, float, float]:
    """(uncached s/token, cached s/token, max |logit difference|) for one attention cycle."""
    config = TransformerConfig(width=args.width, depth=args.depth, heads=args.heads, n_ctx=args.context,
                               attn_order=order, blocks=args.context // args.block_len)
    model = LM(config, args.vocab).to(device).eval()
    ids = torch.randint(0, args.vocab, (args.batch, args.context), device=device)
    uncached, cached = [], []
    diff = 0.0
    for _ in range(args.repeats):  # interleaved
        full: list[torch.Tensor] = []
        uncached.append(timed(lambda: full.append(model(ids)[:, -1]), device))
        cache = model.transformer.new_cache(args.batch)
        model(ids[:, :-1], cache)
        step: list[torch.Tensor] = []
        cached.append(timed(lambda: step.append(model(ids[:, -1:], cache)[:, -1]), device))
        diff = max(diff, (full[0] - step[0]).abs().max().item())
    return statistics.median(uncached), statistics.median(cached), diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--block-len", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="# %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"# decode: context {args.context}, batch {args.batch}, width {args.width}, {args.heads} heads, "
          f"depth {args.depth}, block_len {args.block_len}, {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    rows = []
    for name, order in ORDERS.items():
        rows.append((name, *bench(order, args, device)))
        log.info("%s done", name)
    print(f"\n## Time per token at context {args.context}\n")
    print("| attention | uncached (ms/token) | cached (ms/token) | speed-up | max abs logit diff |")
    print("|---|---|---|---|---|")
    for name, unc, cac, diff in rows:
        print(f"| {name} | {unc * 1e3:.1f} | {cac * 1e3:.2f} | {unc / cac:.0f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
