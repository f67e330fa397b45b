"""Score a whole token sequence in context windows: the header plus consecutive stretches of the piece.

A piece longer than the context is cut into windows that each hold the header (composer,
instruments, ``start``) and the next stretch of the piece, the stretches overlapping by one token
so that every target from ``first_scored`` on is scored exactly once (as ``muse eval`` and the
composer scorer do). The first stretch may start before ``first_scored`` (``context`` tokens of the
prompt before the first scored token), so a completion after a long prime is scored with some of
the prime in view. Every token keeps the clock features of its place in the whole piece
(``muse.clock``), as in training crops, so the time and structure embeddings see what they saw
when the piece was generated.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from musetok.vocab import Vocab

from muse.clock import Clock, TokenClock
from muse.core.errors import UserError

Window = tuple[np.ndarray, np.ndarray]  # (rows of the piece, which of them are scored targets)


def header_length(ids: np.ndarray, vocab: Vocab, source: str = "tokens") -> int:
    """Length of the header of ``ids`` (``Vocab.header_length``: through the first ``start``); a
    ``UserError`` naming ``source`` when there is none."""
    header = vocab.header_length(ids)
    if not header:
        raise UserError(f"{source}: not a token sequence with a header (composer, instruments, start)")
    return header


def scoring_windows(length: int, header: int, n_ctx: int, first_scored: int, context: int = 0) -> list[Window]:
    """Windows (rows, scored) over tokens ``[0, length)`` of a piece with a ``header``-token header
    for a model of context ``n_ctx``: each target in ``[max(first_scored, 1), length)`` is scored
    once; the first stretch starts ``context`` tokens before ``first_scored`` (not before the body)."""
    body = n_ctx + 1 - header
    if body < 2:
        raise UserError(f"a header of {header} tokens leaves no room in a context of {n_ctx}")
    first_scored = max(first_scored, 1)
    context = min(context, body - 2)
    start0 = max(header, first_scored - context)
    if first_scored > start0 + body - 1:  # the prompt's tail must reach into the first window
        start0 = first_scored - (body - 1)
    n = max(1, math.ceil((length - start0 - 1) / (body - 1)))
    out = []
    for k in range(n):
        start = start0 + k * (body - 1)
        rows = np.concatenate([np.arange(header), np.arange(start, min(start + body, length))])
        scored = rows >= first_scored
        if k > 0:
            scored[: header + 1] = False  # header and overlap: scored by an earlier window
        out.append((rows, scored))
    return out


def piece_clock(clock: TokenClock, ids: np.ndarray) -> tuple[Clock, int]:
    """Clock features of a whole piece ``ids`` (L,) (each (L,)) and its length in microseconds."""
    with torch.no_grad():
        c = clock(torch.from_numpy(np.asarray(ids, np.int64))[None])
    return Clock(c.ticks[0], c.micros[0], c.chord[0], c.end), int(c.end.micros[0])


def window_tensors(ids: np.ndarray, windows: list[Window], clock: Clock, total_us: int, width: int,
                   pad_id: int) -> dict[str, Tensor]:
    """The windows of one piece ``ids`` (L,) as a batch: ``ids``, ``ticks``, ``micros``, ``chord``
    (W, width) padded with ``pad_id``/0, ``mask`` (W, width - 1) of scored targets, ``total_us`` (W,)."""
    n = len(windows)
    out = {"ids": torch.full((n, width), pad_id, dtype=torch.long)}
    for name in ("ticks", "micros", "chord"):
        out[name] = torch.zeros(n, width, dtype=torch.long)
    out["mask"] = torch.zeros(n, width - 1, dtype=torch.bool)
    full = torch.from_numpy(np.asarray(ids, np.int64))
    for j, (rows, scored) in enumerate(windows):
        r = torch.from_numpy(rows)
        out["ids"][j, : len(r)] = full[r]
        for name in ("ticks", "micros", "chord"):
            out[name][j, : len(r)] = getattr(clock, name)[r]
        out["mask"][j, : len(r) - 1] = torch.from_numpy(scored[1:])
    out["total_us"] = torch.full((n,), total_us, dtype=torch.long)
    return out


__all__ = ["Window", "header_length", "piece_clock", "scoring_windows", "window_tensors"]
