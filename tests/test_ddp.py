"""Multi-process training under torchrun (2 CPU processes, gloo): DDP and FSDP give the same loss
curve and final weights as one process with the doubled batch; an FSDP run killed after a
checkpoint resumes (sharded state gathered into and restored from the same checkpoint files).
Each real model family (symbolic model, VQ-VAE, prior) trains under DDP and FSDP through its own
entry point, and its exported model reloads with the final training weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from muse.core.checkpoint import latest_checkpoint, load_weights

SCRIPT = Path(__file__).with_name("tiny_train_script.py")
MODELS_SCRIPT = Path(__file__).with_name("ddp_models_script.py")
REPO = Path(__file__).resolve().parents[1]
COMMON = ["--steps", "6", "--dropout", "0", "--grad-accum", "2", "--checkpoint-every", "3"]

pytestmark = pytest.mark.slow


def launch(out_dir: Path, *args: str, processes: int = 1) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    if processes == 1:
        cmd = [sys.executable, str(SCRIPT)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(SCRIPT)]
    return subprocess.Popen([*cmd, str(out_dir), *COMMON, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, expect_ok: bool = True) -> str:
    output, _ = proc.communicate(timeout=300)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"training failed ({proc.returncode}):\n{output[-4000:]}")
    return output


def metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_training(a: Path, b: Path) -> None:
    ma, mb = metrics(a), metrics(b)
    assert [r["step"] for r in ma] == [r["step"] for r in mb]
    for ra, rb in zip(ma, mb):
        for key in ("loss", "eval_loss", "grad_norm", "accuracy", "lr"):
            if key in ra:
                assert rb[key] == pytest.approx(ra[key], abs=2e-6), (key, ra["step"])
    wa = load_weights(latest_checkpoint(a / "checkpoints") / "model.safetensors")
    wb = load_weights(latest_checkpoint(b / "checkpoints") / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=2e-6, rtol=0)


def test_ddp_and_fsdp_on_two_processes_match_one_process_with_the_double_batch(tmp_path: Path) -> None:
    single = launch(tmp_path / "single", "--batch-size", "8")
    ddp = launch(tmp_path / "ddp", "--batch-size", "4", processes=2)
    finish(single)
    finish(ddp)
    assert_same_training(tmp_path / "single", tmp_path / "ddp")

    # FSDP, killed right after step 4 (latest checkpoint: step 3), then resumed to the end
    fsdp = tmp_path / "fsdp"
    finish(launch(fsdp, "--batch-size", "4", "--strategy", "fsdp", "--kill-at", "4", processes=2), expect_ok=False)
    assert latest_checkpoint(fsdp / "checkpoints").name == "step_00000003"
    assert [r["step"] for r in metrics(fsdp)][-1] == 4  # the processes died right after step 4
    finish(launch(fsdp, "--batch-size", "4", "--strategy", "fsdp", "--resume", processes=2))
    assert_same_training(tmp_path / "single", fsdp)
    assert [r["step"] for r in metrics(fsdp) if "loss" in r] == list(range(1, 7))



# ------------------------------------------------------------------ the real model families


def test_fsdp_units_are_the_outermost_repeated_blocks() -> None:
    """Units never nest (a parameter sharded twice breaks fully_shard): the VQ-VAE's per-level
    encoders and decoders, not the resnet blocks inside them; modules without weights are left out."""
    from jukebox.vqvae.config import load_vqvae_config
    from jukebox.vqvae.vqvae import VQVAE
    from muse.core.distributed import layer_units

    model = VQVAE(load_vqvae_config(REPO / "configs" / "jukebox" / "vqvae_tiny.yaml"))
    names = {id(m): name for name, m in model.named_modules()}
    units = [names[id(u)] for u in layer_units(model)]
    levels = model.config.levels
    assert units == [f"encoders.{i}" for i in range(levels)] + [f"decoders.{i}" for i in range(levels)]


def torchrun(script: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), *args]
    return subprocess.Popen(cmd, env=os.environ | {"OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def model_runs(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs for ddp_models_script.py (a token dataset, audio, its codes), then one DDP and one
    FSDP launch, side by side, each training the three families two steps and exporting them."""
    from jukebox.prior.data import encode_dataset
    from jukebox.vqvae.codec import Codec
    from jukebox.vqvae.config import load_vqvae_config
    from jukebox.vqvae.vqvae import VQVAE
    from muse.data.build import BuildOptions, build_dataset
    from muse.data.sources import midi_dir_sources

    work = tmp_path_factory.mktemp("families")
    for name in ("bach-bwv001-_400_chorales-004003b.mid", "mozart-contradance_n1.mid"):
        (work / "midi").mkdir(exist_ok=True)
        shutil.copy(midi_dir / "classical" / name, work / "midi" / name)
    build_dataset(midi_dir_sources(work / "midi", composer_from="prefix"),
                  BuildOptions(out=work / "midi_data", workers=0, valid_fraction=0.0, progress=False, cache=False))
    rate = 44100
    t = np.arange(int(0.4 * rate)) / rate
    for f in (220, 330, 440):
        path = work / "audio" / "bach" / f"tone{f}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.4 * np.sin(2 * np.pi * f * t), rate)
    torch.manual_seed(0)
    codec = Codec(VQVAE(load_vqvae_config(REPO / "configs" / "jukebox" / "vqvae_tiny.yaml")).eval())
    encode_dataset(work / "audio", codec, work / "codes")
    runs = [torchrun(MODELS_SCRIPT, str(work), strategy) for strategy in ("ddp", "fsdp")]
    for proc in runs:
        finish(proc)
    return work


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_weights(latest_checkpoint(run / "checkpoints") / "model.safetensors")


