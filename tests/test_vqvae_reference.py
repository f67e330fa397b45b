"""The VQ-VAE reproduces the original Jukebox implementation: reference vectors, losses, EMA step,
and the released model's parameter layout. Every size is read from the reference files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jukebox.official import load_official
from jukebox.vqvae.checkpoint import expected_shapes, load_vqvae, official_key_map
from jukebox.vqvae.config import config_from_hps, load_vqvae_config
from jukebox.vqvae.losses import vqvae_loss

REPO = Path(__file__).resolve().parents[1]
ATOL = 1e-4


@pytest.fixture(scope="module")
def ref(jukebox_ref: Path) -> dict:
    return {
        "meta": json.loads((jukebox_ref / "vqvae_tiny.json").read_text()),
        "vectors": load_file(str(jukebox_ref / "vqvae_tiny_vectors.safetensors")),
        "ema": load_file(str(jukebox_ref / "vqvae_tiny_ema_update.safetensors")),
        "path": jukebox_ref / "vqvae_tiny.pth.tar",
    }


@pytest.fixture(scope="module")
def loaded(ref: dict):
    return load_vqvae(ref["path"])


def audio_of(ref: dict) -> torch.Tensor:
    """The reference input (N, T, 1) as our mono (N, T)."""
    audio = ref["vectors"]["audio"]
    assert audio.shape[-1] == 1
    return audio[..., 0]


def test_config_comes_from_the_checkpoint_hps(ref: dict, loaded) -> None:
    hps = ref["meta"]["hps"]
    assert loaded.official
    assert loaded.config == config_from_hps(hps)
    assert list(loaded.config.hop_lengths) == ref["meta"]["hop_lengths"]
    assert loaded.config.codebook_mu == hps["l_mu"]


@torch.no_grad()
def test_encoder_outputs_per_stage_match(ref: dict, loaded) -> None:
    vectors, audio = ref["vectors"], audio_of(ref)
    for level in range(loaded.config.levels):
        stages = loaded.model.encoder_stages(audio, level)
        assert len(stages) == level + 1
        torch.testing.assert_close(stages[-1], vectors[f"encoder_out.l{level}"], atol=ATOL, rtol=0)
        for stage in range(level):
            torch.testing.assert_close(stages[stage], vectors[f"encoder_out.l{level}.stage{stage}"], atol=ATOL, rtol=0)


@torch.no_grad()
def test_codes_equal_the_reference_exactly(ref: dict, loaded) -> None:
    codes = loaded.model.encode(audio_of(ref))
    for level, got in enumerate(codes):
        expected = ref["vectors"][f"codes.l{level}"]
        assert got.dtype == torch.int64
        assert torch.equal(got, expected), f"level {level}: {(got != expected).sum()} codes differ"


@pytest.mark.gpu
@torch.no_grad()
def test_the_reference_codes_on_a_cuda_device(ref: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Device-neutral: the same checkpoint on a GPU (fp32, TF32 off) finds the same codes and decodes
    them like the reference."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    model = load_vqvae(ref["path"]).model.to("cuda")
    codes = model.encode(audio_of(ref).to("cuda"))
    for level, got in enumerate(codes):
        assert torch.equal(got.cpu(), ref["vectors"][f"codes.l{level}"]), f"level {level}"
        decoded = model.decode(got, level).cpu()
        torch.testing.assert_close(decoded, ref["vectors"][f"decoded.l{level}"][..., 0], atol=1e-3, rtol=0)


@torch.no_grad()
def test_dequantised_and_decoded_match(ref: dict, loaded) -> None:
    vectors = ref["vectors"]
    for level in range(loaded.config.levels):
        codes = vectors[f"codes.l{level}"]
        torch.testing.assert_close(loaded.model.dequantise(codes, level), vectors[f"dequantised.l{level}"],
                                   atol=ATOL, rtol=0)
        decoded = loaded.model.decode(codes, level)
        torch.testing.assert_close(decoded, vectors[f"decoded.l{level}"][..., 0], atol=ATOL, rtol=0)


@torch.no_grad()
def test_forward_loss_and_metrics_match(ref: dict, loaded) -> None:
    audio = audio_of(ref)
    result = vqvae_loss(audio, loaded.model(audio), loaded.config.loss)
    expected = ref["meta"]["forward_metrics_eval"]
    for name, value in expected.items():
        assert result.metrics[name].item() == pytest.approx(value, rel=1e-4), name
    assert result.loss.item() == pytest.approx(ref["meta"]["forward_loss_eval"], rel=1e-4)


def test_forward_in_eval_mode_leaves_the_codebook_alone(ref: dict, loaded) -> None:
    before = [c.vectors.clone() for c in loaded.model.bottleneck.codebooks]
    with torch.no_grad():
        loaded.model(audio_of(ref))
    for codebook, k in zip(loaded.model.bottleneck.codebooks, before):
        assert torch.equal(codebook.vectors, k)


def test_one_ema_step_matches(ref: dict) -> None:
    model = load_vqvae(ref["path"]).model  # a private copy: this test changes the codebook
    ema, meta = ref["ema"], ref["meta"]["ema"]
    codebook = model.bottleneck.codebooks[0]
    assert torch.equal(codebook.vectors, ema["k_before"])
    codebook.mu = meta["mu"]
    codebook.restore(num_tokens=meta["restore_num_tokens"], threshold=meta["threshold"])
    torch.testing.assert_close(codebook.k_sum, ema["k_sum_before"], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(codebook.k_elem, ema["k_elem_before"], atol=1e-6, rtol=1e-6)

    x = ema["x"]
    codes, _ = codebook.quantise(x)
    codebook.update(x, codes)
    torch.testing.assert_close(codebook.k_sum, ema["k_sum_after"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(codebook.k_elem, ema["k_elem_after"], atol=1e-5, rtol=1e-5)
    used = ema["used"].bool()
    assert torch.equal(codebook.k_elem >= meta["threshold"], used)
    torch.testing.assert_close(codebook.vectors[used], ema["k_after"][used], atol=1e-5, rtol=1e-5)


def test_official_preset_maps_one_to_one_onto_the_released_manifest(jukebox_ref: Path) -> None:
    manifest = json.loads((jukebox_ref / "manifests" / "vqvae.json").read_text())
    config = config_from_hps(manifest["hps"], "manifests/vqvae.json")
    key_map = official_key_map(config)
    ours = expected_shapes(config)
    official = manifest["state_dict"]
    assert sorted(set(official) - set(key_map)) == []  # nothing in the release we do not build
    assert sorted(set(key_map) - set(official)) == []  # nothing we build that the release lacks
    assert len(set(key_map.values())) == len(key_map) == len(ours)
    for key, entry in official.items():
        assert list(ours[key_map[key]]) == entry["shape"], key
    assert sum(torch.Size(e["shape"]).numel() for e in official.values()) == manifest["n_values"]


def test_official_yaml_preset_equals_the_released_hps(jukebox_ref: Path) -> None:
    manifest = json.loads((jukebox_ref / "manifests" / "vqvae.json").read_text())
    preset = load_vqvae_config(REPO / "configs" / "jukebox" / "vqvae_official.yaml")
    # the release's hps carry no data bandwidth; the preset leaves it at the neutral 1.0
    assert preset == config_from_hps(manifest["hps"])


def test_checkpoint_key_map_covers_the_reference_checkpoint(ref: dict) -> None:
    ckpt = load_official(ref["path"])
    key_map = official_key_map(config_from_hps(ckpt.hps))
    assert set(ckpt.state_dict) == set(key_map)
