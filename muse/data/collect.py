"""The pieces a build uses, from the user's choices (``muse data build`` passes its options here)."""

from __future__ import annotations

from pathlib import Path

from muse.core.errors import UserError
from muse.data.sources import ComposerFrom, SourceList, midi_dir_sources, select


def collect_sources(
    midi_dir: str | Path | None = None,
    music21: bool = False,
    composer_from: ComposerFrom | None = None,
    metadata: str | Path | None = None,
    path_column: str | None = None,
    composer_column: str | None = None,
    composers: list[str] | None = None,
    limit: int | None = None,
) -> SourceList:
    """List the pieces of a folder of MIDI files, of music21's corpus, or of both (one dataset).

    ``composer_from`` (for the MIDI folder) defaults to ``csv`` when ``metadata`` is given, else
    ``parent``; ``composers`` keeps only those labels, ``limit`` keeps at most that many pieces per
    label of each source (so ``--limit`` caps music21's large folk collections without touching
    the MIDI folder's composers that have fewer pieces).
    """
    if midi_dir is None and not music21:
        raise UserError("give --midi-dir DIR, --music21, or both")
    found = SourceList()
    if music21:
        from muse.data.music21_corpus import music21_sources

        corpus = music21_sources(composers if midi_dir is None else None, limit)
        found.sources += corpus.sources
        found.skipped += corpus.skipped
    if midi_dir is not None:
        if composer_from is None:
            composer_from = "csv" if metadata is not None else "parent"
        if metadata is not None and composer_from != "csv":
            raise UserError(
                f"--metadata gives the composers; it cannot be combined with --composer-from {composer_from}"
            )
        folder = midi_dir_sources(midi_dir, composer_from, metadata, path_column, composer_column)
        found.sources += select(folder.sources, None, limit)
        found.skipped += folder.skipped
    elif metadata is not None or composer_from is not None:
        raise UserError("--metadata and --composer-from apply to --midi-dir only")
    if midi_dir is not None:
        found.sources = select(found.sources, composers, None)
    return found
