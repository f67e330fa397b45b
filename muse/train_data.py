"""Training examples from a built token dataset (``muse.core.token_shards.TokenDataset``).

- ``CropDataset``: random crops of ``n_ctx + 1`` tokens that keep the piece's header (composer,
  instrumentation, ``start``) followed by a random stretch of the piece, augmented (transpose,
  velocity, tempo stretch: ``musetok.augment``); with ``composer_dropout`` p the header's composer
  token becomes ``unknown_composer`` with probability p, so one model learns the conditional and
  the unconditional distribution (classifier-free guidance); with ``fim_rate`` p a crop is laid out
  for fill-in-the-middle with probability p (``muse.fim``); with ``opening_rate`` q any other crop starts at
  the piece's first token with probability q (else anywhere, uniformly). Item ``i`` is a pure function of (seed, i), so
  the Trainer's exact resume holds; pieces are drawn in proportion to their length.
- ``WindowDataset``: every piece of a split cut into consecutive windows (header + body chunk)
  that together score each token after the first exactly once, for exact bits/token.

Each item carries the clock features of the tokens' place in the *whole* piece (``muse.clock``)
and the piece's length in microseconds, so the model's time and structure embeddings see in
training what the cached decoder computes in generation. Both read them from ``muse.excerpt``: a
crop of a long piece draws its place first, then augments and clocks only the tokens it keeps (and
those since the piece's checkpoint before them), so an item costs about the same in a piece of
5,000 tokens or of 200,000, and equals augmenting and clocking the whole piece, then cropping, for
the same draws (which is what a short piece gets).

Composer contrast (``contrast_rate`` r, ``contrast_loss``): with probability r a crop whose header names a
composer also carries ``negative``, another composer token of the split's composers, drawn uniformly (the
scorer's prior: every label is an equal rival, and the labels of few pieces are the ones that outscore the
true composer on held-out pieces), else -1. ``contrast_loss`` scores such a crop a second time
with that composer in its header and adds ``softplus(-(log p(crop | own) - log p(crop | other)))``: the
pairwise form of the composer scorer's posterior (``muse.composers.scoring``), which sums the same
log-likelihoods over a window. It trains the model as the generative classifier it is used as (a GeDi-style
generative-discriminative objective), where next-token training alone lets the music's own context explain
what the composer should.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from musetok import MidiTokenizer
from musetok.augment import Augmentation, AugmentConfig
from musetok.vocab import Kind

from muse.clock import Clock, TokenClock
from muse.core.errors import UserError
from muse.core.token_shards import TokenDataset
from muse.core.train import LossOutput
from muse.excerpt import CHECKPOINT_EVERY, IndexedPiece, PieceIndex, WholePiece, padded_item
from muse.fim import fim_layout, spm_item
from muse.token_tables import TokenTables


class CropDataset(Dataset):
    """``items`` random, augmented crops of the pieces ``indices`` of ``data`` (see module doc)."""

    def __init__(self, data: TokenDataset, indices: Sequence[int], tokenizer: MidiTokenizer, n_ctx: int, *,
                 items: int, seed: int = 0, augment_config: AugmentConfig | None = None,
                 min_tokens: int = 16, composer_dropout: float = 0.0, fim_rate: float = 0.0,
                 opening_rate: float = 0.0, contrast_rate: float = 0.0) -> None:
        self.data, self.tokenizer, self.window = data, tokenizer, n_ctx + 1
        self.pieces = np.array([i for i in indices if data.pieces[i].length >= min_tokens], dtype=np.int64)
        if len(self.pieces) == 0:
            raise UserError(f"{data.folder}: no piece of at least {min_tokens} tokens in this split")
        self.cumulative = np.cumsum(data.lengths[self.pieces])
        self.items, self.seed, self.augment = items, seed, augment_config
        self.composer_dropout = composer_dropout
        self.fim_rate = fim_rate  # share of crops in the fill-in-the-middle layout (muse.fim)
        self.opening_rate = opening_rate  # share of the other crops that start at the piece's start
        if fim_rate > 0 and not tokenizer.vocab.has_fim_markers:
            raise UserError("fim_rate > 0 needs a vocabulary with fill-in-the-middle markers "
                            "(muse.fim.with_fim_markers)")
        self.is_composer = np.asarray(tokenizer.vocab.kind) == Kind.COMPOSER
        self.contrast_rate = contrast_rate
        if contrast_rate > 0:  # the composer tokens of the split's pieces
            first = np.array([int(data.tokens(int(p))[0]) for p in self.pieces], dtype=np.int64)
            self.composer_ids = np.unique(first[self.is_composer[first]])
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))
        self._indices: dict[int, PieceIndex] = {}  # of the long pieces, built on first use

    # Longer pieces are read through a PieceIndex; a shorter one is augmented and clocked whole (as cheap).
    index_above = CHECKPOINT_EVERY

    def __len__(self) -> int:
        return self.items

    def _piece(self, piece: int, aug: Augmentation | None) -> IndexedPiece | WholePiece:
        """Piece ``piece`` as ``aug`` augments it, read through its index when long."""
        record = self.data.pieces[piece]
        if record.length <= self.index_above:
            return WholePiece(self.data.tokens(piece), record.header, self.clock, self.tokenizer.vocab, aug)
        if piece not in self._indices:
            self._indices[piece] = PieceIndex(self.data.tokens(piece), record.header, self.clock, self.tokenizer.vocab)
        return self._indices[piece].augmented(aug)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([self.seed, int(i)])
        piece = int(self.pieces[np.searchsorted(self.cumulative, rng.integers(self.cumulative[-1]), side="right")])
        vocab, window = self.tokenizer.vocab, self.window
        aug = None if self.augment is None else Augmentation.draw(rng, self.augment)
        blank = self.composer_dropout > 0 and rng.random() < self.composer_dropout
        source = self._piece(piece, aug)
        header, length = source.header, source.length()
        item = None
        if self.fim_rate > 0 and rng.random() < self.fim_rate:
            layout = fim_layout(source.boundaries(), source.boundary, length, header, window, rng)
            if layout is not None:
                item = spm_item(source.excerpt(*layout.span), layout, window, vocab)
        if item is None:
            # (no draw when opening_rate is 0: the items of runs made before it stay the same)
            opening = length <= window or (self.opening_rate > 0 and rng.random() < self.opening_rate)
            start = header if opening else int(rng.integers(header, length - (window - header) + 1))
            excerpt = source.excerpt(start, min(length, start + window - header))
            item = padded_item(excerpt.ids, excerpt.clock, excerpt.total_us, np.ones(len(excerpt.ids), bool),
                               window, vocab.pad_id)
        if blank:
            head = item["ids"][:header]
            head[torch.from_numpy(self.is_composer[head.numpy()])] = vocab.unknown_composer_id
        if self.contrast_rate > 0:  # drawn last, so a crop is the same with or without contrast
            own = int(item["ids"][0])
            named = not blank and bool(self.is_composer[own])
            draw = rng.random() < self.contrast_rate
            others = self.composer_ids[self.composer_ids != own] if named and draw else ()
            item["negative"] = torch.tensor(int(rng.choice(others)) if len(others) else -1)
        return item


class WindowDataset(Dataset):
    """Consecutive windows over whole pieces: each token after a piece's first is scored once.

    Window k of a piece holds its header and the body tokens ``[s_k, s_k + b)`` with
    ``s_k = header + k (b - 1)``; it scores ``[s_k + 1, s_k + b)`` (and, for k = 0, the header's
    targets and the first body token as well). ``piece_of[j]`` is the piece of window ``j``.
    """

    def __init__(self, data: TokenDataset, indices: Sequence[int], tokenizer: MidiTokenizer, n_ctx: int) -> None:
        self.data, self.window, self.vocab = data, n_ctx + 1, tokenizer.vocab
        self.pad_id = tokenizer.vocab.pad_id
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))
        windows = []
        for p in indices:
            rec = data.pieces[int(p)]
            if rec.length < 2:
                continue
            body = self.window - rec.header
            if body < 2:
                raise UserError(f"{data.folder}: piece {rec.id} has a {rec.header}-token header, "
                                f"too long for n_ctx={n_ctx}")
            n = max(1, math.ceil((rec.length - rec.header - 1) / (body - 1)))
            windows.extend((int(p), k) for k in range(n))
        self.windows = windows
        self.piece_of = np.array([p for p, _ in windows], dtype=np.int64)
        self._cache: tuple[int, WholePiece] | None = None  # windows walk through one piece after another

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, j: int) -> dict[str, Tensor]:
        piece, k = self.windows[j]
        if self._cache is None or self._cache[0] != piece:
            self._cache = (piece, WholePiece(self.data.tokens(piece), self.data.pieces[piece].header, self.clock,
                                             self.vocab))
        whole = self._cache[1]
        header = whole.header
        start = header + k * (self.window - header - 1)
        excerpt = whole.excerpt(start, min(start + self.window - header, whole.length()))
        scored = np.ones(len(excerpt.ids), dtype=bool)
        if k > 0:
            scored[: header + 1] = False  # header and the first body token were scored by window k - 1
        return padded_item(excerpt.ids, excerpt.clock, excerpt.total_us, scored, self.window, self.pad_id)


def _nll(model: torch.nn.Module, batch: dict[str, Tensor], ids: Tensor, total_us: Tensor,
         rows: Tensor | None = None) -> Tensor:
    """Per-target NLL (B, T) nats of ``ids`` (B, T + 1) with the clock of ``batch`` (its ``rows``)."""
    clock = Clock.of_inputs(batch, slice(None) if rows is None else rows)
    return model(ids[:, :-1], clock, total_us if rows is None else total_us[rows], targets=ids[:, 1:])


def muse_loss(model: torch.nn.Module, batch: dict[str, Tensor]) -> LossOutput:
    """Mean next-token NLL (nats) over the scored targets of a collated batch; logs bits/token.

    In training, ``structure_dropout`` of the model's crops have their piece length hidden (``total_us``
    -1), so the model also learns to generate without a target length."""
    return contrast_loss(model, batch, 0.0)


def contrast_loss(model: torch.nn.Module, batch: dict[str, Tensor], weight: float) -> LossOutput:
    """``muse_loss`` plus ``weight`` times the composer contrast of the rows with a ``negative`` (module doc).

    The contrast of a row is ``softplus(-margin)``, ``margin`` = sum over its scored targets of
    log p(target | own composer) - log p(target | negative) (nats); the batch adds their sum divided by
    the batch's B x T target slots, so a row scored as the other composer's is pushed about as hard per
    token as its next-token loss pushes it (weight 1). Logs ``contrast_acc`` (share of margins > 0) and
    ``contrast_margin`` (mean margin per scored token, nats) over those rows (0 when there are none).
    """
    ids, total_us = batch["ids"], batch["total_us"]
    hide = model.config.structure_dropout if model.training else 0.0
    if hide > 0:  # one draw per crop, which its contrast row shares: the rows differ by composer only
        total_us = torch.where(torch.rand(total_us.shape, device=ids.device) < hide, -1, total_us)
    nll = _nll(model, batch, ids, total_us)
    mask = batch["mask"].to(nll.dtype)
    n = int(batch["mask"].sum())
    loss = (nll * mask).sum() / max(n, 1)
    metrics: dict[str, float | Tensor] = {"bits_per_token": loss.detach() / math.log(2)}
    negative = batch.get("negative")
    if negative is None:
        return LossOutput(loss, metrics, n)
    rows = (negative >= 0).nonzero().squeeze(1)
    acc = per_token = torch.zeros((), device=ids.device)
    if len(rows):
        other = ids[rows].clone()
        other[:, 0] = negative[rows]  # a crop's composer token opens its header (CropDataset)
        m = mask[rows]
        margin = ((_nll(model, batch, other, total_us, rows) - nll[rows]) * m).sum(1)  # (R,) nats
        loss = loss + weight * torch.nn.functional.softplus(-margin).sum() / nll.numel()
        acc = (margin > 0).float().mean().detach()
        per_token = (margin / m.sum(1).clamp_min(1)).mean().detach()
    return LossOutput(loss, metrics | {"contrast_acc": acc, "contrast_margin": per_token}, n)


__all__ = ["CropDataset", "WindowDataset", "muse_loss", "contrast_loss"]
