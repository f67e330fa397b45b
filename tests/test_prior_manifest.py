"""Official prior presets and checkpoint layout.

Our models built from configs/jukebox presets map one-to-one onto the released models' keys and
shapes (manifests/, built on the meta device); the presets equal the released hyper-parameters;
the key map rejects checkpoints that do not fit; the tiny CPU preset runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jukebox.official import load_official
from jukebox.prior.checkpoint import (
    attn_order_from_official,
    config_from_official,
    convert_official_state,
    official_shape,
    rename_official_key,
)
from jukebox.prior.config import PriorConfig
from jukebox.prior.prior import JukeboxPrior
from muse.core.config import load_config
from muse.core.errors import CheckpointError, ConfigError
from muse.core.logits import SamplingConfig

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "configs" / "jukebox"
RELEASED = ["prior_5b", "prior_5b_lyrics", "prior_1b_lyrics", "upsampler_level_1", "upsampler_level_0"]


def manifest(root: Path, name: str) -> dict:
    return json.loads((root / "manifests" / f"{name}.json").read_text())


def manifest_shapes(data: dict) -> dict[str, list[int]]:
    return {k: v["shape"] for k, v in data["state_dict"].items()}


@pytest.mark.parametrize("name", RELEASED)
def test_preset_equals_released_hyper_parameters(jukebox_ref: Path, name: str) -> None:
    data = manifest(jukebox_ref, name)
    assert load_config(PriorConfig, PRESETS / f"{name}.yaml") == config_from_official(data["hps"],
                                                                                      manifest_shapes(data))


@pytest.mark.parametrize("name", RELEASED)
def test_preset_model_maps_one_to_one_onto_released_keys(jukebox_ref: Path, name: str) -> None:
    data = manifest(jukebox_ref, name)
    config = load_config(PriorConfig, PRESETS / f"{name}.yaml")
    with torch.device("meta"):
        model = JukeboxPrior(config)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mapped = {rename_official_key(k, config): official_shape(k, shape) for k, shape in manifest_shapes(data).items()}
    assert len(mapped) == data["n_tensors"] == len(ours), "the key map must be one-to-one"
    assert mapped == ours
    assert sum(v.numel() for v in model.state_dict().values()) == data["n_values"]


def test_attention_orders_of_the_released_models() -> None:
    cycle = attn_order_from_official(10)  # 5b_lyrics: cross attention at 18, 28, ..., 78
    assert [i for i in range(79) if cycle[i % len(cycle)] == "cross"] == [18, 28, 38, 48, 58, 68, 78]
    cycle = attn_order_from_official(12)  # 1b_lyrics: prime at 15, 31, 63; dense at 47
    assert {i: cycle[i % len(cycle)] for i in range(72) if i % 16 == 15} == {
        15: "prime", 31: "prime", 47: "dense", 63: "prime"
    }
    assert attn_order_from_official(2) == ("block_local", "block_transpose", "prev_block")
    with pytest.raises(CheckpointError, match="attn_order 4"):
        attn_order_from_official(4)


def test_key_map_rejects_foreign_and_misshapen_tensors(jukebox_ref: Path) -> None:
    checkpoint = load_official(jukebox_ref / "priors" / "upsampler_level_1_tiny.pth.tar")
    shapes = {k: tuple(v.shape) for k, v in checkpoint.state_dict.items()}
    config = config_from_official(checkpoint.hps, shapes)
    expected = {k: tuple(v.shape) for k, v in JukeboxPrior(config).state_dict().items()}
    state = dict(checkpoint.state_dict)
    convert_official_state(state, config, expected, "ok.pth.tar")
    with pytest.raises(CheckpointError, match=r"extra.pth.tar: unexpected keys \['vqvae.foo'\]"):
        convert_official_state({**state, "vqvae.foo": torch.zeros(1)}, config, expected, "extra.pth.tar")
    state["prior.x_emb.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        convert_official_state(state, config, expected, "bad.pth.tar")


def test_config_errors_are_clear(tmp_path: Path) -> None:
    text = (PRESETS / "prior_tiny.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("attn_order: [", "attn_order: [diagonal, "))
    with pytest.raises(ConfigError, match="diagonal"):
        load_config(PriorConfig, bad)
    bad.write_text(text.replace("blocks: 8", "blocks: 7"))
    with pytest.raises(ConfigError, match="not a multiple of blocks=7"):
        load_config(PriorConfig, bad)


@torch.no_grad()
def test_tiny_preset_trains_and_samples_on_cpu() -> None:
    config = load_config(PriorConfig, PRESETS / "prior_tiny.yaml")
    torch.manual_seed(0)
    prior = JukeboxPrior(config).eval()
    assert prior.head.weight is prior.embed.weight
    labels = config.labels
    row = [44100 * 30, 0, config.n_ctx * config.hop_length, 3, 2] + [0] * (labels.max_bow_genre_size - 1)
    lyrics = list(range(1, config.lyrics.n_tokens + 1))
    cond = prior.condition(torch.tensor([row + lyrics, row + lyrics[::-1]]))
    codes = torch.randint(0, config.n_bins, (2, config.n_ctx))
    with torch.enable_grad():
        loss = prior.loss(codes, cond)
        loss.loss.backward()
    assert torch.isfinite(loss.loss) and prior.embed.weight.grad is not None
    sampled = prior.sample(cond, 8, codes[:, :4], sampling=SamplingConfig(temperature=1.0, top_k=5), seed=1)
    assert sampled.shape == (2, 12) and torch.equal(sampled[:, :4], codes[:, :4])
    assert int(sampled.min()) >= 0 and int(sampled.max()) < config.n_bins
