"""Jukebox conditioning: label start token, timing embeddings, and the upsampler conditioner.

- ``LabelConditioner``: artist embedding + sum of bag-of-genre embeddings (empty slots, -1, masked)
  -> the start token ``y_cond`` (B, 1, W); at the top level also the timing signal ``x_cond``
  (B, n_time, W) = total-length + absolute-position + relative-position embeddings.
- ``UpsamplerConditioner``: embeds the level above's codes, up-samples them with a conv stack
  (residual stacks + transposed convolutions) and layer-normalises -> ``x_cond`` (B, T, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from muse.core.errors import UserError

TextVersion = Literal["v2", "v3"]


@dataclass(frozen=True)
class LabelConfig:
    """Artist + bag-of-genre start token and (top level) timing embeddings.

    ``min_duration``/``max_duration`` (seconds) bound the song length the timing signal covers:
    total length is binned over ``[min, max) * sample_rate``, window position over
    ``[0, max) * sample_rate``, relative position over ``[0, 1)``, each into ``t_bins`` bins.
    ``version`` selects the label/lyrics text version (v2: 5b models, v3: 1b_lyrics).
    """

    version: TextVersion
    n_artists: int
    n_genres: int
    max_bow_genre_size: int
    timing: bool = True
    t_bins: int = 128
    sample_rate: int = 44100
    min_duration: float = 0.0
    max_duration: float = 600.0

    def __post_init__(self) -> None:
        if self.timing and not 0 <= self.min_duration < self.max_duration:
            raise ValueError(f"labels: need 0 <= min_duration < max_duration, "
                             f"got {self.min_duration}, {self.max_duration}")
        if min(self.n_artists, self.n_genres, self.max_bow_genre_size) < 1:
            raise ValueError("labels: n_artists, n_genres and max_bow_genre_size must be >= 1")

    @property
    def n_label_fields(self) -> int:
        """Columns of a label row before the lyric tokens: total, offset, length, artist, genres."""
        return 4 + self.max_bow_genre_size


@dataclass(frozen=True)
class UpsamplerConfig:
    """Conditioner of an upsampler: embeds the level above's codes and up-samples them.

    ``strides``: one transposed-convolution stage per entry (kernel ``2 * stride``), from the upper
    level's rate to this level's. Residual stacks of ``depth`` blocks of hidden width
    ``int(m_conv * width)``, dilation ``dilation_growth_rate ** (d % dilation_cycle)``; with
    ``res_scale`` each residual branch is scaled by ``1 / sqrt(depth)``.
    """

    upper_bins: int
    width: int
    depth: int
    strides: tuple[int, ...]
    m_conv: float = 1.0
    dilation_growth_rate: int = 1
    dilation_cycle: int | None = None
    res_scale: bool = False

    @property
    def factor(self) -> int:
        """Codes of this level per code of the level above."""
        return math.prod(self.strides)


@dataclass(frozen=True)
class LabelEmbeddings:
    """``start``: (B, 1, W) start token; ``timing``: (B, n_time, W) or None without a timing signal."""

    start: torch.Tensor
    timing: torch.Tensor | None


class RangeEmbedding(nn.Module):
    """Bins positions in ``[lo, hi)`` into ``bins`` buckets and embeds them.

    With ``n_time > 1`` the range ``[start, end)`` is interpolated over ``n_time`` positions
    ``start + (end - start) * k / n_time``; ``clamp_end`` clamps ``end`` into ``[lo, hi]``.
    """

    def __init__(self, name: str, bins: int, lo: float, hi: float, width: int, clamp_end: bool = False) -> None:
        super().__init__()
        self.name, self.bins, self.lo, self.hi, self.clamp_end = name, bins, lo, hi, clamp_end
        self.emb = nn.Embedding(bins, width)

    def forward(self, start: torch.Tensor, end: torch.Tensor | None = None, n_time: int = 1) -> torch.Tensor:
        """start, end: (B, 1) float32 -> (B, n_time, W)."""
        if not bool(((start >= self.lo) & (start < self.hi)).all()):
            raise UserError(f"{self.name} {start.flatten().tolist()} is outside the model's range "
                            f"[{self.lo}, {self.hi})")
        if n_time == 1:
            position = start
        else:
            assert end is not None
            if self.clamp_end:
                end = end.clamp(self.lo, self.hi)
            if not bool(((end >= self.lo) & (end <= self.hi)).all()):
                raise UserError(f"{self.name} end {end.flatten().tolist()} is outside the model's range "
                                f"[{self.lo}, {self.hi}]")
            steps = torch.arange(n_time, dtype=torch.float32, device=start.device).view(1, n_time) / n_time
            position = start + (end - start) * steps
        normalised = (position - self.lo) / (self.hi - self.lo)
        return self.emb(torch.floor(self.bins * normalised).long())


class LabelConditioner(nn.Module):
    """Label row -> start token (artist + summed genres) and optional timing embeddings.

    Label rows are ``[total_length, offset, length, artist, genre x max_bow_genre_size]`` in
    samples (-1 marks an empty genre slot), as built by ``musetok.labels.label_row``.
    """

    def __init__(self, config: LabelConfig, width: int) -> None:
        super().__init__()
        self.config = config
        self.artist = nn.Embedding(config.n_artists, width)
        self.genre = nn.Embedding(config.n_genres, width)
        if config.timing:
            sr = config.sample_rate
            lo, hi = config.min_duration * sr, config.max_duration * sr
            self.total_length = RangeEmbedding("total length (samples)", config.t_bins, lo, hi, width)
            self.absolute_position = RangeEmbedding("window position (samples)", config.t_bins, 0.0, hi, width)
            self.relative_position = RangeEmbedding("relative position", config.t_bins, 0.0, 1.0, width, clamp_end=True)

    def forward(self, labels: torch.Tensor, n_time: int) -> LabelEmbeddings:
        """labels: (B, 4 + max_bow_genre_size) int64 -> LabelEmbeddings (timing over n_time codes)."""
        n_fields = self.config.n_label_fields
        if labels.ndim != 2 or labels.shape[1] != n_fields:
            raise UserError(f"label rows must have {n_fields} columns, got shape {tuple(labels.shape)}")
        artist, genres = labels[:, 3:4], labels[:, 4:]
        mask = (genres >= 0).unsqueeze(-1).to(self.genre.weight.dtype)
        genre_sum = (self.genre(genres.clamp(min=0)) * mask).sum(dim=1, keepdim=True)
        start = genre_sum + self.artist(artist)
        if not self.config.timing:
            return LabelEmbeddings(start=start, timing=None)
        total = labels[:, 0:1].float()
        begin = labels[:, 1:2]
        end = (begin + labels[:, 2:3]).float()
        begin = begin.float()
        timing = (
            self.total_length(total)
            + self.absolute_position(begin, end, n_time)
            + self.relative_position(begin / total, end / total, n_time)
        )
        return LabelEmbeddings(start=start, timing=timing)


class ScaledResBlock(nn.Module):
    """``x + scale * conv1x1(relu(conv3_dilated(relu(x))))`` over (B, C, T)."""

    def __init__(self, width: int, hidden: int, dilation: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.conv1 = nn.Conv1d(width, hidden, kernel_size=3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(hidden, width, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.conv2(F.relu(self.conv1(F.relu(x))))


class UpsampleStage(nn.Module):
    """A residual stack, then a transposed convolution up-sampling by ``stride``."""

    def __init__(self, config: UpsamplerConfig, stride: int, out_width: int) -> None:
        super().__init__()
        hidden = int(config.m_conv * config.width)
        scale = 1.0 / math.sqrt(config.depth) if config.res_scale else 1.0
        cycle = config.dilation_cycle
        self.blocks = nn.ModuleList(
            ScaledResBlock(config.width, hidden, config.dilation_growth_rate ** (d if cycle is None else d % cycle),
                           scale)
            for d in range(config.depth)
        )
        self.up = nn.ConvTranspose1d(config.width, out_width, 2 * stride, stride, stride // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C_out, T * stride)."""
        for block in self.blocks:
            x = block(x)
        return self.up(x)


class UpsamplerConditioner(nn.Module):
    """Codes of the level above -> positional conditioning of this level.

    Embedding (upper_bins -> width), kernel-3 convolution to the conditioner width, one
    ``UpsampleStage`` per stride (the last back to ``width``), LayerNorm over channels.
    """

    def __init__(self, config: UpsamplerConfig, width: int) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.upper_bins, width)
        self.proj_in = nn.Conv1d(width, config.width, kernel_size=3, padding=1)
        n = len(config.strides)
        self.stages = nn.ModuleList(
            UpsampleStage(config, s, width if i == n - 1 else config.width) for i, s in enumerate(config.strides)
        )
        self.ln = nn.LayerNorm(width, eps=1e-5)

    def forward(self, upper_codes: torch.Tensor) -> torch.Tensor:
        """upper_codes: (B, T_up) int64 -> (B, T_up * factor, width)."""
        x = self.embed(upper_codes).transpose(1, 2)
        x = self.proj_in(x)
        for stage in self.stages:
            x = stage(x)
        return self.ln(x.transpose(1, 2))
