"""MIDI -> WAV: FluidSynth with a General MIDI soundfont, or a small built-in synth as a fallback.

FluidSynth (the Debian/Homebrew ``fluidsynth`` program) renders with real instrument samples; the
default soundfont is the small ``TimGM6mb.sf2`` shipped inside the ``pretty_midi`` package, so
rendering works offline right after install. When FluidSynth is not installed, an additive synth
(a few harmonics per note, an attack/decay/release envelope, noise bursts for drums) renders
plain tones instead and one warning says how to install FluidSynth.

The WAV lasts exactly the music's length (or ``max_seconds``) plus ``tail`` seconds (the release of the last notes).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import symusic

from muse.core.errors import AudioError, UserError

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 44100
Backend = Literal["fluidsynth", "builtin"]

_INSTALL_HINT = (
    "FluidSynth was not found, so the WAV is rendered with the built-in synthesizer (plain tones). "
    "For realistic instruments install FluidSynth: `apt-get install fluidsynth` (Debian/Ubuntu), "
    "`brew install fluid-synth` (macOS) or `conda install -c conda-forge fluidsynth`."
)
_warned_missing = False


@dataclass(frozen=True)
class RenderResult:
    """A rendered WAV file: where, how long, at which rate, and which synth made it."""

    path: Path
    seconds: float
    sample_rate: int
    backend: Backend


def default_soundfont() -> Path | None:
    """The General MIDI soundfont bundled with ``pretty_midi`` (found without importing it), if present."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "TimGM6mb.sf2"
        if path.is_file():
            return path
    return None


def fluidsynth_program() -> str | None:
    """Path of the ``fluidsynth`` program on ``PATH``, or None."""
    return shutil.which("fluidsynth")


