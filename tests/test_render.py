"""MIDI -> WAV rendering: FluidSynth with the bundled soundfont, our SoundFont sampler where FluidSynth is
missing, and plain tones only where no soundfont is found."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic

from muse.core import render
from muse.core.errors import UserError
from muse.core.sampler import render_score
from muse.core.soundfont import load_soundfont

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
    monkeypatch.setattr(render, "_warned", set())


@pytest.fixture()
def no_soundfont(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a machine where neither pretty_midi's soundfont nor a system one is installed."""
    monkeypatch.setattr(render, "default_soundfont", lambda: None)


def one_note(pitch: int, *, program: int = 0, drum: bool = False, beats: int = 2) -> symusic.Score:
    """One note at velocity 100 from time 0, ``beats`` beats long (120 bpm: half a second each)."""
    score = symusic.Score(480)
    track = symusic.Track(program=program, is_drum=drum)
    track.notes.append(symusic.Note(0, 480 * beats, pitch, 100))
    score.tracks.append(track)
    return score


def peak_hz(audio: np.ndarray, rate: int) -> float:
    mono = audio.mean(axis=1) * np.hanning(len(audio))
    return float(np.argmax(np.abs(np.fft.rfft(mono))) * rate / len(mono))


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


def test_without_fluidsynth_the_soundfont_sampler_renders(
    no_fluidsynth: None, chorale: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert render.choose_renderer(render.default_soundfont()) == "sampler"
    caplog.set_level(logging.INFO, logger="muse.core.render")
    result = render.render_midi(chorale, tmp_path / "a.wav", max_seconds=6.0, sample_rate=22050)
    assert result.backend == "sampler" and result.soundfont == render.default_soundfont()
    assert "SoundFont sampler with `TimGM6mb.sf2`" in result.describe()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # real instruments: nothing to warn
    audio, rate = sf.read(result.path)
    assert rate == 22050 and audio.shape[1] == 2 and abs(len(audio) / rate - 7.0) < 0.01
    assert rms(audio[: 6 * rate]) > 1e-2 and np.abs(audio).max() <= 0.99


def test_plain_tones_only_without_any_soundfont_and_they_say_so(
    no_fluidsynth: None, no_soundfont: None, chorale: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert render.choose_renderer(None) == "tones"
    caplog.set_level(logging.WARNING, logger="muse.core.render")
    first = render.render_midi(chorale, tmp_path / "a.wav", max_seconds=6.0, sample_rate=16000)
    second = render.render_midi(chorale, tmp_path / "b.wav", max_seconds=3.0, sample_rate=16000)
    assert first.backend == second.backend == "tones" and first.soundfont is None
    assert first.describe().startswith("plain tones: no soundfont was found")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "--soundfont" in warnings[0].getMessage()
    audio, rate = sf.read(first.path)
    assert rate == 16000 and abs(len(audio) / rate - 7.0) < 0.01 and rms(audio) > 1e-3


def test_fluidsynth_stays_first_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "fluidsynth_program", lambda: "/usr/bin/fluidsynth")
    assert render.choose_renderer(Path("any.sf2")) == "fluidsynth"
    assert render.choose_renderer(None) == "tones"
    monkeypatch.setattr(render, "fluidsynth_program", lambda: None)
    assert render.choose_renderer(Path("any.sf2")) == "sampler"
    with pytest.raises(UserError, match="needs the fluidsynth program"):
        render.render_midi(one_note(60), "x.wav", renderer="fluidsynth")


def test_the_sampler_renders_a_real_piece_with_its_length(chorale: Path, tmp_path: Path) -> None:
    result = render.render_midi(chorale, tmp_path / "s.wav", sample_rate=22050, tail=0.5, renderer="sampler")
    audio, rate = sf.read(result.path)
    expected = symusic.Score(str(chorale), ttype="second").end() + 0.5
    assert result.backend == "sampler" and abs(len(audio) / rate - expected) < 0.01
    score = symusic.Score(str(chorale), ttype="second")
    first = int(np.ceil(min(t.notes[0].time for t in score.tracks if len(t.notes))))  # after the opening rest
    seconds = np.sqrt(np.mean(np.square(audio[first * rate:int(expected - 0.5) * rate].reshape(-1, rate, 2)),
                              axis=(1, 2)))
    assert len(seconds) > 10 and (seconds > 3e-3).all()  # every second of the chorale sounds


@pytest.mark.parametrize("pitch", [45, 69, 81])
def test_the_sampler_plays_the_piano_at_the_right_pitch(pitch: int) -> None:
    audio = render_score(one_note(pitch), load_soundfont(render.default_soundfont()), 22050, 0.5)
    expected = 440.0 * 2 ** ((pitch - 69) / 12)
    assert abs(peak_hz(audio[:22050], 22050) - expected) < 0.02 * expected  # the fundamental leads
    assert rms(audio[:22050]) > 5e-3


def test_the_sampler_plays_drums_and_instruments_of_every_family(midi_dir: Path) -> None:
    font = load_soundfont(render.default_soundfont())
    for drum in (36, 38, 42):  # kick, snare, closed hi-hat from the standard kit (bank 128)
        assert rms(render_score(one_note(drum, drum=True), font, 22050, 0.5)[:11025]) > 1e-3
    for program in range(0, 128, 8):  # a preset of every General MIDI family
        assert rms(render_score(one_note(60, program=program), font, 22050, 0.5)[:22050]) > 1e-3, program
    song = symusic.Score(str(midi_dir / "multitrack" / "Funkytown.mid"), ttype="second").clip(0.0, 8.0)
    drums = [t for t in song.tracks if t.is_drum]
    assert drums and drums[0].note_num() > 0
    only_drums = song.copy()
    only_drums.tracks = [t for t in only_drums.tracks if t.is_drum]
    assert rms(render_score(only_drums, font, 22050, 0.5)) > 1e-3


def band_energies(audio: np.ndarray, rate: int, bands: int = 40) -> np.ndarray:
    """Share of the spectral energy (bands,) in log-spaced bands from 50 Hz to 11 kHz: a timbre fingerprint."""
    mono = audio.mean(axis=1) * np.hanning(len(audio))
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / rate)
    edges = np.geomspace(50.0, 11000.0, bands + 1)
    energy = np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    return energy / energy.sum()


