"""Priors trained on your own audio: encode a folder, train top prior + upsampler, resume, sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from jukebox.cli import main as jukebox_main
from jukebox.pipeline import JukeboxPipeline, LevelSampling, SampleSettings
from jukebox.prior.checkpoint import load_prior
from jukebox.prior.config import PriorConfig
from jukebox.prior.data import PriorWindows, encode_dataset, load_index, write_label_ids
from jukebox.prior.prior import JukeboxPrior
from jukebox.vqvae.checkpoint import save_vqvae
from jukebox.vqvae.codec import Codec
from jukebox.vqvae.config import load_vqvae_config
from jukebox.vqvae.vqvae import VQVAE
from muse.core.config import load_config
from muse.core.errors import UserError

PRESETS = Path(__file__).resolve().parents[1] / "configs" / "jukebox"
RATE = 44100


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VQ-VAE and a small audio folder: two composers (folders), one song with a sidecar."""
    root = tmp_path_factory.mktemp("train")
    torch.manual_seed(0)
    save_vqvae(VQVAE(load_vqvae_config(PRESETS / "vqvae_tiny.yaml")), root / "models" / "vqvae.safetensors")
    t = np.arange(int(0.4 * RATE)) / RATE
    for folder, freqs in (("bach", (220, 330)), ("mozart", (440,))):
        for f in freqs:
            path = root / "audio" / folder / f"tone{f}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, 0.4 * np.sin(2 * np.pi * f * t), RATE)
    (root / "audio" / "mozart" / "tone440.json").write_text(json.dumps({"genre": "Classical", "lyrics": "la la"}))
    return root


@pytest.fixture(scope="module")
def dataset(workspace: Path) -> Path:
    out = workspace / "codes"
    assert jukebox_main(["encode-dataset", str(workspace / "audio"), "--vqvae",
                         str(workspace / "models" / "vqvae.safetensors"), "--out", str(out)]) == 0
    return out


def test_encoded_dataset_index(dataset: Path, workspace: Path) -> None:
    songs = load_index(dataset)
    assert [(s.codes, s.artist, s.genre, s.lyrics) for s in songs] == [
        ("bach/tone220.npz", "bach", "", ""), ("bach/tone330.npz", "bach", "", ""),
        ("mozart/tone440.npz", "mozart", "Classical", "la la"),
    ]
    assert all(s.samples == int(0.4 * RATE) for s in songs)
    before = (dataset / "bach" / "tone220.npz").stat().st_mtime_ns
    codec = Codec.load(workspace / "models" / "vqvae.safetensors")
    encode_dataset(workspace / "audio", codec, dataset)  # already encoded: nothing is redone
    assert (dataset / "bach" / "tone220.npz").stat().st_mtime_ns == before


