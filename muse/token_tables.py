"""What the model needs to know about each token id, as numpy arrays built from a musetok ``Vocab``.

- Time: ``wait_ticks`` (grid ticks a wait advances), ``tempo_bpm`` (tempo tokens), ``is_onset``
  (note-ons and drum hits, counted by the chord index), ``ticks_per_beat``.
- The factorized vocabulary: a note-on token ``<instrument>:v<velocity>:<pitch>`` is the pair
  (``row`` = its (instrument, pitch) row, ``velocity_row`` = its velocity bin); every other token
  (note-offs included) has a row of its own and ``velocity_row`` -1. Embeddings and output logits are built from
  these rows, so a 40k-token vocabulary costs ~5k embedding rows (see ``muse.embedding``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musetok.vocab import Kind, Vocab


@dataclass(frozen=True, eq=False)
class TokenTables:
    """Per-id arrays (each of shape (V,)) and the factor layout of the vocabulary."""

    size: int
    ticks_per_beat: int
    wait_ticks: np.ndarray  # int64
    tempo_bpm: np.ndarray  # float64, 0 where not a tempo token
    is_onset: np.ndarray  # bool: melodic note-on or drum hit
    row: np.ndarray  # int64: factor row of each id, in [0, n_rows)
    velocity_row: np.ndarray  # int64: velocity row of note-ons, -1 elsewhere
    n_rows: int
    n_plain: int  # rows [0, n_plain) are whole tokens; rows [n_plain, n_rows) pair with every velocity
    n_velocities: int
    composer_ids: np.ndarray  # int64 ids of the composer tokens, in config order
    composers: tuple[str, ...]
    instrument_ids: np.ndarray  # int64 ids of the instrument (header) tokens, in vocabulary order
    pad_id: int
    start_id: int
    end_id: int
    unknown_composer_id: int

    @classmethod
    def from_vocab(cls, vocab: Vocab) -> TokenTables:
        """Tables of ``vocab``; note-on rows are checked to pair with every velocity bin."""
        kind = np.array(vocab.kind)
        is_note = (kind == Kind.NOTE) | (kind == Kind.DRUM)
        velocity = np.asarray(vocab.velocity, np.int64)
        is_on_note = is_note & (velocity > 0)
        n_vel = int(velocity[is_on_note].max()) if is_on_note.any() else 0
        # Rows: whole tokens first (every non-note token, then the note-offs), then the note-on
        # (instrument, pitch) rows, so each group is a contiguous slice of the row table.
        note_key = np.asarray(vocab.key, np.int64) * 128 + np.asarray(vocab.pitch, np.int64)
        plain_ids = np.concatenate([np.flatnonzero(~is_note), np.flatnonzero(is_note & ~is_on_note)])
        row = np.full(vocab.size, -1, np.int64)
        row[plain_ids] = np.arange(len(plain_ids))
        uniq, inverse = np.unique(note_key[is_on_note], return_inverse=True)
        row[is_on_note] = len(plain_ids) + inverse
        n_rows = len(plain_ids) + len(uniq)
        velocity_row = np.where(is_on_note, velocity - 1, -1)
        counts = np.bincount(row[is_on_note], minlength=n_rows)[len(plain_ids):]
        if len(uniq) and not (counts == n_vel).all():
            raise ValueError("vocabulary: every note-on (instrument, pitch) must exist at every velocity bin")
        composers = tuple(vocab.config.composers)
        return cls(
            size=vocab.size,
            ticks_per_beat=int(vocab.config.ticks_per_beat),
            wait_ticks=np.array(vocab.wait_ticks, np.int64),
            tempo_bpm=np.array(vocab.tempo_bpm, np.float64),
            is_onset=is_on_note,
            row=row,
            velocity_row=velocity_row,
            n_rows=n_rows,
            n_plain=len(plain_ids),
            n_velocities=n_vel,
            composer_ids=np.array([vocab.composer_id(c) for c in composers], np.int64),
            composers=composers,
            instrument_ids=np.flatnonzero(kind == Kind.INSTRUMENT).astype(np.int64),
            pad_id=int(vocab.pad_id),
            start_id=int(vocab.start_id),
            end_id=int(vocab.end_id),
            unknown_composer_id=int(vocab.unknown_composer_id),
        )


__all__ = ["TokenTables"]
