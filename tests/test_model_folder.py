"""One model-folder format (muse.core.model_folder): every kind round-trips through it, old layouts
still load, a newer version or another kind is refused with one line naming the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from musetok import MidiTokenizer

from jukebox.cli import main as jukebox_main
from jukebox.prior.checkpoint import load_prior, prior_ids_dir, save_prior
from jukebox.prior.config import PriorConfig
from jukebox.prior.prior import JukeboxPrior
from jukebox.sampling.model_files import BUNDLED_SMALL, find_model_files
from jukebox.vqvae.checkpoint import load_vqvae, save_vqvae
from jukebox.vqvae.config import load_vqvae_config
from jukebox.vqvae.vqvae import VQVAE
from muse.cli import main as muse_main
from muse.config import MuseConfig
from muse.core.config import load_config, to_dict
from muse.core.errors import CheckpointError
from muse.core.model_folder import FORMAT, VERSION, Extra, kinds_in, read_model_files, save_model_files
from muse.core.transformer import TransformerConfig
from muse.critic import BUNDLED_CRITIC, CriticConfig, CriticNet, load_critic, save_critic
from muse.saved_model import build_model, load_model, save_model
from muse.token_tables import TokenTables

REPO = Path(__file__).resolve().parents[1]
JUKEBOX_CONFIGS = REPO / "configs" / "jukebox"
BUNDLED_MODEL = REPO / "muse" / "assets" / "model"


@pytest.fixture(scope="module")
def tokenizer() -> MidiTokenizer:
    return MidiTokenizer()


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def header_of(path: Path) -> dict:
    return json.loads(path.read_text())


# ---- each kind saves and loads through the one format --------------------------------------------


def save_muse(folder: Path, tokenizer: MidiTokenizer) -> tuple[torch.nn.Module, Path]:
    config = MuseConfig(transformer=TransformerConfig(width=16, depth=1, heads=2, n_ctx=16, attn_order=("dense",)),
                        time_quantum=6, time_buckets=8, chord_max=4)
    model = build_model(config, tokenizer)
    save_model(model, tokenizer, folder)
    return model, folder / "config.json"


def save_critic_folder(folder: Path, tokenizer: MidiTokenizer) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    net = CriticNet(CriticConfig(width=16, depth=1, heads=2, n_ctx=16), TokenTables.from_vocab(tokenizer.vocab))
    torch.nn.init.normal_(net.head.weight)
    save_critic(net, tokenizer, folder, "reward", {"held_out_auc": 0.5})
    return net, folder / "critic.json"


def save_vqvae_folder(folder: Path) -> tuple[torch.nn.Module, Path]:
    model = VQVAE(load_vqvae_config(JUKEBOX_CONFIGS / "vqvae_tiny.yaml"))
    return model, save_vqvae(model, folder / "vqvae.safetensors")


def save_prior_folder(folder: Path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = JukeboxPrior(load_config(PriorConfig, JUKEBOX_CONFIGS / "prior_tiny.yaml"))
    (folder / "ids").mkdir(parents=True)
    return model, save_prior(model, folder / "prior_level_2.safetensors", ids="ids").with_suffix(".json")


def test_muse_model_round_trip(tmp_path: Path, tokenizer: MidiTokenizer) -> None:
    model, config_file = save_muse(tmp_path, tokenizer)
    doc = header_of(config_file)
    assert (doc["format"], doc["version"], doc["kind"]) == (FORMAT, VERSION, "muse")
    assert doc["config"] == to_dict(model.config) and doc["extras"] == {"tokenizer": "tokenizer.json"}
    loaded = load_model(tmp_path)
    assert loaded.config == model.config and same_state(loaded.model, model)


def test_critic_round_trip(tmp_path: Path, tokenizer: MidiTokenizer) -> None:
    net, config_file = save_critic_folder(tmp_path, tokenizer)
    doc = header_of(config_file)
    assert (doc["format"], doc["kind"], doc["info"]) == (FORMAT, "reward", {"held_out_auc": 0.5})
    critic = load_critic(tmp_path)
    assert critic.kind == "reward" and critic.info == {"held_out_auc": 0.5} and critic.config == net.config
    assert same_state(critic.net, net)


def test_vqvae_round_trip(tmp_path: Path) -> None:
    model, config_file = save_vqvae_folder(tmp_path)
    assert header_of(config_file)["kind"] == "vqvae"
    for path in (tmp_path / "vqvae.safetensors", tmp_path):  # the weights, or the folder holding them
        loaded = load_vqvae(path)
        assert loaded.config == model.config and same_state(loaded.model, model)


def test_prior_round_trip(tmp_path: Path) -> None:
    model, config_file = save_prior_folder(tmp_path)
    doc = header_of(config_file)
    assert doc["kind"] == "prior" and doc["extras"] == {"ids": "ids"}
    loaded = load_prior(tmp_path / "prior_level_2.safetensors")
    assert loaded.config == model.config and same_state(loaded, model)
    (tmp_path / "ids").rmdir()
    with pytest.raises(CheckpointError, match="prior model's ids is missing"):
        load_prior(tmp_path / "prior_level_2.safetensors")


def test_a_prior_names_its_label_ids_and_old_layouts_keep_the_ids_folder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = JukeboxPrior(load_config(PriorConfig, JUKEBOX_CONFIGS / "prior_tiny.yaml"))
    (tmp_path / "labels").mkdir()
    weights = save_prior(model, tmp_path / "prior_level_2.safetensors", ids="labels")
    (tmp_path / "ids").mkdir()  # a folder named like the old convention is not what this prior names
    assert prior_ids_dir(weights) == tmp_path / "labels"
    save_prior(model, weights)  # no ids extra: the prior has no label id files, whatever lies beside it
    assert prior_ids_dir(weights) is None
    doc = header_of(weights.with_suffix(".json"))
    weights.with_suffix(".json").write_text(json.dumps(doc["config"]))  # the layout before the header
    assert prior_ids_dir(weights) == tmp_path / "ids"
    (tmp_path / "ids").rmdir()
    assert prior_ids_dir(weights) is None


def test_extras_are_written_atomically_and_listed(tmp_path: Path) -> None:
    saved = save_model_files(tmp_path / "w.safetensors", tmp_path / "w.json", "toy", {"n": 1},
                             {"x": torch.ones(2)}, extras={"notes": Extra("notes.txt", lambda p: p.write_text("hi"))})
    assert (tmp_path / "notes.txt").read_text() == "hi" and not list(tmp_path.glob(".*.tmp"))
    again = read_model_files(tmp_path / "w.safetensors", tmp_path / "w.json", "toy")
    assert again == saved and torch.equal(again.load_weights()["x"], torch.ones(2))
    assert kinds_in(tmp_path) == {"w.json": "toy"}


# ---- old layouts still load ------------------------------------------------------------------------


def test_bundled_assets_in_the_old_layout_still_load(tmp_path: Path) -> None:
    assert "format" not in header_of(BUNDLED_SMALL / "vqvae.json")  # written before the format, never rewritten
    # the bundled model and critic as saved before the format: the model's config bare, the critic's
    # {kind, config, info}
    layouts = ((BUNDLED_MODEL, "config.json", None), (BUNDLED_CRITIC, "critic.json", ("kind", "config", "info")))
    for bundled, config, kept in layouts:
        old = tmp_path / bundled.name
        shutil.copytree(bundled, old)
        saved = json.loads((old / config).read_text())
        (old / config).write_text(json.dumps(saved["config"] if kept is None else {k: saved[k] for k in kept}))
        assert "format" not in header_of(old / config)
    assert load_model(tmp_path / BUNDLED_MODEL.name).config == load_model(BUNDLED_MODEL).config
    assert load_critic(tmp_path / BUNDLED_CRITIC.name).kind == load_critic(BUNDLED_CRITIC).kind == "critic"
    files = find_model_files("small", None, (2,))
    assert load_vqvae(files.vqvae).config.levels == 3
    assert load_prior(files.priors[2]).config.level == 2


def test_old_plain_configs_written_by_hand_still_load(tmp_path: Path, tokenizer: MidiTokenizer) -> None:
    model, config_file = save_muse(tmp_path / "muse", tokenizer)
    config_file.write_text(json.dumps(header_of(config_file)["config"]))  # the layout before the header
    assert same_state(load_model(tmp_path / "muse").model, model)
    vqvae, config_file = save_vqvae_folder(tmp_path / "vqvae")
    config_file.write_text(json.dumps(header_of(config_file)["config"]))
    assert same_state(load_vqvae(tmp_path / "vqvae").model, vqvae)
    net, config_file = save_critic_folder(tmp_path / "critic", tokenizer)
    doc = header_of(config_file)
    config_file.write_text(json.dumps({"kind": doc["kind"], "config": doc["config"], "info": doc["info"]}))
    assert same_state(load_critic(tmp_path / "critic").net, net)


# ---- a newer version, or another kind, is one clear line ---------------------------------------------


LOADERS = {
    "muse": (lambda folder, tok: save_muse(folder, tok)[1], load_model),
    "critic": (save_critic_folder, load_critic),
    "vqvae": (lambda folder, tok: save_vqvae_folder(folder)[1], load_vqvae),
    "prior": (lambda folder, tok: save_prior_folder(folder)[1],
              lambda folder: load_prior(folder / "prior_level_2.safetensors")),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_newer_version_is_refused(kind: str, tmp_path: Path, tokenizer: MidiTokenizer) -> None:
    save, load = LOADERS[kind]
    config_file = save(tmp_path, tokenizer)
    config_file = config_file[1] if isinstance(config_file, tuple) else config_file
    doc = header_of(config_file)
    config_file.write_text(json.dumps({**doc, "version": VERSION + 1}))
    with pytest.raises(CheckpointError) as err:
        load(tmp_path)
    message = str(err.value)
    assert str(config_file) in message and f"version {VERSION + 1}" in message and f"up to {VERSION}" in message
    assert "\n" not in message


def test_another_kind_is_refused_by_every_loader(tmp_path: Path, tokenizer: MidiTokenizer) -> None:
    save_vqvae_folder(tmp_path / "vqvae")
    save_muse(tmp_path / "muse", tokenizer)
    with pytest.raises(CheckpointError, match=r"vqvae: holds a vqvae model \(vqvae.json\), not a muse model"):
        load_model(tmp_path / "vqvae")
    with pytest.raises(CheckpointError, match=r"holds a vqvae model \(vqvae.json\), not a critic or reward model"):
        load_critic(tmp_path / "vqvae")
    with pytest.raises(CheckpointError, match=r"holds a muse model \(config.json\), not a vqvae model"):
        load_vqvae(tmp_path / "muse")
    prior_json = save_prior_folder(tmp_path / "prior")[1]
    with pytest.raises(CheckpointError, match=r"holds a prior model \(prior_level_2.json\), not a vqvae model"):
        load_vqvae(tmp_path / "prior" / "prior_level_2.safetensors", config_path=prior_json)


def test_cli_refuses_a_vqvae_given_as_the_symbolic_model(tmp_path: Path, tokenizer: MidiTokenizer, capsys) -> None:
    save_vqvae_folder(tmp_path / "codec")
    assert muse_main(["generate", "--model", str(tmp_path / "codec"), "-o", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{tmp_path / 'codec'}: holds a vqvae model (vqvae.json), not a muse model" in err
    save_muse(tmp_path / "muse", tokenizer)
    code = jukebox_main(["sample", "--model", "small", "--checkpoints", str(tmp_path / "muse"), "--out",
                         str(tmp_path / "run"), "--seconds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "holds a muse model (config.json), not a vqvae or prior model" in err
