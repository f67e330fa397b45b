"""Grammar constraints for sampling MuseNet token sequences (a ``muse.core.sampling.Constraint``).

After the header, at every step:
- header-only tokens (pad, start, composer, instrument tokens) are never allowed;
- notes and drum hits only for the chosen instruments;
- a note-off only for a note that is sounding (per instrument and pitch);
- ``end`` only once the requested length is reached; from then on only ``end``, and no wait
  may overshoot the requested length, so a piece lasts the requested seconds to within a tick.

The state (clock and sounding notes of each row) is updated incrementally from the tokens added
since the last call, so a step costs O(V), whatever the length of the sequence.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from musetok.vocab import Kind, Vocab
from torch import Tensor

from muse.clock import ClockState, TokenClock
from muse.core.errors import UserError
from muse.token_tables import TokenTables


def instrument_keys(vocab: Vocab, names: Iterable[str]) -> list[int]:
    """Instrument-key indices of ``names``; an unknown name is a ``UserError`` listing the known ones."""
    keys = []
    for name in names:
        norm = name.strip().lower()
        if norm not in vocab.instruments:
            raise UserError(f"unknown instrument {name!r}; known instruments: {', '.join(vocab.instruments)}")
        keys.append(vocab.instruments.index(norm))
    return keys


class MusicGrammar:
    """Allowed next tokens ``(B, V)`` for sequences ``(B, T)`` that start with a ``header_len`` header.

    ``instruments``: the instrument keys whose notes may be generated (None: all).
    ``target_seconds``: the requested length of the whole sequence (None: ``end`` is always allowed).
    """

    def __init__(self, vocab: Vocab, header_len: int, *, instruments: Iterable[int] | None = None,
                 target_seconds: float | None = None) -> None:
        self.vocab, self.header_len = vocab, header_len
        tables = TokenTables.from_vocab(vocab)
        self.clock = TokenClock(tables)
        kind = np.asarray(vocab.kind)
        key = np.asarray(vocab.key, np.int64)
        is_note = (kind == Kind.NOTE) | (kind == Kind.DRUM)
        allowed = ~np.isin(kind, (Kind.COMPOSER, Kind.INSTRUMENT))
        allowed[[vocab.pad_id, vocab.start_id, vocab.unknown_composer_id]] = False
        if instruments is not None:
            allowed &= ~is_note | np.isin(key, list(instruments))
        self.base = torch.from_numpy(allowed)
        self.off_ids = torch.from_numpy(np.flatnonzero(is_note & (np.asarray(vocab.velocity) == 0)))
        self.off_slot = torch.from_numpy(key[self.off_ids.numpy()] * 128 + np.asarray(vocab.pitch, np.int64)[self.off_ids.numpy()])
        on = is_note & np.asarray(vocab.is_on)
        self.on_slot = torch.from_numpy(np.where(on, key * 128 + np.asarray(vocab.pitch, np.int64), -1))
        self.off_slot_of = torch.from_numpy(np.where(is_note & (np.asarray(vocab.velocity) == 0),
                                                     key * 128 + np.asarray(vocab.pitch, np.int64), -1))
        self.wait_ids = torch.from_numpy(np.flatnonzero(kind == Kind.WAIT))
        self.wait_ticks = torch.as_tensor(tables.wait_ticks)[self.wait_ids].double()
        self.ticks_per_beat = tables.ticks_per_beat
        self.n_slots = len(vocab.instruments) * 128
        self.end_id = vocab.end_id
        self.target_us = None if target_seconds is None else int(round(target_seconds * 1e6))
        self.state: ClockState | None = None
        self.sounding: Tensor | None = None
        self.seen = 0

    @property
    def elapsed_seconds(self) -> Tensor:
        """Elapsed seconds (B,) of each row as of the last call (zeros before the first)."""
        if self.state is None:
            return torch.zeros(1)
        return self.state.micros.double() / 1e6

    def _advance(self, ids: Tensor) -> None:
        """Fold the tokens ``ids`` (B, T) added since the last call into the state."""
        B, T = ids.shape
        if self.state is None:
            self.state = ClockState.zeros(B)
            self.sounding = torch.zeros(B, self.n_slots, dtype=torch.bool)
        if T == 0:
            return
        self.state = self.clock(ids, self.state).end
        # The last note-on and the last note-off of each (instrument, pitch) in this chunk decide
        # whether it still sounds (a repeated note-on is a re-strike; one note-off ends it).
        pos = torch.arange(T).expand(B, T)
        last = []
        for slot in (self.on_slot[ids], self.off_slot_of[ids]):
            found = torch.full((B, self.n_slots), -1, dtype=torch.long)
            found.scatter_reduce_(1, slot.clamp_min(0), torch.where(slot >= 0, pos, -1), reduce="amax")
            last.append(found)
        touched = (last[0] >= 0) | (last[1] >= 0)
        self.sounding = torch.where(touched, last[0] > last[1], self.sounding)

    def __call__(self, seq: Tensor) -> Tensor:
        """Allowed next tokens (B, V) bool after ``seq`` (B, T), ``T >= header_len``."""
        seq = seq.cpu()
        self._advance(seq[:, self.seen:])
        self.seen = seq.shape[1]
        B, V = seq.shape[0], self.base.shape[0]
        allowed = self.base.expand(B, V).clone()
        allowed[:, self.off_ids] = self.sounding[:, self.off_slot]
        if self.target_us is not None:
            remaining = self.target_us - self.state.micros  # (B,)
            wait_us = torch.round(self.wait_ticks[None] * (60e6 / self.ticks_per_beat) / self.state.bpm.double()[:, None])
            allowed[:, self.wait_ids] &= wait_us <= remaining[:, None].double()
            done = remaining <= 0
            fits = (wait_us <= remaining[:, None].double()).any(dim=1)
            finished = done | ~fits
            allowed[:, self.end_id] = finished
            allowed[finished] = False
            allowed[finished, self.end_id] = True
        return allowed


__all__ = ["MusicGrammar", "instrument_keys"]
