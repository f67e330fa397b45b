"""The demo's Edit tab (issue 19) as an API client sees it, on a tiny model: upload a MIDI file, see it,
regenerate a span (by seconds or bars) or accompany kept tracks, rate the result, and read a clear
message for every bad span or request over the limits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import symusic
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from demo_support import cards, launched_app, roll_png, save_test_model
from demos.limits import LimitError
from demos.tabs.edit import ACCOMPANY, INFILL, parse_bars

TPQ = 960  # the crafted file: 120 BPM, so one second is 1920 ticks and a 4/4 bar two seconds
SECOND = 2 * TPQ
MELODY = [(i * 0.5, 0.5, 72 + (i % 5)) for i in range(12)]
CHORDS = [(float(i), 1.0, p) for i in range(6) for p in (48, 55, 64)]
LIMITS = dict(min_seconds=0.5, max_infill_seconds=3.0, max_accompany_seconds=8.0)


def write_midi(path: Path, tracks: dict[tuple[int, str], list[tuple[float, float, int]]]) -> Path:
    """A 120 BPM file: ``{(program, name): [(start s, duration s, pitch), ...]}``."""
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, 120.0))
    for (program, name), notes in tracks.items():
        track = symusic.Track(name, program, False)
        for start, dur, pitch in notes:
            track.notes.append(symusic.Note(int(start * SECOND), int(dur * SECOND), pitch, 80))
        score.tracks.append(track)
    path.write_bytes(score.dumps_midi())
    return path


def rows(track: symusic.Track) -> np.ndarray:
    """(time, duration, pitch, velocity) of a track's notes, sorted."""
    n = track.notes.numpy()
    out = np.stack([n["time"], n["duration"], n["pitch"], n["velocity"]], 1).astype(np.int64)
    return out[np.lexsort(out.T[::-1])] if len(out) else out.reshape(0, 4)


def edit_args(path: Path, mode: str = INFILL, start: float | None = 2, end: float | None = 4, bars: str = "",
              tracks: list | None = None, instruments: list | None = None, n: int = 2, seed: int = 3) -> list:
    return [handle_file(str(path)), mode, start, end, bars, tracks or [], "bach", "(none)", 0.7, instruments or [],
            1.0, 0.95, seed, n, -1, -1]


def midi_of(value) -> symusic.Score:
    return symusic.Score(value["value"] if isinstance(value, dict) else value)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("edit")
    db = folder / "feedback.sqlite"
    with launched_app(save_test_model(folder / "model"), db, **LIMITS) as (app, url):
        yield app, url, db


@pytest.fixture(scope="module")
def duet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("midi")
    return write_midi(folder / "duet.mid", {(73, "Flute"): MELODY, (0, "Piano"): CHORDS})


def test_bars_are_typed_as_first_last() -> None:
    assert parse_bars("5-8") == (5, 8) and parse_bars(" 3 ") == (3, 3) and parse_bars("2 to 4") == (2, 4)
    assert parse_bars("") is None and parse_bars(None) is None
    for bad, message in (("8-5", "not after the last"), ("0-2", "at least 1"), ("five", "FIRST-LAST")):
        with pytest.raises(LimitError, match=message):
            parse_bars(bad)


def test_upload_shows_the_piece_its_tracks_and_the_span(served, duet: Path) -> None:
    client = Client(served[1], verbose=False)
    roll, summary, tracks = client.predict(handle_file(str(duet)), INFILL, 2, 4, "", api_name="/edit_load")
    assert Path(roll).read_bytes()[:4] == b"\x89PNG"
    assert "duet.mid" in summary and "2 track(s)" in summary and "Regenerating 2.00\u20134.00 s" in summary
    assert [tuple(c) for c in tracks["choices"]] == [("1: Flute (12 notes)", 0), ("2: Piano (18 notes)", 1)]
    assert tracks["value"] == [0]  # the first pitched track (the melody) is kept by default when accompanying
    _, summary = client.predict(handle_file(str(duet)), INFILL, 2, 4, "2-2", [0], api_name="/edit_preview")
    assert "Regenerating 2.00\u20134.00 s" in summary  # bar 2 of 4/4 at 120 BPM
    _, summary = client.predict(handle_file(str(duet)), INFILL, 4, 2, "", [0], api_name="/edit_preview")
    assert "must be after its start" in summary  # a bad span is explained beside the preview while typing
    _, summary = client.predict(handle_file(str(duet)), ACCOMPANY, 2, 4, "", [0], api_name="/edit_preview")
    assert "Keeping Flute" in summary


