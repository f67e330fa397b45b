"""Per-piece build cache: one SQLite file, so a re-run skips pieces already tokenized.

A piece's key hashes its source (id, file path, size, mtime, tune number), the tokenizer config
(without its composer list: composer ids are set when the dataset is assembled, so adding a
composer keeps the cache valid) and ``CONVERTER_VERSION`` of the MIDI conversion. Entries hold the
token ids or the reason a piece failed; failures that may not recur (timeouts, crashed workers) are
never stored. Only the parent process writes, so no locking is needed beyond SQLite's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muse.core.errors import UserError
from muse.data.sources import PieceSource

#: Bump when the conversion of a source to tokens changes (music21 rendering, instrument fixes).
CONVERTER_VERSION = 2


@dataclass(frozen=True)
class Encoded:
    """A tokenized piece (ids in the composer-free base vocabulary) or the reason it failed.

    ``digest`` is the SHA-1 of the source content (file bytes or tune text): it decides the split.
    ``tempo`` is the first tempo in BPM (None when the piece has none).
    """

    ids: np.ndarray | None = None  # int32 [n]
    n_notes: int = 0
    seconds: float = 0.0
    digest: str = ""
    tempo: float | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()  # repairs made while reading (kept pieces)
    cpu: float = 0.0  # CPU seconds the conversion took in its worker


def source_key(source: PieceSource, tokenizer_hash: str) -> str:
    """The cache key of ``source`` under a tokenizer config hash (stat-based: no file read)."""
    st = os.stat(source.path)
    payload = [source.id, source.kind, os.path.abspath(source.path), st.st_size, st.st_mtime_ns, source.tune,
               tokenizer_hash, CONVERTER_VERSION]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


class BuildCache:
    """``key -> Encoded`` in an SQLite file; ``None`` path keeps nothing (every piece is re-encoded)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._db: sqlite3.Connection | None = None
        self._pending = 0
        self._committed = time.monotonic()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = sqlite3.connect(self.path)
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS pieces_v1 (key TEXT PRIMARY KEY, ids BLOB, n_notes INTEGER, "
                    "seconds REAL, digest TEXT, tempo REAL, error TEXT, warnings TEXT, cpu REAL)"
                )
            except sqlite3.DatabaseError as err:
                raise UserError(f"{self.path}: cannot open build cache ({err}); delete it to start afresh") from None

    def get(self, key: str) -> Encoded | None:
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT ids, n_notes, seconds, digest, tempo, error, warnings, cpu FROM pieces_v1 WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        ids, n_notes, seconds, digest, tempo, error, notes, cpu = row
        array = None if ids is None else np.frombuffer(ids, dtype="<i4").astype(np.int32)
        return Encoded(array, n_notes, seconds, digest, tempo, error, tuple(json.loads(notes or "[]")), cpu or 0.0)

    def put(self, key: str, value: Encoded) -> None:
        if self._db is None:
            return
        blob = None if value.ids is None else np.ascontiguousarray(value.ids, dtype="<i4").tobytes()
        self._db.execute(
            "INSERT OR REPLACE INTO pieces_v1 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, blob, value.n_notes, value.seconds, value.digest, value.tempo, value.error,
             json.dumps(list(value.warnings)), value.cpu),
        )
        self._pending += 1
        if self._pending >= 200 or time.monotonic() - self._committed > 30:
            self.commit()

    def commit(self) -> None:
        """Make the entries put so far durable (done every 200 entries or 30 s, and on close)."""
        if self._db is not None and self._pending:
            self._db.commit()
            self._pending = 0
        self._committed = time.monotonic()

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None
