"""Simple statistics of a score, to compare generated music with data (``benchmarks/sample_stats.py``).

Every statistic reads the pitched notes of a score (drum tracks are left out), with times in
seconds (tempo aware):

- ``notes_per_second``: pitched notes per second of the excerpt;
- ``polyphony``: mean number of notes sounding at once while at least one sounds
  (= total note duration / length of the union of the notes' intervals);
- ``mean_pitch`` (mean MIDI pitch of the notes, each note counted once) and ``pitch_range``
  (highest minus lowest pitch, semitones);
- ``pitch_classes``: the 12-bin pitch-class histogram (C, C#, ... B), weighted by note duration and
  normalized to sum 1; ``key`` the Krumhansl-Schmuckler estimate from it (correlation with the
  Krumhansl-Kessler major and minor profiles in all 12 transpositions) and ``degrees`` the same
  histogram rotated so that the estimated tonic is bin 0 (scale-degree histogram: comparable across
  keys, which matters when a model is trained with random transpositions).

``jensen_shannon`` (base 2, between 0 and 1) measures the distance between two histograms.

The targets of issue 15 (``benchmarks/sample_stats.py``) add, per excerpt:

- ``long_notes``: notes sounding longer than ``LONG_NOTE_SECONDS`` (8 s; notes are cut at the
  excerpt's end, as a generated piece ends);
- ``pc_entropy``: Shannon entropy in bits of the DURATION-weighted pitch-class histogram above
  (0 = one pitch class, log2 12 = 3.58 = no key at all);
- ``mean_velocity`` (each note once, MIDI 1-127) and ``median_duration`` (seconds);
- ``repeat_share``: the share of the excerpt's patterns of ``PATTERN_NOTES`` (8) consecutive notes
  that occur more than once in it. Notes are put in onset order (pitch order within a chord); a
  pattern starting at note i is the tuple of the 7 steps i->i+1 ... i+6->i+7, each step a
  (pitch interval in semitones, onset-interval bucket) pair; ``onset_buckets`` puts onset
  intervals under ``CHORD_SECONDS`` (0.02 s) in bucket 0 (simultaneous) and the others in
  logarithmic buckets a factor sqrt(2) wide. The share counts every pattern occurrence whose
  tuple occurs at least twice in the excerpt (so "A ... A" gives 2 of the windows); NaN under 8
  notes. Transposed repeats count (intervals, not pitches).

Copying (``CopyIndex``): a piece copies a training piece when they share a run of ``COPY_NOTES``
(64) consecutive notes with the same onset intervals (grid ticks of the tokens, so tempo does not
matter) and the same pitches; notes are the melodic note-ons of the tokens in onset order, pitch
order within a time step, all instruments together. ``transpose=True`` compares pitch intervals
instead of pitches, so a transposed copy counts too (the model trains with random
transpositions). Windows are hashed (64-bit polynomial hash of mixed per-note symbols) and the
training set's hashes kept sorted, so a look-up is a binary search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import symusic

from musetok.vocab import Kind

from muse.core.atomic import atomic_path

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
Weight = Literal["duration", "count"]
LONG_NOTE_SECONDS = 8.0  # notes sounding longer than this are "held" notes (issue 15's target: < 1 per piece)
PATTERN_NOTES = 8  # notes in a repeated pattern (``repeated_pattern_share``)
CHORD_SECONDS = 0.02  # onsets closer than this are simultaneous (onset-interval bucket 0)
COPY_NOTES = 64  # notes in a copied run (``CopyIndex``)


@dataclass(frozen=True)
class Notes:
    """Pitched notes: ``start``, ``end`` (seconds, float64) and MIDI ``pitch`` (int64), all [n];
    ``velocity`` (int64 [n]) when known."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pitch)

    @property
    def duration(self) -> np.ndarray:
        return self.end - self.start

    def window(self, begin: float, stop: float) -> Notes:
        """The notes with an onset in ``[begin, stop)``, cut off at ``stop``, times relative to ``begin``."""
        inside = (self.start >= begin) & (self.start < stop)
        return Notes(self.start[inside] - begin, np.minimum(self.end[inside], stop) - begin, self.pitch[inside],
                     None if self.velocity is None else self.velocity[inside])


