"""muse.core.atomic: the one way files are written atomically (old file or new file, never half of one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from muse.core.atomic import atomic_path, write_json, write_text

REPO = Path(__file__).resolve().parents[1]


def test_a_write_killed_midway_leaves_the_old_file_intact(tmp_path: Path) -> None:
    """A process killed (SIGKILL: no cleanup runs) after writing half the new content, before the
    rename, leaves the target exactly as it was; only a hidden temporary file is left beside it."""
    target = tmp_path / "index.json"
    write_json(target, {"version": 1, "pieces": list(range(5))})
    old = target.read_bytes()
    script = textwrap.dedent(f"""
        import os, signal
        from muse.core.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            with open(tmp, "w") as fh:
                fh.write('{{"version": 2, "pieces": [0, 1, 2')
                fh.flush()
                os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert target.read_bytes() == old
    assert json.loads(target.read_text())["version"] == 1
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[-1] == "index.json" and all(n.startswith(".index.json.") and n.endswith(".tmp") for n in left[:-1])
    assert len(left) == 2, left  # the half-written temporary file, never under the target's name


def test_an_exception_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "folder" / "notes.txt"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the writer failed")
    assert target.read_text() == "old\n"
    assert os.listdir(target.parent) == ["notes.txt"]


def test_the_new_content_appears_only_when_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "codes.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"\x01\x02")
        assert not target.exists() and tmp.parent == target.parent and tmp.name.startswith(".codes.bin.")
    assert target.read_bytes() == b"\x01\x02"


def test_json_layout_is_the_files_format(tmp_path: Path) -> None:
    """The formats on disk stay what they were: configs indent 2, the token-dataset index indent 1,
    keys in their order, a final newline."""
    data = {"b": 1, "a": [1, 2], "name": "Satie"}
    write_json(tmp_path / "two.json", data)
    write_json(tmp_path / "one.json", data, indent=1)
    assert (tmp_path / "two.json").read_text() == json.dumps(data, indent=2) + "\n"
    assert (tmp_path / "one.json").read_text() == json.dumps(data, indent=1) + "\n"


def test_files_get_ordinary_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert (os.stat(tmp_path / "a.txt").st_mode & 0o777) == 0o640
