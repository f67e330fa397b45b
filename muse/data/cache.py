"""Per-piece build cache: one SQLite file, so a re-run skips pieces already tokenized.

A piece's key hashes its source (id, file path, size, mtime, tune number), the tokenizer config
(without its composer list: composer ids are set when the dataset is assembled, so adding a
composer keeps the cache valid) and, for music21 scores, ``MUSIC21_CONVERTER_VERSION``. Entries
hold the token ids or the reason a piece failed (a timeout is retried by a build with a longer
limit; a crashed worker is never stored: it may be the machine's fault). Only the build's parent
process writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muse.core.errors import UserError
from muse.data.sources import PieceSource

log = logging.getLogger(__name__)

#: Bump when the conversion of music21 scores to MIDI changes (repeats, instruments).
MUSIC21_CONVERTER_VERSION = 3


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
    converter = MUSIC21_CONVERTER_VERSION if source.kind == "music21" else 0
    payload = [source.id, source.kind, os.path.abspath(source.path), st.st_size, st.st_mtime_ns, source.tune,
               tokenizer_hash, converter]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


class BuildCache:
    """``key -> Encoded`` in an SQLite file; ``None`` path keeps nothing (every piece is re-encoded).

    Several builds may share one cache (a dataset of music21 + a MIDI folder reusing the pieces of
    a music21-only build): the file is in WAL mode, every entry is its own short transaction and a
    writer waits up to a minute for another's lock. A write that still fails only costs that piece
    being tokenized again next time: it is logged, never fatal.
    """

    def __init__(self, path: str | Path | None, lock_timeout: float = 60.0) -> None:
        self.path = None if path is None else Path(path)
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = sqlite3.connect(self.path, timeout=lock_timeout, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS pieces_v1 (key TEXT PRIMARY KEY, ids BLOB, n_notes INTEGER, "
                    "seconds REAL, digest TEXT, tempo REAL, error TEXT, warnings TEXT, cpu REAL)"
                )
            except sqlite3.DatabaseError as err:
                raise UserError(f"{self.path}: cannot open build cache ({err}); delete it to start afresh") from None

    def get(self, key: str) -> Encoded | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT ids, n_notes, seconds, digest, tempo, error, warnings, cpu FROM pieces_v1 WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.OperationalError as err:
            log.warning("%s: cache read failed (%s); tokenizing the piece again", self.path, err)
            return None
        if row is None:
            return None
        ids, n_notes, seconds, digest, tempo, error, notes, cpu = row
        array = None if ids is None else np.frombuffer(ids, dtype="<i4").astype(np.int32)
        return Encoded(array, n_notes, seconds, digest, tempo, error, tuple(json.loads(notes or "[]")), cpu or 0.0)

    def put(self, key: str, value: Encoded) -> None:
        if self._db is None:
            return
        blob = None if value.ids is None else np.ascontiguousarray(value.ids, dtype="<i4").tobytes()
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO pieces_v1 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, blob, value.n_notes, value.seconds, value.digest, value.tempo, value.error,
                 json.dumps(list(value.warnings)), value.cpu),
            )
        except sqlite3.OperationalError as err:
            log.warning("%s: cache write failed (%s); the piece will be tokenized again next time", self.path, err)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
