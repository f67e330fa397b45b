"""Training examples from a built token dataset (``muse.core.token_shards.TokenDataset``).

- ``CropDataset``: random crops of ``n_ctx + 1`` tokens that keep the piece's header (composer,
  instrumentation, ``start``) followed by a random stretch of the piece, augmented (transpose,
  velocity, tempo stretch: ``musetok.augment``); with ``composer_dropout`` p the header's composer
  token becomes ``unknown_composer`` with probability p, so one model learns the conditional and
  the unconditional distribution (classifier-free guidance); with ``fim_rate`` p a crop is laid out
  for fill-in-the-middle with probability p (``muse.fim``). Item ``i`` is a pure function of (seed, i), so
  the Trainer's exact resume holds; pieces are drawn in proportion to their length.
- ``WindowDataset``: every piece of a split cut into consecutive windows (header + body chunk)
  that together score each token after the first exactly once, for exact bits/token.

Each item carries the clock features of the tokens' place in the *whole* piece (``muse.clock``)
and the piece's length in microseconds, so the model's time and structure embeddings see in
training what the cached decoder computes in generation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from musetok import MidiTokenizer
from musetok.augment import AugmentConfig, augment
from musetok.vocab import Kind
from torch import Tensor
from torch.utils.data import Dataset

from muse.clock import Clock, TokenClock
from muse.core.errors import UserError
from muse.core.train import LossOutput
from muse.core.token_shards import TokenDataset
from muse.fim import fim_item
from muse.token_tables import TokenTables


def _piece_clock(clock: TokenClock, ids: np.ndarray) -> tuple[Clock, int]:
    """Clock features of a whole piece (each (L,)) and its length in microseconds."""
    with torch.no_grad():
        c = clock(torch.from_numpy(ids.astype(np.int64))[None])
    return Clock(c.ticks[0], c.micros[0], c.chord[0], c.end), int(c.end.micros[0])


def _item(ids: np.ndarray, clock: Clock, total_us: int, rows: np.ndarray, scored: np.ndarray,
          window: int, pad_id: int) -> dict[str, Tensor]:
    """Collatable item: the tokens ``ids[rows]`` padded to ``window``; ``mask`` marks scored targets."""
    n = len(rows)
    idx = torch.from_numpy(rows)
    out_ids = torch.full((window,), pad_id, dtype=torch.long)
    out_ids[:n] = torch.from_numpy(ids[rows].astype(np.int64))
    fields = {}
    for name in ("ticks", "micros", "chord"):
        values = torch.zeros(window, dtype=torch.long)
        values[:n] = getattr(clock, name)[idx]
        fields[name] = values
    mask = torch.zeros(window - 1, dtype=torch.bool)
    mask[: n - 1] = torch.from_numpy(scored[1:n])
    return {"ids": out_ids, **fields, "total_us": torch.tensor(total_us, dtype=torch.long), "mask": mask}


class CropDataset(Dataset):
    """``items`` random, augmented crops of the pieces ``indices`` of ``data`` (see module doc)."""

    def __init__(self, data: TokenDataset, indices: Sequence[int], tokenizer: MidiTokenizer, n_ctx: int, *,
                 items: int, seed: int = 0, augment_config: AugmentConfig | None = None,
                 min_tokens: int = 16, composer_dropout: float = 0.0, fim_rate: float = 0.0) -> None:
        self.data, self.tokenizer, self.window = data, tokenizer, n_ctx + 1
        self.pieces = np.array([i for i in indices if data.pieces[i].length >= min_tokens], dtype=np.int64)
        if len(self.pieces) == 0:
            raise UserError(f"{data.folder}: no piece of at least {min_tokens} tokens in this split")
        self.cumulative = np.cumsum(data.lengths[self.pieces])
        self.items, self.seed, self.augment = items, seed, augment_config
        self.composer_dropout = composer_dropout
        self.fim_rate = fim_rate  # share of crops in the fill-in-the-middle layout (muse.fim)
        if fim_rate > 0 and not tokenizer.vocab.has_fim_markers:
            raise UserError("fim_rate > 0 needs a vocabulary with fill-in-the-middle markers (muse.fim.with_fim_markers)")
        self.is_composer = np.asarray(tokenizer.vocab.kind) == Kind.COMPOSER
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([self.seed, int(i)])
        piece = int(self.pieces[np.searchsorted(self.cumulative, rng.integers(self.cumulative[-1]), side="right")])
        record = self.data.pieces[piece]
        ids = np.array(self.data.tokens(piece), dtype=np.int64)
        if self.augment is not None:
            ids = augment(ids, self.tokenizer.vocab, rng, self.augment)
        if self.composer_dropout > 0 and rng.random() < self.composer_dropout:
            head = ids[: record.header]
            head[self.is_composer[head]] = self.tokenizer.vocab.unknown_composer_id
        clock, total_us = _piece_clock(self.clock, ids)
        header, length, window = record.header, len(ids), self.window
        if self.fim_rate > 0 and rng.random() < self.fim_rate:
            item = fim_item(ids, clock, total_us, header, window, self.tokenizer.vocab, rng)
            if item is not None:
                return item
        if length <= window:
            rows = np.arange(length)
        else:
            body = window - header
            start = int(rng.integers(header, length - body + 1))
            rows = np.concatenate([np.arange(header), np.arange(start, start + body)])
        scored = np.ones(len(rows), dtype=bool)
        return _item(ids, clock, total_us, rows, scored, window, self.tokenizer.vocab.pad_id)


class WindowDataset(Dataset):
    """Consecutive windows over whole pieces: each token after a piece's first is scored once.

    Window k of a piece holds its header and the body tokens ``[s_k, s_k + b)`` with
    ``s_k = header + k (b - 1)``; it scores ``[s_k + 1, s_k + b)`` (and, for k = 0, the header's
    targets and the first body token as well). ``piece_of[j]`` is the piece of window ``j``.
    """

    def __init__(self, data: TokenDataset, indices: Sequence[int], tokenizer: MidiTokenizer, n_ctx: int) -> None:
        self.data, self.window = data, n_ctx + 1
        self.pad_id = tokenizer.vocab.pad_id
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))
        windows = []
        for p in indices:
            rec = data.pieces[int(p)]
            if rec.length < 2:
                continue
            body = self.window - rec.header
            if body < 2:
                raise UserError(f"{data.folder}: piece {rec.id} has a {rec.header}-token header, too long for n_ctx={n_ctx}")
            n = max(1, math.ceil((rec.length - rec.header - 1) / (body - 1)))
            windows.extend((int(p), k) for k in range(n))
        self.windows = windows
        self.piece_of = np.array([p for p, _ in windows], dtype=np.int64)
        self._cache: tuple[int, np.ndarray, Clock, int] | None = None

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, j: int) -> dict[str, Tensor]:
        piece, k = self.windows[j]
        if self._cache is None or self._cache[0] != piece:
            ids = np.array(self.data.tokens(piece), dtype=np.int64)
            self._cache = (piece, ids, *_piece_clock(self.clock, ids))
        _, ids, clock, total_us = self._cache
        header = self.data.pieces[piece].header
        body = self.window - header
        start = header + k * (body - 1)
        rows = np.concatenate([np.arange(header), np.arange(start, min(start + body, len(ids)))])
        scored = np.ones(len(rows), dtype=bool)
        if k > 0:
            scored[: header + 1] = False  # header and the first body token were scored by window k - 1
        return _item(ids, clock, total_us, rows, scored, self.window, self.pad_id)


def muse_loss(model: torch.nn.Module, batch: dict[str, Tensor]) -> LossOutput:
    """Mean next-token NLL (nats) over the scored targets of a collated batch; logs bits/token."""
    ids = batch["ids"]
    clock = Clock(batch["ticks"][:, :-1], batch["micros"][:, :-1], batch["chord"][:, :-1])
    nll = model(ids[:, :-1], clock, batch["total_us"], targets=ids[:, 1:])
    mask = batch["mask"].to(nll.dtype)
    n = int(batch["mask"].sum())
    loss = (nll * mask).sum() / max(n, 1)
    return LossOutput(loss, {"bits_per_token": loss.detach() / math.log(2)}, n)


__all__ = ["CropDataset", "WindowDataset", "muse_loss"]
