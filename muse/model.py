"""The MuseNet-style decoder: embeddings on top of the shared sparse transformer (``muse.core``).

Input embedding of token ``i`` (each extra one switchable in ``MuseConfig``)::

    vocab(id) + position(i) + time(elapsed ticks, bucketed) + chord(note index in its time step)
      + part(128 * elapsed / total seconds) + countdown(seconds left, in countdown_seconds units)

The clock features come from the ids (``muse.clock``), so the cached decoder computes them
incrementally. The structural pair needs the piece's total length: in training the real one; in
generation the requested length (the requested seconds, plus the prime's when continuing). An
unknown length (``total_us < 0``) uses a learned "unknown" row, trained through
``structure_dropout`` (which the training loss applies to ``total_us``: ``muse.train_data``).
Composer and instrumentation condition the model through the header tokens and, with
``header_conditioning``, through vectors added at every position (``muse.conditioning``);
``composer_embeddings`` returns their embedding rows for the analysis tools. With ``copy_head``
the token that followed the current passage's last occurrence in the window gets a learnt bonus
(``muse.copy_head``). Style mixing: an
optional ``composer_mix`` (weights over ``tables.composers``) embeds the composer token as the
weighted blend of the composer embeddings (``muse.composers.mixing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from muse.clock import Clock, ClockState, TokenClock
from muse.conditioning import HeaderConditioning, HeaderState
from muse.config import STRUCTURE_PARTS, MuseConfig
from muse.copy_head import CopyHead, CopyState, copy_matches
from muse.core.cache import KVCache
from muse.core.transformer import PositionalEmbedding, Transformer
from muse.embedding import FactorizedVocab
from muse.token_tables import TokenTables

UNKNOWN = STRUCTURE_PARTS  # index of the "unknown length" row of the structure embeddings


@dataclass
class MuseCache:
    """Decoding state: the transformer's KV cache, the token clock and each row's target length."""

    kv: KVCache
    clock: ClockState
    total_us: Tensor  # (B,) int64 target length in microseconds, -1 = unknown
    composer_mix: Tensor | None = None  # (B, n_composers) style-mixing weights (see MuseModel.token_embedding)
    header: HeaderState | None = None  # running header conditioning (``header_conditioning`` models)
    copy: CopyState | None = None  # the window's repeats so far (``copy_head`` models)

    @property
    def offset(self) -> int:
        """Tokens fed so far (the next token's position in the window)."""
        return self.kv.offset


class MuseModel(nn.Module):
    """Decoder-only transformer over musetok ids; implements ``muse.core.sampling.Decoder``."""

    def __init__(self, config: MuseConfig, tables: TokenTables) -> None:
        super().__init__()
        if config.vocab_size != tables.size:
            raise ValueError(f"config vocab_size {config.vocab_size} != tokenizer vocabulary size {tables.size}")
        self.config, self.tables = config, tables
        t = config.transformer
        self.n_ctx = t.n_ctx
        self.vocab = FactorizedVocab(tables, t.width, config.init_std, tie=config.tie_embeddings)
        self.pos = PositionalEmbedding(t.n_ctx, t.width, init_std=0.01)
        self.clock = TokenClock(tables)
        self.time_emb = nn.Embedding(config.time_buckets, t.width) if config.time_embedding else None
        self.chord_emb = nn.Embedding(config.chord_max, t.width) if config.chord_embedding else None
        self.part_emb = nn.Embedding(STRUCTURE_PARTS + 1, t.width) if config.structure_embedding else None
        self.countdown_emb = nn.Embedding(STRUCTURE_PARTS + 1, t.width) if config.structure_embedding else None
        self.header_cond = HeaderConditioning(tables, t.width, config.init_std) if config.header_conditioning else None
        self.copy = CopyHead(t.width) if config.copy_head else None
        for emb in (self.time_emb, self.chord_emb, self.part_emb, self.countdown_emb):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.01)
        self.register_buffer("composer_ids", torch.as_tensor(tables.composer_ids), persistent=False)
        is_composer = torch.zeros(tables.size, dtype=torch.bool)
        is_composer[self.composer_ids] = True
        self.register_buffer("is_composer", is_composer, persistent=False)
        self.drop = nn.Dropout(config.embed_dropout)
        self.transformer = Transformer(t)
        self.ln_f = nn.LayerNorm(t.width, eps=t.ln_eps)
        self._countdown_us = int(round(config.countdown_seconds * 1e6))

    # ---- embeddings -----------------------------------------------------------------------

    def structure_indices(self, micros: Tensor, total_us: Tensor) -> tuple[Tensor, Tensor]:
        """Part (0..127) and countdown (127..0) indices (B, T) of elapsed ``micros`` (B, T) given
        ``total_us`` (B,); rows with ``total_us < 0`` get the unknown index 128."""
        total = total_us[:, None]
        known = total > 0
        safe = total.clamp_min(1)
        part = (micros * STRUCTURE_PARTS).div(safe, rounding_mode="floor").clamp(0, STRUCTURE_PARTS - 1)
        countdown = (total - micros).div(self._countdown_us, rounding_mode="floor").clamp(0, STRUCTURE_PARTS - 1)
        return torch.where(known, part, UNKNOWN), torch.where(known, countdown, UNKNOWN)

    def token_embedding(self, ids: Tensor, composer_mix: Tensor | None = None) -> Tensor:
        """Token embeddings (B, T, width) of ``ids`` (B, T). With ``composer_mix`` (B, n_composers)
        or (n_composers,) weights over ``tables.composers`` (summing to 1), every composer token is
        embedded as ``composer_mix @ composer_embeddings()`` instead (style mixing)."""
        x = self.vocab(ids)
        if composer_mix is None:
            return x
        if composer_mix.shape[-1] != len(self.composer_ids):
            raise ValueError(f"composer_mix has {composer_mix.shape[-1]} weights, "
                             f"the model {len(self.composer_ids)} composers")
        blend = composer_mix.to(x.dtype) @ self.vocab(self.composer_ids)  # (B, width) or (width,)
        return torch.where(self.is_composer[ids].unsqueeze(-1), blend.reshape(-1, 1, x.shape[-1]), x)

    def embed(self, ids: Tensor, clock: Clock, total_us: Tensor | None, offset: int = 0,
              composer_mix: Tensor | None = None, cache: MuseCache | None = None) -> Tensor:
        """Input embeddings (B, T, width) of ``ids`` (B, T) at window positions ``offset..``; a
        ``cache`` carries (and advances) the header conditioning of earlier chunks."""
        c = self.config
        x = self.token_embedding(ids, composer_mix) + self.pos(ids.shape[1], offset)
        if self.header_cond is not None:
            mix = (None if composer_mix is None
                   else composer_mix.reshape(-1, composer_mix.shape[-1]).expand(ids.shape[0], -1))
            cond, state = self.header_cond(ids, None if cache is None else cache.header, mix)
            x = x + cond
            if cache is not None:
                cache.header = state
        if self.time_emb is not None:
            x = x + self.time_emb(clock.ticks.div(c.time_quantum, rounding_mode="floor") % c.time_buckets)
        if self.chord_emb is not None:
            x = x + self.chord_emb(clock.chord.clamp(0, c.chord_max - 1))
        if self.part_emb is not None:
            if total_us is None:
                total_us = torch.full((ids.shape[0],), -1, dtype=torch.long, device=ids.device)
            part, countdown = self.structure_indices(clock.micros, total_us)
            x = x + self.part_emb(part) + self.countdown_emb(countdown)
        return self.drop(x)

    # ---- full forward -----------------------------------------------------------------------

    def hidden(self, ids: Tensor, clock: Clock | None = None, total_us: Tensor | None = None,
               composer_mix: Tensor | None = None) -> Tensor:
        """Final hidden states (B, T, width) of a whole window ``ids`` (B, T), T <= n_ctx.

        ``clock``: the tokens' clock features (computed from ``ids`` from a fresh clock when None;
        a training crop passes the features of its place in the whole piece). ``total_us`` (B,):
        the piece's length in microseconds (-1 or None = unknown). ``composer_mix``: see
        ``token_embedding``.
        """
        if ids.shape[1] > self.n_ctx:
            raise ValueError(f"{ids.shape[1]} tokens exceed the model's context of {self.n_ctx}")
        clock = self.clock(ids) if clock is None else clock
        return self.ln_f(self.transformer(self.embed(ids, clock, total_us, composer_mix=composer_mix)))

    def forward(self, ids: Tensor, clock: Clock | None = None, total_us: Tensor | None = None,
                targets: Tensor | None = None, composer_mix: Tensor | None = None) -> Tensor:
        """Logits (B, T, V) of the token after each of ``ids`` (B, T) (see ``hidden``); with
        ``targets`` (B, T), their negative log-likelihood in nats (B, T) instead (the cheap,
        factorized path used in training)."""
        h = self.hidden(ids, clock, total_us, composer_mix)
        if targets is None:
            return self.head(h, ids)
        return self.vocab.nll(h, targets, None if self.copy is None else self._boost(h, *copy_matches(ids)))

    def head(self, h: Tensor, ids: Tensor) -> Tensor:
        """Logits (B, t, V) of the last t positions of the window ``ids`` (B, T) from their final
        hidden states ``h`` (B, t, width) (``hidden``): the copy head reads the whole window."""
        if self.copy is None:
            return self._logits(h, None)
        candidate, bucket = copy_matches(ids)
        t = h.shape[1]
        return self._logits(h, self._boost(h, candidate[:, -t:], bucket[:, -t:]))

    def _boost(self, h: Tensor, candidate: Tensor, bucket: Tensor) -> tuple[Tensor, Tensor]:
        """The copy head's (candidate ids (B, T), bonus (B, T)) for hidden states ``h`` (B, T, width)."""
        return candidate, self.copy(h, bucket)

    def _logits(self, h: Tensor, boost: tuple[Tensor, Tensor] | None) -> Tensor:
        """Logits (B, T, V) of hidden states ``h`` (B, T, width), with the copy head's ``boost``
        (candidate ids (B, T), bonus (B, T)) added to its candidates."""
        logits = self.vocab.token_logits(h)
        if boost is None:
            return logits
        candidate, bonus = boost
        return logits.scatter_add_(-1, candidate.unsqueeze(-1), bonus.unsqueeze(-1).to(logits.dtype))  # a fresh tensor

    # ---- cached decoding (muse.core.sampling.Decoder) ---------------------------------------

    def new_cache(self, batch_size: int, total_seconds: float | Tensor | None = None,
                  composer_mix: Tensor | None = None) -> MuseCache:
        """An empty decoding state; ``total_seconds`` (scalar or (B,)) is the target length;
        ``composer_mix`` ((n_composers,) or (B, n_composers)) blends the composer embedding."""
        device = self.pos.pos_emb.device
        if total_seconds is None:
            total = torch.full((batch_size,), -1, dtype=torch.long, device=device)
        else:
            total = torch.as_tensor(total_seconds, dtype=torch.float64).mul(1e6).round().long().to(device)
            total = total.expand(batch_size).clone() if total.ndim == 0 else total
        if composer_mix is not None:
            composer_mix = torch.as_tensor(composer_mix, dtype=torch.float32, device=device)
            composer_mix = composer_mix.expand(batch_size, -1).clone() if composer_mix.ndim == 1 else composer_mix
        copy = None if self.copy is None else CopyState.empty(batch_size, self.n_ctx, device)
        return MuseCache(self.transformer.new_cache(batch_size), ClockState.zeros(batch_size, device), total,
                         composer_mix, copy=copy)

    def step(self, ids: Tensor, cache: MuseCache) -> Tensor:
        """Feed ``ids`` (B, T) after the cached tokens; logits (B, T, V); advances ``cache``."""
        if cache.offset + ids.shape[1] > self.n_ctx:
            raise ValueError(f"feeding {ids.shape[1]} tokens after {cache.offset} exceeds the context of {self.n_ctx}")
        clock = self.clock(ids, cache.clock)
        x = self.embed(ids, clock, cache.total_us, offset=cache.offset, composer_mix=cache.composer_mix, cache=cache)
        h = self.ln_f(self.transformer(x, cache.kv))
        cache.clock = clock.end
        return self._logits(h, None if cache.copy is None else self._boost(h, *cache.copy.advance(ids)))

    # ---- analysis ---------------------------------------------------------------------------

    def composer_embeddings(self) -> Tensor:
        """Embedding rows (n_composers, width) of the composer tokens, in ``tables.composers`` order."""
        ids = torch.as_tensor(self.tables.composer_ids, device=self.pos.pos_emb.device)
        return self.vocab.embedding_of(ids).detach()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


__all__ = ["MuseModel", "MuseCache", "UNKNOWN"]
