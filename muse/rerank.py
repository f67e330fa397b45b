"""Reranking: draw several candidates per requested piece, keep the one most in the requested style.

``best_by_style`` scores every candidate with the model's own composer posterior
(``muse.composers.scoring``: the instrumentation is given, not scored; the first context window
is scored) and keeps, in each group of ``k`` consecutive candidates, the one whose posterior
gives the requested composers the most probability: ``sum_c w_c * p(c | piece)`` for the mix
weights ``w`` (one composer: its posterior). The same scorer measures adherence
(``muse composers adherence``), so a reranked sample scoring well there is a consistency check,
not independent evidence of style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from muse.composers.mixing import ComposerMix
from muse.composers.scoring import ComposerScorer

T = TypeVar("T")


def style_scores(scorer: ComposerScorer, pieces: Sequence[np.ndarray], mix: ComposerMix) -> np.ndarray:
    """Probability (n,) the scorer gives the composers of ``mix`` (weighted) for each token sequence."""
    weights = mix.weights_over(scorer.composers)
    return np.array([float(scorer.score_ids(ids).posterior @ weights) for ids in pieces])


def best_by_style(candidates: Sequence[T], ids: Sequence[np.ndarray], k: int, scorer: ComposerScorer,
                  mix: ComposerMix) -> tuple[list[T], np.ndarray]:
    """The best of each group of ``k`` consecutive ``candidates`` (their token ``ids`` scored by
    ``style_scores``) and every candidate's score (n,)."""
    if len(candidates) % k or len(ids) != len(candidates):
        raise ValueError(f"{len(candidates)} candidates do not make groups of {k}")
    scores = style_scores(scorer, ids, mix)
    best = [candidates[g * k + int(np.argmax(scores[g * k:(g + 1) * k]))] for g in range(len(candidates) // k)]
    return best, scores


__all__ = ["best_by_style", "style_scores"]
