"""Logit filters: pure functions of logits ``(B, V)`` that return logits of the same shape with removed
tokens set to ``-inf``; they compose by plain function application (``top_p(top_k(x, 40), 0.9)``).
``SamplingConfig`` names the usual chain (temperature, top-k, top-p, min-p) and ``filter_logits``
applies it; ``mask_tokens`` keeps or removes sets of token ids. The engine (``muse.core.sampling``)
applies them at every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from muse.core.errors import ConfigError

LogitFilter = Callable[[Tensor], Tensor]
"""A custom filter: logits ``(B, V)`` -> logits ``(B, V)`` (``-inf`` marks removed tokens)."""

TokenSet = Tensor | Sequence[int]
"""A set of token ids: a sequence of ids, an integer tensor of ids, or a bool mask ``(V,)``/``(B, V)``."""


@dataclass(frozen=True)
class SamplingConfig:
    """How the next token is drawn from the model's logits.

    temperature: divides the logits; 0 means greedy (argmax). top_k: keep the k most likely
    tokens (0 = off). top_p: keep the smallest set of most likely tokens whose probability mass
    reaches p (1 = off). min_p: keep tokens whose probability is at least min_p times the most
    likely one's (0 = off). Filters apply in that order, each to the output of the previous one.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ConfigError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1] (1 = off), got {self.top_p}")
        if not 0 <= self.min_p <= 1:
            raise ConfigError(f"min_p must be in [0, 1] (0 = off), got {self.min_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def temperature(logits: Tensor, t: float) -> Tensor:
    """Logits ``(..., V)`` divided by ``t > 0`` (t < 1 sharpens, t > 1 flattens)."""
    if not t > 0:
        raise ValueError(f"temperature must be > 0 (use greedy decoding for 0), got {t}")
    return logits if t == 1 else logits / t


def top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row ``(..., V)``; ties with the k-th value are kept.

    ``k <= 0`` or ``k >= V`` leaves the logits unchanged."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, -math.inf)


def top_p(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose mass is ``>= p``.

    A token is kept iff the mass of the tokens ranked strictly before it is ``< p``, so the most
    likely token is always kept. Among equal probabilities the lower id ranks first.
    ``p >= 1`` leaves the logits unchanged."""
    if p >= 1:
        return logits
    if not p > 0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    fast = _top_p_from_top_k(logits, p)
    if fast is not None:
        return fast
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = sorted_logits.float().softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1)
    mass_before = torch.cat([torch.zeros_like(mass_before[..., :1]), mass_before[..., :-1]], dim=-1)
    remove_sorted = mass_before >= p
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, -math.inf)


_TOP_P_CANDIDATES = (256, 4096)


def _top_p_from_top_k(logits: Tensor, p: float) -> Tensor | None:
    """``top_p`` computed from the 256 (else 4,096) most likely tokens only, or None when that
    could differ from the full sort: when a row's nucleus does not end inside the candidates,
    strictly above the tie group of the last candidate. Sorting 39k logits per token was the
    largest cost of sampling a MuseNet-size vocabulary (a top-4096 costs a fifth of the sort)."""
    vocab = logits.shape[-1]
    if vocab <= 2 * _TOP_P_CANDIDATES[0]:
        return None
    probs = logits.float().softmax(dim=-1)
    for k in _TOP_P_CANDIDATES:
        if vocab <= 2 * k:
            return None
        values, ids = probs.topk(k, dim=-1)
        ids, perm = ids.sort(dim=-1, stable=True)  # equal probabilities: lower id first, as the full sort
        values, perm = values.gather(-1, perm).sort(dim=-1, descending=True, stable=True)
        ids = ids.gather(-1, perm)
        keep_sorted = (values.cumsum(dim=-1) - values) < p
        smallest_kept = values.masked_fill(~keep_sorted, math.inf).amin(dim=-1)
        if bool((smallest_kept > values[..., -1]).all()):
            keep = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device).scatter(-1, ids, keep_sorted)
            return logits.masked_fill(~keep, -math.inf)
    return None


def min_p(logits: Tensor, p: float) -> Tensor:
    """Keep tokens whose probability is ``>= p *`` the top token's probability (rows ``(..., V)``).

    ``p <= 0`` leaves the logits unchanged; the top token is always kept."""
    if p <= 0:
        return logits
    if p > 1:
        raise ValueError(f"min_p must be in [0, 1], got {p}")
    # In log space: log prob_i >= log p + log prob_max  <=>  logit_i >= logit_max + log p.
    top = logits.max(dim=-1, keepdim=True).values
    return logits.masked_fill(logits < top + math.log(p), -math.inf)


def token_mask(tokens: TokenSet, vocab_size: int, device: torch.device | str | None = None) -> Tensor:
    """A bool mask ``(V,)`` (or the given ``(B, V)`` mask) from a set of ids or a mask."""
    if isinstance(tokens, Tensor) and tokens.dtype == torch.bool:
        if tokens.shape[-1] != vocab_size:
            raise ValueError(f"token mask has {tokens.shape[-1]} entries, the vocabulary has {vocab_size}")
        return tokens.to(device) if device is not None else tokens
    ids = torch.as_tensor(tokens, dtype=torch.long).reshape(-1)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)].tolist()
        raise ValueError(f"token ids {bad[:10]} are outside the vocabulary [0, {vocab_size})")
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    mask[ids.to(mask.device)] = True
    return mask


def mask_tokens(logits: Tensor, *, allowed: TokenSet | None = None, forbidden: TokenSet | None = None) -> Tensor:
    """Remove every token not in ``allowed`` (when given) and every token in ``forbidden``.

    logits: ``(B, V)``; the sets are ids or bool masks ``(V,)`` / ``(B, V)``."""
    vocab = logits.shape[-1]
    if allowed is not None:
        logits = logits.masked_fill(~token_mask(allowed, vocab, logits.device), -math.inf)
    if forbidden is not None:
        logits = logits.masked_fill(token_mask(forbidden, vocab, logits.device), -math.inf)
    return logits


def filter_logits(logits: Tensor, config: SamplingConfig) -> Tensor:
    """Apply ``config``: temperature (skipped when greedy), then top-k, top-p and min-p."""
    if not config.greedy:
        logits = temperature(logits, config.temperature)
    return min_p(top_p(top_k(logits, config.top_k), config.top_p), config.min_p)


__all__ = ["LogitFilter", "SamplingConfig", "TokenSet", "filter_logits", "mask_tokens", "min_p", "temperature",
           "token_mask", "top_k", "top_p"]
