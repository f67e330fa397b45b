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
  instrument family gets that family's most common instrument (Monteverdi's "Quinto" sings).

Labels with music21 10.5.1 (``muse data build --music21``: 14,894 pieces listed, 28 skipped while
listing as other formats or repeated ABC text; pieces kept after dropping 205 more with the
same notes; 6.4 M tokens, 190 hours):

    essen_folksong 8419   oneills1850 1939   palestrina 1296   airds_airs 1179   ryans_mammoth 1039
    bach 409   misc_folk 171   trecento 101   monteverdi 49   beethoven 22   mozart 16   haydn 9
    josquin 8   schumann_robert 6 (now labelled schumann)   schumann_clara 5   lead_sheet 2   nottingham_dataset 2
    schoenberg 2   and one piece each: beach chopin ciconia corelli cpebach handel johnson_j_r
    joplin liliuokalani luca lusitano schubert verdi weber webern

Conversion (``piece_to_midi``) parses with ``forceSource=True`` and never writes music21's pickle
cache. CPU time per piece (measured in that build): 0.08 s for an Essen song, 0.3-0.4 s for a
fiddle tune, 0.5 s for a chorale, 0.6 s for a Palestrina movement, 1.1 s for a madrigal, 5 s for
a Haydn or Mozart quartet movement, 50 s on average for Beethoven (a whole quartet in one file:
up to 6 minutes). 78 CPU minutes for the corpus: about 40 minutes with 2 workers.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muse.core.errors import UserError
from muse.data.labels import normalize_label
from muse.data.sources import PieceSource, Skip, SourceList, select

log = logging.getLogger(__name__)

EXCLUDED_FOLDERS = frozenset({"demos", "theoryExercises"})
EXCLUDED_SUFFIXES = frozenset({".rntxt"})
MERGED_VOICE_FOLDERS = frozenset({"josquin"})  # ABC files whose tunes are the voices of one piece
MAX_REPEAT_GROWTH = 4.0  # expanded / written notes above which repeats are not expanded
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


def _core_files() -> list[str]:
    """Paths of the core corpus scores relative to ``corpus_root()``, '/'-separated, sorted."""
    from music21.corpus import corpora

    root = str(corpus_root()) + os.sep
    return sorted(str(p)[len(root):].replace(os.sep, "/") for p in corpora.CoreCorpus().getPaths())


def _suffix(rel: str) -> str:
    return os.path.splitext(rel)[1].lower()


def _one_format_per_piece(rels: list[str]) -> tuple[list[str], list[Skip]]:
    by_stem: dict[str, list[str]] = defaultdict(list)
    for rel in rels:
        by_stem[os.path.splitext(rel)[0]].append(rel)
    rank = {s: i for i, s in enumerate(FORMAT_PREFERENCE)}
    kept, skipped = [], []
    for group in by_stem.values():
        group.sort(key=lambda r: (rank.get(_suffix(r), len(rank)), r))
        kept.append(group[0])
        skipped += [Skip(r, f"same piece as {group[0]} (another format)", "duplicate") for r in group[1:]]
    return sorted(kept), skipped


def _abc_sources(rel: str, path: str, label: str | None, seen: dict[str, str]) -> SourceList:
    """One source per tune of an ABC file; tunes repeating an earlier tune's text are skipped."""
    out = SourceList()
    _, tunes = split_abc(read_text(path))
    if len(tunes) <= 1 or rel.split("/")[0] in MERGED_VOICE_FOLDERS:
        out.sources.append(PieceSource(rel, path, label, "music21"))
        return out
    for n, tune in enumerate(tunes, start=1):
        piece_id = f"{rel}#{n}"
        digest = hashlib.sha1(_X_LINE.sub("", tune.strip() + "\n").encode()).hexdigest()
        if digest in seen:
            out.skipped.append(Skip(piece_id, f"duplicate of {seen[digest]} (same ABC text)", "duplicate"))
            continue
        seen[digest] = piece_id
        out.sources.append(PieceSource(piece_id, path, label, "music21", tune=n))
    return out


