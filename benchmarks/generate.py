"""Generation speed of the symbolic model on CPU: tokens/s with the KV cache vs without, batch 1 and 4.

The model is the bundled one (``muse/assets/model``) when installed, else the ``small`` preset
with random weights (the same architecture and cost), or ``--model PATH``. Each case generates
``--tokens`` tokens after a 3-token header (composer, piano, start) through the shared engine
(``muse.core.sampling.generate``, temperature 1, top-p 0.95, no stop token, so every case draws
the same number of tokens):

- cached      the model as the engine's Decoder: one single-token step per token with the KV cache
- uncached    a Decoder that recomputes the full forward over the whole sequence for every token
- + grammar   the cached path as ``MuseGenerator`` runs it: window-aware decoder + grammar constraint

Rates are tokens per second of wall-clock time and, in parentheses, of the process's CPU time
(with one thread, the rate of an idle core: a fairer figure on a machine shared with other jobs).

    .venv/bin/python benchmarks/generate.py                 # 256 tokens, batch 1 and 4
    .venv/bin/python benchmarks/generate.py --tokens 512 --threads 2 --markdown
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

log = logging.getLogger("benchmarks.generate")
REPO = Path(__file__).resolve().parents[1]


class Uncached:
    """A Decoder without a cache: every step runs the full forward over the sequence so far."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.n_ctx = model, model.n_ctx

    def new_cache(self, batch_size: int) -> list[torch.Tensor]:
        return []

    def step(self, ids: torch.Tensor, cache: list[torch.Tensor]) -> torch.Tensor:
        cache.append(ids)
        seq = torch.cat(cache, dim=1)  # hidden states of every position, logits of the new ones only
        return self.model.head(self.model.hidden(seq)[:, -ids.shape[1]:], seq)


def load(args: argparse.Namespace):  # noqa: ANN201
    from musetok import MidiTokenizer

    from muse.config import load_run_config
    from muse.generate import BUNDLED_MODEL
    from muse.saved_model import LoadedModel, build_model, load_model

    path = Path(args.model) if args.model else BUNDLED_MODEL
    if (path / "model.safetensors").is_file() or args.model:
        return load_model(path), f"{path}"
    tokenizer = MidiTokenizer()
    torch.manual_seed(0)
    model = build_model(load_run_config(REPO / "configs" / "muse" / "small.yaml").model, tokenizer).eval()
    return LoadedModel(model, tokenizer, model.config, path), "small preset, random weights"


def run_case(kind: str, loaded, batch: int, tokens: int, top_p: float = 0.95) -> tuple[float, float]:  # noqa: ANN001
    """(wall, CPU) seconds to generate ``tokens`` tokens per row for ``batch`` rows."""
    from muse.core.logits import SamplingConfig
    from muse.core.sampling import generate
    from muse.decoding import PieceDecoder
    from muse.grammar import MusicGrammar

    vocab = loaded.tokenizer.vocab
    header = [vocab.composer_id(vocab.config.composers[0]), vocab.instrument_base, vocab.start_id]
    prompt = torch.tensor([header] * batch)
    kwargs: dict = {}
    if kind == "cached":
        decoder = loaded.model
    elif kind == "uncached":
        decoder = Uncached(loaded.model)
    else:
        decoder = PieceDecoder(loaded.model, prompt, len(header), None)
        kwargs = dict(constraint=MusicGrammar(vocab, len(header)), keep_prefix=len(header))
    start, cpu = time.perf_counter(), time.process_time()
    out = generate(decoder, prompt, tokens, sampling=SamplingConfig(top_p=top_p), seed=0, **kwargs)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert out.new_ids.shape == (batch, tokens)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the bundled model, else the small preset)")
    parser.add_argument("--tokens", type=int, default=256, help="tokens generated per row (default: 256)")
    parser.add_argument("--batches", default="1,4", help="batch sizes (default: 1,4)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default: 0.95)")
    parser.add_argument("--cases", default="cached,uncached,grammar", help="cases to run (default: all three)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per case, the fastest counts (default: 2)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded, what = load(args)
    model = loaded.model
    params = sum(p.numel() for p in model.parameters()) / 1e6
    t = model.config.transformer
    log.info("%s: %.1fM parameters, width %d, depth %d, context %d, %s; %d threads", what, params, t.width, t.depth,
             t.n_ctx, "/".join(t.attn_order), torch.get_num_threads())
    run_case("cached", loaded, 1, 8)  # warm-up
    rows = []
    kinds = tuple(args.cases.split(","))
    with torch.no_grad():
        for batch in (int(b) for b in args.batches.split(",")):
            runs = {k: [run_case(k, loaded, batch, args.tokens, args.top_p) for _ in range(args.repeats)]
                    for k in kinds}
            wall = {k: batch * args.tokens / min(w for w, _ in v) for k, v in runs.items()}
            cpu = {k: batch * args.tokens / min(c for _, c in v) for k, v in runs.items()}
            rows.append((batch, wall, cpu))
            log.info("batch %d: tokens/s wall (CPU time): %s", batch,
                     ", ".join(f"{k} {wall[k]:.0f} ({cpu[k]:.0f})" for k in kinds))
    if args.markdown:
        both = "cached" in kinds and "uncached" in kinds
        print("| batch | " + " | ".join(kinds) + (" | cache speed-up (CPU time) |" if both else " |"))
        print("|---" * (len(kinds) + 1 + both) + "|")
        for batch, wall, cpu in rows:
            cells = " | ".join(f"{wall[k]:,.0f} ({cpu[k]:,.0f})" for k in kinds)
            ratio = f" | {cpu['cached'] / cpu['uncached']:.1f}x" if both else ""
            print(f"| {batch} | {cells}{ratio} |")


if __name__ == "__main__":
    main()
