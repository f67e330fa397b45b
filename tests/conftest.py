"""Shared test fixtures: paths to the repo's own test data (tests/data) and small helpers.

Tests read only from ``tests/data`` and their temporary folders: a fresh clone runs every test.
``MUSEBOX_JUKEBOX_REFERENCE`` points the Jukebox reference-vector tests at another set made the
same way (see tests/data/README.md); every size is read from the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import skip_policy

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
MIDI = DATA / "midi"
JUKEBOX_REFERENCE = Path(os.environ.get("MUSEBOX_JUKEBOX_REFERENCE") or DATA / "jukebox")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(skip_policy):
        config.pluginmanager.register(skip_policy, "skip_policy")  # only GPU tests may skip


@pytest.fixture(scope="session")
def midi_dir() -> Path:
    """Real-world MIDI files: one_track/, multitrack/, classical/ (with damaged ones); see tests/data/README.md."""
    return MIDI


@pytest.fixture(scope="session")
def jukebox_ref() -> Path:
    """The Jukebox reference vectors (tests/data/jukebox, or $MUSEBOX_JUKEBOX_REFERENCE)."""
    if not (JUKEBOX_REFERENCE / "vqvae_tiny.json").is_file():
        pytest.fail(f"MUSEBOX_JUKEBOX_REFERENCE={JUKEBOX_REFERENCE} is not a Jukebox reference set "
                    "(no vqvae_tiny.json; see tests/data/README.md)", pytrace=False)
    return JUKEBOX_REFERENCE


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tiny test models run faster on one thread (and CI runs tests on a 2-core machine)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
