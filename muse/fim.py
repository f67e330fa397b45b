"""Fill-in-the-middle (FIM) training objective: the suffix-prefix-middle ("SPM") token layout.

A share ``fim_rate`` of the training crops (``MuseDataConfig.fim_rate``) is rearranged as::

    header  fim:suffix  S = ids[p2 : p2 + s]  fim:prefix  C = ids[p2 - c : p2]

where ``p2`` is a time-step boundary of the piece (the token right after a wait) at tick ``t2``:
``S`` is the music from ``t2`` on and ``C`` the music just before it, ending exactly at ``t2``.
The model writes ``C`` (the prefix, then the gap) knowing what follows the gap; at inference
(``muse.editing``) the gap's start ``t1`` lies inside ``C``: the tokens before ``t1`` are given
and the grammar makes the rest end exactly at ``t2``. The continuation being the ordinary
next-token task with extra context, the usual objective stays the main one.

Time: every token keeps the clock features of its true place in the piece (rows are gathered
from the whole piece's clock, ``muse.clock``); a marker takes the clock of the token after it.
So the time, chord and structure embeddings see the rearranged tokens where they sound, not where
they stand in the sequence. ``muse.span_decoding`` feeds the same layout with the same clocks.
Marker targets are not scored (they carry no music).

The markers exist only in a vocabulary built with ``TokenizerConfig(fim_markers=True)``; they
are appended after every other token, so ``with_fim_markers`` turns a marker-less dataset's
tokenizer into one that reads the same shards (no id moves).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from musetok import MidiTokenizer
from musetok.vocab import FIM_MARKERS, Vocab
from torch import Tensor

from muse.clock import Clock

SUFFIX, PREFIX = FIM_MARKERS
MIN_CONTINUATION = 2  # tokens of C at least (something to learn)


def with_fim_markers(tokenizer: MidiTokenizer) -> MidiTokenizer:
    """``tokenizer`` with the marker block appended (itself when it already has it); ids unchanged."""
    if tokenizer.vocab.has_fim_markers:
        return tokenizer
    return MidiTokenizer(dataclasses.replace(tokenizer.config, fim_markers=True))


def step_boundaries(ids: np.ndarray, vocab: Vocab, start: int) -> np.ndarray:
    """Positions ``p > start`` (int64) where a new time step begins: ``ids[p - 1]`` is a wait."""
    waits = np.asarray(vocab.wait_ticks)[ids[start:-1]] > 0
    return start + 1 + np.flatnonzero(waits)


def fim_item(ids: np.ndarray, clock: Clock, total_us: int, header: int, window: int, vocab: Vocab,
             rng: np.random.Generator) -> dict[str, Tensor] | None:
    """One SPM training item (the ``muse.train_data`` item format, padded to ``window`` tokens) of
    the piece ``ids`` (L,) with whole-piece ``clock`` (each (L,)); None when the piece has no
    usable time-step boundary (the caller makes an ordinary crop instead)."""
    free = window - header - 2  # tokens for S and C
    if free < MIN_CONTINUATION + 1:
        return None
    cut = step_boundaries(ids, vocab, header)
    cut = cut[cut - header >= 1]
    if len(cut) == 0:
        return None
    p2 = int(rng.choice(cut))
    s_max = min(len(ids) - p2, free - MIN_CONTINUATION, max(1, free // 2))
    s = int(rng.integers(1, s_max + 1)) if s_max >= 1 else 0
    c = min(free - s, p2 - header)
    suffix_rows = np.arange(p2, p2 + s)
    cont_rows = np.arange(p2 - c, p2)
    # -1 / -2 stand for the markers until they get ids and clocks below.
    rows = np.concatenate([np.arange(header), [-1], suffix_rows, [-2], cont_rows]).astype(np.int64)
    marker_clock_row = {-1: p2, -2: p2 - c}  # a marker takes the clock of the token after it
    gather = np.array([marker_clock_row.get(int(r), int(r)) for r in rows], np.int64)
    n = len(rows)
    out_ids = torch.full((window,), vocab.pad_id, dtype=torch.long)
    token_ids = np.where(rows == -1, vocab.id(SUFFIX), np.where(rows == -2, vocab.id(PREFIX), ids[np.maximum(rows, 0)]))
    out_ids[:n] = torch.from_numpy(token_ids.astype(np.int64))
    idx = torch.from_numpy(gather)
    fields = {}
    for name in ("ticks", "micros", "chord"):
        values = torch.zeros(window, dtype=torch.long)
        values[:n] = getattr(clock, name)[idx]
        fields[name] = values
    fields["chord"][:n][torch.from_numpy(rows < 0)] = 0
    mask = torch.zeros(window - 1, dtype=torch.bool)
    mask[: n - 1] = torch.from_numpy(rows[1:] >= 0)  # marker targets are not scored
    return {"ids": out_ids, **fields, "total_us": torch.tensor(total_us, dtype=torch.long), "mask": mask}


__all__ = ["SUFFIX", "PREFIX", "fim_item", "step_boundaries", "with_fim_markers"]
