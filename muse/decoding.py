"""``PieceDecoder``: the model as a ``muse.core.sampling.Decoder`` that knows where its window sits.

The shared engine slides the context window past ``n_ctx`` by resetting the cache and re-feeding
the header plus the most recent tokens. The model's time and structure embeddings must then see
the window's tokens at their place in the whole piece (as in training crops), not as if the
piece restarted. The engine announces every fresh window through the decoder's ``start_window``
hook (the kept prefix and the absolute position of the tail's first token), so each token fed,
in whatever chunks, has a known absolute position: ``WindowPlace`` keeps that bookkeeping and
the whole sequence so far. When the first token of a tail that does not follow the prefix
arrives, the clock is set to the piece's clock just before it. Every cache also carries the
piece's target length (structure embeddings) and the style-mixing weights, if any
(``MuseModel.token_embedding``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from muse.model import MuseCache, MuseModel


class WindowPlace:
    """The whole sequence so far ``history`` (B, N) and where the current cache's window sits in
    it: its first ``prefix`` tokens are the sequence's, the rest start at absolute position
    ``start``. A cache that was never announced is a first window after a ``default_prefix``-token
    prefix (``start == prefix``)."""

    def __init__(self, prompt: Tensor, default_prefix: int) -> None:
        self.history = prompt.clone()
        self.default_prefix = default_prefix
        self._cache: MuseCache | None = None
        self.prefix = self.start = default_prefix

    def announce(self, cache: MuseCache, prefix: int, start: int) -> None:
        """``cache`` becomes the current window: the first ``prefix`` tokens, then from ``start`` on."""
        if not 0 <= prefix <= start <= self.history.shape[1]:
            raise ValueError(f"a window of prefix {prefix} and tail start {start} does not fit a sequence "
                             f"of {self.history.shape[1]} known tokens")
        self._cache, self.prefix, self.start = cache, prefix, start

    def follow(self, cache: MuseCache) -> None:
        """Make ``cache`` the current window (announced or not)."""
        if cache is not self._cache:
            self.announce(cache, self.default_prefix, self.default_prefix)

    def position(self, offset: int) -> int:
        """Absolute position of the token at window position ``offset``."""
        return offset if offset < self.prefix else self.start + offset - self.prefix

    def record(self, ids: Tensor, offset: int) -> None:
        """Add ``ids`` (B, T), fed at window position ``offset``, to the history where new (the
        prefix part and the tail part each at their own absolute positions); tokens fed again
        must be the ones already known there."""
        split = min(max(self.prefix - offset, 0), ids.shape[1])
        for part, at in ((ids[:, :split], offset), (ids[:, split:], self.position(offset + split))):
            known = self.history.shape[1]
            if at > known:
                raise RuntimeError(f"a token fed at position {at} leaves a gap after the {known} known tokens "
                                   f"(window: prefix {self.prefix}, tail from {self.start})")
            again = min(part.shape[1], known - at)
            if not torch.equal(part[:, :again], self.history[:, at:at + again]):
                raise RuntimeError(f"tokens fed at positions {at}-{at + again - 1} differ from the sequence there "
                                   f"(window: prefix {self.prefix}, tail from {self.start})")
            if at + part.shape[1] > known:
                self.history = torch.cat([self.history, part[:, known - at:]], dim=1)


class PieceDecoder:
    """Decoder over ``model`` for sequences that start with ``prompt`` (B, T0) and a ``header_len``
    header; ``total_seconds`` is the piece's target length (None: unknown); ``composer_mix``
    ((n_composers,) weights or None) blends the composer embedding. Windows are placed by the
    engine's ``start_window`` calls; a cache stepped without one is the piece's first window."""

    def __init__(self, model: MuseModel, prompt: Tensor, header_len: int, total_seconds: float | None,
                 composer_mix: Tensor | None = None) -> None:
        self.model, self.header_len, self.total_seconds = model, header_len, total_seconds
        self.composer_mix = composer_mix
        self.n_ctx = model.n_ctx
        self.place = WindowPlace(prompt, header_len)

    @property
    def history(self) -> Tensor:
        """Every token of the sequence known so far (B, N)."""
        return self.place.history

    def new_cache(self, batch_size: int) -> MuseCache:
        return self.model.new_cache(batch_size, self.total_seconds, self.composer_mix)

    def start_window(self, cache: MuseCache, prefix: int, start: int) -> None:
        """``cache`` will be fed the sequence's first ``prefix`` tokens, then its tokens from ``start`` on."""
        self.place.announce(cache, prefix, start)

    def step(self, ids: Tensor, cache: MuseCache) -> Tensor:
        """Logits (B, T, V) for ``ids`` (B, T) fed after ``cache``'s tokens (see the module doc)."""
        place = self.place
        place.follow(cache)
        place.record(ids, cache.offset)
        split = min(max(place.prefix - cache.offset, 0), ids.shape[1])  # how many of ids are prefix tokens
        logits = [self.model.step(ids[:, :split], cache)] if split else []
        if split < ids.shape[1]:
            if cache.offset == place.prefix and place.start > place.prefix:  # a slid tail: the piece's clock before it
                with torch.no_grad():
                    cache.clock = self.model.clock(place.history[:, :place.start]).end
            logits.append(self.model.step(ids[:, split:], cache))
        return torch.cat(logits, dim=1)


__all__ = ["PieceDecoder", "WindowPlace"]
