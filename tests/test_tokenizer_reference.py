"""The specification of "equal after quantizing to the grid", written independently of musetok.

``quantize_reference(midi_bytes, config)`` reads a MIDI file with mido and plain Python (no musetok
code, no numpy, no symusic) and returns its canonical form ``Canon``. The round-trip promise of the
tokenizer is: ``Canon`` of ``decode(encode(m))`` == ``Canon`` of ``m``. The rules (the same as in
musetok/quantize.py's docstring, restated here on purpose):

- Notes pair FIFO per (track, channel, pitch); a note-on with velocity 0 is a note-off; notes never
  closed are dropped. A note's instrument is ``drums`` on channel 10, else the family (or the GM
  program) of its channel's program at the note-on.
- ``pedal="extend"``: a note of a (track, channel) whose end lies in [pedal down, pedal up) of that
  channel's sustain pedal (CC64 >= 64 is down) ends at pedal up; a pedal never released is ignored.
- Grid: ``step(t) = floor(t * R / tpq + 1/2)``; velocity bin ``floor(v * B / 128 + 1/2)`` clipped to 1..B;
  tempo bin: nearest ``120 * 2**(k/per_octave)`` on a log2 scale, clipped to the configured range.
- Melodic notes last >= 1 step; same (key, pitch, onset) -> keep the one ending last, then the loudest;
  a note ends no later than the next onset of the same (key, pitch). Drums: (pitch, onset, velocity),
  duplicates -> the loudest.
- Tempo: 120 BPM at step 0 unless set there; last change per step wins; repeats merge. Same for time
  signatures (no default; numerator 1-32, power-of-two denominator 1-64).
- ``pedal="tokens"``: per instrument key, union of the grid pedal intervals of channels that have
  notes (empty ones dropped, overlapping or touching ones merged).
"""

from __future__ import annotations

import bisect
import io
import math
from collections import defaultdict, deque
from dataclasses import dataclass

import mido
import pytest

from musetok import MidiTokenizer, TokenizerConfig
from musetok.instruments import FAMILIES, GM_PROGRAMS

# Program -> family, restated from the GM family table (not imported from musetok on purpose).
_FAMILY_RANGES = {
    "piano": range(0, 8), "chromatic": range(8, 16), "timpani": (47,), "organ": range(16, 24),
    "guitar": range(24, 32), "bass": range(32, 40), "strings": range(40, 46), "harp": (46,),
    "ensemble": (48, 49, 50, 51, 55), "voice": (52, 53, 54), "brass": range(56, 64),
    "reed": range(64, 72), "winds": range(72, 80), "synth": range(80, 104), "ethnic": range(104, 112),
    "percussive": range(112, 120), "effects": range(120, 128),
}


@dataclass(frozen=True)
class Canon:
    """A score's canonical form; every list sorted. Notes are (instrument, pitch, onset, offset,
    velocity bin) with offset == onset for drums; tempos (step, bin); timesigs (step, num, den);
    pedals (instrument, start, end). Instruments are names (``piano``, ``drums``, ``violin`` ...)."""

    notes: list
    tempos: list
    timesigs: list
    pedals: list


def instrument_of(program: int, channel: int, family_mode: str) -> str:
    if channel == 9:
        return "drums"
    if family_mode == "program":
        return GM_PROGRAMS[program]
    return next(name for name, programs in _FAMILY_RANGES.items() if program in programs)


