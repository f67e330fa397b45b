"""Listener feedback on generated samples, kept in a local SQLite database for preference tuning.

Three tables: ``samples`` (one row per rated sample: mode, generation settings, seed, model hash
and token ids), ``ratings`` (thumbs up = 1 / down = -1; one per listener session and sample: a new
rating replaces the session's earlier one) and ``choices`` (an A/B preference: the chosen and the
rejected sample). The database runs in WAL mode; every write opens its own
connection inside one process-wide lock, so concurrent requests never lose a row.

``export_jsonl`` writes one JSON object per feedback event::

    {"type": "rating", "rating": 1, "sample": {...}, ...}
    {"type": "preference", "chosen": {...}, "rejected": {...}, ...}

where a sample is ``{"id", "mode", "settings", "seed", "model_hash", "tokens", "prime_tokens"}``
(``tokens[:prime_tokens]`` were given to the model: the header, or the header and the prime).
``muse.prefs`` turns these events into preference pairs (``muse feedback export --pairs``).

The store lives in the library (the demo, ``muse feedback export`` and ``muse tune`` use it); it
imports nothing from ``demos``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muse.core.atomic import atomic_path
from muse.core.errors import UserError

if TYPE_CHECKING:
    from muse.prefs import ExportSummary

log = logging.getLogger(__name__)

DEFAULT_DB = Path.home() / ".musebox" / "feedback.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    mode TEXT NOT NULL,
    settings TEXT NOT NULL,
    seed INTEGER NOT NULL,
    model_hash TEXT NOT NULL,
    tokens TEXT NOT NULL,
    prime_tokens INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    sample_id TEXT NOT NULL REFERENCES samples(id),
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    session TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS choices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    chosen_id TEXT NOT NULL REFERENCES samples(id),
    rejected_id TEXT NOT NULL REFERENCES samples(id),
    session TEXT NOT NULL
);
"""


class FeedbackError(UserError):
    """The feedback database cannot be opened, written or exported."""


