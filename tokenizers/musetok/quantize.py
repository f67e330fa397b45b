"""A parsed score -> its canonical form on the tokenizer's grid (vectorized numpy, no per-note Python).

This is exactly what ``decode(encode(m))`` reproduces; the rules, in order:

1. Notes come from symusic (note-on/off paired first-in first-out per track, channel and pitch; notes
   never closed are dropped). Each note's instrument key is its family (or GM program) or ``drums``.
2. Sustain pedal (CC64 >= 64 is down; a pedal never released is ignored). ``pedal="extend"``: a melodic
   note whose end falls while its track's pedal is down (``pedal_start <= end < pedal_end``) ends when
   the pedal is released.
3. Times go to the grid: ``step = round(tick * ticks_per_beat / tpq)`` (halves up); velocities to bins.
4. A melodic note lasts at least one step. Notes with the same key, pitch and onset step are one note
   (the one ending last; ties: the loudest). A note ends no later than the next onset of the same key and
   pitch (one voice per key and pitch, as on a keyboard). Drums keep onset, pitch and velocity only
   (duplicates at one step: the loudest).
5. Tempo: 120 BPM at step 0 unless the file sets one there; per step the last change wins; consecutive
   equal bins merge. Time signatures (if enabled) likewise, without a default; unrepresentable ones drop.
6. Pedal tokens (``pedal="tokens"``): each track's pedal intervals on the grid, merged per key where
   they overlap or touch; intervals shorter than one step drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import symusic

from musetok.instruments import program_to_key
from musetok.vocab import Vocab, tempo_bin, velocity_bin

_EMPTY = np.zeros(0, np.int64)


def _empty() -> np.ndarray:
    return np.zeros(0, np.int64)


@dataclass(frozen=True)
class Quantized:
    """A score on the grid (times in grid steps). Notes are melodic and drum notes together:
    ``key, pitch, onset, offset, velocity`` (shape (n,) each; velocity is a bin; drums have
    offset == onset). ``tempo_time, tempo_bin``: tempo changes (the first at step 0).
    ``timesig_time, timesig_num, timesig_den``; ``pedal_key, pedal_start, pedal_end``."""

    key: np.ndarray
    pitch: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    tempo_time: np.ndarray
    tempo_bin: np.ndarray
    timesig_time: np.ndarray = field(default_factory=_empty)
    timesig_num: np.ndarray = field(default_factory=_empty)
    timesig_den: np.ndarray = field(default_factory=_empty)
    pedal_key: np.ndarray = field(default_factory=_empty)
    pedal_start: np.ndarray = field(default_factory=_empty)
    pedal_end: np.ndarray = field(default_factory=_empty)

    @property
    def n_notes(self) -> int:
        return len(self.key)


def to_grid(ticks: np.ndarray, tpq: int, resolution: int) -> np.ndarray:
    """Grid steps of MIDI ticks: ``round(ticks * resolution / tpq)`` with halves rounded up (int64)."""
    return (2 * np.asarray(ticks, np.int64) * resolution + tpq) // (2 * tpq)


def quantize(score: symusic.Score, vocab: Vocab) -> Quantized:
    """The canonical grid form of ``score`` (rules in the module docstring)."""
    cfg = vocab.config
    tpq, res = score.tpq, cfg.ticks_per_beat
    key_of_program = program_to_key(cfg.family_mode)
    parts, pedals = [], []
    for track in score.tracks:
        if not len(track.notes):
            continue  # (a pedal on a channel without notes changes nothing)
        key = vocab.drum_key if track.is_drum else int(key_of_program[track.program & 127])
        notes = track.notes.numpy()
        start = notes["time"].astype(np.int64)
        end = start + notes["duration"]
        if not track.is_drum and cfg.pedal != "ignore" and len(track.controls):
            p_start, p_end = _pedal_intervals(track.controls.numpy())
            if cfg.pedal == "extend":
                end = _extend_by_pedal(end, p_start, p_end)
            elif len(p_start):
                pedals.append((np.full(len(p_start), key), p_start, p_end))
        parts.append((np.full(len(start), key, np.int64), notes["pitch"], start, end, notes["velocity"]))
    if parts:
        key, pitch, start, end, vel = (np.concatenate(column).astype(np.int64) for column in zip(*parts))
        if pitch.min() < 0:  # only a hand-made symusic.Score can hold such pitches (int8)
            keep = pitch >= 0
            key, pitch, start, end, vel = key[keep], pitch[keep], start[keep], end[keep], vel[keep]
    else:
        key = pitch = start = end = vel = _EMPTY
    onset, offset = to_grid(start, tpq, res), to_grid(end, tpq, res)
    notes = _canonical_notes(key, pitch, onset, offset,
                             velocity_bin(vel, cfg.velocity_bins), vocab.drum_key)
    tempo = score.tempos.numpy()
    tempo_time, tempo_bins = _changes(
        np.concatenate(([0], to_grid(tempo["time"], tpq, res))),
        tempo_bin(np.concatenate(([120.0], 60_000_000 / np.maximum(tempo["mspq"], 1))), cfg))
    extra: dict[str, np.ndarray] = {}
    if cfg.time_signatures and len(score.time_signatures):
        ts = score.time_signatures.numpy()
        ids = vocab.timesig_ids(ts["numerator"], ts["denominator"])
        ok = ids >= 0
        t, ids = _changes(to_grid(ts["time"][ok], tpq, res), ids[ok])
        nums, dens = zip(*(vocab.timesig_of(int(i)) for i in ids)) if len(ids) else ((), ())
        extra.update(timesig_time=t, timesig_num=np.array(nums, np.int64), timesig_den=np.array(dens, np.int64))
    if pedals:
        pk, ps, pe = (np.concatenate(column) for column in zip(*pedals))
        extra.update(zip(("pedal_key", "pedal_start", "pedal_end"),
                         _merge_intervals(pk, to_grid(ps, tpq, res), to_grid(pe, tpq, res))))
    return Quantized(*notes, tempo_time=tempo_time, tempo_bin=tempo_bins, **extra)


def _pedal_intervals(controls: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sustain-pedal [down, up) intervals in ticks from a track's control changes: CC64 >= 64 is down;
    repeated downs or ups change nothing; a pedal never released is ignored. (Computed here rather than
    taken from symusic's ``Track.pedals``, which invents a pedal from tick 0 when the first CC64 of a
    channel other than the first is a release.)"""
    sustain = controls["number"] == 64
    time = controls["time"][sustain].astype(np.int64)
    down = controls["value"][sustain] >= 64
    if len(time) > 1:
        order = np.argsort(time, kind="stable")
        time, down = time[order], down[order]
    previous = np.concatenate(([False], down[:-1]))
    starts, ends = time[down & ~previous], time[~down & previous]
    return starts[:len(ends)], ends


