"""Reranking: draw several candidates per requested piece, keep the best of each group by a score.

Three scores (``rerank_by``):

- ``style``: the model's composer posterior for the requested composer (or mix), below;
- ``critic``: a critic's or reward model's score (``muse.critic``: the logit that the piece is real
  music, or the learnt reward);
- ``both``: ``log p(composers | piece) + W * critic score`` (W: ``critic_weight``, default 1). Both
  terms are log-odds-like, so W = 1 weighs a factor e in the composer posterior like one unit of
  critic logit (a factor e in the critic's odds of "real").

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
from typing import Literal, TypeVar

import numpy as np

from muse.composers.mixing import ComposerMix
from muse.composers.scoring import ComposerScorer

T = TypeVar("T")
RerankBy = Literal["style", "critic", "both"]
RERANK_BY: tuple[str, ...] = ("style", "critic", "both")


def style_scores(scorer: ComposerScorer, pieces: Sequence[np.ndarray], mix: ComposerMix) -> np.ndarray:
    """Probability (n,) the scorer gives the composers of ``mix`` (weighted) for each token sequence."""
    weights = mix.weights_over(scorer.composers)
    return np.array([float(scorer.score_ids(ids).posterior @ weights) for ids in pieces])


def combined_scores(style: np.ndarray, critic: np.ndarray, critic_weight: float = 1.0) -> np.ndarray:
    """``log style + critic_weight * critic`` (n,) (``rerank_by="both"``; a zero posterior is -inf)."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(style, np.float64)) + critic_weight * np.asarray(critic, np.float64)


def best_of_groups(candidates: Sequence[T], scores: np.ndarray, k: int) -> list[T]:
    """The highest-scoring candidate of each group of ``k`` consecutive ``candidates`` (first on ties)."""
    scores = np.asarray(scores)
    if k < 1 or len(candidates) % k or len(scores) != len(candidates):
        raise ValueError(f"{len(candidates)} candidates do not make groups of {k}")
    return [candidates[g * k + int(np.argmax(scores[g * k:(g + 1) * k]))] for g in range(len(candidates) // k)]


def best_by_style(candidates: Sequence[T], ids: Sequence[np.ndarray], k: int, scorer: ComposerScorer,
                  mix: ComposerMix) -> tuple[list[T], np.ndarray]:
    """The best of each group of ``k`` consecutive ``candidates`` (their token ``ids`` scored by
    ``style_scores``) and every candidate's score (n,)."""
    if len(candidates) % k or len(ids) != len(candidates):
        raise ValueError(f"{len(candidates)} candidates do not make groups of {k}")
    scores = style_scores(scorer, ids, mix)
    return best_of_groups(candidates, scores, k), scores


__all__ = ["RERANK_BY", "RerankBy", "best_by_style", "best_of_groups", "combined_scores", "style_scores"]
