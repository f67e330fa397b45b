"""Factorized token embedding and output head for the MuseNet vocabulary.

A note token is (instrument, pitch, on/off) x velocity: 17 instruments x 17 velocity bins x 128
pitches make ~40k ids, and a full (V, width) table would dominate the model's size and a full
softmax its training cost. Here each id is the sum of a *row* embedding (a non-note token, a
note-off, or a note-on's (instrument, pitch)) and, for note-ons, a *velocity* embedding. The output head is tied
to the same tables: ``logit(id) = h . row[id] + b_row + (h . vel[id] + b_vel if note-on)``, so
the softmax over all V ids factorizes exactly and the loss needs ``n_rows + n_velocities`` dot
products per position instead of V. Velocity is thereby independent of instrument/pitch given
the context, while which note starts or stops is modelled jointly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from muse.token_tables import TokenTables


class FactorizedVocab(nn.Module):
    """Token embedding (ids -> (..., width)) and tied output head over the factorized vocabulary."""

    def __init__(self, tables: TokenTables, width: int, init_std: float = 0.02, tie: bool = True) -> None:
        super().__init__()
        self.size = tables.size
        self.rows = nn.Embedding(tables.n_rows, width)
        self.velocities = nn.Embedding(max(1, tables.n_velocities), width)
        self.row_bias = nn.Parameter(torch.zeros(tables.n_rows))
        self.velocity_bias = nn.Parameter(torch.zeros(max(1, tables.n_velocities)))
        self.out_rows = None if tie else nn.Linear(width, tables.n_rows, bias=False)
        self.out_velocities = None if tie else nn.Linear(width, max(1, tables.n_velocities), bias=False)
        self.register_buffer("row", torch.as_tensor(tables.row), persistent=False)
        self.register_buffer("velocity_row", torch.as_tensor(tables.velocity_row), persistent=False)
        self.n_plain = tables.n_plain
        # Velocity index of every id for sampling: note-ons their bin, the rest an extra zero column.
        n_vel = max(1, tables.n_velocities)
        vel_or_zero = torch.as_tensor(tables.velocity_row).clone()
        vel_or_zero[vel_or_zero < 0] = n_vel
        self.register_buffer("velocity_or_zero", vel_or_zero, persistent=False)
        self.has_velocity = tables.n_velocities > 0 and tables.n_rows > tables.n_plain
        for module in (self.rows, self.velocities, self.out_rows, self.out_velocities):
            if module is not None:
                nn.init.normal_(module.weight, std=init_std)

    def forward(self, ids: Tensor) -> Tensor:
        """Embeddings of ``ids`` (...,) -> (..., width)."""
        x = self.rows(self.row[ids])
        if self.has_velocity:
            vel = self.velocity_row[ids]
            x = x + self.velocities(vel.clamp_min(0)) * (vel >= 0).unsqueeze(-1).to(x.dtype)
        return x

    def factor_logits(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Row logits (..., n_rows) and velocity logits (..., n_velocities) of hidden states h (..., width)."""
        if self.out_rows is None:
            rows = h @ self.rows.weight.t()
            vels = h @ self.velocities.weight.t()
        else:
            rows, vels = self.out_rows(h), self.out_velocities(h)
        return rows + self.row_bias, vels + self.velocity_bias

    def log_normalizer(self, rows: Tensor, vels: Tensor) -> Tensor:
        """log sum over all V ids of exp(logit) (...,), from the factor logits, in float32."""
        rows, vels = rows.float(), vels.float()
        plain = rows[..., : self.n_plain].logsumexp(-1)
        if not self.has_velocity:
            return plain
        return torch.logaddexp(plain, rows[..., self.n_plain :].logsumexp(-1) + vels.logsumexp(-1))

    def token_logits(self, h: Tensor) -> Tensor:
        """Unnormalized logits (..., V) of every id (for sampling); float32."""
        rows, vels = self.factor_logits(h)
        rows, vels = rows.float(), vels.float()
        lead = rows.shape[:-1]
        logits = rows.gather(-1, self.row.expand(*lead, -1))  # gather beats index_select on the last dim
        if self.has_velocity:
            vels = torch.cat([vels, vels.new_zeros(*lead, 1)], dim=-1)
            logits = logits + vels.gather(-1, self.velocity_or_zero.expand(*lead, -1))
        return logits

    def _logit(self, rows: Tensor, vels: Tensor, ids: Tensor) -> Tensor:
        """The logits (...,) of ``ids`` (...,) from the factor logits (float32)."""
        logit = rows.gather(-1, self.row[ids].unsqueeze(-1)).squeeze(-1)
        if self.has_velocity:
            vel = self.velocity_row[ids]
            logit = logit + vels.gather(-1, vel.clamp_min(0).unsqueeze(-1)).squeeze(-1) * (vel >= 0)
        return logit

    def nll(self, h: Tensor, targets: Tensor, boost: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Negative log-likelihood in nats (...,) of ``targets`` (...,) given hidden states h (..., width).
        ``boost``: (ids, bonus), both (...,): one id per position whose logit is raised by ``bonus``
        (the copy head, ``muse.copy_head``); the normalizer then gains ``exp(logit) (exp(bonus) - 1)``."""
        rows, vels = self.factor_logits(h)
        rows, vels = rows.float(), vels.float()
        target = self._logit(rows, vels, targets)
        log_z = self.log_normalizer(rows, vels)
        if boost is not None:
            ids, bonus = boost
            share = (self._logit(rows, vels, ids) - log_z).exp()  # the boosted id's probability before the bonus
            log_z = log_z + (share * torch.expm1(bonus)).clamp_min(-1 + 1e-6).log1p()
            target = target + bonus * (targets == ids)
        return log_z - target

    def embedding_of(self, ids: Tensor) -> Tensor:
        """The input embedding rows (n, width) of ``ids`` (n,) (e.g. the composer tokens)."""
        return self.forward(ids)


__all__ = ["FactorizedVocab"]
