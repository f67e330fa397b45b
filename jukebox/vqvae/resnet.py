"""Dilated 1-D residual stacks used by the VQ-VAE encoders and decoders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def stack_dilations(depth: int, growth_rate: int, cycle: int | None, reverse: bool = False) -> list[int]:
    """Dilation of each block in execution order: ``growth_rate ** (i % cycle)`` (``** i`` without a
    cycle), reversed for decoders when ``reverse`` is set."""
    dilations = [growth_rate ** (i if cycle is None else i % cycle) for i in range(depth)]
    return dilations[::-1] if reverse else dilations


class ResConvBlock(nn.Module):
    """``x + conv1x1(relu(conv3_dilated(relu(x))))``; lengths are preserved (padding = dilation)."""

    def __init__(self, width: int, hidden: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv1 = nn.Conv1d(width, hidden, kernel_size=3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(hidden, width, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, width, T) -> (N, width, T)."""
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ResidualStack(nn.Module):
    """``depth`` residual blocks with growing dilation, hidden width ``int(m_conv * width)``."""

    def __init__(
        self,
        width: int,
        depth: int,
        m_conv: float,
        growth_rate: int,
        cycle: int | None,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        hidden = int(m_conv * width)
        self.blocks = nn.ModuleList(
            ResConvBlock(width, hidden, d) for d in stack_dilations(depth, growth_rate, cycle, reverse)
        )

    @property
    def dilations(self) -> list[int]:
        return [block.dilation for block in self.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, width, T) -> (N, width, T)."""
        for block in self.blocks:
            x = block(x)
        return x
