"""The demo's parts without a server: feedback store and export, limits, controls (no silent corrections),
the status line (how the audio was made, empty results), media files with the renderer, piano roll, CLI errors."""

from __future__ import annotations

import json
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import symusic
import torch
from matplotlib.image import imread

from demos.controls import check_instruments, composer_spec, note_bounds, resolve_seed, upload_path
from demos.jobs import CancelRegistry
from demos.limits import DemoLimits, LimitError
from muse.cli import main as muse_main
from muse.core.errors import UserError
from muse.feedback import FeedbackError, FeedbackStore, Sample, open_existing
from muse.pianoroll import draw_piano_roll, roll_tracks
from muse.saved_model import model_hash


def sample(i: int, **changes) -> Sample:
    fields = dict(id=f"s{i}", mode="compose", settings={"composer": "bach", "seconds": 5.0}, seed=i,
                  model_hash="abc123", tokens=[5, 60, 2, 300 + i], prime_tokens=3)
    return Sample(**{**fields, **changes})


# ---- feedback store ---------------------------------------------------------------------------

def test_ratings_and_choices_round_trip_through_jsonl_export(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "sub" / "fb.sqlite")
    store.rate(sample(1), 1, "alice")
    store.rate(sample(1), -1, "bob")  # the same sample twice: one samples row
    store.choose(sample(2), sample(3), "alice")
    assert store.counts() == {"samples": 3, "ratings": 2, "choices": 1}
    out = tmp_path / "prefs.jsonl"
    assert store.export_jsonl(out) == 3
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["type"] for e in events] == ["rating", "rating", "preference"]
    assert [e["rating"] for e in events[:2]] == [1, -1] and events[0]["session"] == "alice"
    assert events[0]["sample"] == sample(1).to_dict()
    assert events[2]["chosen"]["tokens"] == [5, 60, 2, 302] and events[2]["rejected"]["seed"] == 3
    assert Sample.from_dict(events[2]["chosen"]) == sample(2)