def music21_sources(labels: list[str] | None = None, limit: int | None = None) -> SourceList:
    """All pieces of music21's core corpus (or those of ``labels``, at most ``limit`` per label)."""
    try:
        root = corpus_root()
    except ImportError as err:
        raise UserError(f"music21 is not installed ({err})") from None
    rels = [r for r in _core_files()
            if "/" in r and _suffix(r) not in EXCLUDED_SUFFIXES and r.split("/")[0] not in EXCLUDED_FOLDERS]
    rels, skipped = _one_format_per_piece(rels)
    label_of = {folder: normalize_label(folder) for folder in {r.split("/")[0] for r in rels}}
    wanted = None if not labels else {normalize_label(x) or x for x in labels}
    if wanted is not None and wanted - set(label_of.values()):
        missing = sorted(wanted - set(label_of.values()))
        every = ", ".join(sorted(str(x) for x in set(label_of.values()) if x))
        raise UserError(f"no music21 corpus pieces for label(s) {missing}; labels: {every}")
    out = SourceList(skipped=[s for s in skipped if wanted is None or label_of[s.id.split("/")[0]] in wanted])
    seen: dict[str, str] = {}
    for rel in rels:
        label = label_of[rel.split("/")[0]]
        if wanted is not None and label not in wanted:
            continue
        path = str(root / rel)
        if _suffix(rel) == ".abc":
            found = _abc_sources(rel, path, label, seen)
            out.sources += found.sources
            out.skipped += found.skipped
        else:
            out.sources.append(PieceSource(rel, path, label, "music21"))
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
        if source.id.split("/")[0] in MERGED_VOICE_FOLDERS:
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
    if generic and len({program // 8 for program in renamed}) == 1:  # one GM family (8 programs each)
        program = renamed.most_common(1)[0][0]
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


def has_repeats(score: Any) -> bool:
    """Whether the score has repeat barlines, repeat expressions (D.C., segno) or volta brackets."""
    from music21 import bar, repeat, spanner

    kinds = (bar.Repeat, repeat.RepeatExpression, spanner.RepeatBracket)
    return next(iter(score.recurse().getElementsByClass(kinds)), None) is not None


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


def close_open_repeats(score: Any) -> int:
    """Give every end-repeat its start-repeat (in place); returns how many were added.

    ABC tunes often write ``A :| B :| C :|`` meaning "each part twice". music21 sends an end
    repeat without a start back to the beginning of the piece, so each later part replays all
    the earlier ones and the piece grows exponentially (Aird's "Yankee Doodle": 293 written notes
    became 55,878 in 270 s). A start repeat after the previous end repeat restores the meaning.
    Parts with volta brackets are left alone (there the previous end may sit in a first ending).
    """
    from music21 import bar, spanner, stream

    added = 0
    for part in score.parts:
        if next(iter(part.recurse().getElementsByClass(spanner.RepeatBracket)), None) is not None:
            continue
        measures = list(part.getElementsByClass(stream.Measure))
        is_open, after_end = False, None
        for k, measure in enumerate(measures):
            if isinstance(measure.leftBarline, bar.Repeat) and measure.leftBarline.direction == "start":
                is_open = True
            if isinstance(measure.rightBarline, bar.Repeat) and measure.rightBarline.direction == "end":
                if not is_open and after_end is not None:
                    measures[after_end].leftBarline = bar.Repeat(direction="start")
                    added += 1
                is_open = False
                after_end = k + 1 if k + 1 < len(measures) else None
    return added


def _note_ons(midi: bytes) -> int:
    import mido

    return sum(msg.type == "note_on" and msg.velocity > 0 for track in mido.MidiFile(file=io.BytesIO(midi)).tracks
               for msg in track)


def _prepared(source: PieceSource) -> Any:
    score = load_score(source)
    assign_instruments(score)
    unshare_elements(score)
    return score


def piece_to_midi(source: PieceSource) -> ConvertedPiece:
    """A music21 corpus piece as Standard MIDI File bytes (tempo marks kept, 120 BPM where none).

    music21 expands repeats while writing MIDI (deep-copying the score: most of the time spent).
    A score without repeats goes the measure-free way at once: the same MIDI, 1.2-10x faster.
    Where the expander fails on badly formed repeats (Chopin's mazurkas, some ABC tunes) or makes
    the piece more than ``MAX_REPEAT_GROWTH`` times longer than written, the piece is written from
    measure-free parts instead, i.e. played once as written, and a warning says so.
    """
    score = _prepared(source)
    if not has_repeats(score):  # same MIDI, without the deep copies of music21's repeat expander
        return ConvertedPiece(_to_midi(_flat_parts(score)))
    close_open_repeats(score)
    try:
        expanded = _to_midi(score)
    except Exception as err:  # music21 raises assorted types from its repeat expander
        why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:120]
    else:
        as_written = _to_midi(_flat_parts(_prepared(source)))
        growth = _note_ons(expanded) / max(_note_ons(as_written), 1)
        if growth <= MAX_REPEAT_GROWTH:
            return ConvertedPiece(expanded)
        return ConvertedPiece(as_written, (f"repeats not expanded (they made it {growth:.0f}x longer)",))
    try:
        midi = _to_midi(_flat_parts(_prepared(source)))  # the failed attempt may have changed the score
    except Exception as err:
        raise RuntimeError(f"{why}; without repeats: {type(err).__name__}: {err}") from None
    return ConvertedPiece(midi, (f"repeats not expanded ({why})",))