def test_different_programs_play_different_instruments_samples() -> None:
    """Middle C on piano, violin, trumpet and flute (GM programs 0, 40, 56, 73): each preset's own
    samples, so the spectra differ (total variation distance between band-energy shares), while one
    program rendered twice gives the very same audio."""
    font = load_soundfont(render.default_soundfont())
    audio = {p: render_score(one_note(60, program=p), font, 22050, 0.5)[:22050] for p in (0, 40, 56, 73)}
    assert np.array_equal(audio[0], render_score(one_note(60, program=0), font, 22050, 0.5)[:22050])
    spectra = {p: band_energies(a, 22050) for p, a in audio.items()}
    for a, b in [(a, b) for a in spectra for b in spectra if a < b]:
        distance = 0.5 * np.abs(spectra[a] - spectra[b]).sum()
        assert distance > 0.12, (a, b, distance)  # measured: 0.20 (piano/flute) to 0.8 (piano/trumpet)
    assert {font.names[font.preset_for(p)] for p in audio} == {font.names[(0, p)] for p in audio}
    assert len({font.names[(0, p)] for p in audio}) == 4


def test_the_sampler_follows_the_soundfonts_loop_and_release() -> None:
    font = load_soundfont(render.default_soundfont())
    held = render_score(one_note(69, program=48, beats=8), font, 22050, 2.5)  # strings, 4 s, looped
    second = lambda k: rms(held[k * 22050:(k + 1) * 22050])  # noqa: E731
    assert second(3) > 0.3 * second(0)  # a looped sample sustains while the key is held
    assert second(4) < 0.5 * second(3) and second(5) < 0.02 * second(3)  # then fades over its ~2 s release


def test_a_twenty_second_piano_piece_renders_in_seconds(midi_dir: Path) -> None:
    score = symusic.Score(str(midi_dir / "one_track" / "POP909_008.mid"), ttype="second").clip(0.0, 20.0)
    font = load_soundfont(render.default_soundfont())
    start = time.process_time()
    audio = render_score(score, font, 44100, 1.0)
    assert time.process_time() - start < 10.0  # about 0.6 s of CPU time on one core
    assert len(audio) == round((score.end() + 1.0) * 44100) + 1 and rms(audio) > 1e-2


def test_the_soundfont_parser_reads_presets_instruments_and_samples(tmp_path: Path) -> None:
    font = load_soundfont(render.default_soundfont())
    assert (0, 0) in font.presets and (128, 0) in font.presets and font.names[(128, 0)] == "Standard"
    assert font.preset_for(0) == (0, 0) and font.preset_for(0, drum=True) == (128, 0)
    assert font.preset_for(8, drum=True) == (128, 8) and font.preset_for(9, drum=True) == (128, 0)  # kit 9: none
    voices = list(font.voices((0, 0), 69, 100))
    assert voices and all(v.sample.sample_rate > 0 and v.sample.end > v.sample.start for v in voices)
    truncated = tmp_path / "cut.sf2"
    truncated.write_bytes(render.default_soundfont().read_bytes()[:4096])
    with pytest.raises(UserError, match="cut.sf2"):
        load_soundfont(truncated)


def test_fallback_synth_plays_the_right_pitch() -> None:
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    track.notes.append(symusic.Note(0, 960, 69, 100))  # A4 for two beats (1 s at 120 bpm)
    score.tracks.append(track)
    audio = render.synthesize(score, sample_rate=8000, tail=0.5)[:, 0]  # plain tones
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
