"""``PieceDecoder``: the model as a ``muse.core.sampling.Decoder`` that knows where its window sits.

The shared engine slides the context window past ``n_ctx`` by resetting the cache and re-feeding
the header plus the most recent tokens. The model's time and structure embeddings must then see
the window's tokens at their place in the whole piece (as in training crops), not as if the
piece restarted. This adapter keeps the whole sequence so far; when a fresh cache is fed, it
feeds the header, sets the clock to the piece's clock just before the first body token, then
feeds the body. Every cache also carries the piece's target length (structure embeddings).

It relies on how ``generate`` feeds a fresh window: one ``step`` holding the header and the
tail of the sequence, the tail ending with the tokens not yet fed (the whole prompt the first
time, the newly drawn token after a slide); the tail is checked against what it knows. Every
cache also carries the style-mixing weights, if any (``MuseModel.token_embedding``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from muse.model import MuseCache, MuseModel


class PieceDecoder:
    """Decoder over ``model`` for sequences that start with ``prompt`` (B, T0) and a ``header_len``
    header; ``total_seconds`` is the piece's target length (None: unknown); ``composer_mix``
    ((n_composers,) weights or None) blends the composer embedding."""

    def __init__(self, model: MuseModel, prompt: Tensor, header_len: int, total_seconds: float | None,
                 composer_mix: Tensor | None = None) -> None:
        self.model, self.header_len, self.total_seconds = model, header_len, total_seconds
        self.composer_mix = composer_mix
        self.n_ctx = model.n_ctx
        self.history = prompt.clone()  # every token of the sequence known so far (B, N)
        self._fresh: set[int] = set()
        self._first = True

    def new_cache(self, batch_size: int) -> MuseCache:
        cache = self.model.new_cache(batch_size, self.total_seconds, self.composer_mix)
        self._fresh.add(id(cache))
        return cache

    def step(self, ids: Tensor, cache: MuseCache) -> Tensor:
        """Logits (B, T, V) for ``ids`` (B, T) fed after ``cache``'s tokens (see the module doc)."""
        if id(cache) not in self._fresh:
            self.history = torch.cat([self.history, ids], dim=1)
            return self.model.step(ids, cache)
        self._fresh.discard(id(cache))
        h = self.header_len
        body = ids[:, h:]
        new = 0 if self._first else 1  # tokens at the end of the body not yet in the history
        self._first = False
        old = body[:, : body.shape[1] - new]
        start = self.history.shape[1] - old.shape[1]  # global index of the body's first token
        if start < h or not torch.equal(self.history[:, start:], old) or not torch.equal(ids[:, :h], self.history[:, :h]):
            raise RuntimeError("PieceDecoder: the window fed to a fresh cache is not the header plus the latest tokens")
        self.history = torch.cat([self.history, body[:, old.shape[1]:]], dim=1)
        logits = [self.model.step(ids[:, :h], cache)] if h else []
        if body.shape[1]:
            with torch.no_grad():
                cache.clock = self.model.clock(self.history[:, :start]).end
            logits.append(self.model.step(body, cache))
        return torch.cat(logits, dim=1)


__all__ = ["PieceDecoder"]
