"""Header conditioning: the piece's composer and instrumentation added to every position's input.

With block-local and strided attention a token deep in the window sees the header (composer,
instruments) only through a few intermediate tokens, so the composer token barely moves the
model's predictions. ``HeaderConditioning`` gives every position direct access instead: the
input embedding of token ``i`` gains

    cond_i = composer(c) + mean over instrument tokens k <= i of instrument(k)

where ``c`` is the last composer token at or before ``i`` (a learned "unknown" row stands for
the unknown-composer token; nothing before the first composer token). Only header tokens
(composer, unknown-composer, instrument) contribute, so ``cond`` is constant after the header
and causal within it. ``HeaderState`` carries the running sums from one cached chunk to the next,
so cached decoding computes exactly what a full forward pass does. Style mixing replaces the
composer row by the blend ``composer_mix @ composer_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from muse.token_tables import TokenTables


@dataclass
class HeaderState:
    """Running conditioning of each sequence after the tokens seen so far."""

    composer: Tensor  # (B, width) composer row of the last composer token (zeros before one)
    instrument_sum: Tensor  # (B, width) sum of the instrument rows seen
    instrument_count: Tensor  # (B,) number of instrument tokens seen

    @classmethod
    def zeros(cls, batch: int, width: int, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32) -> HeaderState:
        z = torch.zeros(batch, width, device=device, dtype=dtype)
        return cls(z, z.clone(), torch.zeros(batch, device=device, dtype=dtype))


class HeaderConditioning(nn.Module):
    """Per-position conditioning vectors (B, T, width) from the header tokens of ``ids`` (B, T)."""

    def __init__(self, tables: TokenTables, width: int, init_std: float = 0.02) -> None:
        super().__init__()
        n_composers = len(tables.composer_ids)
        self.unknown_row = n_composers
        self.composers = nn.Embedding(n_composers + 1, width)  # the last row: unknown composer
        self.instruments = nn.Embedding(max(1, len(tables.instrument_ids)), width)
        for emb in (self.composers, self.instruments):
            nn.init.normal_(emb.weight, std=init_std)
        composer_row = torch.full((tables.size,), -1, dtype=torch.long)
        composer_row[torch.as_tensor(tables.composer_ids, dtype=torch.long)] = torch.arange(n_composers)
        composer_row[tables.unknown_composer_id] = n_composers
        instrument_row = torch.full((tables.size,), -1, dtype=torch.long)
        instrument_row[torch.as_tensor(tables.instrument_ids, dtype=torch.long)] = torch.arange(
            len(tables.instrument_ids))
        self.register_buffer("composer_row", composer_row, persistent=False)
        self.register_buffer("instrument_row", instrument_row, persistent=False)

    def forward(self, ids: Tensor, state: HeaderState | None = None,
                composer_mix: Tensor | None = None) -> tuple[Tensor, HeaderState]:
        """Conditioning (B, T, width) of ``ids`` (B, T) continuing ``state``, and the state after.

        ``composer_mix`` (B, n_composers) weights: composer tokens (not the unknown one) take the
        blended row instead of their own.
        """
        B, T = ids.shape
        width = self.composers.embedding_dim
        if state is None:
            state = HeaderState.zeros(B, width, ids.device, self.composers.weight.dtype)
        comp_row = self.composer_row[ids]  # (B, T)
        is_comp = comp_row >= 0
        comp = self.composers(comp_row.clamp_min(0))  # (B, T, width)
        if composer_mix is not None:
            blend = composer_mix.to(comp.dtype) @ self.composers.weight[: self.unknown_row]  # (B, width)
            named = is_comp & (comp_row != self.unknown_row)
            comp = torch.where(named.unsqueeze(-1), blend[:, None, :], comp)
        # The composer row in force at each position: the last composer token at or before it.
        pos = torch.arange(T, device=ids.device).expand(B, T)
        last = torch.where(is_comp, pos, -1).cummax(dim=1).values  # (B, T)
        picked = comp.gather(1, last.clamp_min(0).unsqueeze(-1).expand(B, T, width))
        composer = torch.where((last >= 0).unsqueeze(-1), picked, state.composer[:, None, :])
        inst_row = self.instrument_row[ids]
        is_inst = (inst_row >= 0).to(comp.dtype)
        inst = self.instruments(inst_row.clamp_min(0)) * is_inst.unsqueeze(-1)
        inst_sum = state.instrument_sum[:, None, :] + inst.cumsum(dim=1)
        inst_count = state.instrument_count[:, None] + is_inst.cumsum(dim=1)
        cond = composer + inst_sum / inst_count.clamp_min(1.0).unsqueeze(-1)
        end = HeaderState(composer[:, -1], inst_sum[:, -1], inst_count[:, -1])
        return cond, end


__all__ = ["HeaderConditioning", "HeaderState"]
