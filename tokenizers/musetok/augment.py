"""Data augmentation on token id arrays (fast enough for a training data loader), seeded and deterministic.

All functions take a 1-D id array and return a new one of the same dtype; header, waits and every token
a transformation does not concern are left alone, so timing never changes. Each works token by token (a
transposition keeps or drops every note token on its own), so augmenting a stretch of a piece gives that
stretch of the augmented piece: a training crop augments only its own tokens (``Augmentation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from musetok.vocab import Kind, Vocab, tempo_bin, velocity_bin

OutOfRange = Literal["drop", "fold"]


def transpose(ids: np.ndarray, vocab: Vocab, semitones: int, out_of_range: OutOfRange = "drop") -> np.ndarray:
    """Shift melodic notes by ``semitones`` (drums untouched). Notes pushed outside 0-127 are dropped
    (their note-on and note-off alike) or, with ``fold``, moved by whole octaves back into range (a folded
    note may then share a pitch with another one: decoding treats that as a re-strike)."""
    ids = np.asarray(ids)
    clean = np.clip(ids, 0, vocab.size - 1)
    melodic = (vocab.kind[clean] == Kind.NOTE) & (ids >= 0) & (ids < vocab.size)
    pitch = vocab.pitch[clean].astype(np.int64)
    target = pitch + semitones
    if out_of_range == "fold":
        target = np.where(target < 0, target % 12, target)
        target = np.where(target > 127, 116 + (target - 116) % 12, target)
        keep = np.ones(len(ids), bool)
    elif out_of_range == "drop":
        keep = ~melodic | ((target >= 0) & (target <= 127))
    else:
        raise ValueError(f"out_of_range must be 'drop' or 'fold', not {out_of_range!r}")
    shifted = np.where(melodic, ids + (target - pitch), ids)  # pitch is the fastest-varying note axis
    return shifted[keep].astype(ids.dtype)


def scale_velocity(ids: np.ndarray, vocab: Vocab, factor: float) -> np.ndarray:
    """Multiply the velocity of note-ons and drum hits by ``factor`` (bins clipped to 1..velocity_bins)."""
    ids = np.asarray(ids)
    clean = np.clip(ids, 0, vocab.size - 1)
    hit = np.isin(vocab.kind[clean], (Kind.NOTE, Kind.DRUM)) & vocab.is_on[clean] & (ids >= 0) & (ids < vocab.size)
    old = vocab.velocity[clean].astype(np.int64)
    new = velocity_bin(np.round(vocab.velocity_values[np.maximum(old, 0)] * factor), vocab.config.velocity_bins)
    # velocity is the axis just above pitch (stride 128) for melodic notes and drums alike
    return np.where(hit, ids + (new - old) * 128, ids).astype(ids.dtype)


def stretch_tempo(ids: np.ndarray, vocab: Vocab, factor: float) -> np.ndarray:
    """Multiply every tempo by ``factor`` (re-binned, clipped to the tempo range); waits are unchanged."""
    ids = np.asarray(ids)
    clean = np.clip(ids, 0, vocab.size - 1)
    is_tempo = (vocab.kind[clean] == Kind.TEMPO) & (ids >= 0) & (ids < vocab.size)
    out = ids.copy()
    out[is_tempo] = vocab.tempo_base + tempo_bin(vocab.tempo_bpm[clean[is_tempo]] * factor, vocab.config)
    return out


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges the random augmentation draws from (uniformly)."""

    max_transpose: int = 5  # semitones, both directions
    velocity_scale: tuple[float, float] = (0.8, 1.2)
    tempo_scale: tuple[float, float] = (0.9, 1.1)
    out_of_range: OutOfRange = "drop"


@dataclass(frozen=True)
class Augmentation:
    """One random augmentation as drawn by ``augment``: transposition, velocity and tempo factors."""

    semitones: int
    velocity: float
    tempo: float
    out_of_range: OutOfRange = "drop"

    @classmethod
    def draw(cls, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> Augmentation:
        """The three uniform draws of ``augment``, in its order (the same generator state, the same draw)."""
        semitones = int(rng.integers(-config.max_transpose, config.max_transpose + 1))
        velocity = float(rng.uniform(*config.velocity_scale))
        tempo = float(rng.uniform(*config.tempo_scale))
        return cls(semitones, velocity, tempo, config.out_of_range)

    def apply(self, ids: np.ndarray, vocab: Vocab) -> np.ndarray:
        """``ids`` (L,) transposed, velocity-scaled and tempo-stretched: (L',) with L' <= L (dropped notes)."""
        out = transpose(ids, vocab, self.semitones, self.out_of_range)
        return stretch_tempo(scale_velocity(out, vocab, self.velocity), vocab, self.tempo)

    def drops(self, pitch_counts: np.ndarray) -> np.ndarray:
        """How many melodic note tokens the transposition drops, from their counts per pitch (..., 128) -> (...)."""
        out = np.arange(128) + self.semitones
        out = (out < 0) | (out > 127) if self.out_of_range == "drop" else np.zeros(128, bool)
        return np.asarray(pitch_counts)[..., out].sum(-1)


def augment(ids: np.ndarray, vocab: Vocab, seed: "int | np.random.Generator",
            config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Random transpose + velocity scaling + tempo stretch; the same seed gives the same result."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return Augmentation.draw(rng, config).apply(ids, vocab)
