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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import symusic

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
Weight = Literal["duration", "count"]


@dataclass(frozen=True)
class Notes:
    """Pitched notes: ``start``, ``end`` (seconds, float64) and MIDI ``pitch`` (int64), all [n]."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray

    def __len__(self) -> int:
        return len(self.pitch)

    @property
    def duration(self) -> np.ndarray:
        return self.end - self.start

    def window(self, begin: float, stop: float) -> Notes:
        """The notes with an onset in ``[begin, stop)``, cut off at ``stop``, times relative to ``begin``."""
        inside = (self.start >= begin) & (self.start < stop)
        return Notes(self.start[inside] - begin, np.minimum(self.end[inside], stop) - begin, self.pitch[inside])


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
    ``polyphony``, ``mean_pitch`` and ``pitch_range`` are NaN, the histograms zeros and ``key`` None."""

    seconds: float
    n_notes: int
    notes_per_second: float
    polyphony: float
    mean_pitch: float
    pitch_range: float
    pitch_classes: np.ndarray
    degrees: np.ndarray
    key: Key | None


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

    def to_dict(self) -> dict:
        return {"excerpts": self.excerpts, "silent": self.silent, "seconds": self.seconds,
                "notes_per_second": self.notes_per_second, "polyphony": self.polyphony,
                "mean_pitch": self.mean_pitch, "pitch_range": self.pitch_range,
                "pitch_classes": [float(x) for x in self.pitch_classes], "degrees": [float(x) for x in self.degrees]}


def score_notes(score: symusic.Score) -> Notes:
    """The pitched notes of ``score`` (any time unit; drum tracks left out), times in seconds, sorted by onset."""
    seconds = score if isinstance(score, symusic.core.ScoreSecond) else score.to("second")
    parts = [track.notes.numpy() for track in seconds.tracks if not track.is_drum and len(track.notes)]
    if not parts:
        empty = np.zeros(0)
        return Notes(empty, empty, np.zeros(0, np.int64))
    start = np.concatenate([p["time"] for p in parts]).astype(np.float64)
    end = start + np.concatenate([p["duration"] for p in parts]).astype(np.float64)
    pitch = np.concatenate([p["pitch"] for p in parts]).astype(np.int64)
    order = np.argsort(start, kind="stable")
    return Notes(start[order], end[order], pitch[order])


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


def music_stats(notes: Notes, seconds: float) -> MusicStats:
    """Statistics of ``notes`` making up an excerpt of ``seconds`` seconds."""
    n = len(notes)
    hist = pitch_class_histogram(notes)
    key = estimate_key(hist)
    return MusicStats(
        seconds=float(seconds), n_notes=n, notes_per_second=n / seconds if seconds > 0 else float("nan"),
        polyphony=polyphony(notes), mean_pitch=float(notes.pitch.mean()) if n else float("nan"),
        pitch_range=float(np.ptp(notes.pitch)) if n else float("nan"),
        pitch_classes=hist, degrees=to_degrees(hist, key), key=key)


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
        pitch_classes=hist_mean([s.pitch_classes for s in sounding]), degrees=hist_mean([s.degrees for s in sounding]))


__all__ = ["Notes", "Key", "MusicStats", "StatsSummary", "score_notes", "pitch_class_histogram", "polyphony",
           "estimate_key", "to_degrees", "jensen_shannon", "music_stats", "windows", "summarize",
           "PITCH_CLASSES", "KK_MAJOR", "KK_MINOR"]
