"""``JukeboxPipeline``: hierarchical, windowed, resumable sampling of raw audio.

The top prior writes level-2 codes window by window (each window conditioned on artist, genre,
timing and the lyrics around it, continuing the codes already there), then each upsampler fills
its level window by window, conditioned on the level above; every finished level is decoded to
WAV (``sample_levels`` hands out each level as it finishes). A run lives in one output directory:

- ``settings.json``: the model, its checkpoints and every ``SampleSettings`` field;
- ``codes_level{L}.npy``: (n_samples, codes so far) int64, rewritten atomically after each window;
  the version before it is kept as ``codes_level{L}.prev.npy`` (one window shorter);
- ``level{L}/sample{i}.wav``: the decoded audio of each finished level.

Windows draw with seeds derived from (seed, level, window start), so a killed run resumed from its
directory produces exactly what an uninterrupted run would have. A resume checks every codes file
it reads (readable, 2-D, one row per sample, integer codes in the level's range, not longer than
the level): a damaged one is named in a warning and the previous save is used instead, so only the
window written last is sampled again (when that one is damaged too, that level starts over).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from musetok.labels import LabelIds, resolve_artist, resolve_genres
from musetok.lyrics import LyricsProcessor

from jukebox.audio import save_audio
from jukebox.prior.alignment import align_lyrics, lyric_timings, write_timings
from jukebox.prior.checkpoint import prior_ids_dir
from jukebox.prior.prior import JukeboxPrior
from jukebox.prior.windows import hop_codes, upper_window, window_labels, window_starts
from jukebox.sampling.int8_weights import quantize_int8
from jukebox.sampling.model_files import find_model_files, load_models
from jukebox.vqvae.codec import Codec, EncodedAudio
from muse.core.atomic import atomic_path, write_json
from muse.core.config import from_dict, to_dict
from muse.core.errors import ConfigError, UserError
from muse.core.logits import SamplingConfig
from muse.core.sampling import is_cancelled

log = logging.getLogger(__name__)

Progress = Callable[[int, int, int], None]
"""``progress(level, codes_done, codes_total)`` after each window."""

Cancel = threading.Event | Callable[[], bool]
"""Stops a run between windows (and inside one, dropping it): an Event, or a callable that returns True."""


@dataclass(frozen=True)
class LevelSampling:
    """How one level is sampled: token filters, the window hop (fraction of ``n_ctx`` sampled
    anew per window) and the prompt chunk fed through the KV cache at a time."""

    temperature: float = 0.99
    top_k: int = 0
    top_p: float = 1.0
    hop_fraction: float = 0.5
    chunk_size: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.hop_fraction <= 1:
            raise ValueError(f"hop_fraction must be in (0, 1], got {self.hop_fraction}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        SamplingConfig(self.temperature, self.top_k, self.top_p)


# Jukebox's defaults: temperature 0.98 at the top, 0.99 below; hop fractions 0.5 / 0.5 / 0.125.
DEFAULT_SAMPLING = (LevelSampling(0.99, hop_fraction=0.5), LevelSampling(0.99, hop_fraction=0.5),
                    LevelSampling(0.98, hop_fraction=0.125))


@dataclass(frozen=True)
class SampleSettings:
    """Everything a run depends on (saved as settings.json; a resumed run reads it back).

    ``artist``/``genre``: names looked up in the id files (``ids_dir``) or integer ids;
    ``seconds``: song length (including a prompt); ``levels``: levels to sample, top first;
    ``sampling``: per level, indexed by level; ``prompt``: audio file whose first
    ``prompt_seconds`` the song continues (encoded at every level).
    """

    model: str
    checkpoints: str | None
    artist: str
    genre: str
    lyrics: str = ""
    seconds: float = 20.0
    levels: tuple[int, ...] = (2, 1, 0)
    n_samples: int = 1
    seed: int = 0
    ids_dir: str | None = None
    sampling: tuple[LevelSampling, ...] = DEFAULT_SAMPLING
    prompt: str | None = None
    prompt_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.n_samples < 1:
            raise ValueError("seconds must be > 0 and n_samples >= 1")
        if list(self.levels) != sorted(set(self.levels), reverse=True) or not self.levels:
            raise ValueError(f"levels must be distinct and listed top first, e.g. 2,1,0; got {list(self.levels)}")
        if (self.prompt is None) != (self.prompt_seconds == 0):
            raise ValueError("a prompt needs prompt_seconds > 0 (and prompt_seconds needs a prompt)")


@dataclass
class SampleResult:
    """Codes per level (n_samples, T_L), decoded WAVs per finished level, lyric timings (JSON,
    one per sample, when the top prior aligns lyrics) and whether every requested level finished
    (False when cancelled)."""

    out_dir: Path
    codes: dict[int, np.ndarray]
    wavs: dict[int, list[Path]] = field(default_factory=dict)
    lyric_timings: list[Path] = field(default_factory=list)
    complete: bool = True


def _window_seed(seed: int, level: int, start: int) -> int:
    digest = hashlib.sha256(f"{seed}:{level}:{start}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _previous(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".npy") + ".prev.npy")


def _save_codes(path: Path, codes: np.ndarray) -> None:
    """Write ``codes`` atomically, keeping the version it replaces as ``<name>.prev.npy``."""
    with atomic_path(path) as tmp:
        with tmp.open("wb") as fh:
            np.save(fh, codes)
        if path.exists():
            os.replace(path, _previous(path))


class _Damaged(Exception):
    """A codes file that cannot be used (the message says why)."""


def _read_codes(path: Path, n_samples: int, max_length: int, n_bins: int) -> np.ndarray:
    try:
        codes = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise _Damaged(f"unreadable ({reason})") from None
    if not isinstance(codes, np.ndarray) or codes.ndim != 2 or codes.shape[0] != n_samples:
        raise _Damaged(f"shape {getattr(codes, 'shape', None)}, expected ({n_samples}, codes so far)")
    if codes.shape[1] > max_length:
        raise _Damaged(f"{codes.shape[1]} codes, more than the level's {max_length}")
    if not np.issubdtype(codes.dtype, np.integer):
        raise _Damaged(f"{codes.dtype} values, expected integer codes")
    if codes.size and (codes.min() < 0 or codes.max() >= n_bins):
        raise _Damaged(f"codes outside 0..{n_bins - 1}")
    return codes.astype(np.int64, copy=False)


def load_codes(path: Path, n_samples: int, max_length: int, n_bins: int, level: int) -> np.ndarray | None:
    """The codes a run saved for ``level`` (None when there are none yet), every file checked first.

    A damaged ``path`` is named in a warning and its previous save (one window shorter) is used, so a
    resume samples only that window again; when that one is damaged or missing too, the level starts
    over (also said)."""
    previous = _previous(path)
    if path.exists():
        try:
            return _read_codes(path, n_samples, max_length, n_bins)
        except _Damaged as err:
            log.warning("%s: damaged codes file (%s)", path, err)
    elif not previous.exists():
        return None
    if previous.exists():
        try:
            codes = _read_codes(previous, n_samples, max_length, n_bins)
        except _Damaged as err:
            log.warning("%s: damaged codes file (%s)", previous, err)
        else:
            log.warning("%s: resuming level %d from the previous save (%s, %d codes): the window written last is "
                        "sampled again", path, level, previous.name, codes.shape[1])
            return codes
    log.warning("%s: no usable codes for level %d: that level is sampled again from its start", path, level)
    return None


class JukeboxPipeline:
    """Codec + one prior per level + label id files; ``sample``/``resume``/``upsample`` write runs."""

    def __init__(self, codec: Codec, priors: dict[int, JukeboxPrior], ids_dir: str | Path | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.codec, self.priors, self.device = codec, priors, torch.device(device)
        self.ids_dir = Path(ids_dir) if ids_dir is not None else None
        self._ids: dict[str, LabelIds] = {}

    @classmethod
    def load(cls, model: str, checkpoints: str | Path | None = None, ids_dir: str | Path | None = None,
             levels: tuple[int, ...] = (2, 1, 0), device: str | torch.device = "cpu",
             dtype: str = "auto") -> JukeboxPipeline:
        """Load ``model`` (``5b``, ``5b_lyrics``, ``1b_lyrics`` or ``small``) from ``checkpoints``.

        ``ids_dir``: the artist/genre id files (default: the priors' own, ``prior_ids_dir``).
        ``dtype`` of the priors: ``fp32``, ``bf16``, ``fp16``, ``int8`` (CPU: int8 linear weights,
        ``jukebox.sampling.int8_weights``) or ``auto`` (bf16 on CUDA, else fp32).
        """
        dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}
        if dtype == "auto":
            dtype = "bf16" if torch.device(device).type == "cuda" else "fp32"
        if dtype not in dtypes:
            raise UserError(f"unknown dtype {dtype!r}; choose auto, fp32, bf16, fp16 or int8")
        if dtype == "int8" and torch.device(device).type != "cpu":
            raise UserError("--dtype int8 is for CPU sampling; on a GPU use bf16 or fp16")
        files = find_model_files(model, checkpoints, levels)
        codec, priors = load_models(files, device, dtypes[dtype])
        if dtype == "int8":
            priors = {level: quantize_int8(prior) for level, prior in priors.items()}
        if ids_dir is None:  # models trained here name their artist/genre id files (the extra "ids")
            ids_dir = next((d for d in map(prior_ids_dir, files.priors.values()) if d is not None), None)
        return cls(codec, priors, ids_dir, device)

    # -- runs ---------------------------------------------------------------------------------

    def sample(self, settings: SampleSettings, out_dir: str | Path, progress: Progress | None = None,
               cancel: Cancel | None = None) -> SampleResult:
        """Start a run in ``out_dir`` (which must not hold another run) and sample it."""
        return _last(self.sample_levels(settings, out_dir, progress, cancel))

    def sample_levels(self, settings: SampleSettings, out_dir: str | Path, progress: Progress | None = None,
                      cancel: Cancel | None = None) -> Iterator[SampleResult]:
        """``sample``, handing out the run's result after each level is decoded (``result.wavs`` has one
        more level each time) and, when cancelled, once more with ``complete=False``: a page can play
        the top level while the upsamplers work. The settings are checked before the first result."""
        out = Path(out_dir)
        if (out / "settings.json").exists():
            raise UserError(f"{out} already holds a run; use --resume {out} to continue it or pick another folder")
        self._check(settings)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "settings.json", {"format": "musebox-jukebox-run/1", "settings": to_dict(settings)})
        if settings.prompt is not None:
            self._write_prompt(settings, out)
        return self._levels(settings, out, progress, cancel)

    def resume(self, out_dir: str | Path, progress: Progress | None = None, cancel: Cancel | None = None,
               levels: tuple[int, ...] | None = None) -> SampleResult:
        """Continue the run in ``out_dir`` where it stopped (optionally with more ``levels``)."""
        out = Path(out_dir)
        settings = read_settings(out)
        if levels is not None:
            settings = replace(settings, levels=tuple(sorted(set(settings.levels) | set(levels), reverse=True)))
            write_json(out / "settings.json", {"format": "musebox-jukebox-run/1", "settings": to_dict(settings)})
        self._check(settings)
        return _last(self._levels(settings, out, progress, cancel))

    def upsample(self, out_dir: str | Path, levels: tuple[int, ...] = (1, 0), progress: Progress | None = None,
                 cancel: Cancel | None = None) -> SampleResult:
        """Add lower ``levels`` to a run whose upper level is sampled (or still being sampled)."""
        return self.resume(out_dir, progress, cancel, levels)

    # -- sizes and checks ---------------------------------------------------------------------

    def song_samples(self, settings: SampleSettings) -> int:
        """Song length in samples, a whole number of top-level codes."""
        top_hop = self.codec.model.hop_lengths[-1]
        samples = int(settings.seconds * self.codec.sample_rate) // top_hop * top_hop
        if samples == 0:
            raise UserError(f"{settings.seconds} s is shorter than one top-level code ({top_hop} samples)")
        return samples

    def _check(self, settings: SampleSettings) -> None:
        missing = [lv for lv in settings.levels if lv not in self.priors]
        if missing:
            raise UserError(f"no prior loaded for level(s) {missing}")
        if len(settings.sampling) != self.codec.levels:
            raise ConfigError(f"sampling settings are needed for each of the {self.codec.levels} levels")
        top = self.priors.get(self.codec.levels - 1)
        labels = top.config.labels if top is not None else None
        if labels is not None and labels.timing:
            seconds = self.song_samples(settings) / self.codec.sample_rate
            if not labels.min_duration <= seconds < labels.max_duration:
                raise UserError(f"this top prior makes songs of {labels.min_duration:g} to {labels.max_duration:g} s, "
                                f"not {seconds:.2f} s (--seconds)")

    def label_ids(self) -> LabelIds | None:
        """The artist and genre names of the top prior's label version, from the id files (None when the
        pipeline has no id files or its top prior no labels)."""
        top = self.priors.get(self.codec.levels - 1)
        if top is None or top.config.labels is None:
            return None
        return self._label_ids(top.config.labels.version)

    def _label_ids(self, version: str) -> LabelIds | None:
        if self.ids_dir is None:
            return None
        if version not in self._ids:
            self._ids[version] = LabelIds.from_dir(self.ids_dir, version)
        return self._ids[version]

    # -- sampling -----------------------------------------------------------------------------

    def _write_prompt(self, settings: SampleSettings, out: Path) -> None:
        audio = self.codec.read(settings.prompt)
        top_hop = self.codec.model.hop_lengths[-1]
        length = min(len(audio), int(settings.prompt_seconds * self.codec.sample_rate)) // top_hop * top_hop
        if length == 0:
            raise UserError(f"{settings.prompt}: the prompt is shorter than one top-level code")
        if length >= self.song_samples(settings):
            raise UserError(f"the prompt ({length / self.codec.sample_rate:.2f} s) must be shorter than --seconds")
        encoded = self.codec.encode(audio[:length], list(settings.levels))
        for level, codes in encoded.codes.items():
            n = length // self.codec.model.hop_lengths[level]
            _save_codes(out / f"codes_level{level}.npy", np.tile(codes[:n], (settings.n_samples, 1)).astype(np.int64))

    def _levels(self, settings: SampleSettings, out: Path, progress: Progress | None,
                cancel: Cancel | None) -> Iterator[SampleResult]:
        result = SampleResult(out_dir=out, codes={})
        for level in settings.levels:
            codes, complete = self._sample_level(settings, out, level, result.codes, progress, cancel)
            result.codes[level] = codes
            if not complete:
                result.complete = False
                yield result
                return
            result.wavs[level] = self._decode_level(settings, out, level, codes)
            if self._aligns_lyrics(level, settings):
                result.lyric_timings = self._write_lyric_timings(settings, out, level, codes)
            yield result

    def _aligns_lyrics(self, level: int, settings: SampleSettings) -> bool:
        lyrics = self.priors[level].config.lyrics
        return bool(settings.lyrics.strip()) and lyrics is not None and lyrics.alignment_layer is not None \
            and lyrics.alignment_head is not None

    def _write_lyric_timings(self, settings: SampleSettings, out: Path, level: int, codes: np.ndarray) -> list[Path]:
        """Align the lyrics to each sample's codes (the alignment layer/head) and write the timings."""
        prior = self.priors[level]
        c = prior.config
        ids = self._label_ids(c.labels.version)
        artist, genres = resolve_artist(settings.artist, ids), resolve_genres(settings.genre, ids)
        text = LyricsProcessor(c.labels.version).clean(settings.lyrics)
        tokens = LyricsProcessor(c.labels.version).encode(settings.lyrics)
        paths = []
        for i, row in enumerate(codes):
            matrix = align_lyrics(prior, torch.from_numpy(row).to(self.device), tokens, artist, genres,
                                  total_length=self.song_samples(settings),
                                  hop_fraction=settings.sampling[level].hop_fraction)
            timings = lyric_timings(matrix, text, c.hop_length / self.codec.sample_rate)
            path = out / f"level{level}" / f"sample{i}.lyrics.json"
            write_timings(path, timings)
            paths.append(path)
        return paths

    def _sample_level(self, settings: SampleSettings, out: Path, level: int, done: dict[int, np.ndarray],
                      progress: Progress | None, cancel: Cancel | None) -> tuple[np.ndarray, bool]:
        prior = self.priors[level]
        c = prior.config
        song = self.song_samples(settings)
        total = song // c.hop_length
        path = out / f"codes_level{level}.npy"
        saved = load_codes(path, settings.n_samples, total, c.n_bins, level)
        if saved is None and settings.prompt is not None and (path.exists() or _previous(path).exists()):
            raise UserError(f"{path}: damaged, and the prompt's codes were in it: start the run again")
        codes = torch.from_numpy(saved) if saved is not None else torch.zeros(settings.n_samples, 0, dtype=torch.long)
        upper = None
        if c.upsampler is not None:
            upper_codes = done.get(level + 1)
            if upper_codes is None:
                upper_path = out / f"codes_level{level + 1}.npy"
                upper_prior = self.priors.get(level + 1)
                upper_bins = upper_prior.config.n_bins if upper_prior is not None else c.n_bins
                upper_codes = load_codes(upper_path, settings.n_samples, 2**62, upper_bins, level + 1)
                if upper_codes is None:
                    raise UserError(f"{out}: level {level} needs the level-{level + 1} codes first")
            if upper_codes.shape[1] * c.upsampler.factor < total:
                raise UserError(f"{out}: the level-{level + 1} codes are unfinished; sample that level first")
            upper = torch.from_numpy(upper_codes).to(self.device)
        conf = settings.sampling[level]
        hop = hop_codes(c, conf.hop_fraction)  # windows start on whole upper-level codes
        artist = genres = lyrics = None
        if c.labels is not None:
            ids = self._label_ids(c.labels.version)
            artist, genres = resolve_artist(settings.artist, ids), resolve_genres(settings.genre, ids)
            lyrics = LyricsProcessor(c.labels.version).encode(settings.lyrics) if c.lyrics is not None else []
        sampling = SamplingConfig(conf.temperature, conf.top_k, conf.top_p)
        for start in window_starts(total, c.n_ctx, hop):
            end = min(start + c.n_ctx, total)
            filled = codes.shape[1]
            if end <= filled:
                continue
            if is_cancelled(cancel):
                return codes.numpy(), False
            labels = None
            if c.labels is not None:
                labels = window_labels(c, song, start, artist, genres, lyrics, settings.n_samples).to(self.device)
            with torch.no_grad():
                cond = prior.condition(labels, upper_window(c, upper, start) if upper is not None else None)
                prompt = codes[:, start:filled].to(self.device)
                new = prior.sample(cond, end - filled, prompt if prompt.shape[1] else None, sampling=sampling,
                                   seed=_window_seed(settings.seed, level, start), chunk_size=conf.chunk_size,
                                   cancel=cancel)
            if new.shape[1] < end - start:  # cancelled inside the window: drop it
                return codes.numpy(), False
            codes = torch.cat([codes, new[:, filled - start:].cpu()], dim=1)
            _save_codes(path, codes.numpy())
            if progress is not None:
                progress(level, codes.shape[1], total)
        return codes.numpy(), True

    def _decode_level(self, settings: SampleSettings, out: Path, level: int, codes: np.ndarray) -> list[Path]:
        song = self.song_samples(settings)
        model = self.codec.model
        paths = []
        for i, row in enumerate(codes):
            encoded = EncodedAudio({level: row}, self.codec.sample_rate, song, model.hop_lengths, model.config.l_bins)
            audio = self.codec.decode(encoded, level)
            paths.append(save_audio(out / f"level{level}" / f"sample{i}.wav", audio, self.codec.sample_rate))
        log.info("level %d: wrote %d WAV file(s) in %s", level, len(paths), out / f"level{level}")
        return paths


def _last(results: Iterator[SampleResult]) -> SampleResult:
    result = None
    for result in results:
        pass
    assert result is not None  # every run has at least one level
    return result


def read_settings(out_dir: str | Path) -> SampleSettings:
    """The settings of the run in ``out_dir`` (a clear error when it holds none)."""
    path = Path(out_dir) / "settings.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{out_dir}: no run here (settings.json not found)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: cannot read run settings ({err})") from None
    if not isinstance(data, dict) or "settings" not in data:
        raise UserError(f"{path}: not a jukebox run settings file")
    return from_dict(SampleSettings, data["settings"], str(path))


__all__ = ["JukeboxPipeline", "LevelSampling", "SampleResult", "SampleSettings", "DEFAULT_SAMPLING", "read_settings"]
