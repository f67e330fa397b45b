"""MIDI -> WAV rendering: FluidSynth with the bundled soundfont, and the built-in fallback synth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic

from muse.core import render
from muse.core.errors import UserError

CHORALE = "classical/bach-bwv001-_400_chorales-004003b.mid"


@pytest.fixture()
def chorale(midi_dir: Path) -> Path:
    return midi_dir / CHORALE


@pytest.fixture()
def no_fluidsynth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Simulate a machine without the fluidsynth program (empty PATH) and a fresh warning state."""
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(render, "_warned_missing", False)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio))))


def test_default_soundfont_is_the_one_inside_pretty_midi() -> None:
    path = render.default_soundfont()
    assert path is not None and path.name == "TimGM6mb.sf2" and "pretty_midi" in str(path)


@pytest.mark.skipif(render.fluidsynth_program() is None, reason="fluidsynth not installed")
def test_fluidsynth_renders_a_real_midi_file(chorale: Path, tmp_path: Path) -> None:
    out = tmp_path / "chorale.wav"
    result = render.render_midi(chorale, out, sample_rate=22050, tail=0.5)
    assert result.backend == "fluidsynth"
    audio, rate = sf.read(out)
    expected = symusic.Score(str(chorale), ttype="second").end() + 0.5
    assert rate == 22050 == result.sample_rate
    assert audio.shape[1] == 2
    assert abs(len(audio) / rate - expected) < 0.01
    assert rms(audio) > 1e-3  # clearly audible, not silence


@pytest.mark.skipif(render.fluidsynth_program() is None, reason="fluidsynth not installed")
def test_max_seconds_cuts_the_music(chorale: Path, tmp_path: Path) -> None:
    result = render.render_midi(chorale, tmp_path / "cut.wav", max_seconds=4.0, tail=1.0)
    info = sf.info(str(result.path))
    assert abs(info.duration - 5.0) < 1e-3 and info.samplerate == render.DEFAULT_SAMPLE_RATE


def test_fallback_synth_works_and_warns_once(
    no_fluidsynth: None, chorale: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="muse.core.render")
    first = render.render_midi(chorale, tmp_path / "a.wav", max_seconds=6.0, sample_rate=16000)
    second = render.render_midi(chorale, tmp_path / "b.wav", max_seconds=3.0, sample_rate=16000)
    assert first.backend == second.backend == "builtin"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "apt-get install fluidsynth" in warnings[0].getMessage()
    audio, rate = sf.read(first.path)
    assert rate == 16000 and abs(len(audio) / rate - 7.0) < 0.01 and rms(audio) > 1e-3


def test_fallback_synth_plays_the_right_pitch() -> None:
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    track.notes.append(symusic.Note(0, 960, 69, 100))  # A4 for two beats (1 s at 120 bpm)
    score.tracks.append(track)
    audio = render.synthesize(score, sample_rate=8000, tail=0.5)[:, 0]
    spectrum = np.abs(np.fft.rfft(audio[:4000]))
    peak_hz = np.argmax(spectrum) * 8000 / 4000
    assert abs(peak_hz - 440.0) <= 2.0


def test_empty_midi_renders_the_tail_only(midi_dir: Path, tmp_path: Path) -> None:
    result = render.render_midi(midi_dir / "one_track" / "empty.mid", tmp_path / "e.wav", tail=0.5)
    audio, rate = sf.read(result.path)
    assert abs(len(audio) / rate - 0.5) < 0.01


def test_unreadable_midi_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a midi file")
    with pytest.raises(UserError, match="bad.mid"):
        render.render_midi(bad, tmp_path / "x.wav")


def test_bad_soundfont_is_a_user_error(chorale: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"nope")
    with pytest.raises(UserError, match="fake.sf2"):
        render.render_midi(chorale, tmp_path / "x.wav", soundfont=fake)
    with pytest.raises(UserError, match="not found"):
        render.render_midi(chorale, tmp_path / "x.wav", soundfont=tmp_path / "missing.sf2")
