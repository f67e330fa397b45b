"""Audio I/O: formats, mono mix-down, resampling, normalisation, and clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jukebox.audio import WRITE_FORMATS, load_audio, peak_normalize, read_audio, resample, save_audio, to_mono
from muse.core.errors import AudioError


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("ext", list(WRITE_FORMATS))
def test_every_format_round_trips(tmp_path: Path, ext: str) -> None:
    fmt = WRITE_FORMATS[ext][0]
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile here cannot handle {fmt}")
    x = sine(440.0, 44100, 0.5)
    path = save_audio(tmp_path / f"tone{ext}", x, 44100)
    y, rate = read_audio(path)
    assert rate == 44100 and y.shape[0] == 1
    if ext in (".wav", ".flac", ".aiff"):  # lossless, 16-bit
        np.testing.assert_allclose(y[0], x, atol=1.0 / 2**15)
    else:  # lossy codecs may pad a few frames
        assert abs(y.shape[1] - len(x)) < 0.1 * len(x)
        assert dominant_frequency(y[0], rate) == pytest.approx(440.0, abs=5.0)


def test_stereo_is_mixed_down_to_mono(tmp_path: Path) -> None:
    x = sine(220.0, 22050, 0.2)
    path = save_audio(tmp_path / "stereo.wav", np.stack([x, 0.5 * x]), 22050)
    assert read_audio(path)[0].shape[0] == 2
    np.testing.assert_allclose(load_audio(path), 0.75 * x, atol=2.0 / 2**15)
    assert load_audio(path, mono=False).shape == (2, len(x))
    assert to_mono(x) is x


def test_resampling_keeps_pitch_and_duration(tmp_path: Path) -> None:
    path = save_audio(tmp_path / "48k.flac", sine(1000.0, 48000, 1.0), 48000)
    y = load_audio(path, sample_rate=44100)
    assert abs(len(y) - 44100) <= 1
    assert dominant_frequency(y, 44100) == pytest.approx(1000.0, abs=2.0)
    stereo = np.stack([sine(500.0, 16000, 0.5), sine(700.0, 16000, 0.5)])
    out = resample(stereo, 16000, 32000)
    assert out.shape == (2, 16000) and out.dtype == np.float32
    assert dominant_frequency(out[1], 32000) == pytest.approx(700.0, abs=3.0)


def test_peak_normalisation(tmp_path: Path) -> None:
    x = sine(300.0, 8000, 0.1, amp=0.2)
    assert np.abs(peak_normalize(x)).max() == pytest.approx(0.95)
    assert np.abs(peak_normalize(x, 0.5)).max() == pytest.approx(0.5)
    silence = np.zeros(100, dtype=np.float32)
    assert np.array_equal(peak_normalize(silence), silence)
    path = save_audio(tmp_path / "quiet.wav", x, 8000)
    assert np.abs(load_audio(path, normalize=0.9)).max() == pytest.approx(0.9, abs=1e-4)


def test_writing_clips_instead_of_wrapping(tmp_path: Path) -> None:
    loud = np.array([0.0, 1.7, -3.0, 0.5], dtype=np.float32)
    y = load_audio(save_audio(tmp_path / "loud.wav", loud, 8000))
    assert y.max() <= 1.0 and y.min() >= -1.0 and y[1] > 0.99 and y[2] < -0.99


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"nothing\.wav: audio file not found"):
        load_audio(tmp_path / "nothing.wav")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("these are not samples")
    with pytest.raises(AudioError, match=r"notes\.wav: not a readable audio file"):
        load_audio(bad)


def test_empty_file_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), dtype=np.float32), 44100)
    with pytest.raises(AudioError, match=r"empty\.wav: audio file is empty"):
        load_audio(empty)


def test_non_finite_samples_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    sf.write(str(path), np.array([0.0, np.nan, 0.1], dtype=np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains NaN"):
        load_audio(path)


def test_unsupported_output_extension_is_named(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"out\.xyz: unsupported audio extension"):
        save_audio(tmp_path / "out.xyz", np.zeros(10, dtype=np.float32), 8000)
    with pytest.raises(AudioError, match=r"none\.wav: expected"):
        save_audio(tmp_path / "none.wav", np.zeros(0, dtype=np.float32), 8000)
