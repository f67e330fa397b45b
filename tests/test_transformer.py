"""Transformer: config loading, layer layout, Jukebox block order, and the official tiny priors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from jukebox.official import ATTN_TYPES, load_official
from jukebox.prior.config import prime_length
from muse.core.config import ConfigError, load_config, save_config
from muse.core.transformer import PositionalEmbedding, Transformer, TransformerConfig, quick_gelu

TINY = dict(width=16, depth=4, heads=2, n_ctx=24, attn_order=("block_local", "block_transpose"), blocks=4)


def test_config_loads_strictly_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "width: 32\ndepth: 6\nheads: 4\nn_ctx: 64\nblocks: 8\n"
        "attn_order: [block_local, block_transpose, prev_block]\nmlp_mult: 1.0\nattn_mult: 0.25\n"
        "activation: quick_gelu\n"
    )
    config = load_config(TransformerConfig, path)
    assert config.attn_order == ("block_local", "block_transpose", "prev_block")
    assert (config.resolved_block_len, config.attn_width, config.mlp_width) == (8, 8, 32)
    save_config(config, tmp_path / "again.yaml")
    assert load_config(TransformerConfig, tmp_path / "again.yaml") == config

    path.write_text("width: 32\ndepth: 6\nheads: 4\nn_ctx: 64\nwidht: 3\n")
    with pytest.raises(ConfigError, match="widht"):
        load_config(TransformerConfig, path)
    path.write_text("width: 32\ndepth: 6\nheads: 4\nn_ctx: 64\nattn_order: [strided]\n")
    with pytest.raises(ConfigError, match="strided"):
        load_config(TransformerConfig, path)
    path.write_text("width: 32\ndepth: 6\nheads: 4\nn_ctx: 64\nattn_order: [block_local]\n")
    with pytest.raises(ConfigError, match="blocks or block_len"):
        load_config(TransformerConfig, path)
    path.write_text("width: 32\ndepth: 6\nheads: 4\nn_ctx: 64\nblocks: 5\n")
    with pytest.raises(ConfigError, match="divide"):
        load_config(TransformerConfig, path)


def test_layers_follow_the_attention_cycle_with_cross_layers_at_chosen_depths() -> None:
    config = TransformerConfig(width=16, depth=7, heads=2, n_ctx=16, blocks=4, encoder_width=6,
                               attn_order=("block_local", "block_transpose", "cross"), mlp_mult=2.0)
    model = Transformer(config)
    assert [layer.pattern for layer in model.layers] == [
        "block_local", "block_transpose", "cross", "block_local", "block_transpose", "cross", "block_local"]
    names = {n: tuple(p.shape) for n, p in model.layers[2].named_parameters()}
    assert names == {
        "ln_0.weight": (16,), "ln_0.bias": (16,), "attn.q.weight": (16, 16), "attn.q.bias": (16,),
        "attn.kv.weight": (32, 6), "attn.kv.bias": (32,), "attn.proj.weight": (16, 16), "attn.proj.bias": (16,),
        "ln_1.weight": (16,), "ln_1.bias": (16,), "mlp.c_fc.weight": (32, 16), "mlp.c_fc.bias": (32,),
        "mlp.c_proj.weight": (16, 32), "mlp.c_proj.bias": (16,)}
    out = model(torch.randn(2, 16, 16), encoder_kv=torch.randn(2, 5, 6))
    assert out.shape == (2, 16, 16)


@pytest.mark.parametrize("res_scale", [False, True])
def test_block_computes_jukebox_order(res_scale: bool) -> None:
    torch.manual_seed(0)
    config = TransformerConfig(**{**TINY, "activation": "quick_gelu", "res_scale": res_scale, "depth": 3})
    block = Transformer(config).layers[0]
    x = torch.randn(2, 24, 16)
    a = block.attn(block.ln_0(x))
    m = block.mlp.c_proj(quick_gelu(block.mlp.c_fc(block.ln_1(x + a))))
    scale = 1 / 3 if res_scale else 1.0
    torch.testing.assert_close(block(x), x + scale * (a + m), atol=1e-6, rtol=0)
    torch.testing.assert_close(quick_gelu(x), x * torch.sigmoid(1.702 * x))
    assert not torch.allclose(quick_gelu(x), F.gelu(x))


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    plain = Transformer(TransformerConfig(**TINY)).train()
    ckpt = Transformer(TransformerConfig(**TINY, checkpointing=True)).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 24, 16)
    for model in (plain, ckpt):
        model(x).pow(2).sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=0, msg=name)


def test_dropout_applies_in_training_only() -> None:
    model = Transformer(TransformerConfig(**TINY, dropout=0.3, attn_dropout=0.3))
    x = torch.randn(1, 24, 16)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_positional_embedding_slices_by_offset() -> None:
    pos = PositionalEmbedding(10, 4)
    assert [n for n, _ in pos.named_parameters()] == ["pos_emb"]
    assert torch.equal(pos(3, offset=5), pos.pos_emb[5:8])
    with pytest.raises(ValueError, match="exceed"):
        pos(3, offset=8)


# --- The official tiny Jukebox priors (reference vectors made by the original code) -----------


@dataclass
class OfficialPrior:
    """The transformer of an official prior plus the inputs/heads around it (from the vectors)."""

    transformer: Transformer
    x_emb: torch.Tensor  # (V, width)
    x_out: torch.Tensor  # (V, width)
    pos_emb: torch.Tensor  # (L, width)
    y_cond: torch.Tensor  # (N, 1, width)
    x_cond: torch.Tensor  # (N, L, width), zero over a lyric prefix
    add_cond_after: bool
    encoder_kv: torch.Tensor | None
    tokens: torch.Tensor  # (N, L) teacher-forcing tokens (lyric prefix + codes shifted by n_vocab)
    prefix: int  # lyric tokens before the codes (single encoder-decoder)
    n_vocab: int

    def inputs(self, tokens: torch.Tensor, a: int, b: int) -> torch.Tensor:
        """Input embeddings of positions a..b-1: previous token (y_cond at 0) + position + x_cond."""
        prev = F.embedding(tokens[:, max(a - 1, 0):b - 1], self.x_emb)
        if a == 0:
            prev = torch.cat([self.y_cond, prev], dim=1)
        return prev + self.pos_emb[a:b] + self.x_cond[:, a:b]

    def logits(self, hidden: torch.Tensor, a: int, b: int) -> torch.Tensor:
        if self.add_cond_after:
            hidden = hidden + self.x_cond[:, a:b]
        return hidden @ self.x_out.T


def load_prior(ref: Path, name: str) -> tuple[OfficialPrior, dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    meta = json.loads((ref / "priors" / f"{name}.json").read_text())
    hps = meta["hps"]
    vectors = load_file(str(ref / "priors" / f"{name}_vectors.safetensors"))
    official = load_official(ref / "priors" / f"{name}.pth.tar").state_dict
    state = {k[len("prior."):]: v.float() for k, v in official.items()
             if k.startswith("prior.")}
    n_tokens = hps["n_tokens"] if hps["single_enc_dec"] else 0
    length = hps["n_ctx"] + n_tokens
    config = TransformerConfig(
        width=hps["prior_width"], depth=hps["prior_depth"], heads=hps["heads"], n_ctx=length,
        attn_order=tuple(ATTN_TYPES[t] for t in meta["attention_types"]), blocks=hps["blocks"],
        mlp_mult=hps["m_mlp"], attn_mult=hps["m_attn"], activation="quick_gelu", res_scale=hps["res_scale"],
        prime_len=prime_length(hps["n_tokens"], hps["blocks"]) if n_tokens else None,
    )
    model = Transformer(config).eval()
    mine, prefix = {}, "transformer._attn_mods."
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        layer, rest = key[len(prefix):].split(".", 1)
        cross = model.layers[int(layer)].pattern == "cross"
        rest = (rest.replace("attn.c_attn", "attn.q" if cross else "attn.qkv")
                .replace("attn.c_enc_kv", "attn.kv").replace("attn.c_proj", "attn.proj"))
        if rest.endswith(".w"):  # official projections are stored (in, out)
            rest, value = rest[:-2] + ".weight", value.T
        elif rest.endswith(".b"):
            rest = rest[:-2] + ".bias"
        mine[f"layers.{layer}.{rest}"] = value
    model.load_state_dict(mine, strict=True)

    y = vectors["y"]
    codes = vectors["z"] + (hps["n_vocab"] if n_tokens else 0)
    tokens = torch.cat([y[:, -n_tokens:], codes], dim=1) if n_tokens else codes
    x_cond = F.pad(vectors["x_cond"], (0, 0, n_tokens, 0))
    prior = OfficialPrior(
        model, state["x_emb.weight"], state["x_out.weight"], state["pos_emb.pos_emb"], vectors["y_cond"], x_cond,
        not hps["merged_decoder"], vectors.get("encoder_kv"), tokens, n_tokens, hps["n_vocab"])
    return prior, meta, vectors


PRIORS = ["upsampler_level_1_tiny", "top_5b_lyrics_tiny", "top_1b_lyrics_tiny"]


@pytest.mark.parametrize("name", PRIORS)
def test_official_prior_logits_and_lyric_alignment(jukebox_ref: Path, name: str) -> None:
    prior, meta, vectors = load_prior(jukebox_ref, name)
    L = prior.tokens.shape[1]
    with torch.no_grad():
        layer = meta["hps"]["alignment_layer"]
        out = prior.transformer(prior.inputs(prior.tokens, 0, L), encoder_kv=prior.encoder_kv,
                                attn_weights_layer=layer)
        hidden = out if layer is None else out.hidden
        logits = prior.logits(hidden, 0, L)
    torch.testing.assert_close(logits, vectors["logits"], atol=1e-4, rtol=0)
    if layer is not None:
        p = prior.prefix
        weights = out.weights[:, :, p:, :p] if p else out.weights
        torch.testing.assert_close(weights, vectors["alignment_attn"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", PRIORS)
@pytest.mark.parametrize("kind", ["greedy_ancestral", "greedy_primed"])
def test_official_prior_greedy_decoding_through_the_kv_cache(jukebox_ref: Path, name: str, kind: str) -> None:
    prior, meta, vectors = load_prior(jukebox_ref, name)
    L, p = prior.tokens.shape[1], prior.prefix
    known = p + (meta["primed_tokens"] if kind == "greedy_primed" else 0)
    chunk = meta["chunk_size"]
    tokens = prior.tokens[:, :known]
    cache = prior.transformer.new_cache(tokens.shape[0])

    def step(a: int, b: int) -> torch.Tensor:
        hidden = prior.transformer(prior.inputs(tokens, a, b), cache, prior.encoder_kv)
        return prior.logits(hidden, a, b)

    with torch.no_grad():
        for a in range(0, known + 1, chunk):  # the prompt: positions 0..known, in chunks
            logits = step(a, min(a + chunk, known + 1))
        while True:
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            if tokens.shape[1] == L:
                break
            logits = step(tokens.shape[1], tokens.shape[1] + 1)
    codes = (tokens[:, p:] - prior.n_vocab).clamp(min=0) if p else tokens
    assert torch.equal(codes, vectors[kind])
