"""Per-level encoder and decoder of the Jukebox VQ-VAE.

The encoder of level ``L`` chains stages ``0..L``. A stage is ``downs_t[S]`` times [strided
convolution (kernel ``2*stride``, padding ``stride//2``), residual stack], then a kernel-3
convolution to ``emb_width``. The decoder mirrors it: per stage a kernel-3 convolution from
``emb_width``, then ``downs_t[S]`` times [residual stack (dilations reversed when configured),
transposed convolution], run from the deepest stage back to stage 0, then ``out`` to one channel.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jukebox.vqvae.config import VQVAEConfig
from jukebox.vqvae.resnet import ResidualStack


class DownBlock(nn.Module):
    """Strided convolution then a residual stack: (N, C_in, T) -> (N, width, T / stride)."""

    def __init__(self, in_width: int, width: int, stride: int, res: ResidualStack) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_width, width, kernel_size=2 * stride, stride=stride, padding=stride // 2)
        self.res = res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.conv(x))


class EncoderStage(nn.Module):
    """``down_t`` down-sampling blocks then a kernel-3 projection to ``emb_width``."""

    def __init__(self, config: VQVAEConfig, level: int, stage: int) -> None:
        super().__init__()
        c = config
        width, depth = c.level_width(level), c.level_depth(level)
        in_width = 1 if stage == 0 else c.emb_width
        self.stride = c.strides_t[stage]
        self.downs = nn.ModuleList(
            DownBlock(
                in_width if i == 0 else width,
                width,
                self.stride,
                ResidualStack(width, depth, c.m_conv, c.dilation_growth_rate, c.dilation_cycle),
            )
            for i in range(c.downs_t[stage])
        )
        self.proj = nn.Conv1d(width, c.emb_width, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, T) -> (N, emb_width, T / stride**down_t)."""
        for down in self.downs:
            x = down(x)
        return self.proj(x)


class Encoder(nn.Module):
    """Encoder of one level: stages ``0..level``."""

    def __init__(self, config: VQVAEConfig, level: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(EncoderStage(config, level, s) for s in range(level + 1))
        self.hop_length = config.hop_lengths[level]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, 1, T) -> every stage's output; the last, (N, emb_width, T / hop), is the level's latent."""
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def receptive_field(self) -> tuple[int, int]:
        """(left, right): output frame ``t`` depends on input samples ``[t*hop - left, t*hop + right]``."""
        scale, lo, hi = 1, 0, 0  # frame t of the current layer reads input [scale*t + lo, scale*t + hi]
        for stage in self.stages:
            for down in stage.downs:
                k, s, p = down.conv.kernel_size[0], down.conv.stride[0], down.conv.padding[0]
                lo, hi = lo - scale * p, hi + scale * (k - 1 - p)
                scale *= s
                reach = sum(down.res.dilations)  # each block: kernel 3, padding = dilation
                lo, hi = lo - scale * reach, hi + scale * reach
            lo, hi = lo - scale, hi + scale  # kernel-3 projection
        assert scale == self.hop_length
        return -lo, hi


class UpBlock(nn.Module):
    """Residual stack then transposed convolution: (N, width, T) -> (N, C_out, T * stride)."""

    def __init__(self, width: int, out_width: int, stride: int, res: ResidualStack) -> None:
        super().__init__()
        self.res = res
        self.conv = nn.ConvTranspose1d(width, out_width, kernel_size=2 * stride, stride=stride, padding=stride // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.res(x))


class DecoderStage(nn.Module):
    """Kernel-3 projection from ``emb_width``, then ``down_t`` up-sampling blocks back to ``emb_width``."""

    def __init__(self, config: VQVAEConfig, level: int, stage: int) -> None:
        super().__init__()
        c = config
        width, depth, down_t = c.level_width(level), c.level_depth(level), c.downs_t[stage]
        self.proj_in = nn.Conv1d(c.emb_width, width, kernel_size=3, padding=1)
        self.ups = nn.ModuleList(
            UpBlock(
                width,
                c.emb_width if i == down_t - 1 else width,
                c.strides_t[stage],
                ResidualStack(
                    width, depth, c.m_conv, c.dilation_growth_rate, c.dilation_cycle, c.reverse_decoder_dilation
                ),
            )
            for i in range(down_t)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, emb_width, T) -> (N, emb_width, T * stride**down_t)."""
        x = self.proj_in(x)
        for up in self.ups:
            x = up(x)
        return x


class Decoder(nn.Module):
    """Decoder of one level: stages ``level..0`` (reverse order), then ``out`` to one channel."""

    def __init__(self, config: VQVAEConfig, level: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(DecoderStage(config, level, s) for s in range(level + 1))
        self.out = nn.Conv1d(config.emb_width, 1, kernel_size=3, padding=1)
        self.hop_length = config.hop_lengths[level]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, emb_width, T / hop) -> (N, 1, T)."""
        x = z
        for stage in reversed(self.stages):
            x = stage(x)
        return self.out(x)

    def context_frames(self) -> int:
        """A bound on how many latent frames either side of frame ``t`` reach the samples of frame ``t``."""
        ctx = 1  # the kernel-3 ``out`` convolution, in output samples
        for stage in self.stages:  # walk from the output back to the latent
            for up in reversed(stage.ups):
                k, s = up.conv.kernel_size[0], up.conv.stride[0]
                ctx = math.ceil(ctx / s) + math.ceil(k / s)
                ctx += sum(up.res.dilations)
            ctx += 1  # kernel-3 proj_in
        return ctx
