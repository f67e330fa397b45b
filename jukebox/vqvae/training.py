"""Training the VQ-VAE on a folder of audio with the shared ``muse.core.train.Trainer``.

Data: every audio file under a folder, read once at the model's rate in mono, cut into
``sample_length`` crops (windows every half crop, each shifted by a random offset drawn from the
item's own seed, so the crop of item ``i`` never depends on the step and resuming is exact).
Files are split into training and validation sets by a hash of their names. Before training, the
loss normalisers (the original's ``bandwidth``: mean |x|, variance, mean STFT norm) are measured
on the training crops and written into the model config.

Output folder: the Trainer's ``metrics.jsonl`` and ``checkpoints/step_N/`` (weights with the
codebook EMA state, for exact resume; ``config.json`` beside them), and at the end
``vqvae.safetensors`` + ``vqvae.json``, the codec in the layout ``jukebox vqvae --checkpoint`` reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from jukebox.audio import load_audio
from jukebox.vqvae.checkpoint import save_vqvae
from jukebox.vqvae.config import VQVAEConfig, load_vqvae_config
from jukebox.vqvae.losses import DEFAULT_STFT, stft_magnitude, vqvae_loss
from jukebox.vqvae.vqvae import VQVAE
from muse.core.config import load_config
from muse.core.errors import ConfigError, UserError
from muse.core.train import LossOutput, TrainConfig, Trainer, TrainResult

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


@dataclass(frozen=True)
class VQVAETrainingConfig:
    """``vqvae``: the model (inline, or a YAML path relative to this file); ``train``: the Trainer's
    settings; ``val_fraction`` of the files held out; ``bandwidth_seconds`` of training audio used to
    measure the loss normalisers."""

    vqvae: VQVAEConfig | str
    train: TrainConfig
    val_fraction: float = 0.1
    bandwidth_seconds: float = 600.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1)")
        if self.bandwidth_seconds <= 0:
            raise ValueError("bandwidth_seconds must be > 0")


def load_training_config(path: str | Path) -> VQVAETrainingConfig:
    """Load a training config; a ``vqvae: file.yaml`` entry is read relative to ``path``."""
    path = Path(path)
    config = load_config(VQVAETrainingConfig, path)
    if isinstance(config.vqvae, str):
        config = dataclasses.replace(config, vqvae=load_vqvae_config(path.parent / config.vqvae))
    return config


def list_audio(folder: str | Path) -> list[Path]:
    """Audio files under ``folder`` (recursively), sorted; none is a ``UserError``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: audio folder not found")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise UserError(f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return files


