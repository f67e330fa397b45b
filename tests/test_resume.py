"""Exact resume: a training process SIGKILLed after a checkpoint and resumed with `resume=True`
logs bit-for-bit the same losses (and ends with the same weights) as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from muse.core.checkpoint import latest_checkpoint, load_weights

SCRIPT = Path(__file__).with_name("tiny_train_script.py")

pytestmark = pytest.mark.slow  # three training processes (~10 s on an idle 2-core machine)


def launch(out_dir: Path, *args: str) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out_dir), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> int:
    output, _ = proc.communicate(timeout=300)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"training script failed ({proc.returncode}):\n{output}")
    return proc.returncode


def losses(out_dir: Path) -> list[dict]:
    """Every logged value except wall-clock throughput."""
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"} for line in lines]


def test_a_run_killed_after_a_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    # dropout on, shuffled data crossing an epoch, accumulation, warmup + cosine, clipping, evaluation
    common = ["--steps", "10", "--checkpoint-every", "3", "--dropout", "0.1"]
    uninterrupted = launch(full, *common)
    killed = launch(cut, *common, "--kill-at", "7")  # after step 7, one step past the step-6 checkpoint
    assert finish(killed) == -signal.SIGKILL
    assert latest_checkpoint(cut / "checkpoints").name == "step_00000006"
    assert [r["step"] for r in losses(cut)][-1] == 7  # step 7 was logged, then lost with the process
    assert finish(launch(cut, *common, "--resume")) == 0
    assert finish(uninterrupted) == 0

    expected, resumed = losses(full), losses(cut)
    assert [r["step"] for r in resumed] == [r["step"] for r in expected]  # step 7 logged once
    assert resumed == expected  # bit for bit: losses, accuracies, lr, grad norms, eval losses
    final_full = load_weights(latest_checkpoint(full / "checkpoints") / "model.safetensors")
    final_cut = load_weights(latest_checkpoint(cut / "checkpoints") / "model.safetensors")
    assert all(torch.equal(final_full[k], final_cut[k]) for k in final_full)
