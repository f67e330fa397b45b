"""What a dataset is built from: a list of ``PieceSource`` (one piece each, with its label).

``midi_dir_sources`` walks a folder of MIDI files and labels each file by its parent folder, its
file-name prefix (``composer-title.mid``) or a metadata CSV. The music21 corpus has its own
enumerator in ``muse.data.music21_corpus``. Problems found while listing (a CSV row naming a
missing file) come back as ``Skip`` records so the build reports them beside bad files.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from muse.core.errors import UserError
from muse.data.labels import label_from_prefix, normalize_label

log = logging.getLogger(__name__)

SourceKind = Literal["midi", "music21"]
ComposerFrom = Literal["parent", "prefix", "csv", "none"]
MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi")
PATH_COLUMNS = ("path", "file", "filename", "midi_filename", "midi_file")
COMPOSER_COLUMNS = ("composer", "canonical_composer", "artist", "label", "style")


@dataclass(frozen=True)
class PieceSource:
    """One piece to tokenize.

    ``id`` is unique and stable across machines (a path relative to the collection root, plus
    ``#n`` for the n-th tune of a multi-tune file); ``path`` is the file to read; ``tune`` is the
    1-based ordinal of the tune inside an ABC file holding several.
    """

    id: str
    path: str
    label: str | None
    kind: SourceKind = "midi"
    tune: int | None = None


SkipKind = Literal["error", "timeout", "crash", "missing", "empty", "duplicate"]


def piece_order(source: PieceSource) -> tuple[str, int]:
    """Sort key of pieces: by file, then by tune number (``a.abc#2`` before ``a.abc#10``)."""
    return source.id.partition("#")[0], source.tune or 0


@dataclass(frozen=True)
class Skip:
    """A piece left out of a dataset, why (one line for the report) and the kind of reason."""

    id: str
    reason: str
    kind: SkipKind = "error"


@dataclass
class SourceList:
    """Pieces found by an enumerator, and the problems met while listing them."""

    sources: list[PieceSource] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def select(sources: list[PieceSource], labels: list[str] | None = None, limit: int | None = None) -> list[PieceSource]:
    """Keep pieces whose label is in ``labels`` (normalized; None keeps all), at most ``limit`` per label.

    The first ``limit`` pieces of each label in ``piece_order`` are kept, so a limited build is
    deterministic. An unknown label is a ``UserError`` listing the labels present.
    """
    out = sorted(sources, key=piece_order)
    if labels:
        wanted = {normalize_label(x) or x for x in labels}
        present = {s.label for s in out}
        missing = sorted(wanted - present)
        if missing:
            names = ", ".join(sorted(str(x) for x in present if x))
            raise UserError(f"unknown label(s) {missing}; labels present: {names}")
        out = [s for s in out if s.label in wanted]
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be at least 1, not {limit}")
        counts: dict[str | None, int] = defaultdict(int)
        kept = []
        for s in out:
            if counts[s.label] < limit:
                counts[s.label] += 1
                kept.append(s)
        out = kept
    return out


def _midi_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def _pick_column(header: list[str], wanted: str | None, candidates: tuple[str, ...], csv_path: Path, what: str) -> str:
    if wanted is not None:
        if wanted not in header:
            raise UserError(f"{csv_path}: no column {wanted!r} (columns: {', '.join(header)})")
        return wanted
    lower = {h.lower(): h for h in header}
    for name in candidates:
        if name in lower:
            return lower[name]
    raise UserError(
        f"{csv_path}: no {what} column found among {list(candidates)} (columns: {', '.join(header)}); "
        f"name it with --{what}-column"
    )


def read_metadata(
    csv_path: Path, root: Path, path_column: str | None = None, composer_column: str | None = None
) -> SourceList:
    """Pieces listed in a metadata CSV: one row per file (path relative to ``root``) and its composer."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{csv_path}: cannot read metadata CSV ({err})") from None
    if not header:
        raise UserError(f"{csv_path}: metadata CSV is empty")
    path_col = _pick_column(header, path_column, PATH_COLUMNS, csv_path, "path")
    composer_col = _pick_column(header, composer_column, COMPOSER_COLUMNS, csv_path, "composer")
    out = SourceList()
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        rel = (row.get(path_col) or "").strip()
        if not rel:
            out.skipped.append(Skip(f"{csv_path.name}:{line}", f"row has an empty {path_col!r} column", "missing"))
            continue
        if rel in seen:
            continue
        seen.add(rel)
        path = root / rel
        if not path.is_file():
            reason = f"listed in {csv_path.name} (line {line}) but not found under {root}"
            out.skipped.append(Skip(rel, reason, "missing"))
            continue
        out.sources.append(PieceSource(rel, str(path.resolve()), normalize_label(row.get(composer_col))))
    return out


def midi_dir_sources(
    root: str | Path,
    composer_from: ComposerFrom = "parent",
    metadata: str | Path | None = None,
    path_column: str | None = None,
    composer_column: str | None = None,
) -> SourceList:
    """MIDI files under ``root`` (recursively), each labelled by ``composer_from``.

    - ``parent``: the name of the folder holding the file (files directly in ``root`` get no label);
    - ``prefix``: the file-name prefix before the first ``-`` (``bach-invention_1.mid`` -> ``bach``);
    - ``csv``: the composer column of ``metadata``, which also decides which files are used;
    - ``none``: no labels (every piece gets the unknown-composer token).
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: MIDI folder not found")
    if composer_from == "csv":
        if metadata is None:
            raise UserError("--composer-from csv needs --metadata CSV")
        listed = read_metadata(Path(metadata), root, path_column, composer_column)
        log.info("%s: %d pieces listed in %s", root, len(listed.sources), metadata)
        return listed
    out = SourceList()
    for path in _midi_files(root):
        rel = path.relative_to(root).as_posix()
        if composer_from == "parent":
            label = normalize_label(path.parent.name) if path.parent != root else None
        elif composer_from == "prefix":
            label = label_from_prefix(path.stem)
        elif composer_from == "none":
            label = None
        else:
            raise UserError(f"unknown --composer-from {composer_from!r} (parent, prefix, csv or none)")
        out.sources.append(PieceSource(rel, str(path.resolve()), label))
    if not out.sources:
        raise UserError(f"{root}: no MIDI files ({', '.join(MIDI_SUFFIXES)}) found")
    return out
