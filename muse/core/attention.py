"""Factorized (sparse) attention with named patterns, computed block-wise with SDPA.

Every pattern is causal (a query never sees a later key) except ``cross``. ``block_len`` is the
length of one block (Jukebox's ``block_ctx`` = sequence length / ``blocks``). Query ``i`` sees key
``j`` iff (with ``b(x) = x // block_len``):

==================  =========================================================
pattern             visible keys
==================  =========================================================
``dense``           ``j <= i``
``block_local``     ``j <= i`` and ``b(j) == b(i)`` (row)
``block_transpose`` ``j <= i`` and ``j % block_len == i % block_len`` (column)
``prev_block``      ``b(j) == b(i) - 1`` (unmasked; the first block sees no
                    key and outputs exactly zero, as Jukebox's zero padding)
``summary``         own block causal, plus the last position of every earlier
                    block (Sparse Transformer "fixed")
``summary_spread``  own block causal, plus the last ``spread`` positions of
                    every earlier block
``cross``           every encoder position (keys/values from the encoder)
``prime``           ``j <= i`` and ``j < prime_len``
==================  =========================================================

Sparse patterns are computed by reshaping the sequence into blocks and calling
``torch.nn.functional.scaled_dot_product_attention`` on the blocks: no ``T x T`` mask is ever
built (at most a block-sized one). Lengths that are not a multiple of ``block_len`` are padded
internally. Logits are scaled by ``1/sqrt(head_dim)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from muse.core.cache import LayerKVCache

Pattern = Literal[
    "dense", "block_local", "block_transpose", "prev_block", "summary", "summary_spread", "cross", "prime"
]
PATTERNS: tuple[Pattern, ...] = get_args(Pattern)
BLOCK_PATTERNS: frozenset[str] = frozenset(
    {"block_local", "block_transpose", "prev_block", "summary", "summary_spread"}
)
def check_pattern(pattern: str, block_len: int | None, prime_len: int | None, spread: int) -> None:
    """Raise ``ValueError`` when the arguments a pattern needs are missing or out of range."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown attention pattern {pattern!r}; choose one of {list(PATTERNS)}")
    if pattern in BLOCK_PATTERNS and (block_len is None or block_len < 1):
        raise ValueError(f"pattern {pattern!r} needs block_len >= 1, got {block_len}")
    if pattern == "prime" and (prime_len is None or prime_len < 1):
        raise ValueError(f"pattern 'prime' needs prime_len >= 1, got {prime_len}")
    if pattern == "summary_spread" and not 1 <= spread <= (block_len or 0):
        raise ValueError(f"pattern 'summary_spread' needs 1 <= spread <= block_len, got {spread}")


def visible(
    pattern: Pattern, i: Tensor, j: Tensor, block_len: int | None = None, *,
    prime_len: int | None = None, spread: int = 1,
) -> Tensor:
    """Whether query position ``i`` sees key position ``j`` (broadcasting integer tensors)."""
    if pattern == "cross":
        return torch.ones(torch.broadcast_shapes(i.shape, j.shape), dtype=torch.bool, device=i.device)
    causal = j <= i
    if pattern == "dense":
        return causal
    if pattern == "prime":
        return causal & (j < prime_len)
    bi, bj = i // block_len, j // block_len
    if pattern == "block_local":
        return causal & (bi == bj)
    if pattern == "block_transpose":
        return causal & (i % block_len == j % block_len)
    if pattern == "prev_block":
        return bj == bi - 1
    width = 1 if pattern == "summary" else spread
    return (causal & (bi == bj)) | ((bj < bi) & (j % block_len >= block_len - width))


def pattern_mask(
    pattern: Pattern, T: int, block_len: int | None = None, *, prime_len: int | None = None,
    spread: int = 1, S: int | None = None, device: torch.device | None = None,
) -> Tensor:
    """The explicit bool mask (T, T) of a pattern (True = visible), (T, S) for ``cross``.

    For tests and analysis only: the attention itself never builds it for sparse patterns.
    """
    check_pattern(pattern, block_len, prime_len, spread)
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(S if pattern == "cross" else T, device=device)[None, :]
    return visible(pattern, i, j, block_len, prime_len=prime_len, spread=spread)


def _sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
          dropout_p: float = 0.0) -> Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout_p)


def _pad_time(x: Tensor, before: int, after: int) -> Tensor:
    """Zero-pad dimension 2 (time) of a (B, H, T, D) tensor."""
    return x if before == after == 0 else F.pad(x, (0, 0, before, after))


_MAX_SDPA_BATCH = 65535  # CUDA kernels put the batch on a grid axis limited to 65535


