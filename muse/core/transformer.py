"""Pre-LN transformer over embeddings: factorized attention per layer, MLP, KV-cached decoding.

Layer ``i`` uses the pattern ``attn_order[i % len(attn_order)]``; ``cross`` in the cycle places
encoder-decoder layers at those depths. Each block computes Jukebox's exact order::

    a = attn(ln_0(x)); m = mlp(ln_1(x + a)); x = x + res_scale * (a + m)

Models own their token/positional/conditioning embeddings and output heads; ``PositionalEmbedding``
is the learned table they share.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from muse.core.attention import BLOCK_PATTERNS, PATTERNS, FactorizedAttention, Pattern
from muse.core.cache import KVCache, LayerKVCache

Activation = Literal["gelu", "quick_gelu"]


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of a ``Transformer`` (load from YAML with ``muse.core.config.load_config``).

    Set either ``blocks`` (``block_len = n_ctx // blocks``, Jukebox) or ``block_len`` when a block
    pattern is used. ``mlp_mult``/``attn_mult`` scale the MLP hidden / attention width
    (``int(mult * width)``). ``res_scale`` multiplies each residual by 1/depth (Jukebox).
    ``prime_len`` is needed by ``prime`` layers, ``spread`` by ``summary_spread``;
    ``encoder_width`` is the width of ``encoder_kv`` for ``cross`` layers (default ``width``).
    ``init_scale`` scales the N(0, 0.02) initialisation of every projection.
    """

    width: int
    depth: int
    heads: int
    n_ctx: int
    attn_order: tuple[Pattern, ...] = ("dense",)
    blocks: int | None = None
    block_len: int | None = None
    mlp_mult: float = 4.0
    attn_mult: float = 1.0
    activation: Activation = "gelu"
    dropout: float = 0.0
    attn_dropout: float = 0.0
    res_scale: bool = False
    checkpointing: bool = False
    prime_len: int | None = None
    spread: int = 1
    encoder_width: int | None = None
    ln_eps: float = 1e-5
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("width", "depth", "heads", "n_ctx"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.attn_order:
            raise ValueError("attn_order must name at least one pattern")
        unknown = [p for p in self.attn_order if p not in PATTERNS]
        if unknown:
            raise ValueError(f"attn_order: unknown pattern(s) {unknown}; choose from {list(PATTERNS)}")
        if self.blocks is not None and self.block_len is not None:
            raise ValueError("set either blocks or block_len, not both")
        if self.blocks is not None and (self.blocks < 1 or self.n_ctx % self.blocks):
            raise ValueError(f"blocks={self.blocks} must divide n_ctx={self.n_ctx}")
        if any(p in BLOCK_PATTERNS for p in self.attn_order) and self.resolved_block_len is None:
            raise ValueError("attn_order uses a block pattern: set blocks or block_len")
        if self.attn_width % self.heads:
            raise ValueError(f"attention width {self.attn_width} is not divisible by heads={self.heads}")
        if "prime" in self.attn_order and (self.prime_len is None or self.prime_len < 1):
            raise ValueError("attn_order uses 'prime': set prime_len >= 1")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.attn_dropout < 1.0:
            raise ValueError("dropout and attn_dropout must be in [0, 1)")

    @property
    def resolved_block_len(self) -> int | None:
        """Block length of the block patterns (Jukebox's ``block_ctx``)."""
        if self.block_len is not None:
            return self.block_len
        return None if self.blocks is None else self.n_ctx // self.blocks

    @property
    def attn_width(self) -> int:
        return int(self.attn_mult * self.width)

    @property
    def mlp_width(self) -> int:
        return int(self.mlp_mult * self.width)

    def pattern(self, layer: int) -> Pattern:
        """Attention pattern of layer ``layer`` (the ``attn_order`` cycle)."""
        return self.attn_order[layer % len(self.attn_order)]

    def replace(self, **changes: object) -> TransformerConfig:
        return dataclasses.replace(self, **changes)


def quick_gelu(x: Tensor) -> Tensor:
    """Jukebox's GELU approximation x * sigmoid(1.702 x)."""
    return x * torch.sigmoid(1.702 * x)


class MLP(nn.Module):
    """c_fc (width -> hidden), activation, c_proj (hidden -> width)."""

    def __init__(self, width: int, hidden: int, activation: Activation) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.c_proj = nn.Linear(hidden, width)
        self.act = quick_gelu if activation == "quick_gelu" else F.gelu

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


@dataclass
class BlockOutput:
    """A block's output ``hidden`` (B, T, width) and its attention ``weights`` (B, H, T, S)."""

    hidden: Tensor
    weights: Tensor


class Block(nn.Module):
    """One pre-LN layer: ``a = attn(ln_0(x)); m = mlp(ln_1(x + a)); x + res_scale*(a + m)``."""

    def __init__(self, config: TransformerConfig, layer: int) -> None:
        super().__init__()
        c = config
        self.pattern = c.pattern(layer)
        self.ln_0 = nn.LayerNorm(c.width, eps=c.ln_eps)
        self.attn = FactorizedAttention(
            c.width, c.heads, self.pattern, c.resolved_block_len, attn_width=c.attn_width,
            prime_len=c.prime_len, spread=c.spread, encoder_width=c.encoder_width, dropout=c.attn_dropout,
        )
        self.ln_1 = nn.LayerNorm(c.width, eps=c.ln_eps)
        self.mlp = MLP(c.width, c.mlp_width, c.activation)
        self.drop = nn.Dropout(c.dropout)
        self.res_scale = 1.0 / c.depth if c.res_scale else 1.0

    def forward(self, x: Tensor, cache: LayerKVCache | None = None, encoder_kv: Tensor | None = None,
                return_weights: bool = False) -> Tensor | BlockOutput:
        """x: (B, T, width) -> (B, T, width) (``BlockOutput`` when ``return_weights``)."""
        attn = self.attn(self.ln_0(x), cache, encoder_kv, return_weights)
        a = self.drop(attn.out if return_weights else attn)
        m = self.drop(self.mlp(self.ln_1(x + a)))
        h = a + m if self.res_scale == 1.0 else self.res_scale * (a + m)
        return BlockOutput(x + h, attn.weights) if return_weights else x + h


@dataclass
class TransformerOutput:
    """Final ``hidden`` (B, T, width) and the attention ``weights`` (B, H, T, S) of one layer."""

    hidden: Tensor
    weights: Tensor


class Transformer(nn.Module):
    """A stack of ``Block``s over embeddings (no embedding, final norm or output head)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.depth))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 0.02 * init_scale) projections, zero biases, unit layer norms."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02 * self.config.init_scale)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def new_cache(self, batch_size: int) -> KVCache:
        """An empty KV cache for ``batch_size`` sequences (one ``LayerKVCache`` per layer)."""
        c = self.config
        layers = [
            LayerKVCache(block.pattern, c.resolved_block_len, prime_len=c.prime_len, spread=c.spread,
                         capacity=c.n_ctx)
            for block in self.layers
        ]
        return KVCache(layers, batch_size)

    def forward(self, x: Tensor, cache: KVCache | None = None, encoder_kv: Tensor | None = None, *,
                attn_weights_layer: int | None = None) -> Tensor | TransformerOutput:
        """x: (B, T, width) -> (B, T, width).

        With ``cache`` the T inputs continue the cached sequence at ``cache.offset`` and the cache
        advances. ``encoder_kv`` (B, S, encoder_width) feeds the ``cross`` layers. With
        ``attn_weights_layer`` returns ``TransformerOutput`` holding that layer's attention weights.
        """
        if cache is not None and x.shape[0] != cache.batch_size:
            raise ValueError(f"batch of {x.shape[0]} fed to a KV cache made for {cache.batch_size}")
        use_checkpoint = self.config.checkpointing and self.training and cache is None and torch.is_grad_enabled()
        weights = None
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else cache.layers[i]
            if i == attn_weights_layer:
                out = layer(x, layer_cache, encoder_kv, return_weights=True)
                x, weights = out.hidden, out.weights
            elif use_checkpoint:
                x = checkpoint(layer, x, None, encoder_kv, use_reentrant=False)
            else:
                x = layer(x, layer_cache, encoder_kv)
        if cache is not None:
            cache.offset += x.shape[1]
        return x if attn_weights_layer is None else TransformerOutput(x, weights)


class PositionalEmbedding(nn.Module):
    """Learned positions: parameter ``pos_emb`` (n_ctx, width), initialised N(0, init_std)."""

    def __init__(self, n_ctx: int, width: int, init_std: float = 0.01) -> None:
        super().__init__()
        self.pos_emb = nn.Parameter(torch.randn(n_ctx, width) * init_std)

    def forward(self, length: int, offset: int = 0) -> Tensor:
        """Embeddings (length, width) of positions ``offset .. offset + length - 1``."""
        n_ctx = self.pos_emb.shape[0]
        if offset < 0 or offset + length > n_ctx:
            raise ValueError(f"positions {offset}..{offset + length - 1} exceed the context of {n_ctx}")
        return self.pos_emb[offset:offset + length]


__all__ = [
    "Activation", "TransformerConfig", "quick_gelu", "MLP", "Block", "BlockOutput", "Transformer",
    "TransformerOutput", "PositionalEmbedding",
]
