"""Round trip: decode(encode(m)) equals m quantized to the grid, as specified by quantize_reference.

Generated multi-track MIDI files (hypothesis) cover drums, overlapping same-pitch notes, zero-length
notes, tempo changes, time signatures, sustain pedal, many tracks, type 0 and type 1 files; real files
come from tests/data/midi and the music21 corpus.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mido
import numpy as np
import pytest
import symusic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musetok import Kind, MidiTokenizer, TokenizerConfig

from test_tokenizer_reference import (
    canon_of_decoded,
    make_midi,
    off,
    on,
    pedal,
    program,
    quantize_reference,
    tempo,
)

CONFIGS = {
    "default": TokenizerConfig(),
    "program+tokens+timesig": TokenizerConfig(family_mode="program", pedal="tokens", time_signatures=True),
    "fine grid, no pedal": TokenizerConfig(ticks_per_beat=48, max_wait=17, velocity_bins=32, pedal="ignore",
                                           tempo_per_octave=24, tempo_range=(40.0, 300.0)),
}
_TOKENIZERS: dict[str, MidiTokenizer] = {}


def tokenizer(name: str) -> MidiTokenizer:
    if name not in _TOKENIZERS:
        _TOKENIZERS[name] = MidiTokenizer(CONFIGS[name])
    return _TOKENIZERS[name]


def assert_round_trip(midi: bytes, tok: MidiTokenizer) -> None:
    """The round-trip promise, checked three ways against the independent reference."""
    expected = quantize_reference(midi, tok.config)
    enc = tok.encode(midi)
    dec = tok.decode(enc.ids)
    assert (dec.skipped, dec.closed) == (0, 0)
    assert enc.n_notes == dec.n_notes == len(expected.notes)
    assert canon_of_decoded(dec.score, tok) == expected.notes  # the decoded notes are exactly canonical
    assert quantize_reference(dec.score.dumps_midi(), tok.config) == expected  # notes, tempos, timesigs, pedals
    assert np.array_equal(tok.encode(dec.score).ids, enc.ids)  # and the tokens are a fixed point


# ----- generated files

@st.composite
def midi_files(draw) -> bytes:
    tpq = draw(st.sampled_from([7, 24, 96, 120, 384, 480, 1000]))
    span = 6 * tpq
    midi_type = draw(st.sampled_from([0, 1]))
    tracks = []
    for _ in range(1 if midi_type == 0 else draw(st.integers(1, 5))):
        events = []
        for channel in draw(st.lists(st.integers(0, 15), min_size=1, max_size=3, unique=True)):
            if channel != 9 or draw(st.booleans()):
                events.append((0, program(draw(st.integers(0, 127)), channel)))
            pitches = draw(st.lists(st.integers(0, 127), min_size=1, max_size=4))  # few pitches: overlaps
            for pitch, start, length, velocity, zero_off in draw(st.lists(st.tuples(
                    st.sampled_from(pitches), st.integers(0, span), st.integers(0, 2 * tpq) | st.just(0),
                    st.integers(1, 127), st.booleans()), max_size=20)):
                events.append((start, on(pitch, velocity, channel)))
                end_msg = on(pitch, 0, channel) if zero_off else off(pitch, channel)
                events.append((start + length, end_msg))
            for tick, value in draw(st.lists(st.tuples(st.integers(0, span + tpq), st.integers(0, 127)), max_size=5)):
                events.append((tick, pedal(value, channel)))
        tracks.append(events)
    for tick, bpm in draw(st.lists(st.tuples(st.integers(0, span), st.floats(8.0, 2000.0)), max_size=4)):
        tracks[0].append((tick, tempo(bpm)))
    for tick, num, den in draw(st.lists(st.tuples(st.integers(0, span), st.integers(1, 40),
                                                  st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128])), max_size=3)):
        tracks[0].append((tick, mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    return make_midi(tracks, tpq, midi_type)


@pytest.mark.parametrize("config", list(CONFIGS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(midi=midi_files())
def test_round_trip_of_generated_files(config: str, midi: bytes) -> None:
    assert_round_trip(midi, tokenizer(config))


def test_round_trip_with_many_tracks_and_channels() -> None:
    rng = np.random.default_rng(0)
    tracks = []
    for t in range(40):
        channel = t % 16
        events = [(0, program(int(rng.integers(128)), channel))]
        for start in rng.integers(0, 2000, 30):
            pitch = int(rng.integers(20, 100))
            events += [(int(start), on(pitch, int(rng.integers(1, 128)), channel)),
                       (int(start + rng.integers(0, 300)), off(pitch, channel))]
        tracks.append(events)
    for name in CONFIGS:
        assert_round_trip(make_midi(tracks, tpq=480), tokenizer(name))


def test_program_changes_inside_a_track_change_the_instrument() -> None:
    midi = make_midi([[(0, program(40)), (0, on(60)), (96, off(60)), (96, program(73)), (96, on(60)), (192, off(60))]])
    tok = tokenizer("default")
    assert tok.encode(midi).tokens[:9] == [
        "unknown_composer", "strings", "winds", "start", "tempo:120", "strings:v64:C4", "wait:24",
        "strings:v0:C4", "winds:v64:C4"]
    assert_round_trip(midi, tok)


def test_a_parsed_score_in_any_time_unit_encodes_like_its_file(midi_dir: Path) -> None:
    tok = tokenizer("default")
    path = midi_dir / "one_track" / "POP909_008.mid"
    expected = tok.encode(path).ids
    for unit in ("tick", "quarter", "second"):
        assert np.array_equal(tok.encode(symusic.Score(path).to(unit)).ids, expected)


# ----- real files

REFERENCE_FILES = ["one_track/6338816_Etude No. 4.mid", "one_track/POP909_008.mid", "one_track/Maestro_1.mid",
                   "one_track/empty.mid", "multitrack/Les Yeux Revolvers.mid", "multitrack/In Too Deep.mid"]


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_round_trip_of_real_files_against_the_reference(midi_dir: Path, name: str) -> None:
    assert_round_trip((midi_dir / name).read_bytes(), tokenizer("default"))


def test_every_real_test_file_is_a_fixed_point_after_one_round_trip(midi_dir: Path) -> None:
    files = sorted((midi_dir / "one_track").glob("*.mid")) + sorted((midi_dir / "multitrack").glob("*.mid"))
    assert len(files) == 14
    for name in CONFIGS:
        tok = tokenizer(name)
        for path in files:
            enc = tok.encode(path)
            dec = tok.decode(enc.ids)
            assert (dec.skipped, dec.closed) == (0, 0), path
            again = tok.encode(dec.score)
            assert np.array_equal(again.ids, enc.ids), path
            assert again.n_notes == enc.n_notes and again.seconds == pytest.approx(enc.seconds)


def test_classical_sample_round_trips(midi_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    files = sorted((midi_dir / "classical").glob("*.mid"))
    tok = tokenizer("default")
    done = 0
    for path in files:
        try:
            enc = tok.encode(path)
        except Exception as err:  # damaged files: covered by test_tokenizer_errors
            assert type(err).__name__ == "TokenizerError"
            continue
        assert np.array_equal(tok.encode(tok.decode(enc.ids).score).ids, enc.ids), path
        done += 1
    assert done >= 25
    small = [p for p in files if p.stat().st_size < 6000][:3]
    for path in small:
        assert_round_trip(path.read_bytes(), tok)


@pytest.fixture(scope="session")
def music21_midis(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A few music21 corpus pieces converted to MIDI once per test session."""
    corpus = pytest.importorskip("music21.corpus")
    out = tmp_path_factory.mktemp("music21")
    paths = []
    for work in ("bach/bwv66.6", "bach/bwv7.7", "monteverdi/madrigal.3.1.mxl"):
        path = out / (work.replace("/", "_") + ".mid")
        corpus.parse(work).write("midi", fp=str(path))
        paths.append(path)
    return paths


