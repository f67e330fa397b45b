"""VQ-VAE architecture, config, chunked inference and checkpoint I/O (tiny models, CPU)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from jukebox.vqvae.checkpoint import load_vqvae, official_name, save_vqvae, to_official_state
from jukebox.vqvae.config import VQVAEConfig, load_vqvae_config
from jukebox.vqvae.losses import vqvae_loss
from jukebox.vqvae.resnet import stack_dilations
from jukebox.vqvae.vqvae import VQVAE
from muse.core.atomic import write_json
from muse.core.checkpoint import save_weights
from muse.core.config import to_dict
from muse.core.errors import CheckpointError, ConfigError

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "jukebox" / "vqvae_tiny.yaml"


@pytest.fixture(scope="module")
def tiny_config() -> VQVAEConfig:
    return load_vqvae_config(TINY)


@pytest.fixture(scope="module")
def reference_model(jukebox_ref: Path) -> VQVAE:
    return load_vqvae(jukebox_ref / "vqvae_tiny.pth.tar").model


def harmonic_audio(n: int, length: int, sample_rate: int = 44100, seed: int = 0) -> torch.Tensor:
    """(n, length) sums of a few random partials, peak 0.8."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / sample_rate
    freqs = 110 * 2 ** (torch.rand(n, 3, 1, generator=g) * 4)
    x = torch.sin(2 * math.pi * freqs * t).sum(1) * torch.linspace(0.2, 1.0, length)
    return 0.8 * x / x.abs().amax(dim=1, keepdim=True)


# --- architecture -------------------------------------------------------------------------------


def test_dilations_grow_cycle_and_reverse() -> None:
    assert stack_dilations(4, 3, None) == [1, 3, 9, 27]
    assert stack_dilations(5, 2, 2) == [1, 2, 1, 2, 1]
    assert stack_dilations(4, 3, None, reverse=True) == [27, 9, 3, 1]


def test_level_sizes_follow_the_multipliers(tiny_config: VQVAEConfig) -> None:
    model = VQVAE(tiny_config)
    for level in range(tiny_config.levels):
        encoder, decoder = model.encoders[level], model.decoders[level]
        assert len(encoder.stages) == len(decoder.stages) == level + 1
        width, depth = tiny_config.level_width(level), tiny_config.level_depth(level)
        for stage, (enc, dec) in enumerate(zip(encoder.stages, decoder.stages)):
            assert len(enc.downs) == len(dec.ups) == tiny_config.downs_t[stage]
            assert enc.downs[0].conv.in_channels == (1 if stage == 0 else tiny_config.emb_width)
            assert enc.downs[0].conv.out_channels == width
            assert enc.proj.out_channels == dec.proj_in.in_channels == tiny_config.emb_width
            assert dec.ups[-1].conv.out_channels == tiny_config.emb_width
            forward = stack_dilations(depth, tiny_config.dilation_growth_rate, tiny_config.dilation_cycle)
            assert enc.downs[0].res.dilations == forward
            assert dec.ups[0].res.dilations == forward[::-1]  # reverse_decoder_dilation


