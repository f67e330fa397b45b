"""benchmarks/gpu.py --dry: every section runs at toy sizes on CPU, with only what a bare PyTorch
machine has (the MIDI, lyrics and audio libraries are made unimportable), and writes its JSON."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu.py"
SECTIONS = ("jukebox_1b_lyrics", "jukebox_5b_lyrics", "vqvae", "musenet", "attention")
# Our dependencies that a PyTorch GPU image lacks (or that these paths must not need).
MISSING = ("symusic", "mido", "unidecode", "soundfile", "soxr", "music21", "pretty_midi", "gradio", "matplotlib",
           "sklearn", "scipy", "miditok", "platformdirs")

# None in sys.modules: `import x` raises ModuleNotFoundError, importlib.util.find_spec("x") says absent.
RUN = f"""
import sys, runpy
sys.modules.update(dict.fromkeys({MISSING!r}))
sys.argv = [{str(SCRIPT)!r}] + sys.argv[1:]
runpy.run_path({str(SCRIPT)!r}, run_name="__main__")
"""


def load_script():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "dry.json"
    proc = subprocess.run([sys.executable, "-c", RUN, "--dry", "--out", str(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(SECTIONS) <= set(results) and {"meta", "summary"} <= set(results)
    assert results["meta"]["dry"] is True
    assert results["summary"]["skipped_or_failed"] == [], results["summary"]["skipped_or_failed"]

    one_b = results["jukebox_1b_lyrics"]
    for role in ("top", "level1", "level0"):
        assert set(one_b[role]["cases"]) == {"1", "4", "16"}
        for case in one_b[role]["cases"].values():
            assert case["s_per_token"] > 0 and case["compute_s_per_audio_s"] > 0
    assert one_b["top"]["model"]["lyrics"] == "prefix"
    assert set(one_b["per_audio_second"]) == {"1", "4", "16"}
    five_b = results["jukebox_5b_lyrics"]["top"]
    assert five_b["model"]["lyrics"] == "encoder" and set(five_b["cases"]) == {"1", "4"}
    assert all(results["vqvae"][f"level{lv}_{op}"]["seconds"] > 0 for lv in range(3) for op in ("encode", "decode"))
    muse = results["musenet"]
    assert set(muse["training"]) == {"checkpointing_on", "checkpointing_off"}
    assert all(c["tokens_per_s"] > 0 for c in muse["training"].values())
    assert set(muse["sampling"]) == {"1", "16"} and all(c["tokens_per_s"] > 0 for c in muse["sampling"].values())
    for entry in results["attention"]["sizes"].values():
        assert set(entry["cases"]) == {"dense_causal", "block_local", "block_transpose", "prev_block", "strided_pair"}
    assert "| model | batch | s/token" in proc.stdout  # the printed tables


def test_window_settings_match_the_pipeline() -> None:
    from jukebox.pipeline import DEFAULT_SAMPLING

    gpu = load_script()
    assert gpu.HOP_FRACTION == {level: s.hop_fraction for level, s in enumerate(DEFAULT_SAMPLING)}
    assert {s.chunk_size for s in DEFAULT_SAMPLING} == {gpu.CHUNK_SIZE}


def test_official_presets_are_the_measured_sizes() -> None:
    from jukebox.prior.config import PriorConfig
    from muse.config import load_run_config
    from muse.core.config import load_config

    gpu = load_script()
    one_b = load_config(PriorConfig, gpu.JUKEBOX_CONFIGS / "prior_1b_lyrics.yaml")
    assert (one_b.width, one_b.depth, one_b.lyrics.design) == (2048, 72, "prefix")
    five_b = load_config(PriorConfig, gpu.JUKEBOX_CONFIGS / "prior_5b_lyrics.yaml")
    assert (five_b.width, five_b.depth, five_b.lyrics.design) == (4800, 79, "encoder")
    t = load_run_config(gpu.MUSE_CONFIGS / "musenet.yaml").model.transformer
    assert (t.depth, t.n_ctx) == (72, 4096)
    small = gpu.shrink_prior(five_b)  # --dry keeps the design: one layer of each pattern, lyric encoder
    assert set(small.attn_order) == set(five_b.attn_order) and small.lyrics.encoder is not None
