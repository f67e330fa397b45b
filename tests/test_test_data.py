"""The test data lives in the repo: small, documented, and the only data the tests read."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import DATA

TESTS = Path(__file__).resolve().parent


def test_the_data_folder_is_small_and_every_midi_file_is_documented() -> None:
    files = [p for p in DATA.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 10 * 2**20
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    undocumented = [p.relative_to(DATA) for p in files if p.suffix == ".mid" and p.stem not in readme]
    assert not undocumented, f"say where these came from in tests/data/README.md: {undocumented}"


def test_no_test_reads_data_from_outside_the_repo() -> None:
    """A fresh clone has no sibling data folder: tests use tests/data and their temporary folders."""
    outside = re.compile(r"\.\./" + "shared|/work/|MUSEBOX_" + "SHARED|parents\\[2\\]")
    found = [f"{p.name}:{i}" for p in sorted(TESTS.rglob("*.py")) if p.name != Path(__file__).name
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert not found, f"tests reading outside the repo: {found}"