def test_regenerate_a_span_keeps_the_rest_and_takes_feedback(served, duet: Path) -> None:
    _app, url, db = served
    client = Client(url, verbose=False)
    out = client.predict(*edit_args(duet), api_name="/edit")
    assert out[0].startswith("Done: 2 variation(s) of duet.mid with 2.0\u20134.0 s regenerated")
    source = symusic.Score(str(duet))
    lo, hi = 2 * SECOND, 4 * SECOND
    for caption, roll, audio, midi, *_ in cards(out)[:2]:
        assert "2.0\u20134.0 s regenerated" in caption and "seed 3" in caption
        assert roll_png(roll)[:4] == b"\x89PNG" and Path(audio).is_file()
        edited = midi_of(midi)
        for before, after in zip(source.tracks, edited.tracks):
            a, b = rows(before), rows(after)
            assert np.array_equal(a[(a[:, 0] < lo) | (a[:, 0] >= hi)], b[(b[:, 0] < lo) | (b[:, 0] >= hi)])
            inside = b[(b[:, 0] >= lo) & (b[:, 0] < hi)]
            assert (inside[:, 0] + inside[:, 1] <= hi).all()  # no new note is held past the span
    assert client.predict(api_name="/edit_up_1").startswith("Thanks")
    assert "Variation 2 over Variation 1" in client.predict("Variation 1", "Variation 2", api_name="/edit_prefer_b")
    with sqlite3.connect(db) as conn:
        mode, settings, prime, tokens = conn.execute(
            "SELECT s.mode, s.settings, s.prime_tokens, s.tokens FROM ratings r JOIN samples s ON s.id = r.sample_id "
            "ORDER BY r.id DESC LIMIT 1").fetchone()
    settings = json.loads(settings)
    assert mode == "infill" and settings["upload"] == "duet.mid" and settings["variation"] == 1
    assert (settings["start"], settings["end"]) == (2.0, 4.0) and 0 < prime < len(json.loads(tokens))


def test_regenerate_bars(served, duet: Path) -> None:
    out = Client(served[1], verbose=False).predict(*edit_args(duet, start=None, end=None, bars="3", n=1),
                                                   api_name="/edit")
    assert "4.0\u20136.0 s regenerated" in cards(out)[0][0]


def test_accompany_the_kept_melody(served, duet: Path) -> None:
    client = Client(served[1], verbose=False)
    client.predict(handle_file(str(duet)), ACCOMPANY, 2, 4, "", api_name="/edit_load")  # offers the tracks
    out = client.predict(*edit_args(duet, ACCOMPANY, tracks=[0], instruments=["piano", "strings"], n=1),
                         api_name="/edit")
    assert out[0].startswith("Done: 1 accompaniment(s) of Flute from duet.mid")
    caption, _roll, _audio, midi, *_ = cards(out)[0]
    assert "accompanying Flute" in caption
    edited = midi_of(midi)
    assert np.array_equal(rows(edited.tracks[0]), rows(symusic.Score(str(duet)).tracks[0]))  # the melody, unchanged
    assert {t.name for t in edited.tracks[1:]} <= {"piano", "strings"}  # the file's piano part was left out
    assert client.predict(api_name="/edit_down_1").startswith("Thanks")


def test_bad_spans_and_requests_are_clear_errors(served, duet: Path, tmp_path: Path) -> None:
    client = Client(served[1], verbose=False)
    empty = write_midi(tmp_path / "empty.mid", {(0, "Piano"): []})
    long = write_midi(tmp_path / "long.mid", {(73, "Flute"): [(i * 1.0, 1.0, 72) for i in range(10)]})
    cases = [
        (edit_args(duet, start=4, end=4), "end (4 s) must be after its start (4 s)"),
        (edit_args(duet, start=3, end=2), "must be after its start"),
        (edit_args(duet, start=5, end=9), "duet.mid: the span ends at 9 s, beyond the end of the piece (6.0 s)"),
        (edit_args(duet, start=7, end=9), "after the end of the piece"),
        (edit_args(duet, start=None, end=None), "type the span's start and end"),
        (edit_args(duet, start=0, end=5), "the span lasts 5.0 s; at most 3 s"),
        (edit_args(duet, bars="9-10"), "duet.mid: bar 9 starts after the end of the file"),
        (edit_args(duet, bars="4-2"), "not after the last"),
        (edit_args(empty), "empty.mid: the file has no notes"),
        (edit_args(duet, ACCOMPANY, tracks=[], instruments=["piano"]), "tick the tracks to keep"),
        (edit_args(duet, ACCOMPANY, tracks=[0], instruments=[]), "choose the instruments to accompany with"),
    ]
    client.predict(handle_file(str(duet)), ACCOMPANY, 2, 4, "", api_name="/edit_load")  # offers its tracks
    for args, message in cases:
        with pytest.raises(AppError) as err:
            client.predict(*args, api_name="/edit")
        assert message in str(err.value) and "Traceback" not in str(err.value), (args[1:5], str(err.value))
    client.predict(handle_file(str(long)), ACCOMPANY, 0, 1, "", api_name="/edit_load")
    with pytest.raises(AppError, match="the kept tracks last 10.0 s; accompaniments may last at most 8 s"):
        client.predict(*edit_args(long, ACCOMPANY, tracks=[0], instruments=["piano"]), api_name="/edit")
    with pytest.raises(AppError, match="greater than maximum value 4"):
        client.predict(*edit_args(duet, n=5), api_name="/edit")
    with pytest.raises(AppError, match="upload a MIDI file first"):
        client.predict(None, *edit_args(duet)[1:], api_name="/edit")
