"""Configuration of a Jukebox prior (top-level prior or upsampler), loaded strictly from YAML.

One ``PriorConfig`` describes any of the released designs: the plain ``5b`` top prior, ``5b_lyrics``
(separate lyric encoder + cross-attention, ``lyrics.design = "encoder"``), ``1b_lyrics`` (lyric
tokens prepended in one transformer, ``lyrics.design = "prefix"``) and the upsamplers
(``upsampler`` set, no timing, no lyrics). Presets live in ``configs/jukebox/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from jukebox.prior.conditioning import LabelConfig, UpsamplerConfig
from muse.core.attention import Pattern


def prime_length(n_prefix: int, blocks: int) -> int:
    """Keys a ``prime`` layer sees for a lyric prefix of ``n_prefix`` tokens: the whole blocks covering
    it, plus one (Jukebox's rule; ``blocks`` is the block count), e.g. 16 tokens in 8 blocks -> 24."""
    return (n_prefix // blocks + 1) * blocks


@dataclass(frozen=True)
class LyricEncoderConfig:
    """The separate lyric-encoder transformer of the ``encoder`` design (Jukebox's prime prior)."""

    width: int
    depth: int
    heads: int
    blocks: int | None  # None only when attn_order has no block pattern
    attn_order: tuple[Pattern, ...] = ("block_local", "block_transpose", "prev_block")
    attn_mult: float = 0.25
    mlp_mult: float = 1.0
    res_scale: bool = False


@dataclass(frozen=True)
class LyricsConfig:
    """Lyric conditioning.

    ``design``: ``"encoder"`` (5b_lyrics: lyric encoder, keys/values for ``cross`` layers) or
    ``"prefix"`` (1b_lyrics: ``n_tokens`` lyric ids prepended to the codes, merged vocabulary with
    lyric ids first, ``prime`` layers). ``loss_fraction`` weighs the lyric (prime) loss in training.
    ``alignment_layer``/``alignment_head``: the attention that aligns lyrics to audio.
    """

    design: Literal["encoder", "prefix"]
    n_tokens: int
    n_vocab: int
    encoder: LyricEncoderConfig | None = None
    loss_fraction: float = 0.4
    alignment_layer: int | None = None
    alignment_head: int | None = None

    def __post_init__(self) -> None:
        if (self.design == "encoder") != (self.encoder is not None):
            raise ValueError("lyrics: 'encoder' is required for design 'encoder' and not allowed otherwise")
        if self.n_tokens < 1:
            raise ValueError("lyrics: n_tokens must be >= 1")
        if self.encoder is not None and self.encoder.blocks and self.n_tokens % self.encoder.blocks:
            raise ValueError(f"lyrics: n_tokens={self.n_tokens} is not a multiple of "
                             f"encoder.blocks={self.encoder.blocks}")


@dataclass(frozen=True)
class PriorConfig:
    """An autoregressive prior over one level's codes.

    ``n_ctx`` codes per window (the 1b design's transformer sees ``n_tokens + n_ctx`` positions),
    ``hop_length`` audio samples per code at this level, ``blocks`` attention blocks over the
    transformer's sequence. ``merged_decoder``: separate output projection and the positional
    conditioning is not re-added after the transformer (5b designs); otherwise the output
    projection is tied to the code embedding.
    """

    level: int
    n_bins: int
    n_ctx: int
    hop_length: int
    width: int
    depth: int
    heads: int
    blocks: int
    attn_order: tuple[Pattern, ...]
    attn_mult: float = 0.25
    mlp_mult: float = 1.0
    res_scale: bool = False
    merged_decoder: bool = False
    labels: LabelConfig | None = None
    lyrics: LyricsConfig | None = None
    upsampler: UpsamplerConfig | None = None
    dropout: float = 0.0
    checkpointing: bool = False

    def __post_init__(self) -> None:
        known = set(get_args(Pattern))
        bad = [p for p in self.attn_order if p not in known]
        if bad:
            raise ValueError(f"attn_order: unknown pattern(s) {bad}")
        if self.seq_len % self.blocks:
            raise ValueError(f"sequence length {self.seq_len} is not a multiple of blocks={self.blocks}")
        needs_encoder = "cross" in self.attn_order
        if needs_encoder != (self.lyrics is not None and self.lyrics.design == "encoder"):
            raise ValueError("'cross' layers and lyrics.design 'encoder' go together")
        if ("prime" in self.attn_order) != (self.lyrics is not None and self.lyrics.design == "prefix"):
            raise ValueError("'prime' layers and lyrics.design 'prefix' go together")
        if self.upsampler is not None and self.labels is not None and self.labels.timing:
            raise ValueError("an upsampler is conditioned on the level above, not on timing (labels.timing: false)")

    @property
    def n_prefix(self) -> int:
        """Lyric positions before the codes in the transformer's sequence (prefix design), else 0."""
        return self.lyrics.n_tokens if self.lyrics is not None and self.lyrics.design == "prefix" else 0

    @property
    def seq_len(self) -> int:
        """Length of the transformer's sequence."""
        return self.n_ctx + self.n_prefix

    @property
    def vocab_size(self) -> int:
        """Size of the input embedding / output projection (merged vocabulary in the prefix design)."""
        return self.n_bins + (self.lyrics.n_vocab if self.n_prefix else 0)

    @property
    def prime_len(self) -> int | None:
        """Keys visible to ``prime`` layers: whole blocks covering the lyric prefix (Jukebox's rule)."""
        return prime_length(self.n_prefix, self.blocks) if self.n_prefix else None

    def pattern(self, layer: int) -> Pattern:
        """Attention pattern of layer ``layer`` (``attn_order`` cycled)."""
        return self.attn_order[layer % len(self.attn_order)]
