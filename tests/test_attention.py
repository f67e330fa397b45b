"""Factorized attention: every pattern equals dense attention under its explicit mask."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from muse.core import attention as attention_module
from muse.core.attention import PATTERNS, FactorizedAttention, attend, pattern_mask

CAUSAL = [p for p in PATTERNS if p != "cross"]
OPTS = dict(prime_len=11, spread=3)


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) masked) v, with rows that see no key giving zero."""
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    return weights.masked_fill(~mask.any(-1, keepdim=True), 0.0) @ v


def qkv(B: int, H: int, T: int, D: int, S: int | None = None, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(B, H, T, D), (B, H, S or T, D), (B, H, S or T, D)]
    return [torch.randn(s, generator=g, requires_grad=True) for s in shapes]


def check_equivalence(pattern: str, B: int, H: int, T: int, D: int, block_len: int, **opts: int) -> None:
    S = 5 if pattern == "cross" else None
    q, k, v = qkv(B, H, T, D, S)
    mask = pattern_mask(pattern, T, block_len, S=S, **opts)
    out = attend(q, k, v, pattern, block_len, **opts)
    ref = reference(q, k, v, mask)
    assert out.shape == (B, H, T, D)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), grad, allow_unused=True, materialize_grads=True)
    want = torch.autograd.grad(ref, (q, k, v), grad)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("T,block_len", [(1, 4), (8, 4), (13, 4), (24, 8), (29, 8), (30, 6), (9, 1)])
def test_every_pattern_equals_dense_attention_with_its_mask(pattern: str, T: int, block_len: int) -> None:
    check_equivalence(pattern, 2, 3, T, 8, block_len, prime_len=11, spread=min(3, block_len))


@settings(max_examples=40, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS), T=st.integers(1, 40), block_len=st.integers(1, 12),
    heads=st.integers(1, 3), prime_len=st.integers(1, 45), spread=st.integers(1, 12),
)
def test_equivalence_property(pattern: str, T: int, block_len: int, heads: int, prime_len: int, spread: int) -> None:
    check_equivalence(pattern, 1, heads, T, 4, block_len, prime_len=prime_len, spread=min(spread, block_len))


@pytest.mark.parametrize("pattern", CAUSAL)
@pytest.mark.parametrize("T", [24, 27])
def test_a_future_token_never_changes_an_earlier_output(pattern: str, T: int) -> None:
    q, k, v = (x.detach() for x in qkv(1, 2, T, 8))
    base = attend(q, k, v, pattern, 8, **OPTS)
    for t in (0, 5, 8, 15, T - 1):
        k2, v2, q2 = k.clone(), v.clone(), q.clone()
        for x in (k2, v2, q2):
            x[:, :, t] += 10.0
        out = attend(q2, k2, v2, pattern, 8, **OPTS)
        assert torch.equal(out[:, :, :t], base[:, :, :t]), f"{pattern}: position {t} leaked backwards"


