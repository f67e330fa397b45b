"""Audio files in and out: soundfile for I/O, soxr for resampling, mono mix-down, peak normalisation.

Arrays are float32, mono ``(T,)`` or multi-channel ``(C, T)``. Reading supports whatever the
installed libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3 from libsndfile 1.1, AIFF, ...). An
unreadable, empty or non-finite file is an :class:`~muse.core.errors.AudioError` naming it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from muse.core.errors import AudioError

log = logging.getLogger(__name__)

# Output formats by file extension: (libsndfile format, subtype or None for its default).
WRITE_FORMATS: dict[str, tuple[str, str | None]] = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aiff": ("AIFF", "PCM_16"),
}


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` as it is: float32 (C, T) and its sample rate."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file is empty (no samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(data.T), int(rate)


def audio_seconds(path: str | Path) -> float:
    """How long ``path`` lasts, from its header alone (nothing decoded): an unreadable file is an
    ``AudioError`` naming it, as in ``read_audio``."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    return info.frames / info.samplerate if info.samplerate > 0 else 0.0


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels: (C, T) -> (T,); mono (T,) is returned as is."""
    return audio if audio.ndim == 1 else audio.mean(axis=0, dtype=np.float32)


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Resample (T,) or (C, T) from ``rate`` to ``target_rate`` with soxr (high quality)."""
    if rate == target_rate:
        return audio
    if audio.ndim == 1:
        return soxr.resample(audio, rate, target_rate).astype(np.float32, copy=False)
    return np.ascontiguousarray(soxr.resample(audio.T, rate, target_rate).T, dtype=np.float32)


def peak_normalize(audio: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so the largest absolute sample is ``peak``; silence stays silent."""
    top = float(np.abs(audio).max(initial=0.0))
    return audio if top == 0.0 else (audio * (peak / top)).astype(np.float32)


def load_audio(
    path: str | Path, sample_rate: int | None = None, mono: bool = True, normalize: float | None = None
) -> np.ndarray:
    """Read ``path``, mix to mono (unless ``mono`` is False), resample to ``sample_rate`` (if given)
    and peak-normalise to ``normalize`` (if given): float32 (T,) or (C, T)."""
    audio, rate = read_audio(path)
    if mono:
        audio = to_mono(audio)
    if sample_rate is not None and rate != sample_rate:
        log.debug("resampling %s from %d Hz to %d Hz", path, rate, sample_rate)
        audio = resample(audio, rate, sample_rate)
    if normalize is not None:
        audio = peak_normalize(audio, normalize)
    return audio


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write (T,) or (C, T) float audio to ``path``; the extension picks the format (see
    ``WRITE_FORMATS``). Samples are clipped to [-1, 1]."""
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(f"{path}: unsupported audio extension; use one of {', '.join(WRITE_FORMATS)}")
    if fmt[0] not in sf.available_formats():
        raise AudioError(f"{path}: this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt[0]}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2) or audio.shape[-1] == 0:
        raise AudioError(f"{path}: expected (T,) or (C, T) audio with samples, got shape {audio.shape}")
    data = np.clip(audio if audio.ndim == 1 else audio.T, -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(path), data, sample_rate, format=fmt[0], subtype=fmt[1])
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as err:
        raise AudioError(f"{path}: cannot write audio ({err})") from err
    return path


__all__ = ["WRITE_FORMATS", "audio_seconds", "load_audio", "peak_normalize", "read_audio", "resample", "save_audio",
           "to_mono"]
