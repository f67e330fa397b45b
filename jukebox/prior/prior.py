"""Jukebox autoregressive prior over one level's codes, on the shared ``muse.core`` transformer.

Input at position ``p`` of the transformer's sequence: the start token (artist + genres) at 0,
else the embedding of token ``p - 1``; plus the learned position embedding and the positional
conditioning ``x_cond`` (timing signal at the top level, up-sampled upper-level codes in an
upsampler). Without ``merged_decoder`` ``x_cond`` is added again after the transformer and the
output projection is tied to the input embedding.

Lyrics, two designs (``PriorConfig.lyrics.design``):
- ``encoder`` (5b_lyrics): ``LyricEncoder`` turns the window's lyric tokens into ``encoder_kv``
  read by the ``cross`` layers.
- ``prefix`` (1b_lyrics): the sequence is ``[lyric tokens, codes + n_vocab]`` over a merged
  vocabulary; ``prime`` layers see the lyric prefix; ``x_cond`` is zero over the prefix.

Decoding goes through ``muse.core.sampling.generate`` via ``PriorDecoder``, whose id stream is
``[BOS, token_0, token_1, ...]`` (``BOS = vocab_size`` stands for the start token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jukebox.prior.conditioning import LabelConditioner, UpsamplerConditioner
from jukebox.prior.config import LyricEncoderConfig, PriorConfig
from muse.core.cache import KVCache
from muse.core.errors import UserError
from muse.core.logits import SamplingConfig
from muse.core.sampling import generate
from muse.core.transformer import PositionalEmbedding, Transformer, TransformerConfig


@dataclass
class PriorConditioning:
    """Everything one window is conditioned on.

    ``start`` (B, 1, W) start token; ``positional`` (B, seq_len, W) or None; ``lyrics`` (B,
    n_tokens) int64 lyric ids or None; ``encoder_kv`` (B, n_tokens, W) for ``cross`` layers or None.
    """

    start: Tensor
    positional: Tensor | None
    lyrics: Tensor | None
    encoder_kv: Tensor | None


@dataclass
class PriorOutput:
    """``logits`` (B, seq_len, vocab_size); ``attention`` (B, H, n_ctx, n_tokens): the alignment
    layer's weights of code queries over lyric keys, when asked for."""

    logits: Tensor
    attention: Tensor | None = None


@dataclass
class PriorLoss:
    """Training loss in bits per token: ``loss`` = weighted mix of ``gen_loss`` (codes) and
    ``prime_loss`` (lyrics; 0 without lyrics)."""

    loss: Tensor
    gen_loss: Tensor
    prime_loss: Tensor


def _bits(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy in bits: logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)) / math.log(2.0)


def _transformer_config(width: int, depth: int, heads: int, n_ctx: int, blocks: int | None, attn_order,
                        attn_mult: float, mlp_mult: float, res_scale: bool, **extra) -> TransformerConfig:
    return TransformerConfig(
        width=width, depth=depth, heads=heads, n_ctx=n_ctx, attn_order=tuple(attn_order), blocks=blocks,
        mlp_mult=mlp_mult, attn_mult=attn_mult, activation="quick_gelu", res_scale=res_scale, **extra,
    )


class LyricEncoder(nn.Module):
    """Lyric tokens -> ``encoder_kv`` (5b_lyrics design; Jukebox's prime prior).

    A causal transformer over the tokens shifted right behind a learned ``start``, plus learned
    positions; its output is projected to the prior's width and layer-normalised. ``head``
    predicts the lyric tokens from ``encoder_kv`` (training loss only).
    """

    def __init__(self, config: LyricEncoderConfig, n_tokens: int, n_vocab: int, out_width: int) -> None:
        super().__init__()
        w = config.width
        self.start = nn.Parameter(torch.zeros(1, w))
        self.embed = nn.Embedding(n_vocab, w)
        self.pos_emb = PositionalEmbedding(n_tokens, w)
        self.transformer = Transformer(_transformer_config(
            w, config.depth, config.heads, n_tokens, config.blocks, config.attn_order, config.attn_mult,
            config.mlp_mult, config.res_scale,
        ))
        self.proj = nn.Linear(w, out_width)
        self.ln = nn.LayerNorm(out_width, eps=1e-5)
        self.head = nn.Linear(out_width, n_vocab, bias=False)

    def forward(self, lyrics: Tensor) -> Tensor:
        """lyrics: (B, n_tokens) int64 -> encoder_kv (B, n_tokens, out_width)."""
        B, T = lyrics.shape
        x = self.embed(lyrics)
        x = torch.cat([self.start.expand(B, 1, -1), x[:, :-1]], dim=1)
        x = x + self.pos_emb(T)
        return self.ln(self.proj(self.transformer(x)))


