"""VQ-VAE training losses and reconstruction metrics (Jukebox numerics).

All waveforms are mono ``(N, T)``. Spectra are ``torch.stft`` magnitudes (centred, reflect
padding, Hann window). Per-example functions return ``(N,)``; the training loss averages them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from jukebox.vqvae.config import VQVAELossConfig
from jukebox.vqvae.vqvae import VQVAEOutput

# The one fixed STFT of the original ``spectral_loss`` / ``spectral_convergence``.
DEFAULT_STFT = (2048, 256, 1536)  # n_fft, hop_length, window_size
CONVERGENCE_EPS = 2e-3


def stft_magnitude(x: torch.Tensor, n_fft: int, hop_length: int, window_size: int) -> torch.Tensor:
    """|STFT| of ``x`` (N, T) -> (N, n_fft // 2 + 1, frames)."""
    window = torch.hann_window(window_size, device=x.device, dtype=torch.float32)
    # reflect padding needs more than n_fft // 2 samples; very short clips fall back to zeros
    pad_mode = "reflect" if x.shape[-1] > n_fft // 2 else "constant"
    spec = torch.stft(
        x.float(), n_fft, hop_length, win_length=window_size, window=window,
        center=True, pad_mode=pad_mode, return_complex=True,
    )
    return spec.abs()


def _norm(x: torch.Tensor) -> torch.Tensor:
    """Per-example Frobenius norm: (N, ...) -> (N,)."""
    return x.reshape(x.shape[0], -1).pow(2).sum(dim=-1).sqrt()


def spectral_distance(
    target: torch.Tensor, pred: torch.Tensor, stft: tuple[int, int, int] = DEFAULT_STFT
) -> torch.Tensor:
    """|| |S(target)| - |S(pred)| ||_F per example, (N,); ``stft`` = (n_fft, hop, window)."""
    return _norm(stft_magnitude(target, *stft) - stft_magnitude(pred, *stft))


def multispectral_distance(
    target: torch.Tensor, pred: torch.Tensor, resolutions: Iterable[tuple[int, int, int]]
) -> torch.Tensor:
    """:func:`spectral_distance` averaged over several STFT resolutions, (N,)."""
    distances = [spectral_distance(target, pred, r) for r in resolutions]
    return torch.stack(distances).mean(dim=0)


def spectral_convergence(
    target: torch.Tensor, pred: torch.Tensor, eps: float = CONVERGENCE_EPS, stft: tuple[int, int, int] = DEFAULT_STFT
) -> torch.Tensor:
    """|S(target) - S(pred)| / |S(target)| per example, (N,); 0 where |S(target)| <= eps."""
    spec_t, spec_p = stft_magnitude(target, *stft), stft_magnitude(pred, *stft)
    gt, residual = _norm(spec_t), _norm(spec_t - spec_p)
    return residual * (gt > eps).float() / gt.clamp(min=eps)


def multi_resolution_stft_distance(
    target: torch.Tensor, pred: torch.Tensor, resolutions: Iterable[tuple[int, int, int]], eps: float = 1e-5
) -> torch.Tensor:
    """Multi-resolution STFT distance (spectral convergence + mean |log |S_t| - log |S_p||),
    averaged over ``resolutions``, per example (N,). Lower is better; 0 for identical signals."""
    values = []
    for stft in resolutions:
        spec_t, spec_p = stft_magnitude(target, *stft), stft_magnitude(pred, *stft)
        sc = _norm(spec_t - spec_p) / _norm(spec_t).clamp(min=eps)
        log_mag = (torch.log(spec_t + eps) - torch.log(spec_p + eps)).abs().flatten(1).mean(dim=1)
        values.append(sc + log_mag)
    return torch.stack(values).mean(dim=0)


def si_sdr(target: torch.Tensor, pred: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio in dB per example, (N,). Higher is better."""
    target, pred = target.double(), pred.double()
    scale = (pred * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    noise = pred - projection
    ratio = (projection.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps)
    return (10 * torch.log10(ratio)).float()


def reconstruction_loss(kind: str, target: torch.Tensor, pred: torch.Tensor, cfg: VQVAELossConfig) -> torch.Tensor:
    """Scalar waveform loss ``kind`` ('l1', 'l2', 'linf', 'lmix'), normalised by the data bandwidth."""
    d = pred - target
    if kind == "l1":
        return d.abs().mean() / cfg.bandwidth_l1
    if kind == "l2":
        return d.pow(2).mean() / cfg.bandwidth_l2
    if kind == "linf":
        sq = d.pow(2).reshape(d.shape[0], -1)
        top = torch.topk(sq, min(cfg.linf_k, sq.shape[1]), dim=1).values
        return top.mean() / cfg.bandwidth_l2
    if kind == "lmix":
        loss = torch.zeros((), device=d.device)
        for weight, part in ((cfg.lmix_l1, "l1"), (cfg.lmix_l2, "l2"), (cfg.lmix_linf, "linf")):
            if weight:
                loss = loss + weight * reconstruction_loss(part, target, pred, cfg)
        return loss
    raise ValueError(f"unknown reconstruction loss {kind!r}")


@dataclass
class VQVAELoss:
    """The training objective and every logged metric (scalars; level names 1-based: ``_l1`` = level 0)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


def vqvae_loss(audio: torch.Tensor, output: VQVAEOutput, cfg: VQVAELossConfig) -> VQVAELoss:
    """Jukebox VQ-VAE loss of ``output`` on ``audio`` (N, T):
    sum over levels of [recons + spectral * spectral + multispectral * multispectral] + commit * commit."""
    target = audio.float()
    metrics: dict[str, torch.Tensor] = {}
    recons = spec = multispec = torch.zeros((), device=target.device)
    for level in reversed(range(len(output.decoded))):
        pred = output.decoded[level]
        this_recons = reconstruction_loss(cfg.recons, target, pred, cfg)
        if cfg.nonrelative_specloss:
            this_spec = (spectral_distance(target, pred) / cfg.bandwidth_spec).mean()
        else:
            this_spec = spectral_convergence(target, pred).mean()
        this_multispec = (multispectral_distance(target, pred, cfg.resolutions) / cfg.bandwidth_spec).mean()
        name = f"l{level + 1}"
        metrics[f"recons_loss_{name}"] = this_recons
        metrics[f"spectral_loss_{name}"] = this_spec
        metrics[f"multispectral_loss_{name}"] = this_multispec
        recons, spec, multispec = recons + this_recons, spec + this_spec, multispec + this_multispec
    commit = torch.stack(output.commit_losses).sum()
    loss = recons + cfg.spectral * spec + cfg.multispectral * multispec + cfg.commit * commit
    with torch.no_grad():
        pred0 = output.decoded[0]
        metrics.update(
            recons_loss=recons,
            spectral_loss=spec,
            multispectral_loss=multispec,
            spectral_convergence=spectral_convergence(target, pred0).mean(),
            l2_loss=reconstruction_loss("l2", target, pred0, cfg),
            l1_loss=reconstruction_loss("l1", target, pred0, cfg),
            linf_loss=reconstruction_loss("linf", target, pred0, cfg),
            commit_loss=commit,
        )
        metrics.update(_codebook_metrics(output.codebook_metrics))
    return VQVAELoss(loss=loss, metrics=metrics)


def _codebook_metrics(per_level: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Codebook statistics averaged over levels (official names), plus per-level usage and perplexity."""
    out: dict[str, torch.Tensor] = {}
    names = sorted(set().union(*per_level)) if per_level else []
    for name in names:
        values = [m[name].float() for m in per_level if name in m]
        out[name] = torch.stack(values).mean()
    for level, m in enumerate(per_level):
        if "entropy" in m:
            out[f"perplexity_l{level + 1}"] = m["entropy"].exp()
            out[f"usage_l{level + 1}"] = m["usage"]
    return out