def _extend_by_pedal(end: np.ndarray, p_start: np.ndarray, p_end: np.ndarray) -> np.ndarray:
    """Note ends moved to the release of the pedal held at that moment (ticks)."""
    if not len(p_start):
        return end
    order = np.argsort(p_start, kind="stable")
    p_start, p_end = p_start[order], np.maximum.accumulate(p_end[order])
    i = np.searchsorted(p_start, end, side="right") - 1
    held = (i >= 0) & (end < p_end[np.maximum(i, 0)])
    return np.where(held, p_end[np.maximum(i, 0)], end)


def _canonical_notes(key, pitch, onset, offset, vel, drum_key):
    """Rule 4 of the module docstring; returns (key, pitch, onset, offset, velocity) sorted by key, pitch, onset."""
    if not len(key):
        return key, pitch, onset, offset, vel
    offset = np.where(key == drum_key, onset, np.maximum(offset, onset + 1))
    # One int64 sort key per (voice, onset): much faster than a lexsort over several arrays.
    group = ((key * 128 + pitch) << 32) | onset
    order = np.argsort(group)
    group = group[order]
    first = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    best = np.maximum.reduceat((offset[order] << 7) | vel[order], first)  # ends last, then loudest
    group = group[first]
    voice, onset, offset, vel = group >> 32, group & 0xFFFFFFFF, best >> 7, best & 127
    same_voice = voice[1:] == voice[:-1]
    offset[:-1] = np.where(same_voice, np.minimum(offset[:-1], onset[1:]), offset[:-1])
    return voice >> 7, voice & 127, onset, offset, vel


def _changes(time: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Changes of a step function: the last value at each step, then drop repeats of the same value."""
    if len(time) > 1:
        order = np.argsort(time, kind="stable")
        time, value = time[order], value[order]
        last = np.ones(len(time), bool)
        last[:-1] = time[1:] != time[:-1]
        time, value = time[last], value[last]
        new = np.ones(len(time), bool)
        new[1:] = value[1:] != value[:-1]
        time, value = time[new], value[new]
    return time.astype(np.int64), value.astype(np.int64)


def _merge_intervals(key, start, end):
    """Per key, union of [start, end) intervals (touching ones merge; empty ones drop)."""
    keep = end > start
    key, start, end = key[keep], start[keep], end[keep]
    order = np.lexsort((start, key))
    key, start, end = key[order], start[order], end[order]
    if not len(key):
        return key, start, end
    span = int(end.max()) + 1
    reach = np.maximum.accumulate(end + key * span) - key * span  # running max end within each key
    new = np.concatenate(([True], (key[1:] != key[:-1]) | (start[1:] > reach[:-1])))
    groups = np.flatnonzero(new)
    return key[groups], start[groups], np.maximum.reduceat(end, groups)
