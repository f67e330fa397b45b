"""A requested tempo (BPM) as the model's tempo token.

The tokenizer writes tempos as bins ``120 * 2 ** (k / tempo_per_octave)`` over its ``tempo_range``
(``musetok.vocab.tempo_values``: 12 per octave for the bundled model, ... 95, 101, 107, 113, 120 ...).
A request within the lowest and highest bin becomes the nearest bin's token, which the generator puts
right after the header (or at the cut of a continuation) and then holds: no other tempo token is
sampled. A request outside the bins is a one-line ``UserError`` naming the range.
"""

from __future__ import annotations

import numpy as np

from musetok.vocab import Kind, Vocab, tempo_bin

from muse.core.ranges import check_number


def bpm_range(vocab: Vocab) -> tuple[int, int]:
    """(lowest, highest) BPM a request may ask for: the tokenizer's lowest and highest tempo bins, rounded
    (as the tokens are named: ``tempo:20`` ... ``tempo:605``)."""
    return round(float(vocab.tempo_values[0])), round(float(vocab.tempo_values[-1]))


def tempo_token(vocab: Vocab, bpm: float, name: str = "bpm") -> int:
    """The id of the tempo token nearest ``bpm`` (a ``UserError`` naming ``name`` outside ``bpm_range``)."""
    low, high = bpm_range(vocab)
    bpm = check_number(bpm, name, low=low, high=high, unit="BPM (the tempos this model can write)")
    return vocab.tempo_base + int(tempo_bin(bpm, vocab.config))


def last_bpm(vocab: Vocab, ids: np.ndarray) -> float | None:
    """The BPM of the last tempo token of ``ids`` (T,) (the one a request holds), None without one."""
    ids = np.asarray(ids)
    tempos = ids[vocab.kind[ids] == Kind.TEMPO]
    return float(vocab.tempo_bpm[tempos[-1]]) if len(tempos) else None


__all__ = ["bpm_range", "last_bpm", "tempo_token"]
