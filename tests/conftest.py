"""Shared test fixtures: paths to ../shared data and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSEBOX_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def midi_dir(shared_dir: Path) -> Path:
    return shared_dir / "midi"


@pytest.fixture(scope="session")
def jukebox_ref(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "jukebox"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tiny test models run faster on one thread (and CI runs tests on a 2-core machine)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
