"""Every preset in configs/muse loads as a run config, so a documented `muse train --config` line
(docs/MODEL_CARD.md lists one per stage) cannot rot unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest

from muse.config import MuseRunConfig, load_run_config

PRESETS = sorted((Path(__file__).resolve().parents[1] / "configs" / "muse").glob("*.yaml"))


def test_presets_are_found() -> None:
    assert {"tiny.yaml", "small_stage7.yaml", "small_stage8.yaml", "small_stage8_gpu.yaml"} <= {p.name for p in PRESETS}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_preset_loads(preset: Path) -> None:
    run = load_run_config(preset)
    assert isinstance(run, MuseRunConfig)
    assert run.train.steps > 0 and run.train.batch_size > 0 and run.train.lr > 0
    assert run.model.transformer.n_ctx > 0 and run.model.transformer.width % run.model.transformer.heads == 0