@dataclass(frozen=True)
class Key:
    """An estimated key: ``tonic`` pitch class (0 = C), ``minor`` or major, and its profile correlation."""

    tonic: int
    minor: bool
    correlation: float

    @property
    def name(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {'minor' if self.minor else 'major'}"


@dataclass(frozen=True)
class MusicStats:
    """Statistics of one excerpt of ``seconds`` seconds (see the module docstring). Without notes,
    ``polyphony``, ``mean_pitch``, ``pitch_range``, ``pc_entropy``, ``mean_velocity`` and
    ``median_duration`` are NaN, the histograms zeros and ``key`` None; ``repeat_share`` is NaN
    under ``PATTERN_NOTES`` notes, ``mean_velocity`` without velocities."""

    seconds: float
    n_notes: int
    notes_per_second: float
    polyphony: float
    mean_pitch: float
    pitch_range: float
    pitch_classes: np.ndarray
    degrees: np.ndarray
    key: Key | None
    long_notes: int = 0
    pc_entropy: float = float("nan")
    mean_velocity: float = float("nan")
    median_duration: float = float("nan")
    repeat_share: float = float("nan")


@dataclass(frozen=True)
class StatsSummary:
    """Means over excerpts, each excerpt weighing the same; the histograms are means of the excerpts'
    normalized histograms (excerpts without notes left out, counted in ``silent``)."""

    excerpts: int
    silent: int
    seconds: float
    notes_per_second: float
    polyphony: float
    mean_pitch: float
    pitch_range: float
    pitch_classes: np.ndarray
    degrees: np.ndarray
    long_notes: float = float("nan")  # mean count per excerpt (silent ones count 0)
    pc_entropy: float = float("nan")
    mean_velocity: float = float("nan")
    median_duration: float = float("nan")
    repeat_share: float = float("nan")

    def to_dict(self) -> dict:
        return {"excerpts": self.excerpts, "silent": self.silent, "seconds": self.seconds,
                "notes_per_second": self.notes_per_second, "polyphony": self.polyphony,
                "mean_pitch": self.mean_pitch, "pitch_range": self.pitch_range,
                "long_notes": self.long_notes, "pc_entropy": self.pc_entropy, "mean_velocity": self.mean_velocity,
                "median_duration": self.median_duration, "repeat_share": self.repeat_share,
                "pitch_classes": [float(x) for x in self.pitch_classes], "degrees": [float(x) for x in self.degrees]}


def score_notes(score: symusic.Score) -> Notes:
    """The pitched notes of ``score`` (any time unit; drum tracks left out), times in seconds, sorted by onset."""
    seconds = score if isinstance(score, symusic.core.ScoreSecond) else score.to("second")
    parts = [track.notes.numpy() for track in seconds.tracks if not track.is_drum and len(track.notes)]
    if not parts:
        empty = np.zeros(0)
        return Notes(empty, empty, np.zeros(0, np.int64), np.zeros(0, np.int64))
    start = np.concatenate([p["time"] for p in parts]).astype(np.float64)
    end = start + np.concatenate([p["duration"] for p in parts]).astype(np.float64)
    pitch = np.concatenate([p["pitch"] for p in parts]).astype(np.int64)
    velocity = np.concatenate([p["velocity"] for p in parts]).astype(np.int64)
    order = np.argsort(start, kind="stable")
    return Notes(start[order], end[order], pitch[order], velocity[order])


def pitch_class_histogram(notes: Notes, weight: Weight = "duration") -> np.ndarray:
    """Histogram [12] of the notes' pitch classes weighted by ``duration`` or ``count``, summing to 1
    (zeros without notes, or when every note lasts 0 s under duration weighting)."""
    w = notes.duration if weight == "duration" else np.ones(len(notes))
    hist = np.bincount(notes.pitch % 12, weights=w, minlength=12).astype(np.float64)
    total = hist.sum()
    return hist / total if total > 0 else hist


def polyphony(notes: Notes) -> float:
    """Mean number of notes sounding at once while any sounds: total duration / union of the
    intervals (NaN without sounding time). Notes that only touch (one ends as the next starts) do not overlap."""
    s, e = notes.start, notes.end
    keep = e > s
    s, e = s[keep], e[keep]
    if not len(s):
        return float("nan")
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)  # the latest end so far: a new block starts past it
    new = np.r_[True, s[1:] >= reach[:-1]]
    last = np.r_[new[1:], True]
    union = float((reach[last] - s[new]).sum())
    return float((e - s).sum() / union)