class JukeboxPrior(nn.Module):
    """Autoregressive prior (top level or upsampler) for one ``PriorConfig``."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        c = self.config = config
        self.labels = LabelConditioner(c.labels, c.width) if c.labels is not None else None
        if self.labels is None:
            self.start = nn.Parameter(torch.zeros(1, c.width))
        self.upsampler = UpsamplerConditioner(c.upsampler, c.width) if c.upsampler is not None else None
        lyrics = c.lyrics
        self.lyric_encoder = None
        if lyrics is not None and lyrics.design == "encoder":
            self.lyric_encoder = LyricEncoder(lyrics.encoder, lyrics.n_tokens, lyrics.n_vocab, c.width)
        self.embed = nn.Embedding(c.vocab_size, c.width)
        self.pos_emb = PositionalEmbedding(c.seq_len, c.width)
        self.transformer = Transformer(_transformer_config(
            c.width, c.depth, c.heads, c.seq_len, c.blocks, c.attn_order, c.attn_mult, c.mlp_mult, c.res_scale,
            dropout=c.dropout, attn_dropout=c.dropout, checkpointing=c.checkpointing, prime_len=c.prime_len,
            encoder_width=c.width,
        ))
        self.head = nn.Linear(c.width, c.vocab_size, bias=False)
        self.reset_parameters()

    # -- parameters --------------------------------------------------------------------------

    def reset_parameters(self) -> None:
        """Jukebox-like initialisation: N(0, 0.02) embeddings, N(0, 0.01) positions and labels."""
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            elif isinstance(module, PositionalEmbedding):
                nn.init.normal_(module.pos_emb, std=0.01)
        if self.labels is not None:
            for module in self.labels.modules():
                if isinstance(module, nn.Embedding):
                    nn.init.normal_(module.weight, std=0.01)
        if self.lyric_encoder is not None:
            nn.init.normal_(self.lyric_encoder.start, std=0.01)
            nn.init.normal_(self.lyric_encoder.head.weight, std=0.02)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share the output projection with the input embedding unless ``merged_decoder``."""
        if not self.config.merged_decoder:
            self.head.weight = self.embed.weight

    # -- conditioning ------------------------------------------------------------------------

    def condition(self, labels: Tensor | None = None, upper_codes: Tensor | None = None) -> PriorConditioning:
        """Conditioning of one window.

        labels: (B, 4 + max_bow_genre_size + n_tokens) int64 label rows (``musetok.labels.label_row``
        followed by the window's lyric tokens); upper_codes: (B, n_ctx // factor) codes of the level
        above (upsamplers only).
        """
        c = self.config
        n_tokens = c.lyrics.n_tokens if c.lyrics is not None else 0
        lyrics = positional = None
        if self.labels is not None:
            if labels is None:
                raise UserError("this prior is conditioned on labels (artist, genre, timing): pass label rows")
            n_fields = c.labels.n_label_fields
            if labels.ndim != 2 or labels.shape[1] != n_fields + n_tokens:
                raise UserError(f"label rows must have {n_fields + n_tokens} columns ({n_fields} labels + "
                                f"{n_tokens} lyric tokens), got shape {tuple(labels.shape)}")
            embedded = self.labels(labels[:, :n_fields], c.n_ctx)
            start, positional = embedded.start, embedded.timing
            if n_tokens:
                lyrics = labels[:, n_fields:]
            batch = labels.shape[0]
        else:
            batch = upper_codes.shape[0] if upper_codes is not None else 1
            start = self.start.expand(batch, 1, -1)
        if self.upsampler is not None:
            expected = c.n_ctx // c.upsampler.factor
            if upper_codes is None or upper_codes.ndim != 2 or upper_codes.shape[1] != expected:
                got = None if upper_codes is None else tuple(upper_codes.shape)
                raise UserError(f"an upsampler window needs (batch, {expected}) codes of the level above, got {got}")
            positional = self.upsampler(upper_codes)
        if positional is not None and c.n_prefix:
            positional = F.pad(positional, (0, 0, c.n_prefix, 0))
        if lyrics is not None and bool(((lyrics < 0) | (lyrics >= c.lyrics.n_vocab)).any()):
            raise UserError(f"lyric tokens must be in 0..{c.lyrics.n_vocab - 1}")
        encoder_kv = self.lyric_encoder(lyrics) if self.lyric_encoder is not None else None
        return PriorConditioning(start=start, positional=positional, lyrics=lyrics, encoder_kv=encoder_kv)

    def tokens(self, codes: Tensor, cond: PriorConditioning) -> Tensor:
        """The transformer's token sequence (B, seq_len): codes, or [lyrics, codes + n_vocab]."""
        if not self.config.n_prefix:
            return codes
        return torch.cat([cond.lyrics, codes + self.config.lyrics.n_vocab], dim=1)

    # -- forward -----------------------------------------------------------------------------

    def _inputs(self, embedded: Tensor, offset: int, cond: PriorConditioning) -> Tensor:
        x = embedded + self.pos_emb(embedded.shape[1], offset)
        if cond.positional is not None:
            x = x + cond.positional[:, offset:offset + embedded.shape[1]]
        return x

    def _outputs(self, h: Tensor, offset: int, cond: PriorConditioning) -> Tensor:
        if not self.config.merged_decoder and cond.positional is not None:
            h = h + cond.positional[:, offset:offset + h.shape[1]]
        return self.head(h)

    def forward(self, codes: Tensor, cond: PriorConditioning, return_attention: bool = False) -> PriorOutput:
        """Teacher-forced logits. codes: (B, n_ctx) int64 -> PriorOutput (logits (B, seq_len, V))."""
        c = self.config
        if codes.ndim != 2 or codes.shape[1] != c.n_ctx:
            raise UserError(f"codes must have shape (batch, {c.n_ctx}), got {tuple(codes.shape)}")
        tokens = self.tokens(codes, cond)
        x = self.embed(tokens)
        x = torch.cat([cond.start.to(x.dtype), x[:, :-1]], dim=1)
        x = self._inputs(x, 0, cond)
        layer = self.alignment_layer() if return_attention else None
        out = self.transformer(x, encoder_kv=cond.encoder_kv, attn_weights_layer=layer)
        h, attention = (out.hidden, self._lyric_attention(out.weights)) if return_attention else (out, None)
        return PriorOutput(self._outputs(h, 0, cond), attention)

    def alignment_layer(self) -> int:
        """The layer whose attention aligns lyrics to codes."""
        lyrics = self.config.lyrics
        if lyrics is None or lyrics.alignment_layer is None:
            raise UserError("this prior has no lyric alignment layer")
        return lyrics.alignment_layer

    def _lyric_attention(self, weights: Tensor) -> Tensor:
        """(B, H, seq_len, S) weights -> code queries over lyric keys (B, H, n_ctx, n_tokens)."""
        n_prefix = self.config.n_prefix
        if n_prefix:
            return weights[:, :, n_prefix:, :n_prefix]
        return weights

    def loss(self, codes: Tensor, cond: PriorConditioning) -> PriorLoss:
        """Jukebox's training loss (bits per token): codes (B, n_ctx) -> PriorLoss."""
        c = self.config
        logits = self.forward(codes, cond).logits
        targets = self.tokens(codes, cond)
        n_prefix = c.n_prefix
        gen = _bits(logits[:, n_prefix:], targets[:, n_prefix:])
        prime = gen.new_zeros(())
        n_lyrics = 0
        if n_prefix:
            prime, n_lyrics = _bits(logits[:, :n_prefix], targets[:, :n_prefix]), n_prefix
        elif self.lyric_encoder is not None:
            prime, n_lyrics = _bits(self.lyric_encoder.head(cond.encoder_kv), cond.lyrics), c.lyrics.n_tokens
        total = n_lyrics + c.n_ctx
        fraction = c.lyrics.loss_fraction if c.lyrics is not None else 0.0
        loss = fraction * prime * n_lyrics / total + gen * c.n_ctx / total
        return PriorLoss(loss=loss, gen_loss=gen, prime_loss=prime)

    # -- incremental decoding ----------------------------------------------------------------

    @property
    def bos(self) -> int:
        """Id that stands for the start token in a decoder id stream (one past the vocabulary)."""
        return self.config.vocab_size

    def new_cache(self, batch_size: int) -> KVCache:
        return self.transformer.new_cache(batch_size)

    def step(self, ids: Tensor, cache: KVCache, cond: PriorConditioning) -> Tensor:
        """Feed ids (B, T) of the stream ``[BOS, token_0, ...]`` at the cache's position.

        Returns logits (B, T, vocab_size): ``logits[:, t]`` predicts the token after ``ids[:, t]``.
        """
        offset = cache.offset
        embedded = self.embed(ids.clamp(max=self.config.vocab_size - 1))
        start = cond.start.to(embedded.dtype).expand(-1, ids.shape[1], -1)
        x = torch.where((ids == self.bos).unsqueeze(-1), start, embedded)
        x = self._inputs(x, offset, cond)
        h = self.transformer(x, cache, encoder_kv=cond.encoder_kv)
        return self._outputs(h, offset, cond)

    def decoder(self, cond: PriorConditioning) -> "PriorDecoder":
        """A ``muse.core.sampling.Decoder`` over one window with conditioning ``cond``."""
        return PriorDecoder(self, cond)

    def codes_from_tokens(self, tokens: Tensor) -> Tensor:
        """Generated token ids -> codes: merged-vocabulary ids are shifted back (lyric ids -> 0)."""
        if not self.config.n_prefix:
            return tokens
        return (tokens - self.config.lyrics.n_vocab).clamp(min=0)

    @torch.no_grad()
    def sample(
        self,
        cond: PriorConditioning,
        n_new: int,
        prompt_codes: Tensor | None = None,
        *,
        sampling: SamplingConfig | None = None,
        seed: int | None = None,
        chunk_size: int | None = None,
        callback: Callable[[int, int], None] | None = None,
        cancel=None,
    ) -> Tensor:
        """Sample ``n_new`` codes after ``prompt_codes`` (B, T0) (none: from the start) in one window.

        Returns codes (B, T0 + n_new). The prompt is fed through the KV cache in chunks of
        ``chunk_size`` positions; tokens are drawn by ``muse.core.sampling.generate``.
        """
        c = self.config
        batch = cond.start.shape[0]
        device = cond.start.device
        n_prompt = 0 if prompt_codes is None else prompt_codes.shape[1]
        if n_prompt + n_new > c.n_ctx:
            raise UserError(f"{n_prompt} prompt + {n_new} new codes exceed the window of {c.n_ctx}")
        parts = [torch.full((batch, 1), self.bos, dtype=torch.long, device=device)]
        if prompt_codes is not None:
            parts.append(prompt_codes.to(device))
        stream = torch.cat(parts, dim=1)
        if c.n_prefix:
            stream = torch.cat([stream[:, :1], self.tokens(stream[:, 1:], cond)], dim=1)
        out = generate(
            self.decoder(cond), stream, n_new, sampling=sampling, seed=seed, prime_chunk=chunk_size,
            callback=callback, cancel=cancel,
        )
        codes = self.codes_from_tokens(out.new_ids)
        return codes if prompt_codes is None else torch.cat([prompt_codes.to(device), codes], dim=1)


class PriorDecoder:
    """``muse.core.sampling.Decoder`` for one window: id stream ``[BOS, token_0, ...]``."""

    def __init__(self, prior: JukeboxPrior, cond: PriorConditioning) -> None:
        self.prior, self.cond = prior, cond
        self.n_ctx = prior.config.seq_len

    def new_cache(self, batch_size: int) -> KVCache:
        return self.prior.new_cache(batch_size)

    def step(self, ids: Tensor, cache: KVCache) -> Tensor:
        return self.prior.step(ids, cache, self.cond)