def test_round_trip_of_music21_corpus_pieces(music21_midis: list[Path]) -> None:
    tok = tokenizer("default")
    for path in music21_midis:
        assert_round_trip(path.read_bytes(), tok)
        enc = tok.encode(path, composer=path.name.split("_")[0])
        assert enc.tokens[0] == path.name.split("_")[0] and enc.n_notes > 50


# ----- properties of the sequence itself

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(midi=midi_files())
def test_sequence_grammar_and_time_helpers(midi: bytes) -> None:
    tok = tokenizer("default")
    v = tok.vocab
    enc = tok.encode(midi, composer="bach")
    ids = enc.ids
    kinds = v.kind[ids]
    start = int(np.flatnonzero(ids == v.start_id)[0])
    assert ids[0] == v.composer_id("bach") and ids[-1] == v.end_id
    assert set(kinds[1:start]) <= {Kind.INSTRUMENT} and kinds[start + 1] == Kind.TEMPO
    body = ids[start + 1:-1]
    assert not np.isin(v.kind[body], (Kind.SPECIAL, Kind.COMPOSER, Kind.INSTRUMENT)).any()
    # waits never repeat beyond max_wait and only full waits precede another wait
    w = v.wait_ticks[body]
    assert (w[:-1][(w[:-1] > 0) & (w[1:] > 0)] == v.config.max_wait).all()
    # time helpers agree with the decoded score
    dec = tok.decode(ids).score
    times = tok.token_times(ids)
    is_hit = v.is_on[ids] & np.isin(kinds, (Kind.NOTE, Kind.DRUM))
    onsets = sorted(zip(times[is_hit].tolist(), v.pitch[ids[is_hit]].tolist()))
    decoded = sorted((n.time, n.pitch) for track in dec.tracks for n in track.notes)
    assert onsets == decoded
    chord = tok.chord_index(ids)
    for t in np.unique(times[is_hit]):
        at = (times == t) & is_hit
        assert list(chord[at]) == list(range(at.sum()))
    assert tok.seconds(ids) == pytest.approx(enc.seconds)
    assert tok.ids_from_text(tok.text(ids)).tolist() == ids.tolist()


def test_seconds_follow_the_tempo_map() -> None:
    midi = make_midi([[(0, tempo(60)), (96, tempo(120)), (0, on(60)), (288, off(60))]], tpq=96)
    tok = tokenizer("default")
    enc = tok.encode(midi)
    assert enc.seconds == pytest.approx(1.0 + 2 * 0.5)  # one beat at 60 BPM, two at 120
    assert tok.seconds(enc.ids) == pytest.approx(2.0)
    assert tok.text(enc.ids) == ("unknown_composer piano start tempo:60 piano:v64:C4 wait:24 tempo:120 wait:48 "
                                 "piano:v0:C4 end")
