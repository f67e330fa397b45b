"""Scripted raters with known tastes for the preference benchmark (``benchmarks/preferences.py``).

A rater is a function of the MIDI alone (a ``symusic.Score`` read back from MIDI bytes): it gives a
piece a number, higher is better; of two pieces it prefers the higher (a tie is no preference).

- ``RepetitionRater`` (a) prefers fewer repeated ``bars``-bar patterns. Bars come from the first
  time signature (4/4 when there is none). Each window of ``bars`` bars starting on a barline is
  the set of its notes as (onset in 16ths from the window's start, pitch); its repetition is its
  highest Jaccard similarity with any window that does not overlap it; the piece's repetition is
  the mean over its windows that hold notes (0 with fewer than two such windows that do not
  overlap). The score is minus the repetition, so a piece made of exact repeats scores -1 and one
  that never repeats 0.
- ``KeyRater`` (b) prefers a given key: the correlation (-1..1) of the piece's duration-weighted
  pitch-class histogram with the Krumhansl-Kessler profile of that key (``muse.music_stats``);
  -1 without notes.
- ``CriticRater`` (c) prefers pieces a critic finds more real: the critic's score
  (``muse.critic``) of the piece tokenized with the critic's vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import symusic

from muse.music_stats import KK_MAJOR, KK_MINOR, PITCH_CLASSES, pitch_class_histogram, score_notes


class Rater(Protocol):
    name: str

    def score(self, midi: symusic.Score) -> float: ...


def from_midi_bytes(score: symusic.Score) -> symusic.Score:
    """``score`` written to MIDI and read back: what a rater sees is exactly a MIDI file."""
    return symusic.Score.from_midi(score.dumps_midi())


def prefer(rater: Rater, a: symusic.Score, b: symusic.Score) -> int:
    """1 when ``rater`` prefers ``a``, -1 when it prefers ``b``, 0 for a tie."""
    sa, sb = rater.score(a), rater.score(b)
    return int(sa > sb) - int(sa < sb)


def bar_ticks(score: symusic.Score) -> int:
    """Ticks per bar of the first time signature (4/4 when none)."""
    num, den = 4, 4
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        num, den = int(ts.numerator), int(ts.denominator)
    return max(1, round(score.ticks_per_quarter * 4 * num / den))


def pattern_windows(score: symusic.Score, bars: int) -> list[frozenset[tuple[int, int]]]:
    """Per window of ``bars`` bars starting at each barline: its notes as (16th from the window's start, pitch)."""
    parts = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
    if not parts:
        return []
    start = np.concatenate([p["time"] for p in parts]).astype(np.int64)
    pitch = np.concatenate([p["pitch"] for p in parts]).astype(np.int64)
    bar = bar_ticks(score)
    sixteenth = max(1, score.ticks_per_quarter // 4)
    n_bars = int(start.max() // bar) + 1
    windows = []
    for b in range(max(1, n_bars - bars + 1)):
        lo, hi = b * bar, (b + bars) * bar
        inside = (start >= lo) & (start < hi)
        windows.append(frozenset(zip(((start[inside] - lo) // sixteenth).tolist(), pitch[inside].tolist())))
    return windows


def repetition(score: symusic.Score, bars: int = 4) -> float:
    """Mean over non-empty windows of their best Jaccard similarity with a non-overlapping window (see module doc)."""
    windows = pattern_windows(score, bars)
    best = []
    for i, w in enumerate(windows):
        if not w:
            continue
        others = [len(w & v) / len(w | v) for j, v in enumerate(windows) if abs(i - j) >= bars and v]
        if others:
            best.append(max(others))
    return float(np.mean(best)) if best else 0.0


@dataclass(frozen=True)
class RepetitionRater:
    """(a) Prefers fewer repeated ``bars``-bar patterns: score = -repetition."""

    bars: int = 4

    @property
    def name(self) -> str:
        return f"fewer-repeats-{self.bars}bar"

    def score(self, midi: symusic.Score) -> float:
        return -repetition(midi, self.bars)


def parse_key(text: str) -> tuple[int, bool]:
    """``"C major"`` / ``"a minor"`` / ``"Eb major"`` -> (tonic pitch class, minor)."""
    parts = text.strip().split()
    names = {n.lower(): i for i, n in enumerate(PITCH_CLASSES)} | {"db": 1, "d#": 3, "gb": 6, "g#": 8, "a#": 10}
    if len(parts) != 2 or parts[0].lower() not in names or parts[1].lower() not in ("major", "minor"):
        raise ValueError(f"a key is 'TONIC major' or 'TONIC minor' (e.g. 'C major', 'A minor'), not {text!r}")
    return names[parts[0].lower()], parts[1].lower() == "minor"


@dataclass(frozen=True)
class KeyRater:
    """(b) Prefers ``key``: score = correlation of the pitch-class histogram with the key's profile."""

    key: str = "C major"

    @property
    def name(self) -> str:
        return f"key-{self.key.replace(' ', '-')}"

    def score(self, midi: symusic.Score) -> float:
        tonic, minor = parse_key(self.key)
        hist = pitch_class_histogram(score_notes(midi))
        if not hist.any() or np.ptp(hist) == 0:
            return -1.0
        return float(np.corrcoef(hist, np.roll(KK_MINOR if minor else KK_MAJOR, tonic))[0, 1])


class CriticRater:
    """(c) Prefers pieces ``critic`` (a ``muse.critic.Critic``) finds more real: score = its score."""

    name = "critic"

    def __init__(self, critic) -> None:  # noqa: ANN001 (muse.critic.Critic)
        self.critic = critic

    def score(self, midi: symusic.Score) -> float:
        return self.critic.score_midi(midi)


__all__ = ["CriticRater", "KeyRater", "Rater", "RepetitionRater", "from_midi_bytes", "parse_key", "pattern_windows",
           "prefer", "repetition"]
