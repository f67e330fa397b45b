"""VQ-VAE configuration: frozen dataclasses loaded strictly from YAML, or built from official ``hps``.

Field names follow the original Jukebox hyper-parameters where a reader will want to compare them
(``downs_t``, ``strides_t``, ``emb_width``, ``l_bins``, ``hvqvae_multipliers`` ...); the few renamed
ones say what they are (``sample_rate`` = ``sr``, ``codebook_mu`` = ``l_mu``, the EMA rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from muse.core.config import from_dict, load_config
from muse.core.errors import ConfigError

ReconsLoss = Literal["l1", "l2", "linf", "lmix"]


@dataclass(frozen=True)
class VQVAELossConfig:
    """Training-loss settings (official names in brackets).

    ``bandwidth_*`` are data statistics that normalise each loss (official ``bandwidth``: mean |x|,
    variance of x, mean STFT-magnitude norm); they are 1.0 until measured on a training set.
    """

    recons: ReconsLoss  # [loss_fn]
    lmix_l1: float
    lmix_l2: float
    lmix_linf: float
    linf_k: int
    commit: float
    spectral: float
    multispectral: float
    multispec_n_fft: tuple[int, ...]  # [multispec_loss_n_fft]
    multispec_hop_length: tuple[int, ...]
    multispec_window_size: tuple[int, ...]
    nonrelative_specloss: bool = True  # [use_nonrelative_specloss]
    bandwidth_l1: float = 1.0
    bandwidth_l2: float = 1.0
    bandwidth_spec: float = 1.0

    def __post_init__(self) -> None:
        n = len(self.multispec_n_fft)
        if n == 0 or len(self.multispec_hop_length) != n or len(self.multispec_window_size) != n:
            raise ValueError("multispec_n_fft, multispec_hop_length and multispec_window_size "
                             "need the same (>0) length")
        if self.linf_k < 1:
            raise ValueError("linf_k must be >= 1")
        for name in ("bandwidth_l1", "bandwidth_l2", "bandwidth_spec"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")

    @property
    def resolutions(self) -> tuple[tuple[int, int, int], ...]:
        """(n_fft, hop_length, window_size) of each multi-resolution STFT."""
        return tuple(zip(self.multispec_n_fft, self.multispec_hop_length, self.multispec_window_size))


@dataclass(frozen=True)
class VQVAEConfig:
    """Hierarchical VQ-VAE: ``levels`` encoder/decoder pairs and one codebook per level.

    Level ``L`` down-samples through stages ``0..L``; stage ``S`` applies ``downs_t[S]`` strided
    convolutions of stride ``strides_t[S]``, so level ``L`` has hop ``prod_{S<=L} strides_t[S]**downs_t[S]``.
    Every stage of level ``L`` has ``width * hvqvae_multipliers[L]`` channels and
    ``depth * hvqvae_multipliers[L]`` residual blocks per residual stack.
    """

    sample_rate: int  # [sr]
    levels: int
    downs_t: tuple[int, ...]
    strides_t: tuple[int, ...]
    emb_width: int
    l_bins: int
    width: int
    depth: int
    m_conv: float
    hvqvae_multipliers: tuple[int, ...]
    dilation_growth_rate: int
    dilation_cycle: int | None
    reverse_decoder_dilation: bool  # [vqvae_reverse_decoder_dilation]
    codebook_mu: float  # [l_mu] EMA rate of the codebook
    revival_threshold: float  # a code whose EMA usage falls below this is re-seeded
    sample_length: int  # training crop length in samples
    loss: VQVAELossConfig

    def __post_init__(self) -> None:
        for name in ("downs_t", "strides_t", "hvqvae_multipliers"):
            if len(getattr(self, name)) != self.levels:
                raise ValueError(f"{name} must have one entry per level ({self.levels})")
        if self.levels < 1:
            raise ValueError("levels must be >= 1")
        if any(d < 1 for d in self.downs_t):
            raise ValueError("downs_t entries must be >= 1")
        if any(s < 2 or s % 2 for s in self.strides_t):
            # kernel 2*stride with padding stride//2 keeps lengths exact only for even strides
            raise ValueError("strides_t entries must be even (kernel 2*stride, padding stride//2)")
        if min(self.emb_width, self.l_bins, self.width, self.depth, *self.hvqvae_multipliers) < 1:
            raise ValueError("emb_width, l_bins, width, depth and hvqvae_multipliers must be >= 1")
        if self.dilation_cycle is not None and self.dilation_cycle < 1:
            raise ValueError("dilation_cycle must be >= 1 or null")
        if not 0.0 <= self.codebook_mu < 1.0:
            raise ValueError("codebook_mu must be in [0, 1)")
        if self.sample_length % self.hop_lengths[-1]:
            raise ValueError(f"sample_length must be a multiple of the top hop length {self.hop_lengths[-1]}")

    @property
    def hop_lengths(self) -> tuple[int, ...]:
        """Audio samples per code at each level, e.g. (8, 32, 128)."""
        factors = [s**d for s, d in zip(self.strides_t, self.downs_t)]
        return tuple(math.prod(factors[: level + 1]) for level in range(self.levels))

    def level_width(self, level: int) -> int:
        return self.width * self.hvqvae_multipliers[level]

    def level_depth(self, level: int) -> int:
        return self.depth * self.hvqvae_multipliers[level]


def load_vqvae_config(path: str | Path) -> VQVAEConfig:
    """Load a :class:`VQVAEConfig` from YAML, strictly (unknown or missing keys name the file)."""
    return load_config(VQVAEConfig, path)


def config_from_hps(hps: dict[str, Any], source: str = "hps") -> VQVAEConfig:
    """Build a :class:`VQVAEConfig` from an official Jukebox ``hps`` dict.

    Only the fields that shape the VQ-VAE or its losses are read; a missing one is a
    ``ConfigError`` naming ``source``. ``hps['channels']`` is ignored: the model reads mono audio.
    """

    def get(key: str) -> Any:
        if key not in hps:
            raise ConfigError(f"{source}: official hyper-parameters lack '{key}'")
        return hps[key]

    bandwidth = hps.get("bandwidth") or {}
    loss = {
        "recons": get("loss_fn"),
        "lmix_l1": get("lmix_l1"),
        "lmix_l2": get("lmix_l2"),
        "lmix_linf": get("lmix_linf"),
        "linf_k": get("linf_k"),
        "commit": get("commit"),
        "spectral": get("spectral"),
        "multispectral": get("multispectral"),
        "multispec_n_fft": get("multispec_loss_n_fft"),
        "multispec_hop_length": get("multispec_loss_hop_length"),
        "multispec_window_size": get("multispec_loss_window_size"),
        "nonrelative_specloss": get("use_nonrelative_specloss"),
        "bandwidth_l1": float(bandwidth.get("l1", 1.0)),
        "bandwidth_l2": float(bandwidth.get("l2", 1.0)),
        "bandwidth_spec": float(bandwidth.get("spec", 1.0)),
    }
    data = {
        "sample_rate": get("sr"),
        "levels": get("levels"),
        "downs_t": get("downs_t"),
        "strides_t": get("strides_t"),
        "emb_width": get("emb_width"),
        "l_bins": get("l_bins"),
        "width": get("width"),
        "depth": get("depth"),
        "m_conv": get("m_conv"),
        "hvqvae_multipliers": get("hvqvae_multipliers"),
        "dilation_growth_rate": get("dilation_growth_rate"),
        "dilation_cycle": get("dilation_cycle"),
        "reverse_decoder_dilation": get("vqvae_reverse_decoder_dilation"),
        "codebook_mu": get("l_mu"),
        "revival_threshold": hps.get("revival_threshold", 1.0),
        "sample_length": get("sample_length"),
        "loss": loss,
    }
    return from_dict(VQVAEConfig, data, source)
