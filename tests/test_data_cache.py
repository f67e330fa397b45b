"""The build cache: shared by builds, keyed by content and config, never fatal."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from muse.data.cache import BuildCache, Encoded, source_key
from muse.data.sources import PieceSource


def test_entries_survive_and_are_shared_between_caches(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    first, second = BuildCache(path), BuildCache(path)
    ids = np.array([3, 10, 1, 200, 2], dtype=np.int32)
    first.put("a", Encoded(ids, n_notes=1, seconds=2.5, digest="ff", tempo=96.0, warnings=("unwrapped",), cpu=0.5))
    first.put("b", Encoded(error="not a MIDI file"))
    got = second.get("a")
    np.testing.assert_array_equal(got.ids, ids)
    assert (got.n_notes, got.seconds, got.digest, got.tempo, got.warnings, got.cpu) == (1, 2.5, "ff", 96.0,
                                                                                      ("unwrapped",), 0.5)
    assert second.get("b") == Encoded(error="not a MIDI file") and second.get("c") is None
    first.close()
    second.close()
    assert BuildCache(path).get("b").error == "not a MIDI file"
    assert BuildCache(None).get("a") is None


def test_a_locked_cache_costs_a_warning_not_the_build(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cache.sqlite"
    cache = BuildCache(path, lock_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with caplog.at_level(logging.WARNING):
        cache.put("a", Encoded(error="x"))
    assert "cache write failed" in caplog.text
    other.execute("ROLLBACK")
    assert cache.get("a") is None


def test_key_changes_with_the_file_the_tune_and_the_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "a.mid"
    path.write_bytes(b"MThd")
    piece = PieceSource("a.mid", str(path), "bach")
    key = source_key(piece, "cfg1")
    assert source_key(piece, "cfg1") == key
    assert source_key(piece, "cfg2") != key
    assert source_key(PieceSource("a.mid", str(path), "bach", "music21", tune=2), "cfg1") != key
    assert source_key(PieceSource("a.mid", str(path), "mozart"), "cfg1") == key  # labels are set later
    path.write_bytes(b"MThd....")
    assert source_key(piece, "cfg1") != key
    os.utime(path, ns=(1, 1))
    assert source_key(piece, "cfg1") != key