def assert_exported(exported: dict[str, torch.Tensor], run: Path) -> None:
    """The export holds the full final training weights (not one process's shards)."""
    final = final_weights(run)
    assert exported and set(exported) <= set(final)
    for key, value in exported.items():
        torch.testing.assert_close(value, final[key], atol=0, rtol=0, msg=key)


def assert_strategies_agree(exported: dict[str, dict[str, torch.Tensor]]) -> None:
    """DDP and FSDP run the same two steps: the same weights up to float rounding."""
    ddp, fsdp = exported["ddp"], exported["fsdp"]
    assert ddp.keys() == fsdp.keys()
    for key in ddp:
        torch.testing.assert_close(fsdp[key], ddp[key], atol=1e-5, rtol=1e-4, msg=key)


def steps_logged(run: Path) -> list[int]:
    return [r["step"] for r in metrics(run) if "loss" in r]


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_symbolic_model_trains_exports_and_reloads(model_runs: Path, strategy: str) -> None:
    from muse.saved_model import load_model

    exported = {}
    for name in ("ddp", "fsdp"):
        loaded = load_model(model_runs / name / "muse" / "model")
        exported[name] = loaded.model.state_dict()
    run = model_runs / strategy / "muse"
    assert steps_logged(run) == [1, 2]
    assert_exported(exported[strategy], run)
    assert_strategies_agree(exported)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_vqvae_trains_exports_and_reloads(model_runs: Path, strategy: str) -> None:
    from jukebox.vqvae.checkpoint import load_vqvae
    from jukebox.vqvae.codec import Codec

    loaded = {name: load_vqvae(model_runs / name / "vqvae" / "vqvae.safetensors") for name in ("ddp", "fsdp")}
    exported = {name: v.model.state_dict() for name, v in loaded.items()}
    run = model_runs / strategy / "vqvae"
    assert steps_logged(run) == [1, 2]
    assert not any(k.endswith("k_sum") for k in exported[strategy])  # the official layout
    assert_exported(exported[strategy], run)
    assert_strategies_agree(exported)
    codes = Codec(loaded[strategy].model).encode_file(model_runs / "audio" / "bach" / "tone220.wav").codes
    assert set(codes) == set(range(loaded[strategy].config.levels))


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_prior_trains_exports_and_reloads(model_runs: Path, strategy: str) -> None:
    from jukebox.prior.checkpoint import load_prior

    exported = {name: load_prior(model_runs / name / "prior" / "prior_level_2.safetensors").state_dict()
                for name in ("ddp", "fsdp")}
    run = model_runs / strategy / "prior"
    assert steps_logged(run) == [1, 2]
    assert_exported(exported[strategy], run)
    assert_strategies_agree(exported)
