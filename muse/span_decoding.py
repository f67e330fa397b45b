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
from muse.decoding import WindowPlace
from muse.model import MuseCache, MuseModel


class SpanDecoder:
    """Decoder for prompts ``head + body`` (see the module doc). ``segments``: ``(start index in
    head, ClockState of (B,) rows or None)``, the first at 0; ``body_start``: the clock before
    the first body token; ``total_seconds``: the piece's length (structure embeddings). The engine
    must keep the head at the front of every window (``keep_prefix=head_len``); it announces each
    window through ``start_window``, so the prompt may be fed in chunks of any size."""

    def __init__(self, model: MuseModel, prompt: Tensor, head_len: int,
                 segments: Sequence[tuple[int, ClockState | None]],
                 body_start: ClockState, total_seconds: float | None) -> None:
        if not segments or segments[0][0] != 0:
            raise ValueError("the first head segment must start at 0")
        self.model, self.head_len, self.segments = model, head_len, list(segments)
        self.body_start, self.total_seconds = body_start, total_seconds
        self.n_ctx = model.n_ctx
        self.place = WindowPlace(prompt, head_len)

    @property
    def history(self) -> Tensor:
        """Every token of the sequence known so far (B, N)."""
        return self.place.history

    def new_cache(self, batch_size: int) -> MuseCache:
        return self.model.new_cache(batch_size, self.total_seconds)

    def start_window(self, cache: MuseCache, prefix: int, start: int) -> None:
        """``cache`` will be fed the head (``prefix`` tokens), then the tokens from ``start`` on."""
        if prefix != self.head_len:
            raise ValueError(f"SpanDecoder: the window keeps {prefix} tokens, the head has {self.head_len} "
                             "(generate with keep_prefix=head_len)")
        self.place.announce(cache, prefix, start)

    def _body_clock(self, start: int) -> ClockState:
        """The clock before history token ``start`` (>= head_len), from ``body_start``."""
        body = self.history[:, self.head_len:start]
        if body.shape[1] == 0:
            return self.body_start
        with torch.no_grad():
            return self.model.clock(body, self.body_start).end

    def step(self, ids: Tensor, cache: MuseCache) -> Tensor:
        """Logits (B, T, V) for ``ids`` (B, T) fed after ``cache``'s tokens: each head segment and
        the body are fed from their own clock when their first token arrives."""
        place, h = self.place, self.head_len
        place.follow(cache)
        place.record(ids, cache.offset)
        clocks = dict(self.segments)  # window position where a head segment starts -> its clock
        cuts = sorted({begin for begin in clocks if 0 < begin < h} | {h})
        logits, done = [], 0
        while done < ids.shape[1]:
            offset = cache.offset
            if offset == h:
                cache.clock = self._body_clock(place.start)
            elif offset < h and offset in clocks:
                state = clocks[offset]
                cache.clock = self._body_clock(place.start) if state is None else state
            n = min(ids.shape[1] - done, next((c for c in cuts if c > offset), self.n_ctx) - offset)
            logits.append(self.model.step(ids[:, done:done + n], cache))
            done += n
        return torch.cat(logits, dim=1)


__all__ = ["SpanDecoder"]
