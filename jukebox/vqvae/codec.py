"""The VQ-VAE as a codec for users: audio files <-> code files, and per-level reconstructions.

``Codec`` owns the whole job: load a checkpoint (official ``*.pth.tar`` or ours), read audio
(resampled to the model's rate, mono), pad it to whole frames, encode/decode in bounded-memory
chunks, save codes as ``.npz``, write WAVs and measure reconstructions. The CLI only calls it.
"""

from __future__ import annotations

import logging
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jukebox.audio import audio_seconds, load_audio, save_audio
from jukebox.vqvae.checkpoint import load_vqvae
from jukebox.vqvae.losses import multi_resolution_stft_distance, si_sdr, spectral_convergence
from jukebox.vqvae.vqvae import VQVAE
from muse.core.errors import CheckpointError, UserError

log = logging.getLogger(__name__)

BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "small" / "vqvae.safetensors"
DEFAULT_CHUNK_SECONDS = 10.0


class CodesError(UserError):
    """A codes file cannot be read or does not fit the VQ-VAE."""


@dataclass(frozen=True)
class EncodedAudio:
    """Codes of one mono signal: ``codes[L]`` (T_L,) int64 per encoded level ``levels[i]``;
    ``length`` samples of audio at ``sample_rate`` (the codes cover it, padded to whole frames)."""

    codes: dict[int, np.ndarray]
    sample_rate: int
    length: int
    hop_lengths: tuple[int, ...]
    l_bins: int

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` with ``codes_l{L}`` arrays and the metadata needed to decode them."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        dtype = np.int16 if self.l_bins <= np.iinfo(np.int16).max + 1 else np.int32
        arrays = {f"codes_l{level}": c.astype(dtype) for level, c in self.codes.items()}
        with path.open("wb") as fh:  # a file object keeps numpy from appending ".npz"
            np.savez_compressed(
                fh,
                sample_rate=np.int64(self.sample_rate),
                length=np.int64(self.length),
                hop_lengths=np.asarray(self.hop_lengths, dtype=np.int64),
                l_bins=np.int64(self.l_bins),
                **arrays,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> EncodedAudio:
        """Read a codes file written by :meth:`save`; a bad file is a ``CodesError`` naming it."""
        path = Path(path)
        if not path.is_file():
            raise CodesError(f"{path}: codes file not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                codes = {
                    int(name.removeprefix("codes_l")): data[name].astype(np.int64)
                    for name in data.files
                    if name.startswith("codes_l")
                }
                meta = {k: data[k] for k in ("sample_rate", "length", "hop_lengths", "l_bins")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise CodesError(f"{path}: not a codes file written by `jukebox vqvae encode` ({err})") from err
        if not codes:
            raise CodesError(f"{path}: contains no codes_l* arrays")
        return cls(
            codes=dict(sorted(codes.items())),
            sample_rate=int(meta["sample_rate"]),
            length=int(meta["length"]),
            hop_lengths=tuple(int(h) for h in meta["hop_lengths"]),
            l_bins=int(meta["l_bins"]),
        )


@dataclass(frozen=True)
class LevelReport:
    """One level's reconstruction: where it was written and how close it is to the input."""

    level: int
    path: Path
    spectral_convergence: float
    mr_stft_distance: float
    si_sdr_db: float


@dataclass(frozen=True)
class ReconstructionReport:
    """The levels' reconstructions of ``input_path`` (``seconds`` long); ``model_input``: the input as the
    codec hears it (mono, at its sample rate), the reference of the figures."""

    input_path: Path
    seconds: float
    levels: list[LevelReport]
    model_input: Path | None = None


@dataclass(frozen=True)
class LevelQuality:
    """One level over a set of files: mean reconstruction metrics and how the codebook is used."""

    level: int
    spectral_convergence: float
    mr_stft_distance: float
    si_sdr_db: float
    codes_used: int  # distinct codes seen
    l_bins: int
    perplexity: float  # exp(entropy) of the code histogram; l_bins when all codes are equally used


def code_usage(codes: np.ndarray, l_bins: int) -> tuple[int, float]:
    """(distinct codes, perplexity) of a code array."""
    counts = np.bincount(codes.ravel(), minlength=l_bins).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return int((counts > 0).sum()), float(np.exp(-(p * np.log(p)).sum()))


class Codec:
    """Encode and decode audio with a VQ-VAE on ``device``, ``chunk_seconds`` of audio at a time."""

    def __init__(
        self, model: VQVAE, device: str | torch.device = "cpu", chunk_seconds: float = DEFAULT_CHUNK_SECONDS
    ) -> None:
        if chunk_seconds <= 0:
            raise UserError(f"chunk length must be positive, got {chunk_seconds} s")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.chunk_seconds = chunk_seconds

    @classmethod
    def load(
        cls,
        checkpoint: str | Path | None = None,
        config: str | Path | None = None,
        device: str | torch.device = "cpu",
        chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    ) -> Codec:
        """Load an official ``*.pth.tar`` or our ``*.safetensors`` (default: the bundled codec)."""
        if checkpoint is None:
            if not BUNDLED_CHECKPOINT.is_file():
                raise CheckpointError(
                    f"no checkpoint given and no bundled codec at {BUNDLED_CHECKPOINT}; pass one (--checkpoint, "
                    "or --vqvae for encode-dataset): an official vqvae.pth.tar or a .safetensors trained here"
                )
            checkpoint = BUNDLED_CHECKPOINT
        return cls(load_vqvae(checkpoint, config).model, device, chunk_seconds)

    @property
    def sample_rate(self) -> int:
        return self.model.config.sample_rate

    @property
    def levels(self) -> int:
        return self.model.levels

    def _chunk_frames(self, level: int) -> int:
        return max(1, math.ceil(self.chunk_seconds * self.sample_rate / self.model.hop_lengths[level]))

    def _check_levels(self, levels: list[int]) -> None:
        bad = [lv for lv in levels if not 0 <= lv < self.levels]
        if bad:
            raise UserError(f"level {bad[0]} does not exist: this VQ-VAE has levels 0..{self.levels - 1}")

    def read(self, path: str | Path) -> np.ndarray:
        """Audio file -> float32 (T,) mono at the model's sample rate."""
        return load_audio(path, sample_rate=self.sample_rate)

    @staticmethod
    def seconds(path: str | Path) -> float:
        """How long an audio file lasts, read from its header (check a length before ``read``)."""
        return audio_seconds(path)

    @torch.no_grad()
    def encode(self, audio: np.ndarray, levels: list[int] | None = None) -> EncodedAudio:
        """Mono audio (T,) at the model's rate -> codes of ``levels`` (default all)."""
        levels = list(range(self.levels)) if levels is None else levels
        self._check_levels(levels)
        hop = self.model.hop_lengths[-1]
        padded = math.ceil(len(audio) / hop) * hop
        x = torch.zeros(1, padded, device=self.device)
        x[0, : len(audio)] = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
        codes = {
            level: self.model.encode(x, [level], chunk_frames=self._chunk_frames(level))[0][0].cpu().numpy()
            for level in levels
        }
        return EncodedAudio(codes, self.sample_rate, len(audio), self.model.hop_lengths, self.model.config.l_bins)

    def encode_file(self, path: str | Path, levels: list[int] | None = None) -> EncodedAudio:
        return self.encode(self.read(path), levels)

    def _check_codes(self, encoded: EncodedAudio, level: int, source: str) -> np.ndarray:
        cfg = self.model.config
        if encoded.sample_rate != cfg.sample_rate or tuple(encoded.hop_lengths) != cfg.hop_lengths:
            raise CodesError(
                f"{source}: codes made at {encoded.sample_rate} Hz with hops {list(encoded.hop_lengths)}, but this "
                f"VQ-VAE runs at {cfg.sample_rate} Hz with hops {list(cfg.hop_lengths)}"
            )
        if level not in encoded.codes:
            raise CodesError(f"{source}: has no codes for level {level} (it has levels {sorted(encoded.codes)})")
        codes = encoded.codes[level]
        if codes.ndim != 1 or codes.size == 0 or codes.min() < 0 or codes.max() >= cfg.l_bins:
            raise CodesError(f"{source}: level {level} codes must be a non-empty 1-D array in [0, {cfg.l_bins})")
        return codes

    @torch.no_grad()
    def decode(self, encoded: EncodedAudio, level: int, source: str = "codes") -> np.ndarray:
        """Codes of one level -> float32 (T,) audio at the model's rate, trimmed to the original length."""
        self._check_levels([level])
        codes = torch.from_numpy(self._check_codes(encoded, level, source)).to(self.device).unsqueeze(0)
        audio = self.model.decode(codes, level, chunk_frames=self._chunk_frames(level))[0]
        return audio[: encoded.length].float().cpu().numpy()

    def decode_file(self, codes_path: str | Path, level: int, out_path: str | Path) -> Path:
        """Decode a codes file written by :meth:`EncodedAudio.save` into an audio file."""
        audio = self.decode(EncodedAudio.load(codes_path), level, str(codes_path))
        return save_audio(out_path, audio, self.sample_rate)

    def reconstruct(
        self, path: str | Path, out_dir: str | Path, levels: list[int] | None = None, stem: str | None = None
    ) -> ReconstructionReport:
        """Encode ``path``, decode every level, write ``out_dir/<stem>.level<L>.wav`` (and the model's
        view of the input as ``<stem>.input.wav``; ``stem`` defaults to the input's) and measure each
        level against the input."""
        path, out_dir = Path(path), Path(out_dir)
        stem = stem or path.stem
        audio = self.read(path)
        encoded = self.encode(audio, levels)
        heard = save_audio(out_dir / f"{stem}.input.wav", audio, self.sample_rate)
        reports = []
        for level in encoded.codes:
            decoded = self.decode(encoded, level)
            out = save_audio(out_dir / f"{stem}.level{level}.wav", decoded, self.sample_rate)
            reports.append(LevelReport(level, out, *self._distances(audio, decoded)))
            log.info("level %d: wrote %s", level, out)
        return ReconstructionReport(input_path=path, seconds=len(audio) / self.sample_rate, levels=reports,
                                    model_input=heard)

    def _distances(self, audio: np.ndarray, decoded: np.ndarray) -> tuple[float, float, float]:
        """(spectral convergence, multi-resolution STFT distance, SI-SDR dB) of one decoding."""
        target, pred = torch.from_numpy(audio).unsqueeze(0), torch.from_numpy(decoded).unsqueeze(0)
        resolutions = self.model.config.loss.resolutions
        return (float(spectral_convergence(target, pred)[0]),
                float(multi_resolution_stft_distance(target, pred, resolutions)[0]), float(si_sdr(target, pred)[0]))

    def evaluate(self, paths: list[Path], levels: list[int] | None = None) -> list[LevelQuality]:
        """Encode and decode every file; per level the metrics averaged over files and the codebook usage."""
        if not paths:
            raise UserError("no audio files to evaluate")
        levels = list(range(self.levels)) if levels is None else levels
        metrics: dict[int, list[tuple[float, float, float]]] = {lv: [] for lv in levels}
        codes: dict[int, list[np.ndarray]] = {lv: [] for lv in levels}
        for path in paths:
            audio = self.read(path)
            encoded = self.encode(audio, levels)
            for level in levels:
                metrics[level].append(self._distances(audio, self.decode(encoded, level)))
                codes[level].append(encoded.codes[level])
        l_bins = self.model.config.l_bins
        results = []
        for level in levels:
            used, perplexity = code_usage(np.concatenate(codes[level]), l_bins)
            sc, mr, sdr = np.mean(metrics[level], axis=0).tolist()
            results.append(LevelQuality(level, sc, mr, sdr, used, l_bins, perplexity))
        return results
