"""Note limits learnt from training data: how long and how briefly a note may sound, how many at once.

Three limits per melodic instrument key (a family, or a GM program in ``program`` mode; drum hits
have a fixed length and are never limited), stored with a model as ``note_limits.json``:

- ``note_seconds``: the longest a note sounds, the ``duration_quantile`` (default 99.5th percentile)
  of the note durations in seconds of the training split (a note lasts from its note-on to the next
  note-on or note-off of the same instrument and pitch, tempo aware, as ``musetok`` decodes it);
- ``min_note_seconds``: the shortest a note sounds before its note-off (or a re-strike), the
  ``shortest_quantile`` (default the 2nd percentile, at most ``MAX_MIN_NOTE_SECONDS``) of the same
  durations. A sampled sequence that strikes a few very short notes tends to copy them into runs and
  trills of ever more of them (a 20-s piece of the bundled model held 2,000 notes of 11-20 ms, where
  1% of the data's piano notes last under 37 ms);
- ``polyphony``: the most notes of that instrument sounding at once, the ``polyphony_quantile``
  (default 95th percentile) of the number of its notes sounding, weighted by time, over the time
  at least one of them sounds.

and one limit for the whole sequence, the **loop rule** of ``muse.grammar`` (no run of exact
repetition, ``seq[t] == seq[t - p]`` for a period p of 1 to ``LOOP_PERIODS`` tokens, longer than
``min(loop_cycles * p, loop_tokens)`` tokens): ``loop_tokens`` and ``loop_cycles`` are the
``loop_quantile`` (default 98th percentile) of the longest such run, in tokens and in periods, of the
``LOOP_STRETCH``-token stretches of the training pieces (after the header). Music built on exact
repeats (a drum loop, an ostinato) then keeps them; a file without them (written before the loop
limits were learnt) gets the grammar's former fixed ``LOOP_CYCLES`` / ``LOOP_TOKENS``.

Instruments absent from the data get ``default_note_seconds`` / ``default_polyphony``, the same
quantiles over every melodic note pooled. A model folder without the file has no limits
(``muse.grammar`` then still releases every note before ``end``); a file written before the shortest
note was learnt has no minimum. ``compute_note_limits`` computes
them from a built dataset; ``muse model limits`` attaches them to an existing model folder.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from musetok.vocab import Kind, Vocab

from muse.clock import TokenClock
from muse.core.atomic import write_json
from muse.core.errors import CheckpointError, UserError
from muse.core.token_shards import Split, TokenDataset
from muse.token_tables import TokenTables

log = logging.getLogger(__name__)

NOTE_LIMITS_FILE = "note_limits.json"
FORMAT = "musebox-note-limits"
VERSION = 1
NO_LIMIT_US = 2**62  # a note limit no piece reaches (microseconds)
NO_LIMIT_NOTES = 2**30  # a polyphony limit no piece reaches
# The 95th percentile: a model that rarely emits note-offs fills whatever room it gets, and the 99.5th
# (16 notes for the piano of the classical corpus, whose notes carry the sustain pedal) left the
# bundled model at 11 notes sounding at once against 4 in the data; 8 brought it to 6.6-6.9.
POLYPHONY_QUANTILE = 0.95
SHORTEST_QUANTILE = 0.02
MAX_MIN_NOTE_SECONDS = 0.25  # a longer shortest note could outlast the shortest rest limit (muse.requests)
LOOP_PERIODS = 64  # the longest period (tokens) of a loop the grammar watches
LOOP_CYCLES = 8  # without learnt loop limits: a run of exact repetition lasts at most this many periods ...
LOOP_TOKENS = 128  # ... and at most this many tokens
LOOP_QUANTILE = 0.98
LOOP_STRETCH = 1200  # tokens per stretch of a training piece whose longest exact run is counted


@dataclass(frozen=True)
class NoteLimits:
    """Per-instrument limits (instrument names as in ``Vocab.instruments``) and where they come from."""

    note_seconds: dict[str, float]
    polyphony: dict[str, int]
    default_note_seconds: float
    default_polyphony: int
    duration_quantile: float = 0.995
    polyphony_quantile: float = POLYPHONY_QUANTILE
    notes: dict[str, int] = field(default_factory=dict)  # training notes per instrument
    pieces: int = 0
    source: str = ""
    min_note_seconds: dict[str, float] = field(default_factory=dict)  # none: no minimum
    default_min_note_seconds: float = 0.0
    shortest_quantile: float | None = None  # None: the minimum was not learnt
    loop_cycles: int = LOOP_CYCLES
    loop_tokens: int = LOOP_TOKENS
    loop_quantile: float | None = None  # None: the loop limits were not learnt (the fixed defaults)

    def __post_init__(self) -> None:
        shortest = [self.default_min_note_seconds, *self.min_note_seconds.values()]
        if not all(isinstance(s, (int, float)) and math.isfinite(s) and s >= 0 for s in shortest):
            raise ValueError(f"note limits: shortest notes must be numbers >= 0, got {shortest}")
        if any(s > self.seconds_for(n) for n, s in self.min_note_seconds.items()):
            raise ValueError("note limits: an instrument's shortest note is longer than its longest")
        seconds = [self.default_note_seconds, *self.note_seconds.values()]
        notes = [self.default_polyphony, *self.polyphony.values()]
        if not all(isinstance(s, (int, float)) and math.isfinite(s) and s > 0 for s in seconds):
            raise ValueError(f"note limits: note seconds must be positive numbers, got {seconds}")
        if not all(isinstance(n, int) and n >= 1 for n in notes):
            raise ValueError(f"note limits: polyphony must be integers >= 1, got {notes}")
        loops = (self.loop_cycles, self.loop_tokens)
        if not all(isinstance(n, int) and n >= 1 for n in loops):
            raise ValueError(f"note limits: loop cycles and tokens must be integers >= 1, got {loops}")

    def seconds_for(self, instrument: str) -> float:
        return self.note_seconds.get(instrument, self.default_note_seconds)

    def polyphony_for(self, instrument: str) -> int:
        return self.polyphony.get(instrument, self.default_polyphony)

    def min_seconds_for(self, instrument: str) -> float:
        return self.min_note_seconds.get(instrument, self.default_min_note_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "note_seconds": self.note_seconds, "polyphony": self.polyphony,
                "default_note_seconds": self.default_note_seconds, "default_polyphony": self.default_polyphony,
                "duration_quantile": self.duration_quantile, "polyphony_quantile": self.polyphony_quantile,
                "notes": self.notes, "pieces": self.pieces, "source": self.source,
                "min_note_seconds": self.min_note_seconds, "default_min_note_seconds": self.default_min_note_seconds,
                "shortest_quantile": self.shortest_quantile, "loop_cycles": self.loop_cycles,
                "loop_tokens": self.loop_tokens, "loop_quantile": self.loop_quantile}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "note limits") -> NoteLimits:
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise CheckpointError(f"{source}: not a {FORMAT} v{VERSION} file")
        try:
            return cls(note_seconds={str(k): float(v) for k, v in data["note_seconds"].items()},
                       polyphony={str(k): int(v) for k, v in data["polyphony"].items()},
                       default_note_seconds=float(data["default_note_seconds"]),
                       default_polyphony=int(data["default_polyphony"]),
                       duration_quantile=float(data.get("duration_quantile", 0.995)),
                       polyphony_quantile=float(data.get("polyphony_quantile", POLYPHONY_QUANTILE)),
                       notes={str(k): int(v) for k, v in data.get("notes", {}).items()},
                       pieces=int(data.get("pieces", 0)), source=str(data.get("source", "")),
                       min_note_seconds={str(k): float(v) for k, v in data.get("min_note_seconds", {}).items()},
                       default_min_note_seconds=float(data.get("default_min_note_seconds", 0.0)),
                       shortest_quantile=None if data.get("shortest_quantile") is None
                       else float(data["shortest_quantile"]),
                       loop_cycles=int(data.get("loop_cycles", LOOP_CYCLES)),
                       loop_tokens=int(data.get("loop_tokens", LOOP_TOKENS)),
                       loop_quantile=None if data.get("loop_quantile") is None else float(data["loop_quantile"]))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise CheckpointError(f"{source}: invalid note limits ({err})") from None

    def table(self) -> str:
        """A few lines for people: the limits per instrument."""
        shortest = ("no shortest note" if self.shortest_quantile is None
                    else f"shortest: {self.shortest_quantile:g}")
        lines = [f"note limits from {self.pieces} pieces of {self.source or 'a dataset'} "
                 f"(quantiles of the durations, longest: {self.duration_quantile:g}, {shortest}; "
                 f"of the notes sounding at once: {self.polyphony_quantile:g})"]
        for name in sorted(self.note_seconds, key=lambda n: -self.notes.get(n, 0)):
            lines.append(f"  {name:<24} {self.min_seconds_for(name):6.3f}-{self.note_seconds[name]:.2f} s  "
                         f"{self.polyphony[name]:3d} notes  ({self.notes.get(name, 0):,} notes)")
        lines.append(f"  {'(other instruments)':<24} {self.default_min_note_seconds:6.3f}-"
                     f"{self.default_note_seconds:.2f} s  {self.default_polyphony:3d} notes")
        learnt = "fixed" if self.loop_quantile is None else f"quantile {self.loop_quantile:g} of the data's longest"
        lines.append(f"  exact loops at most {self.loop_cycles} periods and {self.loop_tokens} tokens ({learnt})")
        return "\n".join(lines)


def read_note_limits(folder: str | Path) -> NoteLimits | None:
    """The limits stored in a model folder, None when it has none (a model saved before limits existed)."""
    path = Path(folder) / NOTE_LIMITS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: unreadable note limits ({err})") from None
    return NoteLimits.from_dict(data, str(path))


def write_note_limits(limits: NoteLimits, folder: str | Path) -> Path:
    """Write ``folder/note_limits.json`` (atomically)."""
    path = Path(folder) / NOTE_LIMITS_FILE
    write_json(path, limits.to_dict())
    return path


# ------------------------------------------------------------------------------ for sampling


def check_override(value: float | int | str | None, name: str, *, integer: bool = False,
                   high: float | None = None) -> float | int | None:
    """A user's override of a limit: None (the model's limit), 0 (no limit) or a positive number
    (an integer for ``integer``; at most ``high``); strings are parsed (CLI); anything else is a
    one-line ``UserError``."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0 or (integer and number != int(number)):
        kind = "a whole number" if integer else "a number of seconds"
        raise UserError(f"{name} must be {kind} > 0, or 0 for no limit; not {text!r}")
    if high is not None and number > high:
        raise UserError(f"{name} must be at most {high:g} seconds, or 0 for no limit; not {text!r}")
    return int(number) if integer else number


