"""Does the model know the styles? Its composer posterior on real pieces it was not trained on.

Every piece of the dataset's ``--split`` (default: the validation split, which training never
sees) labelled with one of ``--composers`` is scored by ``muse.composers.scoring.ComposerScorer``
over ALL of the model's composers (uniform prior), with the instrumentation given (as chosen by
the piece, not scored) and the first ``--max-tokens`` tokens considered (default: as many as
``muse composers score`` reads, ``SCORE_TOKENS``; ``--max-tokens 513`` gives the first context window of
the bundled model). Reported per composer: pieces, how often the true composer ranks first (top-1) and
among the first three (top-3), its mean posterior, beside chance (1/C, 3/C); the overall row averages
the composers (each weighs the same, as in the issue's targets).

    .venv/bin/python benchmarks/composer_posterior.py --model runs/small --data DATA
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from muse.commands.composers import SCORE_TOKENS
from muse.composers.scoring import ComposerScorer
from muse.core.errors import USER_ERRORS
from muse.core.token_shards import TokenDataset
from muse.fim import model_data_tokenizer
from muse.saved_model import LoadedModel, load_model

DEFAULT_COMPOSERS = "bach,mozart,beethoven,chopin,haydn,schubert,schumann,debussy"


@dataclass(frozen=True)
class Row:
    composer: str
    pieces: int
    top1: float
    top3: float
    mean_posterior: float


def posterior_rows(model: str | Path | LoadedModel, data: str | Path, composers: list[str], split: str = "valid",
                   max_tokens: int | None = None, max_pieces: int | None = None) -> tuple[list[Row], int]:
    """Per-composer recovery rows over the real pieces of ``split``, and the number of candidates."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    dataset = TokenDataset(data)
    model_data_tokenizer(dataset.load_tokenizer(), loaded.tokenizer, str(data))  # the same vocabulary, or an error
    scorer = ComposerScorer(loaded, include_header=False, max_tokens=max_tokens)
    rows = []
    for composer in composers:
        pieces = [int(i) for i in dataset.split_indices(split) if dataset.composer(int(i)) == composer][:max_pieces]
        ranks, post = [], []
        for i in pieces:
            result = scorer.score_ids(np.asarray(dataset.tokens(i), np.int64), dataset.pieces[i].id)
            ranks.append(result.rank_of(composer))
            post.append(float(result.posterior[scorer.composers.index(composer)]))
        n = len(pieces)
        rows.append(Row(composer, n, float(np.mean([r == 0 for r in ranks])) if n else float("nan"),
                        float(np.mean([r < 3 for r in ranks])) if n else float("nan"),
                        float(np.mean(post)) if n else float("nan")))
    return rows, len(scorer.composers)


def overall(rows: list[Row]) -> Row:
    """The mean over composers that have pieces (each composer weighs the same)."""
    scored = [r for r in rows if r.pieces]
    return Row("mean of composers", sum(r.pieces for r in scored), float(np.mean([r.top1 for r in scored])),
               float(np.mean([r.top3 for r in scored])), float(np.mean([r.mean_posterior for r in scored])))


def markdown(rows: list[Row], candidates: int) -> str:
    lines = ["| composer | pieces | top-1 | top-3 | mean posterior |", "|---|---|---|---|---|"]
    for r in (*rows, overall(rows)):
        if r.pieces:
            lines.append(f"| {r.composer} | {r.pieces} | {100 * r.top1:.0f}% | {100 * r.top3:.0f}% | "
                         f"{r.mean_posterior:.3f} |")
        else:
            lines.append(f"| {r.composer} | 0 | - | - | - |")
    lines.append(f"\n{candidates} candidate composers: chance {100 / candidates:.1f}% top-1, "
                 f"{100 * min(3, candidates) / candidates:.1f}% top-3")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model, run or checkpoint folder")
    parser.add_argument("--data", required=True, help="dataset folder built with the model's vocabulary")
    parser.add_argument("--composers", default=DEFAULT_COMPOSERS, help="comma-separated (default: %(default)s)")
    parser.add_argument("--split", choices=("valid", "train"), default="valid")
    parser.add_argument("--max-tokens", type=int, default=SCORE_TOKENS,
                        help="tokens of a piece scored, 0 = all (default: %(default)s, as `muse composers score`)")
    parser.add_argument("--max-pieces", type=int, help="at most N pieces per composer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        rows, candidates = posterior_rows(args.model, args.data, [c.strip() for c in args.composers.split(",")],
                                          args.split, args.max_tokens, args.max_pieces)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"$ {' '.join(sys.argv)}\n")
    print(markdown(rows, candidates))
    print(f"\n{time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows], "overall": asdict(overall(rows)),
                                         "candidates": candidates, "split": args.split}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
