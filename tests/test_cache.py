"""KV-cached decoding equals the full forward for every pattern, prompt layout and batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from muse.core.attention import PATTERNS, FactorizedAttention, pattern_mask
from muse.core.cache import LayerKVCache
from muse.core.transformer import PositionalEmbedding, Transformer, TransformerConfig

BATCH, T, VOCAB, BLOCK = 3, 29, 11, 6  # T is not a multiple of the block length
PROMPTS = {
    "no prompt": [1] * T,
    "prompt in one chunk": [12] + [1] * (T - 12),
    "prompt in chunks": [5, 4, 8] + [1] * (T - 17),
    "mixed chunks": [1, 7, 1, 6, 2, 12],
}


class TinyLM(nn.Module):
    """Token + learned position embeddings, a Transformer and a linear head."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, config.width)
        self.pos = PositionalEmbedding(config.n_ctx, config.width, init_std=0.5)
        self.transformer = Transformer(config)
        self.head = nn.Linear(config.width, VOCAB)
        for p in self.transformer.parameters():  # large enough weights for non-trivial attention
            nn.init.normal_(p, std=0.15)

    def forward(self, ids: torch.Tensor, cache=None, encoder_kv=None) -> torch.Tensor:  # noqa: ANN001
        offset = 0 if cache is None else cache.offset
        x = self.emb(ids) + self.pos(ids.shape[1], offset)
        return self.head(self.transformer(x, cache, encoder_kv))


def config(attn_order: tuple[str, ...], **kw: object) -> TransformerConfig:
    base = dict(width=16, depth=len(attn_order), heads=2, n_ctx=32, attn_order=attn_order,
                block_len=BLOCK, prime_len=9, spread=2)
    base.update(kw)
    return TransformerConfig(**base)


def decode(model: TinyLM, ids: torch.Tensor, chunks: list[int], enc: torch.Tensor | None) -> torch.Tensor:
    cache = model.transformer.new_cache(ids.shape[0])
    out, t = [], 0
    with torch.no_grad():
        for n in chunks:
            out.append(model(ids[:, t:t + n], cache, enc))
            t += n
    assert cache.offset == t
    return torch.cat(out, dim=1)


def orders() -> list[tuple[str, ...]]:
    # Each pattern after a dense layer (so its input depends on the whole past), plus Jukebox cycles.
    single = [("dense", p) if p != "cross" else ("dense", "cross") for p in PATTERNS]
    return single + [("block_local", "block_transpose", "prev_block", "cross"), ("block_local", "prime", "dense")]


@pytest.mark.parametrize("attn_order", orders(), ids=lambda o: "+".join(o))
@pytest.mark.parametrize("prompt", PROMPTS)
def test_cached_decoding_equals_the_full_forward(attn_order: tuple[str, ...], prompt: str) -> None:
    torch.manual_seed(0)
    model = TinyLM(config(attn_order)).eval()
    ids = torch.randint(0, VOCAB, (BATCH, T))
    enc = torch.randn(BATCH, 7, 16)
    with torch.no_grad():
        full = model(ids, encoder_kv=enc)
    chunks = PROMPTS[prompt]
    assert sum(chunks) == T
    torch.testing.assert_close(decode(model, ids, chunks, enc), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pattern,bound", [
    ("dense", T), ("block_transpose", T), ("prime", 9), ("block_local", BLOCK - 1),
    ("prev_block", 2 * BLOCK - 1), ("summary", T // BLOCK + BLOCK - 1),
    ("summary_spread", 2 * (T // BLOCK) + BLOCK - 1), ("cross", 7),
])
def test_cache_keeps_only_what_the_pattern_can_still_see(pattern: str, bound: int) -> None:
    torch.manual_seed(0)
    model = TinyLM(config(("dense", pattern))).eval()
    cache = model.transformer.new_cache(2)
    enc = torch.randn(2, 7, 16)
    most = 0
    with torch.no_grad():
        for t in range(T):
            model(torch.randint(0, VOCAB, (2, 1)), cache, enc if t == 0 else None)
            most = max(most, cache.layers[1].kept)
    assert most == bound
    if pattern in ("dense", "block_transpose", "prime", "block_local", "prev_block"):
        # ... and never less than the next query sees.
        sees = pattern_mask(pattern, T + 1, BLOCK, prime_len=9)[T, :T].nonzero().flatten().tolist()
        layer = cache.layers[1]
        assert layer.start <= min(sees) and max(sees) < layer.start + layer.stored


def test_single_layer_cache_with_chunks_that_straddle_blocks() -> None:
    torch.manual_seed(3)
    for pattern in PATTERNS:
        if pattern == "cross":
            continue
        layer = FactorizedAttention(8, 2, pattern, block_len=4, prime_len=7, spread=2).eval()
        x = torch.randn(2, 23, 8)
        with torch.no_grad():
            full = layer(x)
            cache = LayerKVCache(pattern, 4, prime_len=7, spread=2)
            parts, t = [], 0
            for n in (3, 6, 1, 5, 8):
                parts.append(layer(x[:, t:t + n], cache))
                t += n
        torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=0, msg=pattern)
        assert cache.length == 23


@pytest.mark.parametrize("pattern", ["cross", "prime", "dense"])
def test_cached_attention_weights_equal_the_full_forward(pattern: str) -> None:
    torch.manual_seed(0)
    layer = FactorizedAttention(8, 2, pattern, prime_len=5).eval()
    x, enc = torch.randn(2, 9, 8), torch.randn(2, 4, 8)
    with torch.no_grad():
        full = layer(x, encoder_kv=enc, return_weights=True).weights
        cache = LayerKVCache(pattern, prime_len=5)
        rows = [layer(x[:, :3], cache, enc, return_weights=True).weights]
        rows += [layer(x[:, t:t + 1], cache, return_weights=True).weights for t in range(3, 9)]
    for t0, w in zip([0, 3, 4, 5, 6, 7, 8], rows):
        n = w.shape[-1]
        torch.testing.assert_close(w, full[:, :, t0:t0 + w.shape[2], :n], atol=1e-6, rtol=0)
        assert torch.all(full[:, :, t0:t0 + w.shape[2], n:] == 0)


def test_reorder_keeps_the_selected_sequences() -> None:
    torch.manual_seed(0)
    model = TinyLM(config(("block_local", "block_transpose", "prev_block", "summary", "cross"))).eval()
    ids, enc = torch.randint(0, VOCAB, (3, 14)), torch.randn(3, 7, 16)
    with torch.no_grad():
        full = model(ids, encoder_kv=enc)
        cache = model.transformer.new_cache(3)
        model(ids[:, :9], cache, enc)
        cache.reorder(torch.tensor([2, 0]))
        rest = torch.cat([model(ids[[2, 0], t:t + 1], cache) for t in range(9, 14)], dim=1)
    torch.testing.assert_close(rest, full[[2, 0], 9:], atol=1e-5, rtol=0)


def test_cache_rejects_another_batch_size() -> None:
    model = TinyLM(config(("dense",)))
    cache = model.transformer.new_cache(2)
    with pytest.raises(ValueError, match="batch"):
        model(torch.zeros(3, 1, dtype=torch.long), cache)