def check_min_note(value: float | str | None, name: str = "min_note_seconds") -> float | None:
    """A user's shortest note (``check_override``, at most ``MAX_MIN_NOTE_SECONDS``)."""
    return check_override(value, name, high=MAX_MIN_NOTE_SECONDS)


class KeyLimits(NamedTuple):
    """The grammar's limits per instrument key, each None when there is none: ``seconds`` (n_keys,)
    float64, the longest a note sounds (``inf``: none); ``polyphony`` (n_keys,) int64
    (``NO_LIMIT_NOTES``: none); ``min_seconds`` (n_keys,) float64, the shortest (0: none); and the
    loop rule's ``loop_cycles`` / ``loop_tokens`` (for the whole sequence)."""

    seconds: np.ndarray | None
    polyphony: np.ndarray | None
    min_seconds: np.ndarray | None = None
    loop_cycles: int = LOOP_CYCLES
    loop_tokens: int = LOOP_TOKENS


def key_limits(limits: NoteLimits | None, vocab: Vocab, *, max_note_seconds: float | None = None,
               max_polyphony: int | None = None, min_note_seconds: float | None = None) -> KeyLimits:
    """The grammar's limits per instrument key of ``vocab`` (``KeyLimits``).

    An override (``check_override``) replaces ``limits`` for every instrument: a positive number is
    the limit of every instrument, 0 removes the limit; None keeps ``limits`` (None: no limits). A
    shortest note longer than an instrument's longest is a ``UserError``."""
    max_note_seconds = check_override(max_note_seconds, "max_note_seconds")
    max_polyphony = check_override(max_polyphony, "max_polyphony", integer=True)
    min_note_seconds = check_min_note(min_note_seconds)
    names = vocab.instruments
    if max_note_seconds is not None:
        seconds = None if max_note_seconds == 0 else np.full(len(names), float(max_note_seconds))
    else:
        seconds = None if limits is None else np.array([limits.seconds_for(n) for n in names], np.float64)
    if max_polyphony is not None:
        notes = None if max_polyphony == 0 else np.full(len(names), int(max_polyphony), np.int64)
    else:
        notes = None if limits is None else np.array([limits.polyphony_for(n) for n in names], np.int64)
    if min_note_seconds is not None:
        shortest = None if min_note_seconds == 0 else np.full(len(names), float(min_note_seconds))
    else:
        shortest = None if limits is None else np.array([limits.min_seconds_for(n) for n in names], np.float64)
        shortest = None if shortest is not None and not shortest.any() else shortest
    if shortest is not None and seconds is not None and bool((shortest > seconds).any()):
        k = int(np.argmax(shortest > seconds))
        raise UserError(f"min_note_seconds ({shortest[k]:g}) must not exceed the longest note of {names[k]} "
                        f"({seconds[k]:g} s)")
    loops = (LOOP_CYCLES, LOOP_TOKENS) if limits is None else (limits.loop_cycles, limits.loop_tokens)
    return KeyLimits(seconds, notes, shortest, *loops)


