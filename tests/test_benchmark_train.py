"""benchmarks/train.py runs (so the script never rots) and its FLOP count is the hand count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from musetok import MidiTokenizer, TokenizerConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from train import model_flops_per_token  # noqa: E402

from muse.config import load_run_config  # noqa: E402
from muse.saved_model import build_model  # noqa: E402


def test_flops_per_token_is_the_hand_count() -> None:
    run = load_run_config(REPO / "configs/muse/tiny.yaml")  # width 32, 2 layers, n_ctx 64, blocks of 8
    model = build_model(run.model, MidiTokenizer(TokenizerConfig(composers=("bach",))))
    w, t = 32, run.model.transformer
    linear = t.depth * (4 * w * w + 2 * w * 4 * w)  # qkv + proj, mlp in and out
    head = model.vocab.rows.weight.numel() + model.vocab.velocities.weight.numel()
    # block_local: query i sees (i % 8) + 1 keys; block_transpose: i // 8 + 1 keys (mean over 64 queries)
    keys = sum(i % 8 + 1 for i in range(64)) / 64 + sum(i // 8 + 1 for i in range(64)) / 64
    assert model_flops_per_token(model) == 6 * (linear + head) + 6 * w * keys


def test_the_script_prints_mfu() -> None:
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/train.py"), "--config", "configs/muse/tiny.yaml",
                          "--steps", "1", "--warmup", "1", "--threads", "1"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "MFU" in out.stdout and "training tokens/s" in out.stdout
