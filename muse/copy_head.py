"""The copy head: music repeats itself, so the token that followed the current passage the last time
it was played is a strong guess for the next one.

At every position ``t`` of the window the longest suffix of ``ids[..t]`` that occurred earlier
in the window (its most recent occurrence ending at ``j < t``, length ``L``, capped at
``MAX_MATCH``) names a candidate, ``ids[j + 1]``. Its logit gets a bonus

    b_t = a[k] + h_t . u[k],   k = floor(log2 L)   (no bonus where no token recurs, L = 0)

learnt per match-length bucket ``k`` from the final hidden state ``h_t`` (a plain bias per bucket
would not know when the music stops repeating). Zero-initialised, so a model warm-started with the
head predicts exactly what it did without it. Why: on 40 held-out pieces, where the last 8 tokens
had occurred earlier in the window the next token was the copy 90.5% of the time, while the stage-6
model gave it 0.67 on average; sampling at that confidence breaks most repeats within a few notes
(generated pieces repeat 8-note melodies 40 times less often than real ones).

The matches are computed from the ids alone with one recurrence, used by training and by cached
decoding alike (``CopyState.advance``)::

    run_t[j] = (ids[t] == ids[j]) * (run_{t-1}[j - 1] + 1)      (j < t; capped at MAX_MATCH)

so a cached step costs O(window) per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

MAX_MATCH = 32
BUCKETS = MAX_MATCH.bit_length()  # lengths 1, 2-3, 4-7, 8-15, 16-31, 32


@dataclass
class CopyState:
    """Match state after ``length`` tokens of a window: ``ids`` (B, n_ctx) fed so far (-1 after
    them) and ``run`` (B, n_ctx): the common suffix length of the sequence up to the last token and
    the sequence up to each earlier position."""

    ids: Tensor
    run: Tensor
    length: int = 0

    @classmethod
    def empty(cls, batch_size: int, n_ctx: int, device: torch.device | str | None = None) -> CopyState:
        return cls(torch.full((batch_size, n_ctx), -1, dtype=torch.long, device=device),
                   torch.zeros(batch_size, n_ctx, dtype=torch.long, device=device))

    def advance(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Feed ``ids`` (B, T); returns each new position's candidate (B, T) (0 where none) and
        match-length bucket (B, T) (-1 where none)."""
        n_ctx = self.ids.shape[1]
        if self.length + ids.shape[1] > n_ctx:
            raise ValueError(f"{self.length + ids.shape[1]} tokens exceed the copy state's window of {n_ctx}")
        order = torch.arange(n_ctx, device=ids.device)
        cands, buckets = [], []
        for i in range(ids.shape[1]):
            t, x = self.length, ids[:, i]
            self.ids[:, t] = x
            run = torch.zeros_like(self.run)
            run[:, 1:t] = (self.run[:, : max(t - 1, 0)] + 1).clamp_max(MAX_MATCH)
            run[:, 0] = int(t > 0)
            run[:, :t] *= self.ids[:, :t] == x[:, None]
            self.run, self.length = run, t + 1
            best = (run * (n_ctx + 1) + order).argmax(-1)  # longest match, the most recent among equals
            longest = run.gather(1, best[:, None]).squeeze(1)
            after = self.ids.gather(1, (best + 1).clamp_max(t)[:, None]).squeeze(1)
            cands.append(torch.where(longest > 0, after, 0))
            buckets.append(torch.where(longest > 0, torch.log2(longest.clamp_min(1).float()).long(), -1))
        return torch.stack(cands, 1), torch.stack(buckets, 1)


def copy_matches(ids: Tensor, n_ctx: int) -> tuple[Tensor, Tensor]:
    """Candidates and buckets (B, T) of a whole window ``ids`` (B, T) (see ``CopyState.advance``)."""
    return CopyState.empty(ids.shape[0], n_ctx, ids.device).advance(ids)


class CopyHead(nn.Module):
    """The learnt bonus (B, T) of each position's copy candidate (see the module doc)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(BUCKETS))
        self.proj = nn.Parameter(torch.zeros(BUCKETS, width))

    def forward(self, h: Tensor, bucket: Tensor) -> Tensor:
        """Bonus (B, T) from hidden states ``h`` (B, T, width) and buckets (B, T) (-1: none -> 0)."""
        k = bucket.clamp_min(0)
        bonus = self.bias[k] + (h * self.proj[k].to(h.dtype)).sum(-1).float()
        return torch.where(bucket >= 0, bonus, 0.0)


__all__ = ["CopyHead", "CopyState", "copy_matches", "MAX_MATCH", "BUCKETS"]