def quantize_reference(midi: bytes, config: TokenizerConfig) -> Canon:
    """The canonical form of a MIDI file, computed with mido and plain Python."""
    mf = mido.MidiFile(file=io.BytesIO(midi))
    tpq, res = mf.ticks_per_beat, config.ticks_per_beat

    def step(tick: int) -> int:
        return (2 * tick * res + tpq) // (2 * tpq)

    raw_notes, tempo_events, timesig_events, pedal_events = [], [], [], []
    for track in mf.tracks:
        now, program = 0, [0] * 16
        sounding = defaultdict(deque)
        down: dict[int, int] = {}
        pedals = defaultdict(list)
        notes = []
        for msg in track:
            now += msg.time
            if msg.type == "set_tempo":
                tempo_events.append((now, 60_000_000 / msg.tempo))
            elif msg.type == "time_signature":
                timesig_events.append((now, (msg.numerator, msg.denominator)))
            elif msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding[msg.channel, msg.note].append((now, msg.velocity, program[msg.channel]))
            elif msg.type in ("note_on", "note_off") and sounding[msg.channel, msg.note]:
                start, velocity, prog = sounding[msg.channel, msg.note].popleft()
                notes.append((msg.channel, prog, msg.note, start, now, velocity))
            elif msg.type == "control_change" and msg.control == 64:
                if msg.value >= 64 and msg.channel not in down:
                    down[msg.channel] = now
                elif msg.value < 64 and msg.channel in down:
                    pedals[msg.channel].append((down.pop(msg.channel), now, program[msg.channel]))
        starts = {channel: [p_start for p_start, _, _ in intervals] for channel, intervals in pedals.items()}
        for channel, prog, pitch, start, end, velocity in notes:
            if channel != 9 and config.pedal == "extend" and channel in pedals:
                intervals = pedals[channel]  # in time order, disjoint
                i = bisect.bisect_right(starts[channel], end) - 1
                if i >= 0 and end < intervals[i][1]:
                    end = intervals[i][1]
            raw_notes.append((instrument_of(prog, channel, config.family_mode), pitch, start, end, velocity))
        if config.pedal == "tokens":
            with_notes = {channel for channel, *_ in notes}
            for channel, intervals in pedals.items():
                if channel != 9 and channel in with_notes:  # a pedal without notes changes nothing
                    for p_start, p_end, prog in intervals:
                        pedal_events.append((instrument_of(prog, channel, config.family_mode), p_start, p_end))
    return Canon(_notes(raw_notes, step, config), _tempos(tempo_events, step, config),
                 _timesigs(timesig_events, step, config), _pedals(pedal_events, step))


