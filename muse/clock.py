"""The token clock: musical time, real time and chord position of every token, from the ids alone.

For tokens ``ids[:, i]`` it gives, *before* the token sounds:
- ``ticks``: elapsed grid ticks (the sum of earlier waits; as ``MidiTokenizer.token_times``),
- ``micros``: elapsed microseconds (each wait at the tempo of the last tempo token before it,
  120 BPM before any), rounded per wait so that sums are exact integers whatever the chunking,
- ``chord``: index of a note-on (or drum hit) among the note-ons of its time step (0 elsewhere;
  as ``MidiTokenizer.chord_index``).
A ``ClockState`` carries the running values from one chunk to the next, so cached decoding
computes the same features as a full forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from muse.token_tables import TokenTables

DEFAULT_BPM = 120.0


@dataclass
class ClockState:
    """Running clock of each sequence (all (B,)): after the tokens seen so far."""

    ticks: Tensor  # int64 elapsed grid ticks
    micros: Tensor  # int64 elapsed microseconds
    bpm: Tensor  # float32 current tempo
    chord: Tensor  # int64 note-ons seen since the last wait

    @classmethod
    def zeros(cls, batch: int, device: torch.device | str | None = None) -> ClockState:
        z = torch.zeros(batch, dtype=torch.long, device=device)
        return cls(z, z.clone(), torch.full((batch,), DEFAULT_BPM, device=device), z.clone())

    def index(self, rows: Tensor | slice) -> ClockState:
        return ClockState(self.ticks[rows], self.micros[rows], self.bpm[rows], self.chord[rows])


@dataclass
class Clock:
    """Per-token clock features (each (B, T)) and the state after the last token (when computed)."""

    ticks: Tensor
    micros: Tensor
    chord: Tensor
    end: ClockState | None = None

    @classmethod
    def of_inputs(cls, features: Mapping[str, Tensor], rows: Tensor | slice = slice(None)) -> Clock:
        """The clock of a window's input positions: ``features``' "ticks", "micros" and "chord" ((B, T + 1),
        or (T + 1,) for one item) at ``rows``, without their last position (a target only). Each (B, T)."""
        return cls(*(torch.atleast_2d(features[k])[rows, :-1] for k in ("ticks", "micros", "chord")))


class TokenClock(torch.nn.Module):
    """Computes ``Clock`` features from ids with the vocabulary's wait/tempo/note tables (buffers)."""

    def __init__(self, tables: TokenTables) -> None:
        super().__init__()
        self.register_buffer("wait_ticks", torch.as_tensor(tables.wait_ticks), persistent=False)
        self.register_buffer("tempo_bpm", torch.as_tensor(tables.tempo_bpm, dtype=torch.float32), persistent=False)
        self.register_buffer("is_onset", torch.as_tensor(tables.is_onset), persistent=False)
        self.ticks_per_beat = tables.ticks_per_beat

    def wait_micros(self, waits: Tensor, bpm: Tensor) -> Tensor:
        """Microseconds (int64) that waits of ``waits`` ticks last at ``bpm`` (float32), both of one shape:
        rounded once per wait, so every sum of them is an exact integer whatever the chunking."""
        step_us = torch.round(waits.to(torch.float32) * (60e6 / self.ticks_per_beat) / bpm).long()
        return torch.where(waits > 0, step_us, 0)

    def forward(self, ids: Tensor, state: ClockState | None = None) -> Clock:
        """Clock of ``ids`` (B, T) continuing ``state`` (a fresh clock when None)."""
        B, T = ids.shape
        if state is None:
            state = ClockState.zeros(B, ids.device)
        if T == 1:
            return self._one(ids[:, 0], state)
        waits = self.wait_ticks[ids]  # (B, T)
        # Tempo in force at each token: the last tempo token at or before it, else the carried one.
        bpm_here = self.tempo_bpm[ids]
        pos = torch.arange(T, device=ids.device).expand(B, T)
        last_tempo = torch.where(bpm_here > 0, pos, -1).cummax(dim=1).values
        bpm = torch.where(last_tempo >= 0, bpm_here.gather(1, last_tempo.clamp_min(0)), state.bpm[:, None])
        step_us = self.wait_micros(waits, bpm)
        ticks = state.ticks[:, None] + torch.cumsum(waits, 1) - waits
        micros = state.micros[:, None] + torch.cumsum(step_us, 1) - step_us
        # Chord index: note-ons counted since the last wait (the carried count before any).
        note = self.is_onset[ids].long()
        seen = torch.cumsum(note, 1) - note  # notes before each token in this chunk
        last_wait = torch.where(waits > 0, pos, -1).cummax(dim=1).values
        base = torch.where(last_wait >= 0, torch.cumsum(note, 1).gather(1, last_wait.clamp_min(0)),
                           -state.chord[:, None])
        chord = torch.where(note.bool(), seen - base, 0)
        after_wait = last_wait[:, -1] >= 0
        notes_total = note.sum(1)
        end_chord = torch.where(after_wait,
                                notes_total - torch.cumsum(note, 1).gather(1, last_wait[:, -1:].clamp_min(0))[:, 0],
                                state.chord + notes_total)
        end = ClockState(
            ticks=state.ticks + waits.sum(1),
            micros=state.micros + step_us.sum(1),
            bpm=bpm[:, -1] if T else state.bpm,
            chord=end_chord,
        )
        return Clock(ticks=ticks, micros=micros, chord=chord, end=end)

    def _one(self, ids: Tensor, state: ClockState) -> Clock:
        """The same for one token per row (B,): the decoding step, with a few ops instead of scans."""
        wait = self.wait_ticks[ids]
        bpm_here = self.tempo_bpm[ids]
        bpm = torch.where(bpm_here > 0, bpm_here, state.bpm)
        step_us = self.wait_micros(wait, bpm)
        onset = self.is_onset[ids]
        end = ClockState(ticks=state.ticks + wait, micros=state.micros + step_us, bpm=bpm,
                         chord=torch.where(wait > 0, 0, state.chord + onset.long()))
        return Clock(ticks=state.ticks[:, None], micros=state.micros[:, None],
                     chord=torch.where(onset, state.chord, 0)[:, None], end=end)


__all__ = ["Clock", "ClockState", "TokenClock", "DEFAULT_BPM"]
