"""Multi-process training under torchrun (2 CPU processes, gloo): DDP and FSDP give the same loss
curve and final weights as one process with the doubled batch; an FSDP run killed after a
checkpoint resumes (sharded state gathered into and restored from the same checkpoint files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from muse.core.checkpoint import latest_checkpoint, load_weights

SCRIPT = Path(__file__).with_name("tiny_train_script.py")
COMMON = ["--steps", "6", "--dropout", "0", "--grad-accum", "2", "--checkpoint-every", "3"]

pytestmark = pytest.mark.slow


def launch(out_dir: Path, *args: str, processes: int = 1) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    if processes == 1:
        cmd = [sys.executable, str(SCRIPT)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", str(SCRIPT)]
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

