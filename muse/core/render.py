"""MIDI -> WAV with a General MIDI soundfont: FluidSynth when installed, else our own sample player.

Three renderers, the first available one wins (``choose_renderer``):

- ``fluidsynth``: the FluidSynth program (Debian/Homebrew ``fluidsynth``), the full SoundFont model
  with reverb and chorus;
- ``sampler``: ``muse.core.sampler``, a SoundFont sample player in numpy (samples, loops,
  envelopes, filter, pan), so realistic instruments need nothing beyond ``pip install``;
- ``tones``: an additive synth (a few harmonics per note, noise bursts for drums), only when no
  soundfont can be found at all; one warning says so, and ``RenderResult.describe()`` too.

The default soundfont is the small ``TimGM6mb.sf2`` shipped inside the ``pretty_midi`` package
(else a system one, ``SYSTEM_SOUNDFONTS``), so rendering works offline right after install.
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
from muse.core.sampler import render_score
from muse.core.soundfont import load_soundfont

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 44100
Backend = Literal["fluidsynth", "sampler", "tones"]
RENDERERS: tuple[Backend, ...] = ("fluidsynth", "sampler", "tones")
SYSTEM_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                     "/usr/share/soundfonts/default.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")

NO_SOUNDFONT = ("No General MIDI soundfont was found (neither pretty_midi's TimGM6mb.sf2 nor a system one), so the "
                "WAV is rendered as plain tones; pass a soundfont (--soundfont FILE.sf2) or reinstall pretty_midi.")
_warned: set[str] = set()


@dataclass(frozen=True)
class RenderResult:
    """A rendered WAV file: where, how long, at which rate, which renderer made it (``backend``) and
    with which soundfont (None for plain tones)."""

    path: Path
    seconds: float
    sample_rate: int
    backend: Backend
    soundfont: Path | None = None

    def describe(self) -> str:
        """One line saying how the audio was made, e.g. for the demo page."""
        return describe_renderer(self.backend, self.soundfont)


def describe_renderer(backend: Backend, soundfont: Path | None) -> str:
    """How audio made by ``backend`` with ``soundfont`` is described to users (one line)."""
    font = f"`{soundfont.name}`" if soundfont is not None else ""
    if backend == "fluidsynth":
        return f"FluidSynth with the soundfont {font}"
    if backend == "sampler":
        return f"the built-in SoundFont sampler with {font}"
    return "plain tones: no soundfont was found, so these are not real instruments (pass a .sf2 soundfont)"


def planned_renderer(soundfont: str | Path | None = None) -> tuple[Backend, Path | None]:
    """The renderer and soundfont ``render_midi`` would use now with ``soundfont`` (checked as there)."""
    path = check_soundfont(soundfont)
    backend = choose_renderer(path)
    return backend, (path if backend != "tones" else None)


def default_soundfont() -> Path | None:
    """The General MIDI soundfont bundled with ``pretty_midi`` (found without importing it), else the
    first of ``SYSTEM_SOUNDFONTS`` present, else None."""
    spec = importlib.util.find_spec("pretty_midi")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for path in [Path(folder) / "TimGM6mb.sf2" for folder in folders] + [Path(p) for p in SYSTEM_SOUNDFONTS]:
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


def choose_renderer(soundfont: Path | None) -> Backend:
    """The renderer to use with ``soundfont`` (None: none found): FluidSynth when its program is on
    ``PATH``, else our sampler; plain tones only without a soundfont."""
    if soundfont is None:
        return "tones"
    return "fluidsynth" if fluidsynth_program() is not None else "sampler"


def render_midi(
    midi: str | Path | symusic.Score,
    wav: str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    tail: float = 1.0,
    max_seconds: float | None = None,
    renderer: Backend | None = None,
) -> RenderResult:
    """Render ``midi`` (a file or a ``symusic.Score``) to the audio file ``wav`` (stereo, float).

    ``soundfont`` overrides the default General MIDI soundfont; ``max_seconds`` cuts the music
    there. ``renderer`` (default: ``choose_renderer``'s choice) forces one of ``RENDERERS``; a
    renderer that is not available (FluidSynth not installed, no soundfont) is a ``UserError``.
    """
    score = load_midi(midi) if isinstance(midi, (str, Path)) else midi.to("second")
    music = float(score.end()) if score.note_num() else 0.0
    if max_seconds is not None and music > max_seconds:
        score = score.clip(0.0, float(max_seconds), clip_end=False)  # notes sounding at the cut ring on
        music = float(max_seconds)
    seconds = music + tail
    n_samples = max(1, int(round(seconds * sample_rate)))
    sf_path = check_soundfont(soundfont)
    backend = _check_renderer(renderer, sf_path)
    if backend == "fluidsynth":
        audio = _render_fluidsynth(fluidsynth_program() or "fluidsynth", score, sf_path, sample_rate)
    elif backend == "sampler":
        _note_once("sampler", logging.INFO, f"rendering with the built-in SoundFont sampler and {sf_path.name} "
                                            "(FluidSynth, used when installed, adds reverb and chorus)")
        audio = render_score(score, load_soundfont(sf_path), sample_rate, tail)
    else:
        _note_once("tones", logging.WARNING, NO_SOUNDFONT)
        audio = synthesize(score, sample_rate, tail)
        sf_path = None
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
    return RenderResult(path=wav, seconds=n_samples / sample_rate, sample_rate=sample_rate, backend=backend,
                        soundfont=sf_path)


def _check_renderer(renderer: str | None, soundfont: Path | None) -> Backend:
    if renderer is None:
        return choose_renderer(soundfont)
    if renderer not in RENDERERS:
        raise UserError(f"unknown renderer {renderer!r}: choose one of {', '.join(RENDERERS)}")
    if renderer != "tones" and soundfont is None:
        raise UserError(f"the {renderer} renderer needs a soundfont and none was found; pass one (.sf2)")
    if renderer == "fluidsynth" and fluidsynth_program() is None:
        raise UserError("the fluidsynth renderer needs the fluidsynth program: `apt-get install fluidsynth` "
                        "(Debian/Ubuntu), `brew install fluid-synth` (macOS)")
    return renderer  # type: ignore[return-value]


def check_soundfont(soundfont: str | Path | None) -> Path | None:
    """``soundfont`` checked (a missing or non-SF2 file is a ``UserError``), or the default one (None: none found)."""
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


def _note_once(key: str, level: int, message: str) -> None:
    """Log ``message`` the first time ``key`` comes up in this process (a server renders many files)."""
    if key not in _warned:
        _warned.add(key)
        log.log(level, message)


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


# ---- plain tones: the additive synth of last resort ------------------------------------------------------------

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
           "choose_renderer", "check_soundfont", "describe_renderer", "planned_renderer", "Backend", "RENDERERS",
           "DEFAULT_SAMPLE_RATE", "SYSTEM_SOUNDFONTS"]