def test_one_rating_per_visitor_and_sample_the_last_one_given(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.rate(sample(1), 1, "alice")
    store.rate(sample(1), -1, "alice")  # alice changes her mind: her thumbs up is replaced
    store.rate(sample(1), 1, "bob")
    store.rate(sample(2), 1, "alice")
    store.rate(sample(1), 1)
    store.rate(sample(1), 1)  # no session: no one in particular, every rating kept
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT sample_id, session, rating FROM ratings ORDER BY id").fetchall()
    assert rows == [("s1", "alice", -1), ("s1", "bob", 1), ("s2", "alice", 1), ("s1", "", 1), ("s1", "", 1)]


def test_a_rated_variation_shows_its_rating_and_how_to_change_it() -> None:
    from demos.results import rating_line, thumbs
    from demos.steps import History, Step

    assert rating_line(None) == ""
    assert rating_line(1) == "Your rating: **thumbs up** (*Thumbs down* changes it)."
    assert rating_line(-1, None, saved=True) == "Thanks! Saved your **thumbs down** (*Thumbs up* changes it)."
    assert rating_line(-1, 1, saved=True) == "Thanks! Changed your rating to **thumbs down**."
    up, down = thumbs(1)
    assert (up.value, up.variant, down.value, down.variant) == ("\u2713 Thumbs up", "primary", "Thumbs down",
                                                                "secondary")
    assert [b.value for b in thumbs(None)] == ["Thumbs up", "Thumbs down"]
    history = History((Step("one", ()),)).rated("s1", 1).push(Step("two", ())).rated("s2", -1)
    assert history.ratings == {"s1": 1, "s2": -1} and history.undo().ratings == {"s1": 1, "s2": -1}


def test_store_refuses_bad_feedback(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    with pytest.raises(FeedbackError, match="thumbs up"):
        store.rate(sample(1), 0)
    with pytest.raises(FeedbackError, match="two different samples"):
        store.choose(sample(1), sample(1))
    assert store.counts() == {"samples": 0, "ratings": 0, "choices": 0}


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    db = tmp_path / "fb.sqlite"
    stores = [FeedbackStore(db), FeedbackStore(db)]  # two stores on one file, as two app processes would be

    def write(i: int) -> None:
        store = stores[i % 2]
        store.rate(sample(i), 1 if i % 3 else -1, f"user{i}")
        store.choose(sample(i), sample(1000 + i), f"user{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(64)))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT session) FROM ratings").fetchone() == (64, 64)
        assert conn.execute("SELECT COUNT(*) FROM choices").fetchone()[0] == 64
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 128


def test_export_cli_needs_an_existing_sqlite_database(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "prefs.jsonl"
    assert muse_main(["feedback", "export", "-o", str(out), "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no feedback database" in capsys.readouterr().err
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database")
    assert muse_main(["feedback", "export", "-o", str(out), "--db", str(text)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err
    FeedbackStore(tmp_path / "fb.sqlite").rate(sample(1), 1)
    assert muse_main(["feedback", "export", "-o", str(out), "--db", str(tmp_path / "fb.sqlite")]) == 0
    assert json.loads(out.read_text())["sample"]["id"] == "s1" and not out.with_suffix(".jsonl.tmp").exists()
    assert isinstance(open_existing(tmp_path / "fb.sqlite"), FeedbackStore)


def test_model_hash_follows_the_weights() -> None:
    a = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    same = {"b": torch.zeros(3), "w": torch.arange(6.0).reshape(2, 3)}
    changed = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([0.0, 0.0, 1e-6])}
    assert model_hash(a) == model_hash(same) != model_hash(changed)
    assert len(model_hash(a)) == 16 and model_hash({"w": a["w"].to(torch.bfloat16)}) != model_hash({"w": a["w"]})


# ---- limits and controls ----------------------------------------------------------------------

def test_limits_cap_lengths_variations_and_uploads(tmp_path: Path) -> None:
    limits = DemoLimits(max_seconds=30, max_continue_seconds=10, max_variations=4, max_upload_bytes=100)
    assert limits.check_seconds(30) == 30.0 and limits.check_seconds(10, continuation=True) == 10.0
    for bad in (0.5, 31, float("nan"), "long"):
        with pytest.raises(LimitError):
            limits.check_seconds(bad)
    with pytest.raises(LimitError, match="between 1 and 10 seconds"):
        limits.check_seconds(11, continuation=True)
    assert limits.check_variations(4) == 4
    for bad in (0, 5, 2.5):
        with pytest.raises(LimitError, match="from 1 to 4"):
            limits.check_variations(bad)
    small, big = tmp_path / "a.mid", tmp_path / "b.mid"
    small.write_bytes(b"x" * 100)
    big.write_bytes(b"x" * 101)
    assert limits.read_upload(small) == b"x" * 100
    with pytest.raises(LimitError, match="b.mid: the file has"):
        limits.read_upload(big)
    with pytest.raises(LimitError, match="upload a MIDI file first"):
        limits.read_upload(None)
    with pytest.raises(LimitError, match="at most 20 minutes"):
        limits.check_upload_seconds(21 * 60, "long.mid")
    with pytest.raises(ValueError):
        DemoLimits(concurrency=0)


def test_composer_blend_becomes_the_style_mixing_syntax() -> None:
    assert composer_spec("bach", "(none)", 0.7) == "bach"
    assert composer_spec("bach", "bach", 0.7) == "bach"
    assert composer_spec("bach", "chopin", 0.7) == "bach:0.70,chopin:0.30"
    with pytest.raises(LimitError, match="choose a composer"):
        composer_spec(None, "chopin", 0.5)
    assert resolve_seed(7) == 7 and 0 <= resolve_seed(-1) < 2**31 and 0 <= resolve_seed(None) < 2**31


def test_unknown_or_malformed_values_are_refused_by_name_not_corrected() -> None:
    known = ("bach", "chopin", "mozart")
    with pytest.raises(LimitError, match="unknown composer 'bahc': did you mean bach"):
        composer_spec("bahc", "(none)", 0.7, known)
    with pytest.raises(LimitError, match="unknown composer to blend with 'Shostakovich': pick one"):
        composer_spec("bach", "Shostakovich", 0.7, known)
    with pytest.raises(LimitError, match="share of the first composer must be a number"):
        composer_spec("bach", "chopin", "lots", known)
    assert composer_spec(" bach ", "(none)", 0.7, known) == "bach"
    for bad in (2.5, -5, "seven", 2**63):
        with pytest.raises(LimitError, match="seed must be a whole number"):
            resolve_seed(bad)
    assert check_instruments(["piano"], ("piano", "strings")) == ["piano"]
    with pytest.raises(LimitError, match="unknown instrument 'kazoo'; choose from piano, strings"):
        check_instruments(["piano", "kazoo"], ("piano", "strings"))
    assert upload_path({"path": "/tmp/x/a.mid", "orig_name": "mine.mid"}) == ("/tmp/x/a.mid", "mine.mid")
    assert upload_path("/tmp/x/a.mid") == ("/tmp/x/a.mid", "a.mid") and upload_path(None) == (None, None)


def test_a_slider_pulled_back_into_its_range_says_so() -> None:
    assert note_bounds(20, 1, 60, "Length", "s") == ""
    assert note_bounds(600, 1, 60, "Length", "s") == (
        "**Length**: 600 s is more than the most allowed (60 s), so the slider was set to 60 s.")
    assert "less than the least allowed (1)" in note_bounds(0, 1, 4, "Variations")
    assert "is not a number" in note_bounds("lots", 1, 4, "Variations")


def test_the_status_says_how_the_audio_was_made_and_flags_empty_results(tmp_path: Path) -> None:
    from demos.media import PieceFiles
    from demos.results import Variation, summary

    def made(audio: str) -> Variation:
        return Variation(sample(1), PieceFiles(tmp_path / "a.mid", tmp_path / "a.wav", tmp_path / "a.png", audio), "")

    line = summary("Done.", [made("FluidSynth with the soundfont `TimGM6mb.sf2`")] * 2, [3, 0])
    assert line.split("\n\n") == ["Done.", "\u26a0 Variation 2: no new notes, only silence.",
                                  "Audio: FluidSynth with the soundfont `TimGM6mb.sf2`."]
    tones = summary("Done.", [made("plain tones: no soundfont was found")], [0])
    assert "No variation has any new notes" in tones and "\u26a0 Audio: plain tones" in tones


def test_media_render_with_the_sampler_where_fluidsynth_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from demo_support import save_test_model
    from demos.media import MediaFolder
    from muse.core import render
    from muse.generate import MuseGenerator

    monkeypatch.setattr(render, "fluidsynth_program", lambda: None)
    gen = MuseGenerator(save_test_model(tmp_path / "model"))
    piece = gen.generate("bach", ["piano"], 1.0, seed=1)[0]
    files = MediaFolder(gen, tmp_path / "media").write(piece, "p")
    assert files.audio == "the built-in SoundFont sampler with `TimGM6mb.sf2`" and files.wav.is_file()
    from demos.app import _audio_line

    mine = tmp_path / "mine.sf2"  # the soundfont chosen with `muse demo --soundfont`
    shutil.copyfile(render.default_soundfont(), mine)
    assert MediaFolder(gen, tmp_path / "media", soundfont=mine).write(piece, "m").audio.endswith("`mine.sf2`")
    assert _audio_line(mine) == "Audio: the built-in SoundFont sampler with `mine.sf2`."
    monkeypatch.setattr(render, "default_soundfont", lambda: None)
    assert MediaFolder(gen, tmp_path / "media").write(piece, "q").audio.startswith("plain tones")
    assert _audio_line(None).startswith("\u26a0 Audio: plain tones")
    with pytest.raises(UserError, match="not a SoundFont"):
        MediaFolder(gen, tmp_path / "media", soundfont=tmp_path / "model" / "config.json")


def test_a_job_stops_when_cancelled_or_at_its_time_limit(tmp_path: Path) -> None:
    from demo_support import save_test_model
    from muse.generate import MuseGenerator

    jobs = CancelRegistry()
    with jobs.job("alice", time_limit=60) as job:
        assert jobs.running() == 1 and not job() and not jobs.cancel("bob")
        assert jobs.cancel("alice") and job() and not job.timed_out
    assert jobs.running() == 0 and not jobs.cancel("alice")
    generator = MuseGenerator(save_test_model(tmp_path / "model"))
    with jobs.job("bob", time_limit=0.0) as late:
        pieces = generator.generate("bach", ["piano", "strings"], 60, seed=1, n=2, temperature=2.0, cancel=late)
    assert late.timed_out and len(pieces) == 2 and all(p.seconds < 60 for p in pieces)


def test_cancel_stops_a_running_job_and_withdraws_only_when_none_runs() -> None:
    from demos.jobs import stop_or_withdraw

    jobs = CancelRegistry()
    with jobs.job("alice", time_limit=60) as job:
        line, count = stop_or_withdraw(jobs, "alice", 3)
        assert job() and count == 3 and line.startswith("Stopping")  # the job's own event shows its partial pieces
    line, count = stop_or_withdraw(jobs, "alice", 3)
    assert count == 4 and "withdrawn" in line  # the counter's change cancels a request still in the queue


class Recorder:
    """A stand-in for gr.Progress: records (fraction, desc) of every update."""

    def __init__(self) -> None:
        self.updates: list[tuple[float, str]] = []

    def __call__(self, fraction: float, desc: str = "") -> None:
        self.updates.append((fraction, desc))


def test_rendering_reports_each_variation_and_a_cut_short_job_gets_no_manifests(tmp_path: Path) -> None:
    from demo_support import demo_context
    from demos.continuations import continuation_variations, prime_tokens

    ctx = demo_context(tmp_path)
    prime = ctx.generator.generate("bach", ["piano"], 2.0, seed=1)[0].score
    call = {"composer": "bach", "seconds": 1.0}
    pieces = ctx.generator.continue_midi(prime, **call, seed=5, n=2)
    n_prime = prime_tokens(ctx, prime, "prime")
    for cut_short in (False, True):
        progress = Recorder()
        made = continuation_variations(ctx, pieces, call=call, n_prime=n_prime, prime_notes=prime.note_num(),
                                       settings={"composer": "bach"}, batch={"seed": 5, "n": 2}, timings={},
                                       title="t", progress=progress, cut_short=cut_short)
        assert progress.updates == [(0.0, "rendering audio and piano roll: variation 1 of 2"),
                                    (0.5, "rendering audio and piano roll: variation 2 of 2")]
        assert [v.sample.seed for v in made.variations] == [5, 6]
        assert all(v.files.wav.is_file() and v.files.midi.is_file() for v in made.variations)
        assert all((v.files.manifest is None) == cut_short for v in made.variations)
        assert [v.boundary for v in made.variations] == [ctx.generator.tokenizer.seconds(p.ids[:n_prime])
                                                         for p in pieces]


def test_the_prime_ends_in_the_right_place_when_other_instruments_continue_it(tmp_path: Path) -> None:
    from demo_support import demo_context
    from demos.continuations import prime_tokens

    ctx = demo_context(tmp_path)
    prime = _score([(0.0, 0.5, 60), (0.5, 0.5, 64), (1.0, 0.5, 67)])  # piano alone
    ids = np.asarray(ctx.generator.tokenizer.encode(prime).ids)
    body = ids[ctx.header_length(ids):-1]  # without the header and the closing end
    pieces = ctx.generator.continue_midi(prime, "bach", 1.0, instruments=["piano", "strings"], seed=3)
    n_prime = prime_tokens(ctx, prime, "prime", pieces)
    assert ctx.header_length(pieces[0].ids) == ctx.header_length(ids) + 1  # the header names strings too
    assert np.array_equal(pieces[0].ids[n_prime - len(body):n_prime], body)
    assert prime_tokens(ctx, prime, "prime") == len(ids) - 1  # as the file reads, without pieces


def test_the_status_says_why_pieces_were_cut_short(tmp_path: Path) -> None:
    from demo_support import demo_context

    ctx = demo_context(tmp_path)
    jobs = CancelRegistry()
    ended, cut = SimpleNamespace(ended=True), SimpleNamespace(ended=False)
    with jobs.job("a", 60) as job:
        assert not ctx.cut_short(job, [cut]) and ctx.status("Done.", job, False) == "Done."
        jobs.cancel("a")
        assert ctx.cut_short(job, [ended, cut]) and not ctx.cut_short(job, [ended])  # Cancel after composing
        assert ctx.status("Done.", job, True).startswith("Cancelled: the variations below hold what was composed")
        assert ctx.status("Done.", job, False) == "Done."
    with jobs.job("b", 0.0) as late:
        assert ctx.status("Done.", late, True).startswith("Stopped at the time limit of 600 s")


def test_a_history_of_steps_and_what_continuing_a_variation_keeps(tmp_path: Path) -> None:
    from demos.media import PieceFiles
    from demos.steps import History, Step, continuation_call, start
    from demos.variation import Variation

    files = PieceFiles(tmp_path / "a.mid", tmp_path / "a.wav", tmp_path / "a.png")
    composed = sample(1, settings={"composer": "bach:0.70,chopin:0.30", "instruments": ["piano", "harp"],
                                   "seconds": 20.0, "temperature": 0.9, "top_p": 0.9, "max_note_seconds": None,
                                   "max_polyphony": 4, "guidance": 2.0, "rerank": 3, "bpm": 90, "key": "D minor",
                                   "n": 2, "variation": 1})
    made = [Variation(composed, files, "one"), Variation(sample(2), files, "two")]
    assert continuation_call(made[0], 8) == {"composer": "bach:0.70,chopin:0.30", "instruments": ["piano", "harp"],
                                             "seconds": 8.0, "temperature": 0.9, "top_p": 0.9,
                                             "max_note_seconds": None, "max_polyphony": 4, "guidance": 2.0,
                                             "rerank": 3, "bpm": 90}  # no key: it could move the piece so far
    edited = Variation(sample(3, mode="accompany", settings={"composer": "bach", "instruments": ["strings"],
                                                            "upload": "x.mid", "kept_tracks": ["piano"]}), files, "")
    assert continuation_call(edited, 5) == {"composer": "bach", "seconds": 5.0}  # the piece's own instruments
    history = start(made)
    assert history.variations == tuple(made) and history.describe().endswith(
        "1. Composed in the style of bach:0.70,chopin:0.30 for piano, harp: 2 variation(s) of about 20 s "
        "\u2190 *shown below*")
    longer = history.push(Step("Variation 1 of step 1 continued by 8 s: 1 variation(s)", (made[1],), made[0]))
    assert longer.variations == (made[1],) and "1. Composed" in longer.describe() and "2. Variation 1" in \
        longer.describe() and longer.undo() == history and start([]) == History()
    with pytest.raises(LimitError, match="nothing to undo"):
        history.undo()


# ---- piano roll -------------------------------------------------------------------------------

def _score(notes: list[tuple[float, float, int]], program: int = 0) -> symusic.Score:
    score = symusic.Score(ttype="second")
    track = symusic.Track(program=program, ttype="second")
    for start, duration, pitch in notes:
        track.notes.append(symusic.Note(start, duration, pitch, 80, ttype="second"))
    score.tracks.append(track)
    return score


def _red_columns(png: Path) -> np.ndarray:
    """Columns of the image holding the boundary's red (#d62728)."""
    image = imread(png)[..., :3]
    red = np.all(np.abs(image - np.array([0xD6, 0x27, 0x28]) / 255) < 0.06, axis=-1)
    return np.flatnonzero(red.sum(axis=0) > image.shape[0] // 3)


def test_piano_roll_marks_the_prime_boundary(tmp_path: Path) -> None:
    score = _score([(0.0, 1.0, 60), (1.0, 1.0, 64), (2.0, 2.0, 67)])
    assert [t.label for t in roll_tracks(score)] == ["piano"]
    plain = draw_piano_roll(score, tmp_path / "plain.png")
    marked = draw_piano_roll(score, tmp_path / "marked.png", boundary=2.0, title="prime + continuation")
    assert imread(plain).shape[:2] == (320, 1000)
    assert len(_red_columns(plain)) == 0
    columns = _red_columns(marked)
    assert 0 < len(columns) <= 4  # one dashed vertical line ...
    axes = np.flatnonzero((imread(plain)[..., :3].sum(-1) < 0.5).sum(0) > 100)  # the axes' vertical spines
    left, right = axes.min(), axes.max()
    assert abs((columns.mean() - left) / (right - left) - 2.0 / (4.0 * 1.01)) < 0.03  # ... at 2 s of 4 s


def test_the_roll_pictures_time_axis_is_where_the_player_puts_the_playhead(tmp_path: Path) -> None:
    from demos.media import PieceFiles
    from demos.roll_player import roll_value
    from muse.pianoroll import draw_roll_picture

    picture = draw_roll_picture(_score([(0.0, 1.0, 60), (1.0, 1.0, 64), (2.0, 2.0, 67)]), tmp_path / "r.png",
                                boundary=2.0)
    image = imread(picture.path)
    assert abs(_red_columns(picture.path).mean() / image.shape[1] - picture.x_of(2.0)) < 2 / image.shape[1]
    axes = np.flatnonzero((image[..., :3].sum(-1) < 0.5).sum(0) > 100) / image.shape[1]  # the plot's spines
    assert abs(axes.min() - picture.left) < 2 / image.shape[1] and abs(axes.max() - picture.right) < 2 / image.shape[1]
    assert picture.seconds == pytest.approx(4.0 * 1.01)
    files = PieceFiles(tmp_path / "a.mid", tmp_path / "a.wav", picture.path, view=picture)
    value = roll_value(files, start=2.0)
    assert value["image"].startswith("data:image/png;base64,") and value["start"] == 2.0
    assert value["left"] == pytest.approx(100 * picture.left, abs=1e-3)
    assert value["width"] == pytest.approx(100 * (picture.right - picture.left), abs=1e-3)
    assert 0 < value["top"] < value["top"] + value["height"] < 100 and roll_value(files)["start"] is None


def test_piano_roll_of_an_empty_score(tmp_path: Path) -> None:
    path = draw_piano_roll(symusic.Score(ttype="second"), tmp_path / "empty.png", boundary=0.0)
    assert path.read_bytes()[:4] == b"\x89PNG"


# ---- entry points -----------------------------------------------------------------------------

def test_demo_without_a_bundled_model_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    import muse.generate
    from demos.app import main as app_main

    monkeypatch.setattr(muse.generate, "BUNDLED_MODEL", tmp_path / "no-model")
    assert muse_main(["demo", "--port", "0", "--db", str(tmp_path / "fb.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "no bundled model" in err and "--model" in err and len(err.strip().splitlines()) == 1
    assert app_main(["--db", str(tmp_path / "fb.sqlite")]) == 2
    assert "no bundled model" in capsys.readouterr().err
    assert muse_main(["demo", "--model", str(tmp_path / "missing")]) == 2
    assert "missing: model folder not found" in capsys.readouterr().err
