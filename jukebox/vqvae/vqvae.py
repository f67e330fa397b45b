"""The Jukebox hierarchical VQ-VAE: per level an encoder, a codebook and a decoder.

Audio is mono ``(N, T)`` float in [-1, 1]. Level ``L`` turns it into codes ``(N, T / hop_L)``
and its own decoder turns those codes back into ``(N, T)``; levels do not share weights.
Long inputs are encoded and decoded in chunks with enough overlap (the receptive field) that the
result equals the one-shot computation while memory stays bounded by the chunk size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from jukebox.vqvae.bottleneck import Bottleneck
from jukebox.vqvae.config import VQVAEConfig
from jukebox.vqvae.encoder_decoder import Decoder, Encoder


@dataclass
class VQVAEOutput:
    """Training forward pass, one entry per level. ``codes`` (N, T_L) int64; ``latents`` encoder
    outputs and ``quantised`` codebook vectors (N, emb_width, T_L); ``decoded`` (N, T) from each
    level's own decoder; ``commit_losses`` scalars; ``codebook_metrics`` per-level scalar dicts."""

    codes: list[torch.Tensor]
    latents: list[torch.Tensor]
    quantised: list[torch.Tensor]
    decoded: list[torch.Tensor]
    commit_losses: list[torch.Tensor]
    codebook_metrics: list[dict[str, torch.Tensor]]


def _chunks(n_frames: int, chunk_frames: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n_frames, chunk_frames):
        yield start, min(start + chunk_frames, n_frames)


class VQVAE(nn.Module):
    """Hierarchical VQ-VAE built from a :class:`VQVAEConfig`."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleList(Encoder(config, level) for level in range(config.levels))
        self.decoders = nn.ModuleList(Decoder(config, level) for level in range(config.levels))
        self.bottleneck = Bottleneck(
            config.levels, config.l_bins, config.emb_width, config.codebook_mu, config.revival_threshold
        )

    @property
    def levels(self) -> int:
        return self.config.levels

    @property
    def hop_lengths(self) -> tuple[int, ...]:
        return self.config.hop_lengths

    def _check_level(self, level: int) -> None:
        if not 0 <= level < self.levels:
            raise ValueError(f"level {level} out of range: this VQ-VAE has levels 0..{self.levels - 1}")

    def _as_input(self, audio: torch.Tensor, hop: int) -> torch.Tensor:
        """(N, T) -> (N, 1, T), checking that T is a whole number of frames."""
        if audio.dim() != 2:
            raise ValueError(f"expected mono audio of shape (N, T), got {tuple(audio.shape)}")
        if audio.shape[1] == 0 or audio.shape[1] % hop:
            raise ValueError(f"audio length {audio.shape[1]} is not a positive multiple of the hop length {hop}")
        return audio.unsqueeze(1).float()

    def encoder_stages(self, audio: torch.Tensor, level: int) -> list[torch.Tensor]:
        """Level ``level``'s encoder on ``audio`` (N, T): each stage's output (N, emb_width, T_S)."""
        self._check_level(level)
        return self.encoders[level](self._as_input(audio, self.hop_lengths[level]))

    def latent(self, audio: torch.Tensor, level: int) -> torch.Tensor:
        """Continuous encoder output of one level: (N, T) -> (N, emb_width, T / hop)."""
        return self.encoder_stages(audio, level)[-1]

    def encode(
        self, audio: torch.Tensor, levels: Sequence[int] | None = None, chunk_frames: int | None = None
    ) -> list[torch.Tensor]:
        """Codes of each requested level (default all): (N, T) -> [(N, T / hop_L) int64].

        With ``chunk_frames``, each level is encoded ``chunk_frames`` codes at a time with its
        receptive field as overlap: the same codes, with memory bounded by the chunk.
        """
        levels = range(self.levels) if levels is None else levels
        return [self._encode_level(audio, level, chunk_frames) for level in levels]

    def _encode_level(self, audio: torch.Tensor, level: int, chunk_frames: int | None) -> torch.Tensor:
        self._check_level(level)
        hop, codebook = self.hop_lengths[level], self.bottleneck.codebooks[level]
        n, total = audio.shape[0], audio.shape[-1]
        if chunk_frames is None or chunk_frames * hop >= total:
            return codebook.quantise(_frames(self.latent(audio, level)))[0].view(n, -1)
        left, right = (math.ceil(r / hop) * hop for r in self.encoders[level].receptive_field())
        self._as_input(audio, hop)  # validates the full length once
        codes = []
        for f0, f1 in _chunks(total // hop, chunk_frames):
            s0, s1 = max(0, f0 * hop - left), min(total, f1 * hop + right)
            latent = self.latent(audio[:, s0:s1], level)
            first = (f0 * hop - s0) // hop
            codes.append(codebook.quantise(_frames(latent[:, :, first : first + f1 - f0]))[0].view(n, -1))
        return torch.cat(codes, dim=1)

    def dequantise(self, codes: torch.Tensor, level: int) -> torch.Tensor:
        """Codebook vectors of ``codes`` (N, T_L) -> (N, emb_width, T_L)."""
        self._check_level(level)
        if codes.dim() != 2:
            raise ValueError(f"expected codes of shape (N, T), got {tuple(codes.shape)}")
        return self.bottleneck.codebooks[level].dequantise(codes).permute(0, 2, 1).contiguous()

    def decode(self, codes: torch.Tensor, level: int, chunk_frames: int | None = None) -> torch.Tensor:
        """Waveform from one level's codes with that level's decoder: (N, T_L) -> (N, T_L * hop_L).

        With ``chunk_frames``, decodes that many codes at a time, each with the decoder's context
        either side, and joins the pieces: the same waveform with bounded memory.
        """
        self._check_level(level)
        decoder = self.decoders[level]
        n_frames, hop = codes.shape[-1], self.hop_lengths[level]
        if chunk_frames is None or chunk_frames >= n_frames:
            return decoder(self.dequantise(codes, level)).squeeze(1)
        ctx = decoder.context_frames()
        pieces = []
        for f0, f1 in _chunks(n_frames, chunk_frames):
            c0, c1 = max(0, f0 - ctx), min(n_frames, f1 + ctx)
            audio = decoder(self.dequantise(codes[:, c0:c1], level)).squeeze(1)
            pieces.append(audio[:, (f0 - c0) * hop : (f1 - c0) * hop])
        return torch.cat(pieces, dim=1)

    def forward(self, audio: torch.Tensor) -> VQVAEOutput:
        """Training/evaluation pass on ``audio`` (N, T), T a multiple of the top hop length.

        In training mode the codebooks take one EMA step on this batch."""
        x = self._as_input(audio, self.hop_lengths[-1])
        latents = [encoder(x)[-1] for encoder in self.encoders]
        quantised = self.bottleneck(latents)
        decoded = [decoder(q.quantised).squeeze(1) for decoder, q in zip(self.decoders, quantised)]
        return VQVAEOutput(
            codes=[q.codes for q in quantised],
            latents=latents,
            quantised=[q.quantised for q in quantised],
            decoded=decoded,
            commit_losses=[q.commit_loss for q in quantised],
            codebook_metrics=[q.metrics for q in quantised],
        )


def _frames(latent: torch.Tensor) -> torch.Tensor:
    """(N, C, T) -> (N*T, C), batch-major rows."""
    return latent.permute(0, 2, 1).reshape(-1, latent.shape[1])