# ------------------------------------------------------------------------------ from data


@dataclass(frozen=True)
class PieceNotes:
    """The melodic notes of one piece: instrument ``key`` and ``duration_us`` (each (n_notes,)), and
    the number of notes of each instrument ``keys[j]`` (the piece's, (k,)) sounding during each wait,
    ``sounding`` (n_waits, k), with the wait's length ``wait_us`` (n_waits,)."""

    key: np.ndarray
    duration_us: np.ndarray
    keys: np.ndarray
    sounding: np.ndarray
    wait_us: np.ndarray


def piece_notes(ids: np.ndarray, vocab: Vocab, clock: TokenClock) -> PieceNotes:
    """Notes and sounding counts of one token sequence ``ids`` (T,) (a whole piece, header included)."""
    ids = np.asarray(ids, np.int64)
    with torch.no_grad():
        c = clock(torch.from_numpy(ids)[None])
    micros = c.micros[0].numpy()
    end_us = int(c.end.micros[0])
    kind = vocab.kind[ids]
    sel = np.flatnonzero(kind == Kind.NOTE)
    voice = vocab.key[ids[sel]].astype(np.int64) * 128 + vocab.pitch[ids[sel]]
    order = np.lexsort((sel, voice))
    sel, voice = sel[order], voice[order]
    on = np.flatnonzero(vocab.velocity[ids[sel]] > 0)
    has_next = np.r_[voice[1:] == voice[:-1], False][on]
    nxt = np.minimum(on + 1, len(sel) - 1)
    start_pos = sel[on]
    end_pos = np.where(has_next, sel[nxt], len(ids))
    start_us = micros[start_pos]
    duration = np.where(has_next, micros[np.minimum(end_pos, len(ids) - 1)], end_us) - start_us
    key = voice[on] // 128
    waits = np.flatnonzero(vocab.wait_ticks[ids] > 0)
    after = np.minimum(waits + 1, len(ids) - 1)  # the token after a wait starts when the wait ends
    wait_us = np.where(waits + 1 < len(ids), micros[after], end_us) - micros[waits]
    keys = np.unique(key)
    counts = np.zeros((len(waits), len(keys)), np.int64)
    for j, k in enumerate(keys):
        mine = key == k
        counts[:, j] = (np.searchsorted(np.sort(start_pos[mine]), waits, side="right")
                        - np.searchsorted(np.sort(end_pos[mine]), waits, side="right"))
    return PieceNotes(key, duration.astype(np.int64), keys, counts, wait_us.astype(np.int64))


