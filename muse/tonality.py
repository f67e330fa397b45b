"""The key of a piece: a user's key request, the key the model wrote, and the transposition between them.

The key of what the model writes is the Krumhansl-Schmuckler estimate (``muse.music_stats.estimate_key``)
of the duration-weighted pitch-class histogram of its pitched notes (drum tracks never count). A
requested key is met by transposing the melodic notes (drums never move) by the smallest interval
that takes the written tonic to the requested one: -5 to +6 semitones, or the same pitch classes an
octave the other way when a note would leave MIDI's 0-127. A piece whose notes leave no room either
way stays as written (and says so), so a transposition is always undone exactly (``as_written``).

A transposition keeps the mode: the model writes major or minor as the style leads it. So for a key with
a mode the generator draws several candidates per piece and keeps one written in that mode
(``muse.requests.DEFAULT_KEY_CANDIDATES``); when none is, music written in C major asked for "D minor"
gives D major, and ``KeyChange.describe`` says so rather than passing it off as D minor. A request
without a mode ("D") asks for the tonic alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from musetok.augment import transpose
from musetok.vocab import Kind, Vocab

from muse.core.errors import UserError
from muse.core.ranges import quote
from muse.music_stats import PITCH_CLASSES, Key, Notes, estimate_key, pitch_class_histogram

_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTALS = {"": 0, "#": 1, "\u266f": 1, "sharp": 1, "b": -1, "\u266d": -1, "flat": -1}
_MODES = {"": None, "major": False, "maj": False, "minor": True, "min": True, "m": True}
_KEY = re.compile(r"([a-g])\s*-?\s*(#|\u266f|sharp|\u266d|flat|b)?\s*(major|maj|minor|min|m)?")


@dataclass(frozen=True)
class KeyRequest:
    """A requested key: ``tonic`` pitch class (0 = C) and ``minor`` (None: the mode the model writes)."""

    tonic: int
    minor: bool | None = None

    @property
    def name(self) -> str:
        return PITCH_CLASSES[self.tonic] + ("" if self.minor is None else " minor" if self.minor else " major")


def key_names() -> list[str]:
    """The 24 major and minor keys by name ("C major", "C minor", "C# major", ...), as ``parse_key`` reads them."""
    return [f"{tonic} {mode}" for tonic in PITCH_CLASSES for mode in ("major", "minor")]


def parse_key(text: str | None) -> KeyRequest | None:
    """A key name ("D minor", "F# major", "Bb", "c#m", "E flat major") as a ``KeyRequest``; None or "" for
    none; anything else is a one-line ``UserError`` saying what a key name looks like."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise UserError(f"key must be a key name such as 'D minor', not {quote(text)}")
    if not text.strip():
        return None
    match = _KEY.fullmatch(text.strip().lower())
    if match is None:
        raise UserError(f"key {quote(text)}? name a tonic A-G, optionally with # or b, then major or minor "
                        "(e.g. 'D minor', 'F# major', 'Bb'; no mode: the model's)")
    letter, accidental, mode = match.groups()
    return KeyRequest((_LETTERS[letter] + _ACCIDENTALS[accidental or ""]) % 12, _MODES[mode or ""])


def detect_key(notes: Notes) -> Key | None:
    """The key of pitched ``notes`` (Krumhansl-Schmuckler on their duration-weighted pitch classes), None
    without notes."""
    return estimate_key(pitch_class_histogram(notes))


@dataclass(frozen=True)
class KeyChange:
    """What a key request did to a piece: the key it was ``written`` in (None: no notes to tell), the
    ``semitones`` it was moved by, and the ``requested`` key (None: none asked)."""

    written: Key | None
    semitones: int = 0
    requested: KeyRequest | None = None

    @property
    def key(self) -> Key | None:
        """The piece's key as returned (the written key moved by ``semitones``)."""
        if self.written is None:
            return None
        return Key((self.written.tonic + self.semitones) % 12, self.written.minor, self.written.correlation)

    def describe(self) -> str:
        """One line for people, e.g. "C major, transposed up 2 semitones to D major"."""
        if self.written is None:
            return "no key (no pitched notes)" + (f"; {self.requested.name} not applied" if self.requested else "")
        if self.requested is None:
            return self.written.name
        if self.semitones:
            steps = abs(self.semitones)
            moved = f"transposed {'up' if self.semitones > 0 else 'down'} {steps} semitone{'s' * (steps != 1)} " \
                    f"to {self.key.name}"
        elif self.written.tonic == self.requested.tonic:
            moved = "already in " + PITCH_CLASSES[self.requested.tonic]
        else:
            return f"written in {self.written.name}, left there: its notes span too wide a range to reach " \
                   f"{self.requested.name}"
        text = f"written in {self.written.name}, {moved}"
        if self.requested.minor is not None and self.requested.minor != self.written.minor:
            mode = "minor" if self.written.minor else "major"
            wanted = "minor" if self.requested.minor else "major"
            text += f" (asked for {self.requested.name}: no candidate was in {wanted}; the model wrote {mode}, " \
                    "and a transposition keeps the mode)"
        return text


def interval_to(written: Key, requested: KeyRequest) -> int:
    """Semitones (-5..+6) from ``written``'s tonic to the requested one."""
    up = (requested.tonic - written.tonic) % 12
    return up - 12 if up > 6 else up


def transpose_melodic(ids: np.ndarray, vocab: Vocab, semitones: int) -> tuple[np.ndarray, int]:
    """``ids`` (T,) with every melodic note moved by ``semitones`` (drums untouched), or by the same
    interval an octave the other way when that keeps every note within 0-127 and ``semitones`` does
    not; failing both, unchanged. Returns (ids, the semitones used: 0 when unchanged)."""
    ids = np.asarray(ids)
    pitch = vocab.pitch[ids[vocab.kind[ids] == Kind.NOTE]].astype(np.int64)
    if semitones and len(pitch):
        other = semitones - 12 if semitones > 0 else semitones + 12
        for shift in (semitones, other):
            if pitch.min() + shift >= 0 and pitch.max() + shift <= 127:
                return transpose(ids, vocab, shift), shift
    return ids.copy(), 0


def as_written(ids: np.ndarray, vocab: Vocab, change: KeyChange) -> np.ndarray:
    """``ids`` (T,) of a piece that ``change`` moved, as the model wrote them (exactly: nothing was dropped)."""
    return transpose(np.asarray(ids), vocab, -change.semitones) if change.semitones else np.asarray(ids).copy()


__all__ = ["KeyChange", "KeyRequest", "as_written", "detect_key", "interval_to", "key_names", "parse_key",
           "transpose_melodic"]