def split_files(files: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """(train, val): the ``val_fraction`` of files with the smallest name hashes are held out
    (at least one when the fraction is positive and there are two files or more)."""
    if val_fraction == 0 or len(files) < 2:
        return files, []
    ranked = sorted(files, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    n_val = min(len(files) - 1, max(1, round(val_fraction * len(files))))
    val = set(ranked[:n_val])
    return [f for f in files if f not in val], [f for f in files if f in val]


class AudioCrops(Dataset):
    """Fixed-length crops (crop_length,) float32 of audio files, at ``sample_rate``, mono."""

    def __init__(self, files: list[Path], sample_rate: int, crop_length: int, seed: int = 0) -> None:
        self.crop_length, self.seed = crop_length, seed
        self.audio = []
        for path in files:
            audio = load_audio(path, sample_rate=sample_rate)
            if len(audio) < crop_length:  # short files are padded with silence to one crop
                audio = np.pad(audio, (0, crop_length - len(audio)))
            self.audio.append(torch.from_numpy(audio))
        stride = max(1, crop_length // 2)
        self.windows = [
            (f, start, min(start + stride, len(a) - crop_length))  # crop start drawn from [start, end]
            for f, a in enumerate(self.audio)
            for start in range(0, len(a) - crop_length + 1, stride)
        ]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> torch.Tensor:
        f, start, end = self.windows[index]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        offset = start + int(torch.randint(0, end - start + 1, (1,), generator=g))
        return self.audio[f][offset : offset + self.crop_length]


def measure_bandwidth(data: AudioCrops, seconds: float, sample_rate: int) -> dict[str, float]:
    """The original's loss normalisers over up to ``seconds`` of crops: mean |x| (``l1``), the
    variance of x (``l2``) and the mean Frobenius norm of a crop's STFT magnitude (``spec``)."""
    n_items = max(1, min(len(data), int(seconds * sample_rate / data.crop_length)))
    step = max(1, len(data) // n_items)
    total = total_abs = total_sq = spec = 0.0
    count = 0
    for i in range(0, step * n_items, step):
        x = data[i].double()
        total, total_abs, total_sq = (total + x.sum().item(), total_abs + x.abs().sum().item(),
                                      total_sq + (x**2).sum().item())
        count += x.numel()
        spec += torch.linalg.vector_norm(stft_magnitude(x.float()[None], *DEFAULT_STFT)).item()
    mean = total / count
    bandwidth = {"l1": total_abs / count, "l2": total_sq / count - mean**2, "spec": spec / n_items}
    if min(bandwidth.values()) <= 0:
        raise UserError("the training audio is silent: cannot measure the loss normalisers")
    return bandwidth


def with_bandwidth(config: VQVAEConfig, bandwidth: dict[str, float]) -> VQVAEConfig:
    loss = dataclasses.replace(
        config.loss, bandwidth_l1=bandwidth["l1"], bandwidth_l2=bandwidth["l2"], bandwidth_spec=bandwidth["spec"]
    )
    return dataclasses.replace(config, loss=loss)


def make_loss_fn(config: VQVAEConfig):
    """``loss_fn(model, audio (N, T)) -> LossOutput`` for the Trainer: the Jukebox VQ-VAE loss,
    with codebook usage and perplexity among the logged metrics."""

    def loss_fn(model: nn.Module, batch: torch.Tensor) -> LossOutput:
        result = vqvae_loss(batch, model(batch), config.loss)
        return LossOutput(result.loss, {k: v.detach() for k, v in result.metrics.items()}, n_tokens=batch.numel())

    return loss_fn


def train_vqvae(
    config: VQVAETrainingConfig, data_dir: str | Path, out_dir: str | Path, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train a VQ-VAE on the audio under ``data_dir`` into ``out_dir`` (see the module docstring)."""
    if isinstance(config.vqvae, str):
        raise ConfigError("resolve the vqvae config path first (load_training_config)")
    model_config, out_dir = config.vqvae, Path(out_dir)
    train_files, val_files = split_files(list_audio(data_dir), config.val_fraction)
    crop = model_config.sample_length
    train_data = AudioCrops(train_files, model_config.sample_rate, crop, seed=config.train.seed)
    val_data = AudioCrops(val_files, model_config.sample_rate, crop, seed=config.train.seed + 1) if val_files else None
    log.info("training on %d files (%d crops), validating on %d files", len(train_files), len(train_data),
             len(val_files))
    model_config = with_bandwidth(model_config,
                                  measure_bandwidth(train_data, config.bandwidth_seconds, model_config.sample_rate))
    torch.manual_seed(config.train.seed)
    model = VQVAE(model_config)
    model.bottleneck.keep_ema_in_state_dict(True)  # checkpoints carry the codebook EMA: exact resume
    trainer = Trainer(
        model, make_loss_fn(model_config), train_data, val_data, config.train, out_dir,
        model_config=model_config, model_kind="vqvae", progress=progress,
    )
    result = trainer.fit(resume=resume)
    model.bottleneck.keep_ema_in_state_dict(False)  # the exported codec has the official layout
    state = trainer.export_state()  # collective: the full weights on the main process, whatever the strategy
    if trainer.dist.is_main:
        save_vqvae(model, out_dir / "vqvae.safetensors", state)
        log.info("codec written to %s", out_dir / "vqvae.safetensors")
    return result
