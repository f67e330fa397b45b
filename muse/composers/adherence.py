"""Style adherence of generation: does the scorer recover the composer a piece was generated for?

For each requested composer, ``n`` pieces are generated with ``MuseGenerator`` (same
instruments and length for every composer), then scored by ``ComposerScorer`` over all candidate
composers with the instrumentation given (it was chosen by us, not by the model). Reported: how
often the requested composer ranks first (top-1) and among the first three (top-3), beside
chance (1/C and min(3, C)/C for C candidates), and the mean posterior it gets.

This is the model judging itself: it shows that the composer token steers generation in a way
the same model can tell apart, not that the music sounds like the composer to a listener.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from musetok.config import normalize_composer

from muse import sampling_defaults as D
from muse.composers.scoring import ComposerPosterior, ComposerScorer
from muse.core.errors import UserError

if TYPE_CHECKING:
    from muse.generate import MuseGenerator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdherenceRow:
    """Recovery of one requested ``composer`` over ``pieces`` generated pieces (rates in [0, 1])."""

    composer: str
    pieces: int
    top1: float
    top3: float
    mean_posterior: float


@dataclass(frozen=True)
class AdherenceReport:
    """Per-composer rows, the overall rates and chance levels for ``candidates`` composers."""

    rows: tuple[AdherenceRow, ...]
    overall: AdherenceRow
    candidates: int
    seconds: float
    instruments: tuple[str, ...]

    @property
    def chance_top1(self) -> float:
        return 1.0 / self.candidates

    @property
    def chance_top3(self) -> float:
        return min(3, self.candidates) / self.candidates

    def table(self) -> str:
        """A plain-text table: one row per composer, then all, then chance."""
        head = f"{'composer':<20} {'pieces':>6} {'top-1':>7} {'top-3':>7} {'mean p':>7}"
        lines = [head, "-" * len(head)]
        for r in (*self.rows, self.overall):
            lines.append(f"{r.composer:<20} {r.pieces:>6} {100 * r.top1:>6.1f}% {100 * r.top3:>6.1f}% "
                         f"{r.mean_posterior:>7.3f}")
        lines.append(f"{'chance':<20} {'':>6} {100 * self.chance_top1:>6.1f}% {100 * self.chance_top3:>6.1f}% "
                     f"{self.chance_top1:>7.3f}")
        lines.append(f"({self.candidates} candidate composers; {self.seconds:g} s pieces for "
                     f"{', '.join(self.instruments)})")
        return "\n".join(lines)


def _row(composer: str, results: Sequence[ComposerPosterior]) -> AdherenceRow:
    ranks = np.array([r.rank_of(composer) for r in results])
    probs = [float(r.posterior[r.composers.index(composer)]) for r in results]
    return AdherenceRow(composer, len(results), float((ranks == 0).mean()), float((ranks < 3).mean()),
                        float(np.mean(probs)))


def style_adherence(generator: MuseGenerator, *, composers: Sequence[str] | None = None,
                    candidates: Sequence[str] | None = None, n: int = 20, seconds: float = 10.0,
                    instruments: Sequence[str] = ("piano",), seed: int = 0,
                    temperature: float = D.TEMPERATURE, top_p: float = D.TOP_P, max_tokens: int | None = None,
                    batch_size: int = 16, callback: Callable[[str, int, int], None] | None = None,
                    guidance: float | None = None, rerank: int = 1) -> AdherenceReport:
    """Generate ``n`` pieces per composer with ``generator`` and measure how often the scorer
    recovers the requested composer (see the module doc).

    ``composers``: those generated for (default: all of the model's); ``candidates``: those the
    scorer chooses among (default: all of the model's). Composer ``i`` uses seed ``seed + i``.
    ``callback(composer, done, total)`` reports progress after each composer. ``guidance`` and
    ``rerank`` are passed to ``MuseGenerator.generate`` (rerank uses this same scorer, so its
    adherence is not independent evidence).
    """
    if n < 1:
        raise UserError(f"the number of pieces per composer must be at least 1, not {n}")
    scorer = ComposerScorer(generator.loaded, composers=candidates, max_tokens=max_tokens, batch_size=batch_size,
                            include_header=False)
    requested = scorer.composers if composers is None else \
        tuple(dict.fromkeys(_canonical(scorer, c) for c in composers))
    rows, everything = [], []
    for i, composer in enumerate(requested):
        pieces = generator.generate(composer, instruments, seconds, n=n, seed=seed + i, temperature=temperature,
                                    top_p=top_p, guidance=guidance, rerank=rerank)
        results = [scorer.score_ids(p.ids, f"{composer} #{j + 1}") for j, p in enumerate(pieces)]
        rows.append(_row(composer, results))
        everything.extend((composer, r) for r in results)
        log.info("%s: top-1 %.0f%%, top-3 %.0f%% of %d pieces", composer, 100 * rows[-1].top1,
                 100 * rows[-1].top3, n)
        if callback is not None:
            callback(composer, i + 1, len(requested))
    ranks = np.array([r.rank_of(c) for c, r in everything])
    overall = AdherenceRow("all", len(everything), float((ranks == 0).mean()), float((ranks < 3).mean()),
                           float(np.mean([r.posterior[r.composers.index(c)] for c, r in everything])))
    return AdherenceReport(tuple(rows), overall, len(scorer.composers), seconds, tuple(instruments))


def _canonical(scorer: ComposerScorer, name: str) -> str:
    """``name`` as spelled among the scorer's candidates; a ``UserError`` if it is not one of them."""
    norm = normalize_composer(name)
    if norm not in scorer.composers:
        raise UserError(f"composer {name!r} is not among the candidates: {', '.join(scorer.composers)}")
    return norm


__all__ = ["AdherenceReport", "AdherenceRow", "style_adherence"]