def _blocks(x: Tensor, block_len: int) -> Tensor:
    """(B, H, n*L, D) -> (B*H*n, 1, L, D): one SDPA batch entry per block, so the output comes
    back in sequence order without a copy; (B*H, n, L, D) when that batch would be too large."""
    B, H, T, D = x.shape
    if B * H * (T // block_len) > _MAX_SDPA_BATCH:
        return x.reshape(B * H, T // block_len, block_len, D)
    return x.reshape(-1, 1, block_len, D)


# ----------------------------------------------------------------------------------------------
# Segment kernels. They work on block-aligned segments so that the KV cache can reuse them for a
# chunk of queries that starts in the middle of a sequence; ``attend`` is the whole-sequence entry.
# q, k, v are (B, H, time, Dh); the returned tensor is (B, H, q_time, Dh).
# ----------------------------------------------------------------------------------------------


def causal_attention(q: Tensor, k: Tensor, v: Tensor, dropout_p: float = 0.0) -> Tensor:
    """Dense causal attention of the last ``Tq`` positions of a ``Tk``-long key sequence."""
    Tq, Tk = q.shape[2], k.shape[2]
    if Tq == Tk:
        return _sdpa(q, k, v, causal=True, dropout_p=dropout_p)
    if Tq == 1:
        return _sdpa(q, k, v, dropout_p=dropout_p)
    i = torch.arange(Tk - Tq, Tk, device=q.device)[:, None]
    return _sdpa(q, k, v, torch.arange(Tk, device=q.device)[None, :] <= i, dropout_p=dropout_p)


def prime_attention(q: Tensor, k: Tensor, v: Tensor, prime_len: int, q_start: int = 0,
                    dropout_p: float = 0.0) -> Tensor:
    """``prime`` pattern for queries at ``q_start..``; k, v hold positions ``0..`` (at least
    ``min(prime_len, q_end)`` of them). Only a (rows before prime_len) x prime_len mask is built."""
    Tq = q.shape[2]
    end = q_start + Tq
    n_keys = min(prime_len, end)
    k, v = k[:, :, :n_keys], v[:, :, :n_keys]
    n_masked = max(0, min(end, prime_len) - q_start)  # rows i < prime_len see keys j <= i
    parts = []
    if n_masked:
        if q_start == 0 and n_masked == n_keys:
            parts.append(_sdpa(q[:, :, :n_masked], k, v, causal=True, dropout_p=dropout_p))
        else:
            i = torch.arange(q_start, q_start + n_masked, device=q.device)[:, None]
            mask = torch.arange(n_keys, device=q.device)[None, :] <= i
            parts.append(_sdpa(q[:, :, :n_masked], k, v, mask, dropout_p=dropout_p))
    if n_masked < Tq:  # rows i >= prime_len see the whole prefix
        parts.append(_sdpa(q[:, :, n_masked:], k, v, dropout_p=dropout_p))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


def block_local_attention(q: Tensor, k: Tensor, v: Tensor, block_len: int,
                          dropout_p: float = 0.0) -> Tensor:
    """``block_local`` on a block-aligned segment: q, k, v cover the same n*block_len positions."""
    B, H, T, D = q.shape
    out = _sdpa(_blocks(q, block_len), _blocks(k, block_len), _blocks(v, block_len), causal=True,
                dropout_p=dropout_p)
    return out.reshape(B, H, T, D)


def block_transpose_attention(q: Tensor, k: Tensor, v: Tensor, block_len: int,
                              dropout_p: float = 0.0) -> Tensor:
    """``block_transpose`` where q holds the last ``nq`` of the ``nk`` blocks held by k, v.

    The sequence is viewed as (blocks, block_len) and transposed, so each of the ``block_len``
    columns becomes one causal SDPA problem over blocks (a strided view, no copy on CPU).
    """
    B, H, Tq, D = q.shape
    nq, nk = Tq // block_len, k.shape[2] // block_len

    def columns(x: Tensor) -> Tensor:  # (B, H, n*L, D) -> (B*H, L, n, D)
        return x.reshape(B * H, -1, block_len, D).transpose(1, 2)

    if nq == nk:
        out = _sdpa(columns(q), columns(k), columns(v), causal=True, dropout_p=dropout_p)
    else:
        qb = torch.arange(nk - nq, nk, device=q.device)[:, None]
        mask = torch.arange(nk, device=q.device)[None, :] <= qb  # (nq, nk): blocks, not positions
        out = _sdpa(columns(q), columns(k), columns(v), mask, dropout_p=dropout_p)
    return out.transpose(1, 2).reshape(B, H, Tq, D)


def prev_block_attention(q: Tensor, k: Tensor, v: Tensor, block_len: int,
                         dropout_p: float = 0.0) -> Tensor:
    """``prev_block`` on a block-aligned segment of ``nq`` query blocks.

    k, v hold the block before each query block: ``nq`` blocks, or ``nq - 1`` when the segment
    starts at the first block of the sequence, whose queries see nothing and output zeros.
    """
    nq, nk = q.shape[2] // block_len, k.shape[2] // block_len
    missing = nq - nk
    assert missing in (0, 1), (nq, nk)
    if nk == 0:
        return q * 0.0  # zeros that still belong to the autograd graph (zero gradient)
    q_seen = q[:, :, missing * block_len:]
    out = _sdpa(_blocks(q_seen, block_len), _blocks(k, block_len), _blocks(v, block_len),
                dropout_p=dropout_p).reshape(q_seen.shape)
    return _pad_time(out, missing * block_len, 0)


def summary_attention(q: Tensor, k: Tensor, v: Tensor, block_len: int, spread: int = 1,
                      dropout_p: float = 0.0, prior_k: Tensor | None = None,
                      prior_v: Tensor | None = None) -> Tensor:
    """``summary`` / ``summary_spread`` on a block-aligned segment of ``n`` blocks.

    Each query block attends to its own block (causal) and to the last ``spread`` positions of
    every earlier block. ``prior_k``/``prior_v`` (B, H, b0*spread, Dh) are those summary keys of
    the ``b0`` blocks before the segment (from a KV cache). Keys per block are
    [summaries (Ns), own block (L)] with an (n, L, Ns + L) mask, Ns = (b0 + n - 1) * spread.
    """
    B, H, T, D = q.shape
    n = T // block_len
    b0 = 0 if prior_k is None else prior_k.shape[2] // spread
    own_k = k.reshape(B * H, n, block_len, D)
    own_v = v.reshape(B * H, n, block_len, D)
    sum_k = own_k[:, :, block_len - spread:].reshape(B * H, n * spread, D)
    sum_v = own_v[:, :, block_len - spread:].reshape(B * H, n * spread, D)
    if prior_k is not None:
        sum_k = torch.cat([prior_k.reshape(B * H, -1, D), sum_k], dim=1)
        sum_v = torch.cat([prior_v.reshape(B * H, -1, D), sum_v], dim=1)
    n_sum = (b0 + n - 1) * spread  # the last block's summary is never seen inside the segment
    if n_sum == 0:
        return block_local_attention(q, k, v, block_len, dropout_p)
    sum_k, sum_v = sum_k[:, None, :n_sum], sum_v[:, None, :n_sum]
    keys = torch.cat([sum_k.expand(-1, n, -1, -1), own_k], dim=2)  # (B*H, n, Ns + L, D)
    values = torch.cat([sum_v.expand(-1, n, -1, -1), own_v], dim=2)
    dev = q.device
    sum_mask = (torch.arange(n_sum, device=dev) // spread)[None, :] < torch.arange(b0, b0 + n, device=dev)[:, None]
    own_mask = torch.ones(block_len, block_len, dtype=torch.bool, device=dev).tril()
    mask = torch.cat([sum_mask[:, None, :].expand(-1, block_len, -1), own_mask.expand(n, -1, -1)], dim=2)
    out = _sdpa(q.reshape(B * H, n, block_len, D), keys, values, mask, dropout_p=dropout_p)
    return out.reshape(B, H, T, D)


def attend(
    q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, block_len: int | None = None, *,
    prime_len: int | None = None, spread: int = 1, dropout_p: float = 0.0,
) -> Tensor:
    """Attention of a whole sequence under ``pattern``.

    q, k, v: (B, H, T, Dh) (for ``cross``, k and v are (B, H, S, Dh)). Returns (B, H, T, Dh).
    ``dropout_p`` drops attention weights (pass 0 in eval mode).
    """
    check_pattern(pattern, block_len, prime_len, spread)
    if pattern == "cross":
        return _sdpa(q, k, v, dropout_p=dropout_p)
    if pattern == "dense":
        return causal_attention(q, k, v, dropout_p)
    if pattern == "prime":
        return prime_attention(q, k, v, prime_len, 0, dropout_p)
    T = q.shape[2]
    pad = -T % block_len
    q, k, v = (_pad_time(x, 0, pad) for x in (q, k, v))
    if pattern == "block_local":
        out = block_local_attention(q, k, v, block_len, dropout_p)
    elif pattern == "block_transpose":
        out = block_transpose_attention(q, k, v, block_len, dropout_p)
    elif pattern == "prev_block":
        out = prev_block_attention(q, k[:, :, :-block_len], v[:, :, :-block_len], block_len, dropout_p)
    else:
        out = summary_attention(q, k, v, block_len, 1 if pattern == "summary" else spread, dropout_p)
    return out[:, :, :T] if pad else out


def attention_weights(
    q: Tensor, k: Tensor, pattern: Pattern, block_len: int | None = None, *,
    prime_len: int | None = None, spread: int = 1, q_start: int = 0,
) -> Tensor:
    """Softmax weights (B, H, Tq, Tk) of queries at positions ``q_start..`` against keys at
    ``0..Tk-1`` (all encoder positions for ``cross``). Rows that see no key are zero.

    Materializes the (Tq, Tk) weights: meant for analysis (e.g. Jukebox lyric alignment).
    """
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    i = torch.arange(q_start, q_start + q.shape[2], device=q.device)[:, None]
    j = torch.arange(k.shape[2], device=q.device)[None, :]
    mask = visible(pattern, i, j, block_len, prime_len=prime_len, spread=spread)
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)


@dataclass
class AttentionOutput:
    """``out`` (B, T, width) and the softmax ``weights`` (B, H, T, S) of the layer."""

    out: Tensor
    weights: Tensor


class FactorizedAttention(nn.Module):
    """Multi-head attention with one named pattern (see the module docstring).

    Parameters (names fixed so that official Jukebox checkpoints map one-to-one):
    ``qkv`` (width -> 3*attn_width; q, k, v are consecutive thirds), or for ``cross`` ``q``
    (width -> attn_width) and ``kv`` (encoder_width -> 2*attn_width; k then v); ``proj``
    (attn_width -> width). ``dropout`` drops attention weights during training.
    """

    def __init__(
        self, width: int, heads: int, pattern: Pattern, block_len: int | None = None,
        attn_width: int | None = None, bias: bool = True, prime_len: int | None = None,
        spread: int = 1, encoder_width: int | None = None, dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_pattern(pattern, block_len, prime_len, spread)
        attn_width = attn_width or width
        if attn_width % heads:
            raise ValueError(f"attention width {attn_width} is not divisible by {heads} heads")
        self.width, self.heads, self.attn_width = width, heads, attn_width
        self.pattern, self.block_len, self.prime_len = pattern, block_len, prime_len
        self.spread = 1 if pattern == "summary" else spread
        self.dropout = dropout
        if pattern == "cross":
            self.q = nn.Linear(width, attn_width, bias=bias)
            self.kv = nn.Linear(encoder_width or width, 2 * attn_width, bias=bias)
        else:
            self.qkv = nn.Linear(width, 3 * attn_width, bias=bias)
        self.proj = nn.Linear(attn_width, width, bias=bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, T, heads*Dh) -> (B, heads, T, Dh)."""
        B, T, _ = x.shape
        return x.view(B, T, self.heads, -1).transpose(1, 2)

    def _encoder_keys(self, encoder_kv: Tensor | None, cache: LayerKVCache | None) -> tuple[Tensor, Tensor]:
        if cache is not None and cache.encoder_kv is not None:
            return cache.encoder_kv
        if encoder_kv is None:
            raise ValueError("a 'cross' attention layer needs encoder_kv (B, S, encoder_width)")
        k, v = self.kv(encoder_kv).split(self.attn_width, dim=-1)
        k, v = self._split_heads(k), self._split_heads(v)
        if cache is not None:
            cache.set_encoder_kv(k, v)
        return k, v

    def forward(
        self, x: Tensor, cache: LayerKVCache | None = None, encoder_kv: Tensor | None = None,
        return_weights: bool = False,
    ) -> Tensor | AttentionOutput:
        """x: (B, T, width) -> (B, T, width), or ``AttentionOutput`` when ``return_weights``.

        With ``cache`` the T tokens continue the cached sequence (their positions start at
        ``cache.length``) and the cache is advanced. ``encoder_kv`` (B, S, encoder_width) is read
        by ``cross`` layers only (once per cache: later steps may pass None).
        """
        if self.pattern == "cross":
            q = self._split_heads(self.q(x))
            k, v = self._encoder_keys(encoder_kv, cache)
        else:
            q, k, v = (self._split_heads(t) for t in self.qkv(x).split(self.attn_width, dim=-1))
        dropout_p = self.dropout if self.training else 0.0
        if cache is None:
            a = attend(q, k, v, self.pattern, self.block_len, prime_len=self.prime_len,
                       spread=self.spread, dropout_p=dropout_p)
            weights = (attention_weights(q, k, self.pattern, self.block_len, prime_len=self.prime_len,
                                         spread=self.spread) if return_weights else None)
        else:
            a = cache.attend(q, k, v, dropout_p)
            weights = cache.attention_weights(q) if return_weights else None
        out = self.proj(a.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.attn_width))
        return AttentionOutput(out, weights) if return_weights else out


__all__ = [
    "Pattern", "PATTERNS", "BLOCK_PATTERNS", "check_pattern",
    "visible", "pattern_mask", "attend", "attention_weights", "causal_attention", "prime_attention",
    "block_local_attention", "block_transpose_attention", "prev_block_attention", "summary_attention",
    "AttentionOutput", "FactorizedAttention",
]
