"""Key/value cache for incremental decoding with every attention pattern.

A ``LayerKVCache`` keeps, for one attention layer, only the keys and values that later queries can
still see (``length`` = tokens fed so far, ``b = length // block_len`` the current block):

==================  =====================================================================
pattern             kept
==================  =====================================================================
``dense``           every position
``block_transpose`` every position (a later query sees one key per earlier block)
``prime``           the positions ``< prime_len`` only
``block_local``     the current block: ``[b*L, length)``
``prev_block``      the previous and the current block: ``[(b-1)*L, length)``
``summary(_spread)`` the last ``spread`` keys of every finished block + the current block
``cross``           the encoder's keys/values, computed once
==================  =====================================================================

A step may feed one token or a chunk of several (a prompt, in one piece or in pieces): a single
token attends directly to the keys it sees; a chunk is padded to block boundaries and runs the
same segment kernels as the full forward, so cached logits equal the full forward's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from muse.core.attention import (
    Pattern,
    attention_weights,
    block_local_attention,
    block_transpose_attention,
    causal_attention,
    check_pattern,
    prev_block_attention,
    prime_attention,
    summary_attention,
)


def _pad_time(x: Tensor, after: int) -> Tensor:
    """Zero-pad the end of dimension 2 (time) of a (B, H, T, Dh) tensor."""
    return F.pad(x, (0, 0, 0, after)) if after else x


class LayerKVCache:
    """Keys/values of one attention layer (see the module docstring for what each pattern keeps).

    Stored keys are the contiguous positions ``[start, start + stored)`` in a growable buffer
    (B, H, capacity, Dh); ``capacity`` is only the first allocation's size hint.
    """

    def __init__(self, pattern: Pattern, block_len: int | None = None, *, prime_len: int | None = None,
                 spread: int = 1, capacity: int = 0) -> None:
        check_pattern(pattern, block_len, prime_len, spread)
        self.pattern, self.block_len, self.prime_len = pattern, block_len, prime_len
        self.spread = 1 if pattern == "summary" else spread
        if pattern in ("dense", "block_transpose"):
            self.capacity_hint = capacity
        elif pattern == "prime":
            self.capacity_hint = prime_len
        else:
            self.capacity_hint = 2 * (block_len or 0)
        self.length = 0
        self.start = 0
        self.stored = 0
        self._k: Tensor | None = None
        self._v: Tensor | None = None
        self._sum_k: Tensor | None = None  # summary patterns: (B, H, finished_blocks*spread, Dh)
        self._sum_v: Tensor | None = None
        self.encoder_kv: tuple[Tensor, Tensor] | None = None  # cross: (B, H, S, Dh) each

    # -- storage -----------------------------------------------------------------------------

    def set_encoder_kv(self, k: Tensor, v: Tensor) -> None:
        """Keep a cross-attention layer's encoder keys/values (B, H, S, Dh) for later steps."""
        self.encoder_kv = (k, v)

    def _keys(self, a: int, b: int) -> tuple[Tensor, Tensor]:
        """Stored keys/values of positions [a, b) (views)."""
        assert self.start <= a <= b <= self.start + self.stored, (a, b, self.start, self.stored)
        return self._k[:, :, a - self.start:b - self.start], self._v[:, :, a - self.start:b - self.start]

    def _append(self, k: Tensor, v: Tensor) -> None:
        n = k.shape[2]
        if self.pattern == "prime":  # later queries never see positions >= prime_len
            n = max(0, min(n, self.prime_len - (self.start + self.stored)))
            k, v = k[:, :, :n], v[:, :, :n]
        if n == 0:
            return
        need = self.stored + n
        if self._k is None or need > self._k.shape[2]:
            size = max(need, self.capacity_hint, 2 * (0 if self._k is None else self._k.shape[2]))
            B, H, _, D = k.shape
            new_k, new_v = k.new_empty(B, H, size, D), v.new_empty(B, H, size, D)
            if self.stored:
                new_k[:, :, :self.stored] = self._k[:, :, :self.stored]
                new_v[:, :, :self.stored] = self._v[:, :, :self.stored]
            self._k, self._v = new_k, new_v
        self._k[:, :, self.stored:need] = k
        self._v[:, :, self.stored:need] = v
        self.stored = need

    def _keep_from(self, length: int) -> int:
        """First position any query at ``length`` or later can still see."""
        L = self.block_len
        if self.pattern in ("block_local", "summary", "summary_spread"):
            return length // L * L
        if self.pattern == "prev_block":
            return max(0, (length // L - 1) * L)
        return 0

    def _trim(self) -> None:
        drop = self._keep_from(self.length) - self.start
        if drop <= 0:
            return
        keep = self.stored - drop
        if keep:
            self._k[:, :, :keep] = self._k[:, :, drop:self.stored].clone()
            self._v[:, :, :keep] = self._v[:, :, drop:self.stored].clone()
        self.start += drop
        self.stored = keep

    def _add_summaries(self, t0: int, end: int) -> None:
        """Keep the last ``spread`` keys of every block finished between t0 and end."""
        L = self.block_len
        first, last = t0 // L, end // L  # blocks [first, last) finished in this step
        if last <= first:
            return
        k, v = self._keys(first * L, last * L)
        B, H, _, D = k.shape
        k = k.reshape(B, H, last - first, L, D)[:, :, :, L - self.spread:].reshape(B, H, -1, D)
        v = v.reshape(B, H, last - first, L, D)[:, :, :, L - self.spread:].reshape(B, H, -1, D)
        if self._sum_k is None:
            self._sum_k, self._sum_v = k.clone(), v.clone()
        else:
            self._sum_k = torch.cat([self._sum_k, k], dim=2)
            self._sum_v = torch.cat([self._sum_v, v], dim=2)

    # -- attention ---------------------------------------------------------------------------

    def attend(self, q: Tensor, k: Tensor, v: Tensor, dropout_p: float = 0.0) -> Tensor:
        """Attention of the new queries (B, H, T, Dh) at positions ``length..length+T-1``.

        k, v are the new tokens' keys/values (the encoder's for ``cross``). Stores what later
        steps need, advances ``length`` and returns (B, H, T, Dh).
        """
        T = q.shape[2]
        t0, end = self.length, self.length + T
        if self.pattern == "cross":
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            self._append(k, v)
            out = self._one(q, t0, dropout_p) if T == 1 else self._chunk(q, t0, dropout_p)
            if self.pattern in ("summary", "summary_spread"):
                self._add_summaries(t0, end)
        self.length = end
        self._trim()
        return out

    def _one(self, q: Tensor, t: int, dropout_p: float) -> Tensor:
        """One query at position t: plain SDPA over exactly the keys it sees."""
        p, L = self.pattern, self.block_len
        if p == "dense":
            k, v = self._keys(0, t + 1)
        elif p == "prime":
            k, v = self._keys(0, min(t + 1, self.prime_len))
        elif p == "block_local":
            k, v = self._keys(t // L * L, t + 1)
        elif p == "block_transpose":
            k, v = self._keys(0, t + 1)
            k, v = k[:, :, t % L::L], v[:, :, t % L::L]
        elif p == "prev_block":
            if t < L:
                return torch.zeros_like(q)
            k, v = self._keys((t // L - 1) * L, t // L * L)
        else:
            k, v = self._keys(t // L * L, t + 1)
            if self._sum_k is not None:
                k, v = torch.cat([self._sum_k, k], dim=2), torch.cat([self._sum_v, v], dim=2)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)

    def _chunk(self, q: Tensor, t0: int, dropout_p: float) -> Tensor:
        """Several queries at t0..end-1: pad to block boundaries and run the segment kernels."""
        p, L = self.pattern, self.block_len
        end = t0 + q.shape[2]
        if p == "dense":
            return causal_attention(q, *self._keys(0, end), dropout_p)
        if p == "prime":
            return prime_attention(q, *self._keys(0, min(end, self.prime_len)), self.prime_len, t0, dropout_p)
        qa, ea = t0 // L * L, -(-end // L) * L  # the segment [qa, ea) covers whole blocks
        qs = F.pad(q, (0, 0, t0 - qa, ea - end))

        def padded(a: int) -> tuple[Tensor, Tensor]:
            k, v = self._keys(a, end)
            return _pad_time(k, ea - end), _pad_time(v, ea - end)

        if p == "block_local":
            out = block_local_attention(qs, *padded(qa), L, dropout_p)
        elif p == "block_transpose":
            out = block_transpose_attention(qs, *padded(0), L, dropout_p)
        elif p == "prev_block":
            out = prev_block_attention(qs, *self._keys(max(qa - L, 0), ea - L), L, dropout_p)
        else:
            out = summary_attention(qs, *padded(qa), L, self.spread, dropout_p,
                                    prior_k=self._sum_k, prior_v=self._sum_v)
        return out[:, :, t0 - qa:end - qa]

    def attention_weights(self, q: Tensor) -> Tensor:
        """Softmax weights (B, H, T, S) of the queries just fed by ``attend``.

        Columns are encoder positions for ``cross``, absolute key positions ``0..`` otherwise
        (``min(length, prime_len)`` of them for ``prime``). Only for patterns that keep their keys
        from position 0 (cross, dense, prime, block_transpose).
        """
        if self.pattern == "cross":
            return attention_weights(q, self.encoder_kv[0], "cross")
        if self.start != 0 or self.pattern not in ("dense", "prime", "block_transpose"):
            raise ValueError(f"attention weights with a KV cache are not kept for pattern {self.pattern!r}")
        k, _ = self._keys(0, self.stored)
        return attention_weights(q, k, self.pattern, self.block_len, prime_len=self.prime_len,
                                 q_start=self.length - q.shape[2])

    @property
    def kept(self) -> int:
        """Number of key positions held: stored keys + summaries (encoder length for cross)."""
        if self.encoder_kv is not None:
            return self.encoder_kv[0].shape[2]
        return self.stored + (0 if self._sum_k is None else self._sum_k.shape[2])

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (LongTensor (B',)), e.g. to drop finished sequences."""
        def select(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.index_select(0, index)

        self._k, self._v = select(self._k), select(self._v)
        self._sum_k, self._sum_v = select(self._sum_k), select(self._sum_v)
        if self.encoder_kv is not None:
            self.encoder_kv = (select(self.encoder_kv[0]), select(self.encoder_kv[1]))


class KVCache:
    """One ``LayerKVCache`` per layer plus ``offset``: the position of the next token fed.

    ``Transformer.forward`` advances ``offset``; models read it first, e.g. for positional
    embeddings (``pos_emb(T, offset=cache.offset)``).
    """

    def __init__(self, layers: list[LayerKVCache], batch_size: int) -> None:
        self.layers = layers
        self.batch_size = batch_size
        self.offset = 0

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (LongTensor (B',)) in every layer."""
        for layer in self.layers:
            layer.reorder(index)
        self.batch_size = int(index.numel())

    def kept(self) -> list[int]:
        """How many key positions each layer holds (see ``LayerKVCache.kept``)."""
        return [layer.kept for layer in self.layers]


__all__ = ["LayerKVCache", "KVCache"]
