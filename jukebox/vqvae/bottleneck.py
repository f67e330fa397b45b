"""Vector-quantisation bottleneck: one EMA codebook per level.

Frames are the rows of the channels-last encoder output, ``(N*T, emb_width)`` batch-major; each
is replaced by its nearest codebook row (squared Euclidean distance). In training the codebook
follows an exponential moving average of the frames assigned to each code (rate ``mu``), and
codes whose average usage falls below ``threshold`` are re-seeded with random frames of the
current batch (dead-code restarts). The EMA state (``k_sum``, ``k_elem``) is not part of the
state dict, as in the original: after loading weights it is restored from the codebook
(:meth:`Codebook.restore`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
from einops import rearrange
from torch import nn

# Rows of the distance matrix computed at once: bounds memory for long inputs.
_QUANTISE_ROWS = 16384


@dataclass
class QuantiserOutput:
    """One level's bottleneck pass. ``codes`` (N, T) int64; ``quantised`` (N, C, T) with the
    straight-through gradient; ``commit_loss`` scalar; ``metrics`` scalar tensors for logging."""

    codes: torch.Tensor
    quantised: torch.Tensor
    commit_loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


def _tile(x: torch.Tensor, n: int) -> torch.Tensor:
    """At least ``n`` rows drawn from ``x``: repeated with small noise when ``x`` has fewer."""
    rows, width = x.shape
    if rows >= n:
        return x
    repeats = (n + rows - 1) // rows
    x = x.repeat(repeats, 1)
    return x + torch.randn_like(x) * (0.01 / math.sqrt(width))


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


class Codebook(nn.Module):
    """One level's codebook ``vectors`` (l_bins, emb_width) with EMA updates and restarts."""

    def __init__(self, l_bins: int, emb_width: int, mu: float, threshold: float = 1.0) -> None:
        super().__init__()
        self.l_bins, self.emb_width, self.mu, self.threshold = l_bins, emb_width, mu, threshold
        self.register_buffer("vectors", torch.zeros(l_bins, emb_width))
        self.register_buffer("k_sum", torch.zeros(l_bins, emb_width), persistent=False)
        self.register_buffer("k_elem", torch.zeros(l_bins), persistent=False)
        self.initialised = False

    def keep_ema_in_state_dict(self, keep: bool = True) -> None:
        """Save ``k_sum`` / ``k_elem`` with the weights (training checkpoints that resume exactly);
        off by default, so the state dict matches the official layout one-to-one."""
        for name in ("k_sum", "k_elem"):
            if keep:
                self._non_persistent_buffers_set.discard(name)
            else:
                self._non_persistent_buffers_set.add(name)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,  # noqa: ANN001
                              unexpected_keys, error_msgs):
        """Load the codebook; the EMA state too when saved with it, else restore it from the codebook
        (so training a loaded model continues from its codebook instead of re-initialising it)."""
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if prefix + "k_sum" in state_dict and prefix + "k_elem" in state_dict:
            self.initialised = True
        else:
            self.restore()

    def _random_frames(self, x: torch.Tensor) -> torch.Tensor:
        """``l_bins`` random frames of ``x`` (the same on every rank)."""
        y = _tile(x, self.l_bins)
        picked = y[torch.randperm(y.shape[0], device=y.device)[: self.l_bins]].contiguous()
        if _distributed():
            dist.broadcast(picked, 0)
        return picked

    @torch.no_grad()
    def initialise(self, x: torch.Tensor) -> None:
        """Seed the codebook with random frames ``x`` (M, C) (first training step of a new model)."""
        self.vectors.copy_(self._random_frames(x))
        self.k_sum.copy_(self.vectors)
        self.k_elem.fill_(1.0)
        self.initialised = True

    @torch.no_grad()
    def restore(self, num_tokens: float | None = None, threshold: float | None = None) -> None:
        """Restart the EMA from the current codebook as if each code had been used
        ``num_tokens / l_bins`` times (once when ``num_tokens`` is None)."""
        usage = 1.0 if num_tokens is None else num_tokens / self.l_bins
        self.k_sum.copy_(self.vectors * usage)
        self.k_elem.fill_(usage)
        if threshold is not None:
            self.threshold = threshold
        self.initialised = True

    def quantise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest code of each frame ``x`` (M, C): (codes (M,) int64, squared distances (M,))."""
        k = self.vectors
        k_sq = (k**2).sum(dim=1)
        codes, dists = [], []
        for rows in x.split(_QUANTISE_ROWS):
            distance = (rows**2).sum(dim=1, keepdim=True) - 2 * rows @ k.t() + k_sq
            d, c = distance.min(dim=1)
            codes.append(c)
            dists.append(d)
        return torch.cat(codes), torch.cat(dists)

    def dequantise(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook rows of ``codes`` (...,) -> (..., C)."""
        return nn.functional.embedding(codes, self.vectors)

    @torch.no_grad()
    def update(self, x: torch.Tensor, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """One EMA step on frames ``x`` (M, C) assigned to ``codes`` (M,); re-seeds unused codes."""
        sums = torch.zeros_like(self.k_sum).index_add_(0, codes, x.to(self.k_sum.dtype))
        counts = torch.bincount(codes, minlength=self.l_bins).to(self.k_elem.dtype)
        fresh = self._random_frames(x)
        if _distributed():
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        old = self.vectors.clone()
        self.k_sum.mul_(self.mu).add_(sums, alpha=1.0 - self.mu)
        self.k_elem.mul_(self.mu).add_(counts, alpha=1.0 - self.mu)
        used = (self.k_elem >= self.threshold).unsqueeze(1)
        self.vectors.copy_(torch.where(used, self.k_sum / self.k_elem.unsqueeze(1), fresh.to(self.vectors.dtype)))
        prob = counts / counts.sum()
        return {
            "entropy": -(prob * torch.log(prob + 1e-8)).sum(),
            "used_curr": (counts >= self.threshold).sum().float(),
            "usage": used.sum().float(),
            "dk": torch.linalg.vector_norm(self.vectors - old) / math.sqrt(old.numel()),
        }

    def forward(self, x: torch.Tensor, update: bool) -> QuantiserOutput:
        """Quantise encoder output ``x`` (N, C, T); with ``update`` also step the EMA codebook."""
        with torch.autocast(x.device.type, enabled=False):  # distances and EMA sums in float32
            return self._forward(x.float(), update)

    def _forward(self, x: torch.Tensor, update: bool) -> QuantiserOutput:
        n, _, t = x.shape
        frames = rearrange(x, "n c t -> (n t) c")
        prenorm = torch.linalg.vector_norm(frames - frames.mean()) / math.sqrt(frames.numel())
        if update and not self.initialised:
            self.initialise(frames.detach())
        codes, dist2 = self.quantise(frames)
        quantised = self.dequantise(codes)
        metrics = {"fit": dist2.mean(), "pn": prenorm}
        if update:
            metrics.update(self.update(frames.detach(), codes))
        commit_loss = ((quantised.detach() - frames) ** 2).mean()
        quantised = frames + (quantised - frames).detach()  # straight-through estimator
        return QuantiserOutput(
            codes=codes.view(n, t),
            quantised=rearrange(quantised, "(n t) c -> n c t", n=n),
            commit_loss=commit_loss,
            metrics=metrics,
        )


class Bottleneck(nn.Module):
    """One :class:`Codebook` per level."""

    def __init__(self, levels: int, l_bins: int, emb_width: int, mu: float, threshold: float = 1.0) -> None:
        super().__init__()
        self.codebooks = nn.ModuleList(Codebook(l_bins, emb_width, mu, threshold) for _ in range(levels))

    def forward(self, latents: list[torch.Tensor]) -> list[QuantiserOutput]:
        """Quantise each level's latent (N, C, T_L); updates codebooks in training mode."""
        outs = []
        for codebook, x in zip(self.codebooks, latents):
            out = codebook(x, update=self.training)
            if not self.training:
                out.quantised = out.quantised.detach()
            outs.append(out)
        return outs

    def restore(self, num_tokens: float | None = None, threshold: float | None = None) -> None:
        """Restart every level's EMA from its codebook (see :meth:`Codebook.restore`)."""
        for codebook in self.codebooks:
            codebook.restore(num_tokens, threshold)

    def keep_ema_in_state_dict(self, keep: bool = True) -> None:
        for codebook in self.codebooks:
            codebook.keep_ema_in_state_dict(keep)