def test_windows_carry_labels_lyrics_and_upper_codes(dataset: Path, tmp_path: Path) -> None:
    top = load_config(PriorConfig, PRESETS / "prior_tiny.yaml")
    ids = write_label_ids(load_index(dataset), tmp_path / "ids", top.labels.version)
    assert (tmp_path / "ids" / "v3_artist_ids.txt").read_text() == "unknown;0\nbach;1\nmozart;2\n"
    windows = PriorWindows(dataset, top, ids)
    item = windows[len(windows) - 1]  # a mozart window: artist 2, genre "classical" = 1, lyrics
    assert item["codes"].shape == (top.n_ctx,) and item["upper"].numel() == 0
    assert item["labels"][3:5].tolist() == [2, 1]
    assert item["labels"][-2:].tolist() == [27 + 11, 27 + 0]  # "la la" ends with "l", "a"
    up = load_config(PriorConfig, PRESETS / "upsampler_tiny_level_1.yaml")
    item = PriorWindows(dataset, up, write_label_ids(load_index(dataset), tmp_path / "v2", "v2"))[0]
    assert item["upper"].shape == (up.n_ctx // up.upsampler.factor,)
    with pytest.raises(UserError, match="needs the dataset's artist/genre ids"):
        PriorWindows(dataset, top, None)


def test_train_resume_export_and_sample(dataset: Path, workspace: Path, tmp_path: Path) -> None:
    run = tmp_path / "top"
    common = ["train-prior", "--level", "2", "--config", str(PRESETS / "prior_tiny.yaml"), "--data", str(dataset),
              "--out", str(run), "--batch-size", "2", "--checkpoint-every", "2"]
    assert jukebox_main(common + ["--steps", "2"]) == 0
    assert jukebox_main(common + ["--steps", "4", "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    top = load_prior(run / "prior_level_2.safetensors")
    assert top.config == load_config(PriorConfig, PRESETS / "prior_tiny.yaml")

    up_run = tmp_path / "up1"
    train_yaml = tmp_path / "train.yaml"
    train_yaml.write_text("steps: 1\nbatch_size: 2\neval_every: 1\neval_batches: 1\n")
    assert jukebox_main(["train-prior", "--level", "1", "--config", str(PRESETS / "upsampler_tiny_level_1.yaml"),
                         "--data", str(dataset), "--out", str(up_run), "--train-config", str(train_yaml),
                         "--val-data", str(dataset)]) == 0
    records = [json.loads(line) for line in (up_run / "metrics.jsonl").read_text().splitlines()]
    assert any(np.isfinite(r.get("eval_loss", np.nan)) for r in records)  # held-out loss from --val-data

    models = tmp_path / "models"
    shutil.copytree(workspace / "models", models)
    for train_run, level in ((run, 2), (up_run, 1)):
        for suffix in (".safetensors", ".json"):
            shutil.copy(train_run / f"prior_level_{level}{suffix}", models)
        shutil.copytree(train_run / "ids", models / "ids", dirs_exist_ok=True)  # v3 (top) and v2 (upsampler)
    pipeline = JukeboxPipeline.load("small", models, levels=(2, 1))
    assert pipeline.ids_dir == models / "ids"
    settings = SampleSettings(model="small", checkpoints=str(models), artist="Mozart", genre="classical",
                              seconds=0.05, levels=(2, 1),
                              sampling=tuple(LevelSampling(hop_fraction=0.5) for _ in range(3)))
    result = pipeline.sample(settings, tmp_path / "song")
    assert result.complete and result.codes[1].shape == (1, 0.05 * RATE // 128 * 4)


def test_training_errors_are_clear(dataset: Path, workspace: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    base = ["train-prior", "--config", str(PRESETS / "prior_tiny.yaml"), "--data", str(dataset), "--out", str(tmp_path)]
    assert jukebox_main(base + ["--level", "1", "--steps", "1", "--batch-size", "1"]) == 2
    assert "describes a level-2 prior, not level 1" in capsys.readouterr().err
    assert jukebox_main(base + ["--level", "2"]) == 2
    assert "--steps and --batch-size" in capsys.readouterr().err
    vqvae = str(workspace / "models" / "vqvae.safetensors")
    assert jukebox_main(["encode-dataset", str(tmp_path / "none"), "--vqvae", vqvae, "--out", str(tmp_path / "c")]) == 2
    assert "audio folder not found" in capsys.readouterr().err


def test_small_presets_fit_the_bundled_codec_in_15_mb() -> None:
    codec = load_vqvae_config(PRESETS / "vqvae_small.yaml")
    names = {2: "prior_small", 1: "upsampler_small_level_1", 0: "upsampler_small_level_0"}
    total = 0
    for level, name in names.items():
        config = load_config(PriorConfig, PRESETS / f"{name}.yaml")
        assert (config.level, config.n_bins, config.hop_length) == (level, codec.l_bins, codec.hop_lengths[level])
        if config.labels.timing:
            assert config.labels.sample_rate == codec.sample_rate
        if config.upsampler is not None:
            assert config.upsampler.factor * config.hop_length == codec.hop_lengths[level + 1]
        with torch.device("meta"):
            total += sum(p.numel() * 4 for p in JukeboxPrior(config).parameters())
    assert total <= 15_000_000
