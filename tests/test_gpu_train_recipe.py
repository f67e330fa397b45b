"""configs/muse/small_stage8_gpu.sh, the prepared GPU training command, run on CPU at a tiny size: with the
MIDI libraries made unimportable (a PyTorch GPU image lacks them) and the token shard xz-compressed (as it
travels to the device), it probes the step time inside the warmup, sizes the run to the budget, resumes to
that total and exports the model."""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
from pathlib import Path

import yaml

from musetok import MidiTokenizer

from muse.core.checkpoint import CHECKPOINTS_DIR, latest_checkpoint
from muse.training import INIT_FILE
from preference_models import tiny_dataset, tiny_model
from test_gpu_benchmark import MISSING

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "configs" / "muse" / "small_stage8_gpu.sh"


def tiny_preset(path: Path) -> Path:
    """The stage-8 preset at preference_models.tiny_model's size (that model is the run's --init-from)."""
    preset = yaml.safe_load((REPO / "configs" / "muse" / "small_stage8_gpu.yaml").read_text())
    preset["model"]["transformer"] = dict(width=32, depth=2, heads=2, n_ctx=32, attn_order=["block_local",
                                          "block_transpose"], blocks=4, dropout=0.0)
    preset["model"].update(time_quantum=6, time_buckets=16, chord_max=4)
    preset["train"].update(steps=5000, batch_size=2, warmup_steps=10, log_every=2, eval_every=0, eval_batches=1,
                           checkpoint_every=0, num_workers=0)
    preset["data"]["val_crops"] = 4
    path.write_text(yaml.safe_dump(preset))
    return path


def test_the_recipe_sizes_the_run_to_its_budget(midi_dir: Path, tmp_path: Path) -> None:
    data = tiny_dataset(midi_dir, tmp_path / "d")
    init = tiny_model(tmp_path / "init", MidiTokenizer.load(data / "tokenizer.json"))
    for shard in data.glob("tokens-*.bin"):  # as it travels: compressed, the raw shard left behind
        shard.with_name(shard.name + ".xz").write_bytes(lzma.compress(shard.read_bytes()))
        shard.unlink()
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({MISSING!r}))\n")
    run, out = tmp_path / "run", tmp_path / "out"
    env = {**os.environ, "PRESET": str(tiny_preset(tmp_path / "preset.yaml")), "DATA": str(data), "RUN": str(run),
           "INIT": str(init), "BUDGET": "2", "PROBE": "6", "PYTHON": sys.executable, "OUT": str(out),
           "PYTHONPATH": str(block)}
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = yaml.safe_load((out / "preset.yaml").read_text())["train"]["steps"]
    assert 6 < steps < 5000 and f"training to step {steps}" in proc.stdout
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == steps and int(latest_checkpoint(run / CHECKPOINTS_DIR).name.split("_")[-1]) == steps
    assert {"config.json", "model.safetensors", "tokenizer.json", "note_limits.json"} <= {p.name for p in
                                                                                          (out / "model").iterdir()}
    assert (run / INIT_FILE).read_text().strip() == str(init)  # the run records where it started from


def test_a_probe_past_the_warmup_is_refused(midi_dir: Path, tmp_path: Path) -> None:
    data = tiny_dataset(midi_dir, tmp_path / "d")
    init = tiny_model(tmp_path / "init", MidiTokenizer.load(data / "tokenizer.json"))
    env = {**os.environ, "PRESET": str(tiny_preset(tmp_path / "preset.yaml")), "DATA": str(data),
           "RUN": str(tmp_path / "run"), "INIT": str(init), "PROBE": "12", "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "warmup" in proc.stderr
