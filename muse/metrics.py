"""Two small statistics of the preference loop: ROC AUC of a scorer, and a Wilson interval for a win rate.

- ``roc_auc``: the probability that a random positive scores above a random negative, ties
  counting one half (the Mann-Whitney U statistic over n_pos * n_neg). 0.5 is chance, 1 a perfect
  separation. Computed from ranks (average ranks for ties), so it is exact and O(n log n).
- ``wilson_interval``: the Wilson score interval of a binomial proportion (wins out of trials),
  which stays inside [0, 1] and behaves at 0 or n wins, unlike the normal approximation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def roc_auc(positive: Sequence[float] | np.ndarray, negative: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve of scores ``positive`` (n,) against ``negative`` (m,): the share of
    (positive, negative) pairs where the positive scores higher, ties counting 1/2."""
    pos = np.asarray(positive, np.float64).ravel()
    neg = np.asarray(negative, np.float64).ravel()
    if not len(pos) or not len(neg):
        raise ValueError(f"ROC AUC needs both classes (got {len(pos)} positive, {len(neg)} negative scores)")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    sorted_scores = scores[order]
    # average ranks over ties: every member of a run of equal scores gets the run's mean rank
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        if count > 1:
            ranks[order[start:start + count]] = start + (count + 1) / 2
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def wilson_interval(wins: float, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (low, high) of the proportion ``wins / trials`` at ``confidence``
    (two-sided); (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = _normal_quantile(0.5 + confidence / 2)
    p = wins / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _normal_quantile(q: float) -> float:
    """The standard normal quantile, by bisection on erf (exact to ~1e-12; no scipy needed)."""
    low, high = -10.0, 10.0
    for _ in range(100):
        mid = (low + high) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


__all__ = ["roc_auc", "wilson_interval"]