@dataclass(frozen=True)
class Sample:
    """A generated sample as feedback stores it. ``tokens``: its ids, header first;
    ``prime_tokens``: how many leading ids were given rather than generated."""

    id: str
    mode: str
    settings: Mapping[str, Any]
    seed: int
    model_hash: str
    tokens: Sequence[int] = field(repr=False)
    prime_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "mode": self.mode, "settings": dict(self.settings), "seed": self.seed,
                "model_hash": self.model_hash, "tokens": [int(t) for t in self.tokens],
                "prime_tokens": self.prime_tokens}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        return cls(id=str(data["id"]), mode=str(data["mode"]), settings=dict(data["settings"]),
                   seed=int(data["seed"]), model_hash=str(data["model_hash"]),
                   tokens=[int(t) for t in data["tokens"]], prime_tokens=int(data.get("prime_tokens", 0)))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class FeedbackStore:
    """Ratings and A/B choices in the SQLite file ``path`` (created with its folder if missing)."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FeedbackError(f"{self.path}: cannot create the feedback folder ({err.strerror or err})") from err
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection inside the lock; commits on success, rolls back on error."""
        with self._lock:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0)
            except sqlite3.Error as err:
                raise FeedbackError(f"{self.path}: cannot open the feedback database ({err})") from err
            try:
                with conn:
                    conn.execute("PRAGMA foreign_keys=ON")
                    yield conn
            except sqlite3.DatabaseError as err:
                raise FeedbackError(f"{self.path}: feedback database error ({err})") from err
            finally:
                conn.close()

    @staticmethod
    def _insert_sample(conn: sqlite3.Connection, sample: Sample) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO samples (id, created, mode, settings, seed, model_hash, tokens, prime_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (sample.id, _now(), sample.mode, json.dumps(dict(sample.settings), sort_keys=True), int(sample.seed),
             sample.model_hash, json.dumps([int(t) for t in sample.tokens]), int(sample.prime_tokens)),
        )

    def rate(self, sample: Sample, rating: int, session: str = "") -> int:
        """Store a thumbs up (``rating`` 1) or down (-1) for ``sample``, replacing ``session``'s earlier rating
        of it (a listener changing their mind; an empty ``session`` is no one in particular); returns the
        rating's row id."""
        if rating not in (-1, 1):
            raise FeedbackError(f"a rating is 1 (thumbs up) or -1 (thumbs down), not {rating!r}")
        with self._connect() as conn:
            self._insert_sample(conn, sample)
            if session:
                conn.execute("DELETE FROM ratings WHERE sample_id = ? AND session = ?", (sample.id, session))
            cur = conn.execute("INSERT INTO ratings (created, sample_id, rating, session) VALUES (?, ?, ?, ?)",
                               (_now(), sample.id, rating, session))
            return int(cur.lastrowid)

    def choose(self, chosen: Sample, rejected: Sample, session: str = "") -> int:
        """Store an A/B preference of ``chosen`` over ``rejected``; returns the choice's row id."""
        if chosen.id == rejected.id:
            raise FeedbackError("an A/B choice needs two different samples")
        with self._connect() as conn:
            self._insert_sample(conn, chosen)
            self._insert_sample(conn, rejected)
            cur = conn.execute("INSERT INTO choices (created, chosen_id, rejected_id, session) VALUES (?, ?, ?, ?)",
                               (_now(), chosen.id, rejected.id, session))
            return int(cur.lastrowid)

    def counts(self) -> dict[str, int]:
        """Number of rows per table: ``{"samples": ..., "ratings": ..., "choices": ...}``."""
        with self._connect() as conn:
            tables = ("samples", "ratings", "choices")
            return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}

    def events(self) -> list[dict[str, Any]]:
        """Every rating and choice in the order they were made, with their samples (export format)."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            samples = {row["id"]: _sample_dict(row) for row in conn.execute("SELECT * FROM samples")}
            ratings = conn.execute("SELECT id, created, sample_id, rating, session FROM ratings").fetchall()
            choices = conn.execute("SELECT id, created, chosen_id, rejected_id, session FROM choices").fetchall()
        events = [{"type": "rating", "id": r["id"], "created": r["created"], "session": r["session"],
                   "rating": r["rating"], "sample": samples[r["sample_id"]]} for r in ratings]
        events += [{"type": "preference", "id": c["id"], "created": c["created"], "session": c["session"],
                    "chosen": samples[c["chosen_id"]], "rejected": samples[c["rejected_id"]]} for c in choices]
        return sorted(events, key=lambda e: (e["created"], e["type"], e["id"]))

    def export_jsonl(self, path: str | Path) -> int:
        """Write ``events()`` to ``path`` as JSON lines (atomically); returns the number of lines."""
        path = Path(path)
        events = self.events()
        try:
            with atomic_path(path) as tmp:
                with open(tmp, "w", encoding="utf-8") as fh:
                    for event in events:
                        fh.write(json.dumps(event) + "\n")
        except OSError as err:
            raise FeedbackError(f"{path}: cannot write ({err.strerror or err})") from err
        log.info("wrote %d feedback events to %s", len(events), path)
        return len(events)

    def preference_pairs(self) -> ExportSummary:
        """The preference pairs of ``events()`` (``muse.prefs.pairs_from_events``: every A/B choice,
        and every sample rated up against every sample of the same prompt rated down)."""
        from muse.prefs import pairs_from_events

        return pairs_from_events(self.events())

    def export_pairs(self, path: str | Path) -> ExportSummary:
        """Write ``preference_pairs()`` to ``path`` as JSON lines (atomically); returns their summary."""
        from muse.prefs import write_prefs

        summary = self.preference_pairs()
        write_prefs(summary.pairs, path)
        log.info("wrote %s to %s", summary.describe(), path)
        return summary


def _sample_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "mode": row["mode"], "settings": json.loads(row["settings"]), "seed": row["seed"],
            "model_hash": row["model_hash"], "tokens": json.loads(row["tokens"]), "prime_tokens": row["prime_tokens"]}


def open_existing(path: str | Path) -> FeedbackStore:
    """A store for a database that must already exist (for export): a clear error when it does not."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FeedbackError(f"{path}: no feedback database here (start `muse demo --db {path}` and rate samples first)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as err:
        raise FeedbackError(f"{path}: cannot read ({err.strerror or err})") from err
    if head and head != b"SQLite format 3\x00":
        raise FeedbackError(f"{path}: not an SQLite database")
    return FeedbackStore(path)


__all__ = ["DEFAULT_DB", "FeedbackError", "FeedbackStore", "Sample", "open_existing"]
