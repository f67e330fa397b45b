"""``SpanDecoder``: the model as a sampling ``Decoder`` for a prompt whose parts sound at other times.

An editing prompt (``muse.editing``) is ``head + body``: the ``head`` is kept at the front of
every context window (the engine's ``keep_prefix``) and holds segments that do not follow one
another in time, e.g. ``header, fim:suffix, <music from t2>, fim:prefix`` (``muse.fim``); the
``body`` is the music before the span followed by the generated tokens, in time order. Each head
segment starts from a given ``ClockState`` (its true place in the piece: the header at 0, the
suffix at t2), and the body from ``body_start`` (the clock of its first token). When the window
slides, the body's first kept token gets the clock the body reached there, and a segment marked
``None`` (the ``fim:prefix`` marker) takes the clock of the first body token after it, as in
training (a marker has the clock of the token after it). So the model's time, chord and
structure embeddings see every token where it sounds, exactly as ``muse.fim`` laid out training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from muse.clock import ClockState
from muse.model import MuseCache, MuseModel


class SpanDecoder:
    """Decoder for prompts ``head + body`` (see the module doc). ``segments``: ``(start index in
    head, ClockState of (B,) rows or None)``, the first at 0; ``body_start``: the clock before
    the first body token; ``total_seconds``: the piece's length (structure embeddings)."""

    def __init__(self, model: MuseModel, prompt: Tensor, head_len: int, segments: Sequence[tuple[int, ClockState | None]],
                 body_start: ClockState, total_seconds: float | None) -> None:
        if not segments or segments[0][0] != 0:
            raise ValueError("the first head segment must start at 0")
        self.model, self.head_len, self.segments = model, head_len, list(segments)
        self.body_start, self.total_seconds = body_start, total_seconds
        self.n_ctx = model.n_ctx
        self.history = prompt.clone()  # (B, N) every token so far
        self._fresh: set[int] = set()
        self._first = True

    def new_cache(self, batch_size: int) -> MuseCache:
        cache = self.model.new_cache(batch_size, self.total_seconds)
        self._fresh.add(id(cache))
        return cache

    def _body_clock(self, start: int) -> ClockState:
        """The clock before history token ``start`` (>= head_len), from ``body_start``."""
        body = self.history[:, self.head_len:start]
        if body.shape[1] == 0:
            return self.body_start
        with torch.no_grad():
            return self.model.clock(body, self.body_start).end

    def step(self, ids: Tensor, cache: MuseCache) -> Tensor:
        """Logits (B, T, V) for ``ids`` (B, T) fed after ``cache``'s tokens."""
        if id(cache) not in self._fresh:
            self.history = torch.cat([self.history, ids], dim=1)
            return self.model.step(ids, cache)
        self._fresh.discard(id(cache))
        h = self.head_len
        body = ids[:, h:]
        new = 0 if self._first else 1  # tokens at the end not yet in the history
        self._first = False
        old = body[:, : body.shape[1] - new]
        start = self.history.shape[1] - old.shape[1]
        if start < h or not torch.equal(self.history[:, start:], old) or not torch.equal(ids[:, :h], self.history[:, :h]):
            raise RuntimeError("SpanDecoder: the window fed to a fresh cache is not the head plus the latest tokens")
        self.history = torch.cat([self.history, body[:, old.shape[1]:]], dim=1)
        body_clock = self._body_clock(start)
        logits = []
        bounds = [s for s, _ in self.segments] + [h]
        for (begin, state), end in zip(self.segments, bounds[1:]):
            if end > begin:
                cache.clock = body_clock if state is None else state
                logits.append(self.model.step(ids[:, begin:end], cache))
        if body.shape[1]:
            cache.clock = body_clock
            logits.append(self.model.step(body, cache))
        return torch.cat(logits, dim=1)


__all__ = ["SpanDecoder"]