def load_midi(path: str | Path) -> symusic.Score:
    """Read a MIDI file with times in seconds; an unreadable file is a ``UserError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: MIDI file not found")
    try:
        return symusic.Score(str(path), ttype="second")
    except Exception as err:  # symusic raises ValueError/RuntimeError for damaged or foreign files
        raise UserError(f"{path}: not a readable MIDI file ({err})") from err


def render_midi(
    midi: str | Path | symusic.Score,
    wav: str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    tail: float = 1.0,
    max_seconds: float | None = None,
) -> RenderResult:
    """Render ``midi`` (a file or a ``symusic.Score``) to the audio file ``wav`` (stereo, float).

    ``soundfont`` overrides the bundled General MIDI soundfont; ``max_seconds`` cuts the music
    there. FluidSynth is used when installed, the built-in synth otherwise (with one warning).
    """
    score = load_midi(midi) if isinstance(midi, (str, Path)) else midi.to("second")
    music = float(score.end()) if score.note_num() else 0.0
    if max_seconds is not None and music > max_seconds:
        score = score.clip(0.0, float(max_seconds), clip_end=False)  # notes sounding at the cut ring on
        music = float(max_seconds)
    seconds = music + tail
    n_samples = max(1, int(round(seconds * sample_rate)))
    sf_path = _check_soundfont(soundfont)
    program = fluidsynth_program()
    if program is not None and sf_path is not None:
        audio = _render_fluidsynth(program, score, sf_path, sample_rate)
        backend: Backend = "fluidsynth"
    else:
        _warn_missing_fluidsynth(program is None)
        audio = synthesize(score, sample_rate, tail)
        backend = "builtin"
    audio = _fit_length(audio, n_samples)
    peak = float(np.abs(audio).max(initial=0.0))
    if peak > 0.99:  # keep dense orchestral passages from clipping
        audio *= 0.99 / peak
    wav = Path(wav)
    wav.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(wav), audio, sample_rate)
    except (sf.LibsndfileError, OSError, TypeError, ValueError) as err:
        raise AudioError(f"{wav}: cannot write audio ({err})") from err
    log.info("rendered %.1f s of audio with %s to %s", n_samples / sample_rate, backend, wav)
    return RenderResult(path=wav, seconds=n_samples / sample_rate, sample_rate=sample_rate, backend=backend)


def _check_soundfont(soundfont: str | Path | None) -> Path | None:
    if soundfont is None:
        return default_soundfont()
    path = Path(soundfont)
    if not path.is_file():
        raise UserError(f"{path}: soundfont file not found")
    with path.open("rb") as fh:
        head = fh.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise UserError(f"{path}: not a SoundFont 2 file (.sf2)")
    return path


def _warn_missing_fluidsynth(program_missing: bool) -> None:
    global _warned_missing
    if _warned_missing:
        return
    _warned_missing = True
    if program_missing:
        log.warning(_INSTALL_HINT)
    else:
        log.warning("No General MIDI soundfont found (pretty_midi's TimGM6mb.sf2 is missing); pass --soundfont. "
                    "Rendering with the built-in synthesizer (plain tones).")


def _render_fluidsynth(program: str, score: symusic.Score, soundfont: Path, sample_rate: int) -> np.ndarray:
    """Run the fluidsynth program in fast-render mode; returns float32 (N, 2)."""
    with tempfile.TemporaryDirectory(prefix="muse-render-") as tmp:
        mid, raw = Path(tmp) / "in.mid", Path(tmp) / "out.raw"
        score.dump_midi(str(mid))
        cmd = [program, "-ni", "-q", "-g", "0.6", "-r", str(sample_rate), "-T", "raw", "-O", "float",
               "-E", "little", "-F", str(raw), str(soundfont), str(mid)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0 or not raw.is_file():
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise AudioError(f"fluidsynth failed (exit {proc.returncode}): {detail[0]}")
        return np.fromfile(raw, dtype="<f4").reshape(-1, 2).copy()


def _fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    if len(audio) >= n_samples:
        return np.ascontiguousarray(audio[:n_samples], dtype=np.float32)
    out = np.zeros((n_samples, audio.shape[1]), dtype=np.float32)
    out[: len(audio)] = audio
    return out


# ---- built-in additive synth -------------------------------------------------------------------

_ATTACK, _RELEASE = 0.01, 0.25  # seconds


def _harmonics(program: int) -> np.ndarray:
    """Relative amplitudes of the first harmonics: brighter for strings/brass/reeds, softer for pipes."""
    family = program // 8
    if family in (5, 6, 7, 8):  # ensemble, brass, reed, pipe
        return np.array([1.0, 0.6, 0.45, 0.3, 0.2]) if family != 8 else np.array([1.0, 0.2, 0.05])
    if family in (4, 10):  # strings, synth pad
        return np.array([1.0, 0.5, 0.33, 0.25, 0.2])
    return np.array([1.0, 0.45, 0.2, 0.1])  # keyboards, guitars, the rest


def synthesize(score: symusic.Score, sample_rate: int = DEFAULT_SAMPLE_RATE, tail: float = 1.0) -> np.ndarray:
    """Render ``score`` with plain additive tones; returns float32 (N, 2), N = (end + tail) * rate."""
    score = score.to("second")
    n_total = int(round((float(score.end()) + tail) * sample_rate)) + 1
    out = np.zeros(n_total, dtype=np.float64)
    rng = np.random.default_rng(0)
    for track in score.tracks:
        harmonics = _harmonics(int(track.program))
        sustained = (int(track.program) // 8) in (4, 5, 6, 7, 8, 10)
        for note in track.notes:
            start = int(round(float(note.time) * sample_rate))
            if start >= n_total:
                continue
            amp = 0.25 * (max(1, int(note.velocity)) / 127.0) ** 1.5
            if track.is_drum:
                n = min(int(0.15 * sample_rate), n_total - start)
                t = np.arange(n) / sample_rate
                out[start:start + n] += amp * rng.standard_normal(n) * np.exp(-t * 30.0)
                continue
            held = max(float(note.duration), 0.02)
            n = min(int(round((held + _RELEASE) * sample_rate)), n_total - start)
            t = np.arange(n) / sample_rate
            freq = 440.0 * 2.0 ** ((int(note.pitch) - 69) / 12.0)
            tone = np.zeros(n)
            for k, a in enumerate(harmonics, start=1):
                if k * freq < sample_rate / 2:
                    tone += a * np.sin(2 * np.pi * k * freq * t)
            env = np.minimum(1.0, t / _ATTACK)
            if not sustained:  # struck/plucked: decays while held
                env = env * np.exp(-t * 2.5)
            release = np.clip((t - held) / _RELEASE, 0.0, 1.0)
            env = env * (1.0 - release)
            out[start:start + n] += amp * env * tone / harmonics.sum()
    mono = out.astype(np.float32)
    return np.stack([mono, mono], axis=1)


__all__ = ["RenderResult", "render_midi", "synthesize", "load_midi", "default_soundfont", "fluidsynth_program",
           "DEFAULT_SAMPLE_RATE"]
