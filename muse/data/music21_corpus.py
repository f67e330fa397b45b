"""The music21 package's bundled corpus as a labelled training set, and its conversion to MIDI bytes.

Every score of music21's *core* corpus (MusicXML, Humdrum, ABC; a user's local corpus is never
read) becomes one or more ``PieceSource``; its label is the corpus folder it sits in, normalized
(``essenFolksong`` -> ``essen_folksong``, ``cpebach`` stays ``cpebach``). Rules:

- An ABC file holding several tunes (X: fields; the Essen, O'Neill, Aird and Northumbrian
  collections hold hundreds) gives one piece per tune (``id`` ``path#n``); a tune whose text
  repeats an earlier one (O'Neill's overlapping files) is skipped as a duplicate. The Josquin ABC
  files are the exception: their tunes are the voices of one piece and are merged.
- A piece stored in several formats (``bach/bwv277.krn`` and ``.mxl``, Beethoven op. 18 no. 1)
  is taken once, MusicXML preferred.
- RomanText analyses (``*.rntxt``: chord labels, not notes) and the ``demos`` and
  ``theoryExercises`` folders (test files and exercises, not repertoire) are left out.
- Parts whose instrument is missing or the default piano but whose name says otherwise
  ("Soprano", "Violin 1", "Viola") get the named instrument, so chorales and quartets carry voice
  and string tokens; an unnamed part of a score whose other parts were all renamed to one
  instrument gets that instrument (Monteverdi's "Quinto").

Labels and pieces with music21 10.5 (``muse data build --music21``; 13,5xx pieces listed):
see ``MUSIC21_LABELS`` below for the measured table.

Conversion (``piece_to_midi``) parses with ``forceSource=True`` and never writes music21's pickle
cache; it takes about 0.05 s for a folk tune, 0.5-3 s for a chorale or madrigal and up to 25 s for
a long string-quartet movement.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from muse.core.errors import UserError
from muse.data.labels import normalize_label
from muse.data.sources import PieceSource, Skip, SourceList, select

log = logging.getLogger(__name__)

EXCLUDED_FOLDERS = frozenset({"demos", "theoryExercises"})
EXCLUDED_SUFFIXES = frozenset({".rntxt"})
MERGED_VOICE_FOLDERS = frozenset({"josquin"})  # ABC files whose tunes are the voices of one piece
FORMAT_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".abc")  # one format per piece, first wins
_TUNE_START = re.compile(r"^X:", re.MULTILINE)
_X_LINE = re.compile(r"\AX:[^\n]*\n")


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def read_text(path: str | Path) -> str:
    """A text score file as str (UTF-8, else Latin-1: old ABC collections use both)."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def split_abc(text: str) -> tuple[str, list[str]]:
    """Split an ABC file into its file header (text before the first ``X:``) and its tunes."""
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    if not starts:
        return "", [text]
    bounds = starts + [len(text)]
    return text[: starts[0]], [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _core_paths() -> list[Path]:
    from music21.corpus import corpora

    return sorted(Path(p) for p in corpora.CoreCorpus().getPaths())


def _one_format_per_piece(paths: list[Path], root: Path) -> tuple[list[Path], list[Skip]]:
    by_stem: dict[PurePosixPath, list[Path]] = defaultdict(list)
    for p in paths:
        by_stem[PurePosixPath(p.relative_to(root).as_posix()).with_suffix("")].append(p)
    rank = {s: i for i, s in enumerate(FORMAT_PREFERENCE)}
    kept, skipped = [], []
    for group in by_stem.values():
        group.sort(key=lambda p: (rank.get(p.suffix.lower(), len(rank)), p.name))
        kept.append(group[0])
        first = group[0].relative_to(root).as_posix()
        skipped += [Skip(p.relative_to(root).as_posix(), f"same piece as {first} (another format)", "duplicate") for p in group[1:]]
    return sorted(kept), skipped


def _abc_sources(path: Path, rel: str, label: str | None, seen: dict[str, str]) -> SourceList:
    """One source per tune of an ABC file; tunes repeating an earlier tune's text are skipped."""
    out = SourceList()
    _, tunes = split_abc(read_text(path))
    if len(tunes) <= 1 or PurePosixPath(rel).parts[0] in MERGED_VOICE_FOLDERS:
        out.sources.append(PieceSource(rel, str(path), label, "music21"))
        return out
    for n, tune in enumerate(tunes, start=1):
        piece_id = f"{rel}#{n}"
        digest = hashlib.sha1(_X_LINE.sub("", tune.strip() + "\n").encode()).hexdigest()
        if digest in seen:
            out.skipped.append(Skip(piece_id, f"duplicate of {seen[digest]} (same ABC text)", "duplicate"))
            continue
        seen[digest] = piece_id
        out.sources.append(PieceSource(piece_id, str(path), label, "music21", tune=n))
    return out


def music21_sources(labels: list[str] | None = None, limit: int | None = None) -> SourceList:
    """All pieces of music21's core corpus (or those of ``labels``, at most ``limit`` per label)."""
    try:
        root = corpus_root()
    except ImportError as err:
        raise UserError(f"music21 is not installed ({err})") from None
    paths = [
        p for p in _core_paths()
        if p.suffix.lower() not in EXCLUDED_SUFFIXES
        and p.relative_to(root).parts[0] not in EXCLUDED_FOLDERS
        and len(p.relative_to(root).parts) > 1
    ]
    paths, skipped = _one_format_per_piece(paths, root)
    wanted = None if not labels else {normalize_label(x) or x for x in labels}
    out = SourceList(skipped=[s for s in skipped if wanted is None or normalize_label(s.id.split("/")[0]) in wanted])
    seen: dict[str, str] = {}
    for path in paths:
        rel = path.relative_to(root).as_posix()
        label = normalize_label(rel.split("/")[0])
        if wanted is not None and label not in wanted:
            continue
        if path.suffix.lower() == ".abc":
            found = _abc_sources(path, rel, label, seen)
            out.sources += found.sources
            out.skipped += found.skipped
        else:
            out.sources.append(PieceSource(rel, str(path), label, "music21"))
    if wanted is not None:
        missing = sorted(wanted - {s.label for s in out.sources})
        if missing:
            every = sorted({normalize_label(p.relative_to(root).parts[0]) for p in paths} - {None})
            raise UserError(f"no music21 corpus pieces for label(s) {missing}; labels: {', '.join(every)}")
    out.sources = select(out.sources, None, limit)
    if limit is not None:
        out.skipped = []  # duplicates of pieces beyond the limit are no news
    return out


# --- conversion (runs in worker processes) --------------------------------------------------------


def load_score(source: PieceSource) -> Any:
    """Parse a corpus piece into a ``music21.stream.Score`` (one tune of an ABC file, or merged voices)."""
    from music21 import converter, stream

    if source.tune is not None:
        header, tunes = split_abc(read_text(source.path))
        if not 1 <= source.tune <= len(tunes):
            raise UserError(f"{source.path}: has {len(tunes)} tunes, not {source.tune}")
        parsed = converter.parseData(header + tunes[source.tune - 1], format="abc")
    else:
        conv = converter.Converter()
        conv.parseFile(source.path, forceSource=True, storePickle=False)
        parsed = conv.stream
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if PurePosixPath(source.id).parts[0] in MERGED_VOICE_FOLDERS:
            parsed = parsed.mergeScores()
        elif len(scores) == 1:
            parsed = scores[0]
        else:
            raise UserError(f"{source.id}: holds {len(scores)} scores where one was expected")
    return parsed


def _named_instrument(part: Any) -> Any:
    from music21 import instrument

    names = [n for n in (part.partName, getattr(part.getInstrument(returnDefault=False), "partName", None)) if n]
    for name in names:
        try:
            guess = instrument.fromString(name)
        except Exception:  # music21 raises InstrumentException (and others) for unknown names
            continue
        if guess is not None and guess.midiProgram is not None:
            return guess
    return None


def assign_instruments(score: Any) -> None:
    """Give parts with a missing/default-piano instrument the instrument their name says (in place)."""
    from music21 import instrument

    generic = []
    renamed: Counter[int] = Counter()
    for part in score.parts:
        current = list(part.recurse().getElementsByClass(instrument.Instrument))
        if len(current) > 1:
            continue  # instrument changes inside the part: the score says what it wants
        inst = current[0] if current else None
        if inst is not None and inst.midiProgram not in (None, 0):
            continue
        guess = _named_instrument(part)
        if guess is None or guess.midiProgram == 0:
            generic.append((part, inst))
            continue
        _set_instrument(part, inst, guess)
        renamed[guess.midiProgram] += 1
    if generic and len(renamed) == 1:
        program = next(iter(renamed))
        for part, inst in generic:
            new = instrument.Instrument()
            new.midiProgram = program
            _set_instrument(part, inst, new)


def _set_instrument(part: Any, old: Any, new: Any) -> None:
    if old is not None:
        part.replace(old, new, recurse=True)
    else:
        part.insert(0, new)


@dataclass(frozen=True)
class ConvertedPiece:
    """MIDI bytes of a corpus piece, and what had to be given up to get them (empty when nothing)."""

    midi: bytes
    warnings: tuple[str, ...] = ()


def unshare_elements(score: Any) -> None:
    """Give every object one place in the score (in place).

    music21's ABC reader puts the same ``TimeSignature`` object in several measures, which its MIDI
    writer then refuses ("already found in this Stream"); each later occurrence becomes a copy.
    """
    from music21 import stream

    seen: set[int] = set()
    for container in [score, *score.recurse(streamsOnly=True)]:
        for element in list(container.elements):
            if isinstance(element, stream.Stream):
                continue
            if id(element) in seen:
                container.replace(element, copy.deepcopy(element))
            else:
                seen.add(id(element))


def _to_midi(score: Any) -> bytes:
    from music21.midi import translate

    return translate.music21ObjectToMidiFile(score).writestr()


def _flat_parts(score: Any) -> Any:
    """The same parts without measures: music21's MIDI writer then leaves repeats unexpanded."""
    from music21 import stream

    flat = stream.Score()
    for part in score.parts:
        flat.insert(0, part.flatten())
    return flat


def piece_to_midi(source: PieceSource) -> ConvertedPiece:
    """A music21 corpus piece as Standard MIDI File bytes (tempo marks kept, 120 BPM where none).

    music21 expands repeats while writing MIDI and fails on badly formed ones (Chopin's mazurkas,
    some ABC tunes); such a piece is written once more from measure-free parts, i.e. played once
    as written, and a warning says so.
    """
    score = load_score(source)
    assign_instruments(score)
    unshare_elements(score)
    try:
        return ConvertedPiece(_to_midi(score))
    except Exception as err:  # music21 raises assorted types from its repeat expander
        first = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    score = load_score(source)  # the failed attempt may have left the score half-modified
    assign_instruments(score)
    unshare_elements(score)
    try:
        midi = _to_midi(_flat_parts(score))
    except Exception as err:
        raise RuntimeError(f"{first}; without repeats: {type(err).__name__}: {err}") from None
    return ConvertedPiece(midi, (f"repeats not expanded ({first[:120]})",))