def test_pattern_masks_match_the_jukebox_definitions() -> None:
    # 6 positions, blocks of 2: [0 1 | 2 3 | 4 5]
    def rows(pattern: str, **opts: int) -> list[list[int]]:
        m = pattern_mask(pattern, 6, 2, **opts)
        return [torch.nonzero(r).flatten().tolist() for r in m]

    assert rows("dense") == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]]
    assert rows("block_local") == [[0], [0, 1], [2], [2, 3], [4], [4, 5]]
    assert rows("block_transpose") == [[0], [1], [0, 2], [1, 3], [0, 2, 4], [1, 3, 5]]
    assert rows("prev_block") == [[], [], [0, 1], [0, 1], [2, 3], [2, 3]]
    assert rows("summary") == [[0], [0, 1], [1, 2], [1, 2, 3], [1, 3, 4], [1, 3, 4, 5]]
    assert rows("summary_spread", spread=2) == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4],
                                                [0, 1, 2, 3, 4, 5]]
    assert rows("prime", prime_len=3) == [[0], [0, 1], [0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2]]
    assert pattern_mask("cross", 3, S=4).all() and pattern_mask("cross", 3, S=4).shape == (3, 4)


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if p not in ("dense", "cross", "prime")])
def test_sparse_patterns_never_build_a_sequence_sized_mask(pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    T, block_len = 64, 8
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):  # noqa: ANN001, ANN003
        seen.append(None if attn_mask is None else attn_mask.numel())
        assert k.shape[-2] <= 2 * block_len + T // block_len, k.shape
        return real(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", spy)
    q, k, v = (x.detach() for x in qkv(1, 2, T, 4))
    attend(q, k, v, pattern, block_len, spread=2)
    assert seen and all(n is None or n < T * T // 2 for n in seen)


def test_queries_without_keys_give_zero_not_nan() -> None:
    q, k, v = qkv(1, 2, 20, 4)
    out = attend(q, k, v, "prev_block", 8)
    assert torch.equal(out[:, :, :8], torch.zeros_like(out[:, :, :8]))
    out.sum().backward()
    assert all(torch.isfinite(x.grad).all() for x in (q, k, v))


def test_prev_block_layer_outputs_the_projection_bias_in_the_first_block() -> None:
    layer = FactorizedAttention(16, 2, "prev_block", block_len=4)
    out = layer(torch.randn(2, 10, 16))
    torch.testing.assert_close(out[:, :4], layer.proj.bias.expand(2, 4, 16), atol=0, rtol=0)


def test_module_parameters_and_qkv_packing() -> None:
    torch.manual_seed(0)
    layer = FactorizedAttention(12, 3, "dense", attn_width=6)
    assert {n: tuple(p.shape) for n, p in layer.named_parameters()} == {
        "qkv.weight": (18, 12), "qkv.bias": (18,), "proj.weight": (12, 6), "proj.bias": (12,)}
    x = torch.randn(2, 5, 12)
    q, k, v = (x @ w.T + b for w, b in zip(layer.qkv.weight.split(6), layer.qkv.bias.split(6)))
    heads = [t.view(2, 5, 3, 2).transpose(1, 2) for t in (q, k, v)]
    a = reference(*heads, pattern_mask("dense", 5)).transpose(1, 2).reshape(2, 5, 6)
    torch.testing.assert_close(layer(x), layer.proj(a), atol=1e-6, rtol=0)

    cross = FactorizedAttention(12, 3, "cross", attn_width=6, encoder_width=7)
    assert {n: tuple(p.shape) for n, p in cross.named_parameters()} == {
        "q.weight": (6, 12), "q.bias": (6,), "kv.weight": (12, 7), "kv.bias": (12,),
        "proj.weight": (12, 6), "proj.bias": (12,)}
    assert cross(x, encoder_kv=torch.randn(2, 9, 7)).shape == (2, 5, 12)
    with pytest.raises(ValueError, match="encoder_kv"):
        cross(x)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_returned_weights_are_the_masked_softmax(pattern: str) -> None:
    torch.manual_seed(1)
    layer = FactorizedAttention(8, 2, pattern, block_len=4, prime_len=6, spread=2)
    x = torch.randn(2, 11, 8)
    enc = torch.randn(2, 3, 8) if pattern == "cross" else None
    result = layer(x, encoder_kv=enc, return_weights=True)
    torch.testing.assert_close(result.out, layer(x, encoder_kv=enc), atol=1e-6, rtol=0)
    mask = pattern_mask(pattern, 11, 4, prime_len=6, spread=2, S=3)
    assert result.weights.shape == (2, 2, 11, mask.shape[1])
    assert torch.all(result.weights[:, :, ~mask] == 0)
    sums = result.weights.sum(-1)
    torch.testing.assert_close(sums, mask.any(-1).float().expand_as(sums), atol=1e-6, rtol=0)


def test_attention_dropout_is_active_only_in_training() -> None:
    layer = FactorizedAttention(8, 2, "block_local", block_len=4, dropout=0.5)
    x = torch.randn(1, 16, 8)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown attention pattern"):
        FactorizedAttention(8, 2, "strided")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="block_len"):
        FactorizedAttention(8, 2, "block_local")
    with pytest.raises(ValueError, match="prime_len"):
        FactorizedAttention(8, 2, "prime", block_len=4)
    with pytest.raises(ValueError, match="divisible"):
        FactorizedAttention(8, 3, "dense")


@pytest.mark.parametrize("pattern", ["block_local", "prev_block"])
def test_large_batches_use_the_blocks_as_heads_layout(pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attention_module, "_MAX_SDPA_BATCH", 0)  # as if B*H*blocks exceeded CUDA's grid
    check_equivalence(pattern, 2, 3, 21, 8, 4)
