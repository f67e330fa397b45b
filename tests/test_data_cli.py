"""`muse data build` / `muse data info` end to end, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MUSE = [sys.executable, "-m", "muse"]


def muse(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MUSE, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_build_a_midi_folder_then_inspect_it(midi_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "midi"
    folder.mkdir()
    for name in ["bach-bwv001-_400_chorales-016806b.mid", "mozart-the_chelsea_notebook-early_pieces_n8_minuet.mid",
                 "unknown_artist-i_o-mappari.mid"]:  # the last one is a zip archive named .mid
        shutil.copyfile(midi_dir / "classical" / name, folder / name)
    out = tmp_path / "data"
    done = muse("data", "build", "--midi-dir", folder, "--composer-from", "prefix", "--out", out,
                "--workers", "1", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "bach" in done.stdout and "mozart" in done.stdout and "1 error" in done.stdout
    assert "skipped unknown_artist-i_o-mappari.mid: not a MIDI file" in done.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["composers"] == ["bach", "mozart"] and len(index["pieces"]) == 2
    info = muse("data", "info", out)
    assert info.returncode == 0 and "2 pieces" in info.stdout and "mozart" in info.stdout


@pytest.mark.parametrize("args, message", [
    (["--out", "x"], "give --midi-dir DIR, --music21, or both"),
    (["--music21", "--composers", "nobody", "--out", "x"], "no music21 corpus pieces for label(s) ['nobody']"),
    (["--midi-dir", "{tmp}/missing", "--out", "x"], "{tmp}/missing: MIDI folder not found"),
])
def test_user_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    """Run in tmp_path (a relative --out lands there); the missing folder is one under tmp_path."""
    args = [a.format(tmp=tmp_path) for a in args]
    message = message.format(tmp=tmp_path)
    done = muse("data", "build", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("muse: error: ") and message in done.stderr


def test_info_on_a_folder_that_is_no_dataset(tmp_path: Path) -> None:
    done = muse("data", "info", tmp_path)
    assert done.returncode == 2 and "not a built dataset" in done.stderr


@pytest.mark.slow
def test_build_from_the_music21_corpus(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    out = tmp_path / "m21"
    done = muse("data", "build", "--music21", "--composers", "ciconia,essenFolksong", "--limit", "2",
                "--out", out, "--workers", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["composers"] == ["ciconia", "essen_folksong"]
    assert [p["id"] for p in index["pieces"]] == [
        "ciconia/quod_jactatur.xml", "essenFolksong/altdeu10.abc#1", "essenFolksong/altdeu10.abc#2"]
    assert all(p["n_notes"] > 0 and p["tempo"] for p in index["pieces"])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["labels"]["essen_folksong"]["pieces"] == 2 and stats["encoded"] == 3
