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
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch

from muse.composers.mixing import ComposerMix
from muse.composers.scoring import ComposerScorer
from muse.core.errors import UserError
from muse.core.ranges import check_number
from muse.saved_model import LoadedModel

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


class Reranker:
    """The scores a generator ranks its candidates by, for the model ``loaded``: its composer scorer (made on
    first use) and critics (each loaded once per path, on ``device``)."""

    def __init__(self, loaded: LoadedModel, device: torch.device | str) -> None:
        self.loaded, self.device = loaded, device
        self._scorer: ComposerScorer | None = None
        self._critics: dict[str, object] = {}

    @property
    def composer_scorer(self) -> ComposerScorer:
        if self._scorer is None:
            self._scorer = ComposerScorer(self.loaded, include_header=False)
        return self._scorer

    def check(self, rerank_by: str, mix: ComposerMix | None, critic: str | Path | object | None,
              critic_weight: float):  # noqa: ANN201 (a muse.critic.Critic or None)
        """The loaded critic for reranking ``rerank_by`` (None for ``style``), after checking the request."""
        if rerank_by not in RERANK_BY:
            raise UserError(f"rerank by {rerank_by!r}? choose one of {', '.join(RERANK_BY)}")
        if rerank_by in ("style", "both") and mix is None:
            raise UserError(f"rerank by {rerank_by} ranks candidates by composer: choose a composer (or a mix) to "
                            "rerank for, or rerank by critic")
        check_number(critic_weight, "critic weight", low=0, high=100)
        if rerank_by == "style":
            return None
        if critic is None:
            from muse.critic import BUNDLED_CRITIC, default_critic_path

            critic = default_critic_path()
            if critic is None:
                raise UserError(f"rerank by {rerank_by} needs a critic or reward model (--critic PATH); no bundled "
                                f"critic is installed at {BUNDLED_CRITIC}")
        return self._critic(critic)

    def _critic(self, critic: str | Path | object):  # noqa: ANN202
        from muse.critic import Critic, load_critic

        if not isinstance(critic, Critic):
            key = str(Path(critic).resolve())
            if key not in self._critics:
                self._critics[key] = load_critic(critic, self.device)
            critic = self._critics[key]
        critic.check_vocabulary(self.loaded.tokenizer)
        return critic

    def scores(self, ids: Sequence[np.ndarray], rerank_by: str, mix: ComposerMix | None, critic: object | None,
               critic_weight: float) -> np.ndarray:
        """Every candidate's score (n,) by ``rerank_by`` from its token ``ids`` (``critic`` as ``check`` gave it)."""
        style = style_scores(self.composer_scorer, ids, mix) if rerank_by != "critic" else None
        judged = critic.score_many(ids) if critic is not None else None
        if rerank_by == "style":
            return style
        if rerank_by == "critic":
            return judged
        return combined_scores(style, judged, critic_weight)


__all__ = ["Reranker", "RERANK_BY", "RerankBy", "best_by_style", "best_of_groups", "combined_scores", "style_scores"]