def longest_loops(ids: np.ndarray, start: int = 0, stretch: int = LOOP_STRETCH) -> np.ndarray:
    """The longest exact-repetition run of each ``stretch``-token stretch of ``ids[start:]`` (T,), as
    ``(n_stretches, 2)`` int64 rows (tokens, periods begun): the most consecutive positions ``t`` with
    ``ids[t] == ids[t - p]`` (``t - p`` in the stretch) for one period p of 1 to ``LOOP_PERIODS``, the run
    the grammar's loop rule counts (a last stretch shorter than ``2 * LOOP_PERIODS`` is left out)."""
    ids = np.asarray(ids, np.int64)[start:]
    periods = np.arange(1, LOOP_PERIODS + 1)[:, None]  # (P, 1)
    rows = []
    for a in range(0, len(ids), stretch):
        s = ids[a:a + stretch]
        if len(s) < 2 * LOOP_PERIODS:
            break
        t = np.arange(len(s))[None, :]
        same = (t >= periods) & (s[None, :] == s[np.maximum(t - periods, 0)])  # (P, n)
        count = np.cumsum(same, axis=1)
        run = count - np.maximum.accumulate(np.where(same, 0, count), axis=1)  # (P, n) run ending at t
        longest = run.max(axis=1)  # (P,)
        rows.append((int(longest.max()), int((-(-longest // periods[:, 0])).max())))  # periods rounded up
    return np.asarray(rows, np.int64).reshape(-1, 2)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value ``v`` such that the weight of values ``<= v`` is at least ``q`` of the total
    (the inverted CDF; with unit weights, ``np.quantile(values, q, method="inverted_cdf")``)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(np.asarray(weights, np.float64)[order])
    i = int(np.searchsorted(cum, q * cum[-1] * (1 - 1e-12), side="left"))
    return float(np.asarray(values)[order][min(i, len(cum) - 1)])


def compute_note_limits(data: str | Path | TokenDataset, *, split: Split = "train", duration_quantile: float = 0.995,
                        polyphony_quantile: float = POLYPHONY_QUANTILE, shortest_quantile: float = SHORTEST_QUANTILE,
                        loop_quantile: float = LOOP_QUANTILE, max_pieces: int | None = None) -> NoteLimits:
    """Limits from the ``split`` pieces of a built dataset (see the module docstring).

    ``max_pieces``: only the first that many pieces of the split (quicker estimates)."""
    if not 0 <= shortest_quantile < duration_quantile:
        raise UserError(f"shortest_quantile must be in [0, duration_quantile), not {shortest_quantile}")
    for name, q in (("duration_quantile", duration_quantile), ("polyphony_quantile", polyphony_quantile),
                    ("loop_quantile", loop_quantile)):
        if not 0 < q <= 1:
            raise UserError(f"{name} must be in (0, 1], not {q}")
    ds = data if isinstance(data, TokenDataset) else TokenDataset(data)
    tokenizer = ds.load_tokenizer()
    vocab: Vocab = tokenizer.vocab
    clock = TokenClock(TokenTables.from_vocab(vocab))
    pieces = ds.split_indices(split)
    if max_pieces is not None:
        pieces = pieces[:max_pieces]
    n_keys = vocab.n_melodic
    durations: list[list[np.ndarray]] = [[] for _ in range(n_keys)]
    time_at = np.zeros((n_keys, 1), np.float64)  # time_at[k, c]: microseconds with c notes of key k sounding
    loops = []  # (n_stretches, 2) per piece: the longest exact run, tokens and periods
    for i in pieces:
        ids = ds.tokens(int(i))
        notes = piece_notes(ids, vocab, clock)
        loops.append(longest_loops(ids, vocab.header_length(ids)))
        for k in np.unique(notes.key):
            durations[k].append(notes.duration_us[notes.key == k])
        top = int(notes.sounding.max(initial=0)) + 1
        if top > time_at.shape[1]:
            time_at = np.pad(time_at, ((0, 0), (0, top - time_at.shape[1])))
        for j, k in enumerate(notes.keys):
            time_at[k] += np.bincount(notes.sounding[:, j], weights=notes.wait_us, minlength=time_at.shape[1])
    seen = [k for k in range(n_keys) if durations[k]]
    if not seen:
        raise UserError(f"{ds.folder}: the {split} split has no melodic notes to learn note limits from")
    counts = np.arange(time_at.shape[1])

    def seconds(values: np.ndarray) -> float:
        us = weighted_quantile(values, np.ones(len(values)), duration_quantile)
        return max(0.001, math.ceil(us / 1000) / 1000)  # rounded up to the millisecond

    def shortest(values: np.ndarray) -> float:
        if shortest_quantile == 0:
            return 0.0
        us = weighted_quantile(values, np.ones(len(values)), shortest_quantile)
        return min(MAX_MIN_NOTE_SECONDS, math.floor(us / 1000) / 1000)  # rounded down to the millisecond

    def notes_at_once(time: np.ndarray) -> int:
        time = time.copy()
        time[0] = 0.0  # only the time the instrument sounds
        return max(1, int(weighted_quantile(counts, time, polyphony_quantile))) if time.sum() > 0 else 1

    loops = np.concatenate(loops)
    if len(loops):  # the quantile rounded up: the run at the quantile stays allowed
        loop_tokens, loop_cycles = (max(2, int(np.ceil(np.quantile(loops[:, j], loop_quantile)))) for j in (0, 1))
    else:  # no piece is long enough to count: the fixed defaults
        loop_tokens, loop_cycles, loop_quantile = LOOP_TOKENS, LOOP_CYCLES, None
    names = vocab.instruments
    per_key = {k: np.concatenate(durations[k]) for k in seen}
    all_durations = np.concatenate(list(per_key.values()))
    limits = NoteLimits(
        note_seconds={names[k]: seconds(per_key[k]) for k in seen},
        polyphony={names[k]: notes_at_once(time_at[k]) for k in seen},
        default_note_seconds=seconds(all_durations),
        default_polyphony=notes_at_once(time_at.sum(axis=0)),
        duration_quantile=duration_quantile, polyphony_quantile=polyphony_quantile,
        notes={names[k]: len(per_key[k]) for k in seen},
        pieces=len(pieces), source=str(ds.folder),
        min_note_seconds={names[k]: shortest(per_key[k]) for k in seen},
        default_min_note_seconds=shortest(all_durations), shortest_quantile=shortest_quantile,
        loop_cycles=loop_cycles, loop_tokens=loop_tokens, loop_quantile=loop_quantile)
    log.info("note limits from %d pieces: %s", len(pieces),
             ", ".join(f"{n} {limits.min_note_seconds[n]:.3f}-{limits.note_seconds[n]:.2f} s / "
                       f"{limits.polyphony[n]} notes"
                       for n in limits.note_seconds))
    return limits


def attach_note_limits(model: str | Path, data: str | Path, **options: Any) -> tuple[Path, NoteLimits]:
    """Compute limits from the dataset ``data`` (``compute_note_limits(data, **options)``) and write them
    into the model folder of ``model`` (a model, run or checkpoint folder); returns (file, limits)."""
    from musetok import MidiTokenizer

    from muse.saved_model import resolve_model_files  # saved_model imports this module

    _, config_file, tokenizer_file = resolve_model_files(model)
    ds = TokenDataset(data)
    ours, theirs = MidiTokenizer.load(tokenizer_file).vocab.instruments, ds.load_tokenizer().vocab.instruments
    if tuple(ours) != tuple(theirs):
        raise UserError(f"{data}: its instruments ({', '.join(theirs[:4])}, ...) are not the model's "
                        f"({', '.join(ours[:4])}, ...): build the dataset with the model's family mode")
    limits = compute_note_limits(ds, **options)
    return write_note_limits(limits, config_file.parent), limits


__all__ = ["KeyLimits", "LOOP_CYCLES", "LOOP_PERIODS", "LOOP_QUANTILE", "LOOP_STRETCH", "LOOP_TOKENS",
           "MAX_MIN_NOTE_SECONDS", "NOTE_LIMITS_FILE", "NO_LIMIT_NOTES", "NO_LIMIT_US", "NoteLimits",
           "PieceNotes", "SHORTEST_QUANTILE", "attach_note_limits", "check_min_note", "check_override",
           "compute_note_limits", "key_limits", "longest_loops", "piece_notes", "read_note_limits", "weighted_quantile",
           "write_note_limits"]