def estimate_key(hist: np.ndarray) -> Key | None:
    """Krumhansl-Schmuckler key of a pitch-class histogram [12]: the major or minor profile, in the
    transposition, that correlates best with it (None for an empty or flat histogram)."""
    hist = np.asarray(hist, np.float64)
    if not hist.any() or np.ptp(hist) == 0:
        return None
    best = None
    for minor, profile in ((False, KK_MAJOR), (True, KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if best is None or r > best.correlation:
                best = Key(tonic, minor, r)
    return best


def to_degrees(hist: np.ndarray, key: Key | None) -> np.ndarray:
    """``hist`` [12] rotated so that ``key``'s tonic is bin 0 (unchanged without a key)."""
    return np.asarray(hist, np.float64) if key is None else np.roll(np.asarray(hist, np.float64), -key.tonic)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0: equal, 1: disjoint) of two histograms (normalized here)."""
    p = np.asarray(p, np.float64) / np.sum(p)
    q = np.asarray(q, np.float64) / np.sum(q)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return max(0.0, (kl(p) + kl(q)) / 2)


def long_notes(notes: Notes, seconds: float = LONG_NOTE_SECONDS) -> int:
    """How many notes sound longer than ``seconds``."""
    return int((notes.duration > seconds).sum())


def entropy_bits(hist: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram (normalized here; NaN when empty)."""
    hist = np.asarray(hist, np.float64)
    total = hist.sum()
    if total <= 0:
        return float("nan")
    p = hist[hist > 0] / total
    return float(max(0.0, -(p * np.log2(p)).sum()))


def pitch_class_entropy(notes: Notes, weight: Weight = "duration") -> float:
    """Entropy in bits of the pitch-class histogram (``pitch_class_histogram``; NaN without notes)."""
    return entropy_bits(pitch_class_histogram(notes, weight))


def mean_velocity(notes: Notes) -> float:
    """Mean MIDI velocity of the notes (NaN without notes or velocities)."""
    if notes.velocity is None or not len(notes):
        return float("nan")
    return float(np.mean(notes.velocity))


def median_duration(notes: Notes) -> float:
    """Median note length in seconds (NaN without notes)."""
    return float(np.median(notes.duration)) if len(notes) else float("nan")


def onset_order(notes: Notes) -> np.ndarray:
    """Indices [n] putting the notes in onset order, lowest pitch first within equal onsets."""
    return np.lexsort((notes.pitch, notes.start))


def onset_buckets(dt: np.ndarray) -> np.ndarray:
    """Bucket (int64) of each onset interval ``dt`` (seconds): 0 below ``CHORD_SECONDS``, else
    ``1 + round(2 log2(dt / CHORD_SECONDS))``: buckets a factor sqrt(2) wide (so a beat and half a
    beat are two buckets apart at any tempo)."""
    dt = np.asarray(dt, np.float64)
    out = np.zeros(dt.shape, np.int64)
    apart = dt >= CHORD_SECONDS
    out[apart] = 1 + np.round(2 * np.log2(dt[apart] / CHORD_SECONDS)).astype(np.int64)
    return out


def repeated_pattern_share(notes: Notes, length: int = PATTERN_NOTES) -> float:
    """Share of the windows of ``length`` consecutive notes (onset order) whose pattern of steps
    (pitch interval, onset-interval bucket) occurs more than once among the notes' windows (see the
    module docstring); NaN with fewer than ``length`` notes."""
    if len(notes) < max(length, 2):
        return float("nan")
    order = onset_order(notes)
    pitch, start = notes.pitch[order], notes.start[order]
    steps = np.stack([np.diff(pitch), onset_buckets(np.diff(start))], axis=1)  # [n - 1, 2]
    patterns = np.lib.stride_tricks.sliding_window_view(steps, length - 1, axis=0)  # [n - length + 1, 2, length - 1]
    patterns = patterns.reshape(len(patterns), -1)
    _, inverse, counts = np.unique(patterns, axis=0, return_inverse=True, return_counts=True)
    return float((counts[inverse.ravel()] > 1).mean())


def music_stats(notes: Notes, seconds: float) -> MusicStats:
    """Statistics of ``notes`` making up an excerpt of ``seconds`` seconds."""
    n = len(notes)
    hist = pitch_class_histogram(notes)
    key = estimate_key(hist)
    return MusicStats(
        seconds=float(seconds), n_notes=n, notes_per_second=n / seconds if seconds > 0 else float("nan"),
        polyphony=polyphony(notes), mean_pitch=float(notes.pitch.mean()) if n else float("nan"),
        pitch_range=float(np.ptp(notes.pitch)) if n else float("nan"),
        pitch_classes=hist, degrees=to_degrees(hist, key), key=key, long_notes=long_notes(notes),
        pc_entropy=entropy_bits(hist), mean_velocity=mean_velocity(notes), median_duration=median_duration(notes),
        repeat_share=repeated_pattern_share(notes))


def windows(notes: Notes, total_seconds: float, length: float, min_fraction: float = 0.5) -> list[tuple[Notes, float]]:
    """Cut a piece of ``total_seconds`` into consecutive excerpts of ``length`` seconds: (notes, seconds)
    pairs; a last, shorter excerpt is kept when at least ``min_fraction`` of ``length`` long."""
    out = []
    begin = 0.0
    while begin < total_seconds:
        stop = min(begin + length, total_seconds)
        if stop - begin >= min_fraction * length:
            out.append((notes.window(begin, stop), stop - begin))
        begin += length
    return out


def summarize(stats: Sequence[MusicStats]) -> StatsSummary:
    """Means of the excerpts' statistics (NaN ones, from excerpts without notes, left out)."""
    sounding = [s for s in stats if s.n_notes]

    def mean(values: list[float]) -> float:
        values = [v for v in values if not np.isnan(v)]
        return float(np.mean(values)) if values else float("nan")

    def hist_mean(rows: list[np.ndarray]) -> np.ndarray:
        rows = [r for r in rows if r.sum() > 0]
        return np.mean(rows, axis=0) if rows else np.zeros(12)

    return StatsSummary(
        excerpts=len(stats), silent=len(stats) - len(sounding), seconds=float(sum(s.seconds for s in stats)),
        notes_per_second=mean([s.notes_per_second for s in stats]), polyphony=mean([s.polyphony for s in stats]),
        mean_pitch=mean([s.mean_pitch for s in stats]), pitch_range=mean([s.pitch_range for s in stats]),
        pitch_classes=hist_mean([s.pitch_classes for s in sounding]), degrees=hist_mean([s.degrees for s in sounding]),
        long_notes=mean([float(s.long_notes) for s in stats]), pc_entropy=mean([s.pc_entropy for s in stats]),
        mean_velocity=mean([s.mean_velocity for s in stats]),
        median_duration=mean([s.median_duration for s in stats]), repeat_share=mean([s.repeat_share for s in stats]))


def middle_share(values: Sequence[float], reference: Sequence[float], low: float = 10.0,
                 high: float = 90.0) -> tuple[float, float, float]:
    """(share of ``values`` inside [the ``low``-th, the ``high``-th percentile] of ``reference``,
    that low bound, that high bound); NaN values of either side are left out of the percentiles,
    and a NaN value counts as outside. (NaN, NaN, NaN) without values or reference."""
    ref = np.asarray([r for r in reference if r == r], np.float64)
    vals = np.asarray(values, np.float64)
    if not len(ref) or not len(vals):
        return float("nan"), float("nan"), float("nan")
    lo, hi = np.percentile(ref, [low, high])
    inside = (vals >= lo) & (vals <= hi)  # NaN compares False: outside
    return float(inside.mean()), float(lo), float(hi)


# ---- copying: runs of COPY_NOTES notes shared with training pieces ---------------------------

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BASE = np.uint64(0x100000001B3)  # odd: the polynomial hash stays a bijection per step


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer of uint64 values (spreads small symbols over 64 bits)."""
    x = np.asarray(x, np.uint64)
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def token_notes(ids: np.ndarray, vocab) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 (musetok Vocab)
    """(onset in grid ticks, pitch), both int64 [n], of the melodic note-ons of a token sequence
    ``ids`` (drums, note-offs and other tokens left out), in token order."""
    ids = np.asarray(ids).astype(np.int64, copy=False)
    ids = ids[(ids >= 0) & (ids < len(vocab.kind))]
    waits = vocab.wait_ticks[ids].astype(np.int64)
    onset = np.cumsum(waits) - waits
    on = (vocab.kind[ids] == Kind.NOTE) & vocab.is_on[ids]
    return onset[on], vocab.pitch[ids[on]].astype(np.int64)


def window_hashes(onset: np.ndarray, pitch: np.ndarray, group: np.ndarray | None = None, *,
                  length: int = COPY_NOTES, transpose: bool = False) -> np.ndarray:
    """uint64 hashes of every run of ``length`` consecutive notes (onset order, pitch order within
    equal onsets) lying inside one ``group`` (e.g. a piece number per note; None: all one group):
    each run is its ``length - 1`` onset intervals and its pitches (``transpose``: its pitch
    intervals instead). Input need not be sorted."""
    onset, pitch = np.asarray(onset, np.int64), np.asarray(pitch, np.int64)
    group = np.zeros(len(pitch), np.int64) if group is None else np.asarray(group, np.int64)
    n = len(pitch)
    if n < length or length < 2:
        return np.zeros(0, np.uint64)
    order = np.lexsort((pitch, onset, group))
    onset, pitch, group = onset[order], pitch[order], group[order]
    dt = np.clip(np.diff(onset), 0, 2**31 - 1)
    tone = np.diff(pitch) + 512 if transpose else pitch[1:]
    sym = _mix((tone.astype(np.uint64) << np.uint64(32)) | dt.astype(np.uint64))  # [n - 1]: note j's step
    m = n - length + 1
    h = np.zeros(m, np.uint64) if transpose else _mix(pitch[:m].astype(np.uint64) + np.uint64(1 << 40))
    for k in range(length - 1):
        h = h * _BASE + sym[k:k + m]
    return h[group[:m] == group[length - 1:]]


@dataclass(frozen=True)
class CopyIndex:
    """Sorted unique hashes of every ``length``-note run of a set of pieces (``window_hashes``),
    exact pitches (``hashes``) and up to transposition (``transposed``)."""

    hashes: np.ndarray
    transposed: np.ndarray
    length: int = COPY_NOTES

    @classmethod
    def from_notes(cls, onset: np.ndarray, pitch: np.ndarray, group: np.ndarray,
                   length: int = COPY_NOTES) -> CopyIndex:
        return cls(np.unique(window_hashes(onset, pitch, group, length=length)),
                   np.unique(window_hashes(onset, pitch, group, length=length, transpose=True)), length)

    @classmethod
    def from_pieces(cls, pieces: Sequence[tuple[np.ndarray, np.ndarray]], length: int = COPY_NOTES) -> CopyIndex:
        """From (onset, pitch) pairs, one per piece (``token_notes``)."""
        if not pieces:
            return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint64), length)
        group = np.concatenate([np.full(len(p), i, np.int64) for i, (_, p) in enumerate(pieces)])
        return cls.from_notes(np.concatenate([o for o, _ in pieces]), np.concatenate([p for _, p in pieces]), group,
                              length)

    @classmethod
    def from_shards(cls, tokens: Sequence[np.ndarray], pieces: Sequence[Sequence[tuple[int, int]]], vocab,  # noqa: ANN001
                    length: int = COPY_NOTES) -> CopyIndex:
        """From whole token shards ``tokens[k]`` (1-D id arrays) and, per shard, the (offset,
        length) of the pieces to take (others are left out), vectorized over each shard."""
        onsets, pitches, groups = [], [], []
        next_group = 0
        for ids, spans in zip(tokens, pieces):
            if not len(spans):
                continue
            spans = sorted(spans)
            begin = np.array([s for s, _ in spans], np.int64)
            stop = begin + np.array([n for _, n in spans], np.int64)
            kind = vocab.kind[ids]
            waits = vocab.wait_ticks[ids].astype(np.int64)
            onset = np.cumsum(waits) - waits
            at = np.flatnonzero((kind == Kind.NOTE) & vocab.is_on[ids])
            piece = np.searchsorted(begin, at, side="right") - 1
            inside = (piece >= 0) & (at < stop[np.maximum(piece, 0)])
            at, piece = at[inside], piece[inside]
            onsets.append(onset[at])
            pitches.append(vocab.pitch[ids[at]].astype(np.int64))
            groups.append(piece + next_group)
            next_group += len(spans)
        if not onsets:
            return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint64), length)
        return cls.from_notes(np.concatenate(onsets), np.concatenate(pitches), np.concatenate(groups), length)

    def shares(self, onset: np.ndarray, pitch: np.ndarray, transpose: bool = False) -> int:
        """How many ``length``-note runs of one piece's notes are in the index (0: no copying)."""
        table = self.transposed if transpose else self.hashes
        h = window_hashes(onset, pitch, length=self.length, transpose=transpose)
        if not len(h) or not len(table):
            return 0
        at = np.minimum(np.searchsorted(table, h), len(table) - 1)
        return int((table[at] == h).sum())

    def save(self, path: str | Path) -> None:
        """Write the index as a ``.npz`` (atomically)."""
        with atomic_path(path) as tmp, tmp.open("wb") as fh:  # a file object: numpy adds no ".npz"
            np.savez(fh, hashes=self.hashes, transposed=self.transposed, length=np.int64(self.length))

    @classmethod
    def load(cls, path: str | Path) -> CopyIndex:
        with np.load(path) as data:
            return cls(data["hashes"], data["transposed"], int(data["length"]))


__all__ = ["Notes", "Key", "MusicStats", "StatsSummary", "score_notes", "pitch_class_histogram", "polyphony",
           "estimate_key", "to_degrees", "jensen_shannon", "music_stats", "windows", "summarize",
           "long_notes", "entropy_bits", "pitch_class_entropy", "mean_velocity", "median_duration", "onset_order",
           "onset_buckets", "repeated_pattern_share", "middle_share", "token_notes", "window_hashes", "CopyIndex",
           "PITCH_CLASSES", "KK_MAJOR", "KK_MINOR", "LONG_NOTE_SECONDS", "PATTERN_NOTES", "CHORD_SECONDS",
           "COPY_NOTES"]