def test_encode_decode_shapes(tiny_config: VQVAEConfig) -> None:
    model = VQVAE(tiny_config).eval()
    audio = harmonic_audio(2, 4 * tiny_config.hop_lengths[-1])
    with torch.no_grad():
        codes = model.encode(audio)
        for level, (c, hop) in enumerate(zip(codes, tiny_config.hop_lengths)):
            assert c.shape == (2, audio.shape[1] // hop)
            assert model.decode(c, level).shape == audio.shape


def test_bad_inputs_are_clear_errors(tiny_config: VQVAEConfig) -> None:
    model = VQVAE(tiny_config).eval()
    with pytest.raises(ValueError, match="multiple of the hop length"):
        model.encode(torch.zeros(1, tiny_config.hop_lengths[-1] + 1))
    with pytest.raises(ValueError, match="shape"):
        model.encode(torch.zeros(1, 2, 128))
    with pytest.raises(ValueError, match="level 7"):
        model.decode(torch.zeros(1, 4, dtype=torch.long), 7)


def test_train_step_updates_codebooks_and_passes_gradients(tiny_config: VQVAEConfig) -> None:
    torch.manual_seed(0)
    model = VQVAE(tiny_config).train()
    audio = harmonic_audio(2, tiny_config.sample_length)
    out = model(audio)
    for level, codebook in enumerate(model.bottleneck.codebooks):
        assert codebook.initialised  # seeded from this batch's frames on the first step
        assert out.codebook_metrics[level]["usage"] > 0
    result = vqvae_loss(audio, out, tiny_config.loss)
    result.loss.backward()
    for level in range(tiny_config.levels):
        # the straight-through estimator carries the decoder's gradient into the encoder
        assert model.encoders[level].stages[0].downs[0].conv.weight.grad.abs().sum() > 0
        assert model.decoders[level].out.weight.grad.abs().sum() > 0
    assert model.bottleneck.codebooks[0].vectors.grad is None  # codebooks learn by EMA only
    assert {"perplexity_l1", "usage_l3", "entropy", "commit_loss"} <= set(result.metrics)


# --- receptive fields and chunking -------------------------------------------------------------


def test_encoder_receptive_field_bounds_the_dependencies(tiny_config: VQVAEConfig) -> None:
    torch.manual_seed(0)
    model = VQVAE(tiny_config).double()
    for level in range(tiny_config.levels):
        hop = tiny_config.hop_lengths[level]
        left, right = model.encoders[level].receptive_field()
        length = hop * (2 * math.ceil((left + right) / hop) + 8)
        audio = torch.randn(1, length, dtype=torch.float64, requires_grad=True)
        latent = model.encoders[level](audio.unsqueeze(1))[-1]
        t = latent.shape[-1] // 2
        latent[0, :, t].sum().backward()
        touched = audio.grad[0].nonzero().flatten()
        assert touched.min() >= t * hop - left and touched.max() <= t * hop + right
        # and the bound is the true extent (up to the kernel taps that ReLUs may zero out)
        assert touched.min() <= t * hop - left + hop and touched.max() >= t * hop + right - hop


def test_decoder_context_bounds_the_dependencies(tiny_config: VQVAEConfig) -> None:
    torch.manual_seed(0)
    model = VQVAE(tiny_config).double()
    for level in range(tiny_config.levels):
        hop, ctx = tiny_config.hop_lengths[level], model.decoders[level].context_frames()
        latent = torch.randn(1, tiny_config.emb_width, 2 * ctx + 9, dtype=torch.float64, requires_grad=True)
        t = latent.shape[-1] // 2
        model.decoders[level](latent)[0, 0, t * hop : (t + 1) * hop].sum().backward()
        frames = latent.grad[0].abs().sum(0).nonzero().flatten()
        assert frames.min() >= t - ctx and frames.max() <= t + ctx


@torch.no_grad()
def test_chunked_encoding_equals_one_shot(reference_model: VQVAE) -> None:
    hops = reference_model.hop_lengths
    audio = harmonic_audio(2, 29 * hops[-1], seed=1)
    whole = reference_model.encode(audio)
    for chunk in (7, 40):
        chunked = reference_model.encode(audio, chunk_frames=chunk)
        for level, (a, b) in enumerate(zip(whole, chunked)):
            assert torch.equal(a, b), f"level {level}, chunk {chunk}"


@torch.no_grad()
def test_chunked_decoding_equals_one_shot(reference_model: VQVAE) -> None:
    hops = reference_model.hop_lengths
    codes = reference_model.encode(harmonic_audio(1, 37 * hops[-1], seed=2))
    for level, c in enumerate(codes):
        whole = reference_model.decode(c, level)
        for chunk in (7, c.shape[1] // 3 + 1):
            torch.testing.assert_close(reference_model.decode(c, level, chunk_frames=chunk), whole, atol=1e-5, rtol=0)


# --- config and checkpoints -----------------------------------------------------------------------


def test_yaml_config_is_strict(tmp_path: Path) -> None:
    text = TINY.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "surprise: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*surprise"):
        load_vqvae_config(bad)
    bad.write_text(text.replace("emb_width: 16\n", ""))
    with pytest.raises(ConfigError, match=r"bad\.yaml.*emb_width"):
        load_vqvae_config(bad)
    bad.write_text(text.replace("strides_t: [2, 2, 2]", "strides_t: [2, 3, 2]"))
    with pytest.raises(ConfigError, match="even"):
        load_vqvae_config(bad)


def test_our_checkpoint_round_trips(tmp_path: Path, reference_model: VQVAE) -> None:
    config_path = save_vqvae(reference_model, tmp_path / "codec.safetensors")
    assert config_path == tmp_path / "codec.json"
    loaded = load_vqvae(tmp_path / "codec.safetensors")
    assert not loaded.official and loaded.config == reference_model.config
    for (k, a), (_, b) in zip(reference_model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), k
    config_path.unlink()
    with pytest.raises(CheckpointError, match=r"codec\.safetensors.*no config"):
        load_vqvae(tmp_path / "codec.safetensors")


def _save_official(path: Path, state: dict[str, torch.Tensor], hps: dict) -> Path:
    torch.save({"hps": hps, "model": state, "opt": None, "step": 1}, path)
    return path


def test_official_checkpoint_errors_name_the_file_and_keys(tmp_path: Path, jukebox_ref: Path) -> None:
    ckpt = torch.load(jukebox_ref / "vqvae_tiny.pth.tar", map_location="cpu", weights_only=True)
    state, hps = dict(ckpt["model"]), ckpt["hps"]
    missing = dict(state)
    key = next(k for k in missing if k.startswith("decoders.1."))
    del missing[key]
    with pytest.raises(CheckpointError, match=r"missing\.pth\.tar.*missing keys.*1 *\)"):
        load_vqvae(_save_official(tmp_path / "missing.pth.tar", missing, hps))
    extra = dict(state, **{"encoders.9.surplus": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"extra\.pth\.tar.*unexpected keys.*encoders\.9\.surplus"):
        load_vqvae(_save_official(tmp_path / "extra.pth.tar", extra, hps))
    shaped = dict(state, **{"bottleneck.level_blocks.0.k": torch.zeros(3, 3)})
    with pytest.raises(CheckpointError, match=r"shaped\.pth\.tar.*shape"):
        load_vqvae(_save_official(tmp_path / "shaped.pth.tar", shaped, hps))
    prefixed = {f"module.{k}": v for k, v in state.items()}  # DataParallel-style names load too
    load_vqvae(_save_official(tmp_path / "prefixed.pth.tar", prefixed, hps))
    (tmp_path / "junk.pth.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pth\.tar"):
        load_vqvae(tmp_path / "junk.pth.tar")


def test_export_to_official_names_round_trips(reference_model: VQVAE, jukebox_ref: Path) -> None:
    official = torch.load(jukebox_ref / "vqvae_tiny.pth.tar", map_location="cpu", weights_only=True)["model"]
    exported = to_official_state(reference_model)
    assert set(exported) == set(official)
    assert all(torch.equal(exported[k], official[k]) for k in official)
    assert official_name("decoders.0.out.weight", reference_model.config) == "decoders.0.out.weight"


def test_loading_weights_restores_the_codebook_ema(reference_model: VQVAE) -> None:
    codebook = reference_model.bottleneck.codebooks[0]
    assert codebook.initialised
    torch.testing.assert_close(codebook.k_sum, codebook.vectors)
    assert torch.all(codebook.k_elem == 1.0)


def test_config_override_must_match_the_weights(tmp_path: Path, jukebox_ref: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(TINY.read_text().replace("l_bins: 64", "l_bins: 32"))
    with pytest.raises(CheckpointError, match="shape"):
        load_vqvae(jukebox_ref / "vqvae_tiny.pth.tar", config_path=other)


def test_training_checkpoints_can_carry_the_codebook_ema(tmp_path: Path, tiny_config: VQVAEConfig) -> None:
    torch.manual_seed(0)
    model = VQVAE(tiny_config).train()
    model(harmonic_audio(2, tiny_config.sample_length))
    assert not any(k.endswith((".k_sum", ".k_elem")) for k in model.state_dict())  # official layout by default
    model.bottleneck.keep_ema_in_state_dict(True)
    state = model.state_dict()
    assert sum(k.endswith((".k_sum", ".k_elem")) for k in state) == 2 * tiny_config.levels
    save_weights(state, tmp_path / "model.safetensors")
    write_json(tmp_path / "config.json", to_dict(tiny_config))  # the Trainer's checkpoint layout
    loaded = load_vqvae(tmp_path / "model.safetensors").model
    for ours, theirs in zip(model.bottleneck.codebooks, loaded.bottleneck.codebooks):
        assert torch.equal(ours.k_sum, theirs.k_sum) and torch.equal(ours.k_elem, theirs.k_elem)
        assert not torch.equal(theirs.k_elem, torch.ones_like(theirs.k_elem))  # loaded, not restored