def velocity_bin(velocity: int, bins: int) -> int:
    return min(bins, max(1, (2 * velocity * bins + 128) // 256))


def tempo_bin(bpm: float, config: TokenizerConfig) -> int:
    """Bin index counted from the lowest bin inside tempo_range."""
    lo, hi = config.tempo_range
    k_lo = math.ceil(config.tempo_per_octave * math.log2(lo / 120) - 1e-9)
    k_hi = math.floor(config.tempo_per_octave * math.log2(hi / 120) + 1e-9)
    k = math.floor(math.log2(bpm / 120) * config.tempo_per_octave + 0.5)
    return min(k_hi, max(k_lo, k)) - k_lo


def _notes(raw, step, config):
    best = {}
    for name, pitch, start, end, velocity in raw:
        on, vel = step(start), velocity_bin(velocity, config.velocity_bins)
        off = on if name == "drums" else max(step(end), on + 1)
        candidate = (off, vel)
        if (name, pitch, on) not in best or candidate > best[name, pitch, on]:
            best[name, pitch, on] = candidate
    notes = sorted((name, pitch, on, off, vel) for (name, pitch, on), (off, vel) in best.items())
    for i in range(len(notes) - 1):
        name, pitch, on, off, vel = notes[i]
        if notes[i + 1][:2] == (name, pitch):
            notes[i] = (name, pitch, on, min(off, notes[i + 1][2]), vel)
    return notes


def _tempos(events, step, config):
    return _dedupe(_changes_values([(0, 120.0)] + events, step, lambda bpm: tempo_bin(bpm, config)))


def _changes_values(events, step, to_value):
    """(step, value) with the last value of each step (events sorted by tick, stable)."""
    at_step = {}
    for tick, value in sorted(events, key=lambda e: e[0]):
        at_step[step(tick)] = to_value(value)
    return sorted(at_step.items())


def _dedupe(pairs):
    out = []
    for s, value in pairs:
        if not out or out[-1][1] != value:
            out.append((s, value))
    return out


def _timesigs(events, step, config):
    if not config.time_signatures:
        return []
    ok = [(t, sig) for t, sig in events if 1 <= sig[0] <= 32 and sig[1] in (1, 2, 4, 8, 16, 32, 64)]
    return [(s, n, d) for s, (n, d) in _dedupe(_changes_values(ok, step, lambda sig: sig))]


def _pedals(events, step):
    by_key = defaultdict(list)
    for name, start, end in events:
        if step(end) > step(start):
            by_key[name].append((step(start), step(end)))
    out = []
    for name in sorted(by_key):
        merged = []
        for start, end in sorted(by_key[name]):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        out.extend((name, start, end) for start, end in merged)
    return out


def canon_of_decoded(score, tokenizer: MidiTokenizer) -> list:
    """The notes of a decoded score read directly (its ticks are grid steps): no canonicalization."""
    assert score.tpq == tokenizer.config.ticks_per_beat
    notes = []
    for track in (t for t in score.tracks if len(t.notes)):
        name = "drums" if track.is_drum else instrument_of(track.program, 0, tokenizer.config.family_mode)
        assert name == track.name, "one track per instrument key, named after it"
        for n in track.notes:
            off = n.time if track.is_drum else n.time + n.duration
            notes.append((name, n.pitch, n.time, off, velocity_bin(n.velocity, tokenizer.config.velocity_bins)))
    return sorted(notes)


# ----- the reference itself, on hand-made cases (the specification by example)

def make_midi(tracks, tpq=96, midi_type=1) -> bytes:
    """A MIDI file from per-track lists of (tick, mido message), kept in the given order within a tick."""
    mf = mido.MidiFile(type=midi_type, ticks_per_beat=tpq)
    for events in tracks:
        track, last = mido.MidiTrack(), 0
        for tick, msg in sorted(events, key=lambda e: e[0]):
            track.append(msg.copy(time=tick - last))
            last = tick
        mf.tracks.append(track)
    out = io.BytesIO()
    mf.save(file=out)
    return out.getvalue()


def on(pitch, velocity=64, channel=0):
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(pitch, channel=0):
    return mido.Message("note_off", note=pitch, channel=channel)


def pedal(value, channel=0):
    return mido.Message("control_change", control=64, value=value, channel=channel)


def program(number, channel=0):
    return mido.Message("program_change", program=number, channel=channel)


def tempo(bpm):
    return mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


CFG = TokenizerConfig()  # 24 steps per beat, 16 velocity bins


def test_reference_rounds_to_the_grid_and_bins_velocities() -> None:
    # tpq 96 -> 4 ticks per step; tick 2 rounds up (half), tick 5 rounds to 1; velocity 100 -> bin 13
    canon = quantize_reference(make_midi([[(2, on(60, 100)), (5, off(60)), (50, on(62, 1)), (96, off(62))]]), CFG)
    assert canon.notes == [("piano", 60, 1, 2, 13), ("piano", 62, 13, 24, 1)]
    assert canon.tempos == [(0, tempo_bin(120, CFG))]


def test_reference_pairs_fifo_merges_voices_and_cuts_overlaps() -> None:
    # FIFO: the first note-off closes the oldest note; the overlap is then cut at the next onset
    midi = make_midi([[(0, on(60)), (48, on(60, 100)), (96, off(60)), (192, off(60)), (0, on(64)), (0, off(64))]])
    canon = quantize_reference(midi, CFG)
    assert canon.notes == [("piano", 60, 0, 12, 8), ("piano", 60, 12, 48, 13), ("piano", 64, 0, 1, 8)]


def test_reference_drops_unclosed_notes_and_keys_drums_by_channel() -> None:
    midi = make_midi([[(0, program(40, 1)), (0, on(60, channel=1)), (0, on(36, channel=9)),
                       (10, off(36, channel=9)), (20, on(61))]])
    assert quantize_reference(midi, CFG).notes == [("drums", 36, 0, 0, 8)]


def test_reference_pedal_extends_or_becomes_intervals() -> None:
    midi = make_midi([[(0, pedal(127)), (0, on(60)), (24, off(60)), (48, pedal(100)), (96, pedal(0)),
                       (120, on(62)), (144, off(62))]])
    assert quantize_reference(midi, CFG).notes == [("piano", 60, 0, 24, 8), ("piano", 62, 30, 36, 8)]
    tokens = TokenizerConfig(pedal="tokens")
    canon = quantize_reference(midi, tokens)
    assert canon.notes[0] == ("piano", 60, 0, 6, 8) and canon.pedals == [("piano", 0, 24)]


def test_reference_tempo_changes_last_per_step_and_repeats_merge() -> None:
    midi = make_midi([[(0, tempo(60)), (1, tempo(90)), (96, tempo(91)), (192, tempo(240))],
                      [(0, on(60)), (10, off(60))]])
    assert quantize_reference(midi, CFG).tempos == [(0, tempo_bin(90, CFG)), (48, tempo_bin(240, CFG))]


@pytest.mark.parametrize("family_mode", ["family", "program"])
def test_reference_instrument_names_match_the_vocabulary(family_mode: str) -> None:
    vocab = MidiTokenizer(TokenizerConfig(family_mode=family_mode)).vocab
    names = {instrument_of(p, 0, family_mode) for p in range(128)} | {"drums"}
    assert names == set(vocab.instruments)
    assert family_mode == "program" or tuple(FAMILIES) == vocab.instruments[:-1]
