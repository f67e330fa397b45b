"""`jukebox train-vqvae`: a few steps of the tiny VQ-VAE on synthetic audio, exact resume, the exported codec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jukebox.cli import main
from jukebox.vqvae.checkpoint import load_vqvae
from jukebox.vqvae.codec import Codec
from jukebox.vqvae.training import AudioCrops, list_audio, load_training_config, split_files
from muse.core.errors import UserError

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "jukebox" / "train_vqvae_tiny.yaml"


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    t = np.arange(int(0.4 * 22050)) / 22050  # 22.05 kHz stereo: resampled and mixed down on reading
    for i in range(4):
        left = 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)
        right = 0.2 * np.sin(2 * np.pi * 330 * (i + 1) * t)
        sf.write(str(folder / f"tone{i}.flac"), np.stack([left, right], axis=1).astype(np.float32), 22050)
    return folder


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(audio_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert main(["train-vqvae", "--config", str(CONFIG), "--data", str(audio_dir), "--out", str(out),
                 "--no-progress"]) == 0
    return out


def test_training_logs_losses_and_codebook_usage(trained: Path) -> None:
    config = load_training_config(CONFIG)
    records = [r for r in metrics(trained) if "loss" in r]
    assert [r["step"] for r in records] == list(range(1, config.train.steps + 1))
    levels = config.vqvae.levels
    for r in records:
        assert np.isfinite(r["loss"])
        for level in range(1, levels + 1):
            assert 0 < r[f"usage_l{level}"] <= config.vqvae.l_bins and r[f"perplexity_l{level}"] >= 1
    assert any("eval_loss" in r for r in metrics(trained))


def test_exported_codec_loads_and_encodes(trained: Path, audio_dir: Path) -> None:
    loaded = load_vqvae(trained / "vqvae.safetensors")
    assert loaded.config.loss.bandwidth_l2 != 1.0  # measured on the training audio
    assert not any(k.endswith("k_sum") for k in loaded.model.state_dict())  # official layout
    encoded = Codec(loaded.model).encode_file(audio_dir / "tone0.flac")
    assert set(encoded.codes) == set(range(loaded.config.levels))


def test_resume_continues_exactly(trained: Path, audio_dir: Path, tmp_path: Path) -> None:
    # a run "killed" after the first checkpoint: later checkpoints gone, latest pointing at the first
    resumed = tmp_path / "resumed"
    shutil.copytree(trained, resumed)
    checkpoints = sorted((resumed / "checkpoints").glob("step_*"))
    assert len(checkpoints) >= 2
    for later in checkpoints[1:]:
        shutil.rmtree(later)
    (resumed / "checkpoints" / "latest").write_text(checkpoints[0].name)
    (resumed / "vqvae.safetensors").unlink()
    argv = ["train-vqvae", "--config", str(CONFIG), "--data", str(audio_dir), "--out", str(resumed), "--resume",
            "--no-progress"]
    assert main(argv) == 0
    drop = {"tokens_per_s"}
    strip = [{k: v for k, v in r.items() if k not in drop} for r in metrics(resumed)]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in metrics(trained)]


def test_data_folder_errors_and_split(tmp_path: Path, audio_dir: Path) -> None:
    with pytest.raises(UserError, match="audio folder not found"):
        list_audio(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no audio files"):
        list_audio(tmp_path / "empty")
    files = list_audio(audio_dir)
    train, val = split_files(files, 0.25)
    assert len(val) == 1 and sorted(train + val) == files
    assert split_files(files[:1], 0.5) == (files[:1], [])


def test_crops_are_deterministic_and_full_length(audio_dir: Path) -> None:
    files = list_audio(audio_dir)
    a, b = AudioCrops(files, 44100, 4096, seed=3), AudioCrops(files, 44100, 4096, seed=3)
    assert len(a) == len(b) > len(files)
    for i in range(len(a)):
        assert a[i].shape == (4096,) and np.array_equal(a[i].numpy(), b[i].numpy())
    short = AudioCrops(files[:1], 44100, 10 * 44100)  # longer than the file: padded to one crop
    assert len(short) == 1 and short[0].shape == (10 * 44100,)
