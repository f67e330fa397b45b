"""Canonical grid form -> token ids, vectorized.

Sequence: ``<composer> <instrument>... start <body> end``. The body lists events by time step; within
a step: tempo, time signature, note-offs, pedal-offs, pedal-ons, note-ons (each group by instrument key,
then pitch). Between steps, ``wait:N`` tokens advance the clock (gaps longer than ``max_wait`` become
several waits: full ones first, then the remainder).
"""

from __future__ import annotations

import numpy as np

from musetok.quantize import Quantized
from musetok.vocab import Vocab


def encode_quantized(q: Quantized, vocab: Vocab, composer_id: int) -> np.ndarray:
    """Token ids (int32, shape (n,)) of a canonical score, header and ``end`` included."""
    drum = q.key == vocab.drum_key
    melodic = ~drum
    mk, mp, mv = q.key[melodic], q.pitch[melodic], q.velocity[melodic]
    events = [  # (time, id); ``vocab.step_order`` orders the events of one step
        (q.tempo_time, vocab.tempo_base + q.tempo_bin),
        (q.timesig_time, vocab.timesig_ids(q.timesig_num, q.timesig_den)),
        (q.offset[melodic], vocab.note_ids(mk, np.zeros_like(mv), mp)),
        (q.pedal_end, vocab.pedal_ids(q.pedal_key, False)),
        (q.pedal_start, vocab.pedal_ids(q.pedal_key, True)),
        (q.onset[melodic], vocab.note_ids(mk, mv, mp)),
        (q.onset[drum], vocab.drum_ids(q.velocity[drum], q.pitch[drum])),
    ]
    time = np.concatenate([e[0] for e in events]).astype(np.int64)
    ids = np.concatenate([e[1] for e in events]).astype(np.int64)
    # One int64 sort key: (time, place within the step), the place < 2**18.
    order = np.argsort((time << 18) | vocab.step_order[ids], kind="stable")
    body = _with_waits(time[order], ids[order], vocab)
    n_keys = len(vocab.instruments)
    used = np.bincount(q.key, minlength=n_keys) + np.bincount(q.pedal_key, minlength=n_keys)
    keys = np.flatnonzero(used)
    out = np.empty(len(keys) + len(body) + 3, np.int32)
    out[0], out[1:len(keys) + 1], out[len(keys) + 1] = composer_id, vocab.instrument_base + keys, vocab.start_id
    out[len(keys) + 2:-1], out[-1] = body, vocab.end_id
    return out


def _with_waits(time: np.ndarray, ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Interleave ``ids`` (sorted by ``time``, starting at step >= 0) with the waits between them."""
    longest = vocab.config.max_wait
    gap = np.empty_like(time)
    gap[:1], gap[1:] = time[:1], time[1:] - time[:-1]
    n_waits = -(-gap // longest)  # ceil
    n_total = np.cumsum(n_waits)
    out = np.empty(len(ids) + int(n_total[-1] if len(n_total) else 0), np.int64)
    at = np.arange(len(ids)) + n_total
    is_wait = np.ones(len(out), bool)
    is_wait[at] = False
    out[at] = ids
    waits = np.full(len(out) - len(ids), longest, np.int64)
    has = n_waits > 0
    waits[n_total[has] - 1] = gap[has] - (n_waits[has] - 1) * longest  # remainder closes each gap
    out[is_wait] = vocab.wait_base + waits - 1
    return out
