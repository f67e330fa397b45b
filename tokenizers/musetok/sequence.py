"""Vectorized facts about token id sequences that models need (time embeddings, chord positions, length).

Every function accepts ids of shape (n,) or (batch, n) and ignores ids outside the vocabulary.
"""

from __future__ import annotations

import numpy as np

from musetok.vocab import Kind, Vocab


def _clean(ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    ids = np.asarray(ids).astype(np.int64)
    return np.where((ids >= 0) & (ids < vocab.size), ids, vocab.pad_id)


def token_times(ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Grid ticks elapsed before each token (sum of the waits before it), int64, same shape as ``ids``."""
    waits = vocab.wait_ticks[_clean(ids, vocab)].astype(np.int64)
    return np.cumsum(waits, axis=-1) - waits


def chord_index(ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    """For each note-on or drum token, its index among the note-ons of its time step (0, 1, 2 ...);
    0 for every other token. int64, same shape as ``ids``."""
    clean = _clean(ids, vocab)
    is_on = vocab.is_on[clean] & np.isin(vocab.kind[clean], (Kind.NOTE, Kind.DRUM))
    count = np.cumsum(is_on, axis=-1)  # note-ons so far, inclusive
    waits = vocab.wait_ticks[clean] > 0
    # note-ons counted up to the last wait before each token (0 before the first wait)
    at_wait = np.where(waits, count, 0)
    base = np.maximum.accumulate(at_wait, axis=-1)
    return np.where(is_on, count - base - 1, 0).astype(np.int64)


def _wait_seconds(ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Seconds each token of a 1-D sequence waits, at the tempo in force (120 BPM before any tempo
    token), float64 (n,)."""
    clean = _clean(ids, vocab).ravel()
    bpm = vocab.tempo_bpm[clean]
    position = np.where(bpm > 0, np.arange(len(clean)), -1)
    last_tempo = np.maximum.accumulate(position) if len(clean) else position
    current = np.where(last_tempo >= 0, bpm[np.maximum(last_tempo, 0)], 120.0)
    return vocab.wait_ticks[clean] * 60.0 / (current * vocab.config.ticks_per_beat)


def token_seconds(ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Seconds elapsed before each token of a 1-D sequence (tempo aware, as ``seconds``), float64 (n,)."""
    waits = _wait_seconds(ids, vocab)
    return np.cumsum(waits) - waits


def seconds(ids: np.ndarray, vocab: Vocab) -> float:
    """Duration in seconds of a 1-D sequence: its waits played at the tempo in force (120 BPM before any
    tempo token)."""
    return float(np.sum(_wait_seconds(ids, vocab)))
