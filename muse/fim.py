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
from the whole piece's clock, ``muse.clock``, or from a ``muse.excerpt`` of the rows the item uses);
a marker takes the clock of the token after it.
So the time, chord and structure embeddings see the rearranged tokens where they sound, not where
they stand in the sequence. ``muse.span_decoding`` feeds the same layout with the same clocks.
Marker targets are not scored (they carry no music).

The markers exist only in a vocabulary built with ``TokenizerConfig(fim_markers=True)``; they
are appended after every other token, so ``with_fim_markers`` turns a marker-less dataset's
tokenizer into one that reads the same shards (no id moves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from musetok import MidiTokenizer
from musetok.vocab import FIM_MARKERS, Vocab

from muse.clock import Clock
from muse.core.errors import UserError
from muse.excerpt import Excerpt, padded_item

SUFFIX, PREFIX = FIM_MARKERS
MIN_CONTINUATION = 2  # tokens of C at least (something to learn)


def with_fim_markers(tokenizer: MidiTokenizer) -> MidiTokenizer:
    """``tokenizer`` with the marker block appended (itself when it already has it); ids unchanged."""
    if tokenizer.vocab.has_fim_markers:
        return tokenizer
    return MidiTokenizer(dataclasses.replace(tokenizer.config, fim_markers=True))


def model_data_tokenizer(data_tokenizer: MidiTokenizer, model_tokenizer: MidiTokenizer, data: str) -> MidiTokenizer:
    """The tokenizer of the dataset ``data`` as the model reads its shards: with the marker block when the
    model's vocabulary has it (a FIM run's vocabulary is its dataset's plus the markers, no id moves).
    A dataset built with another vocabulary is a ``UserError`` naming ``data``."""
    if model_tokenizer.vocab.has_fim_markers:
        data_tokenizer = with_fim_markers(data_tokenizer)
    if data_tokenizer.vocab.fingerprint != model_tokenizer.vocab.fingerprint:
        raise UserError(f"{data}: the dataset's vocabulary differs from the model's; use a dataset built with the "
                        "model's tokenizer (or score MIDI files with 'muse eval --midi')")
    return data_tokenizer


def step_boundaries(ids: np.ndarray, vocab: Vocab, start: int) -> np.ndarray:
    """Positions ``p > start`` (int64) where a new time step begins: ``ids[p - 1]`` is a wait."""
    waits = np.asarray(vocab.wait_ticks)[ids[start:-1]] > 0
    return start + 1 + np.flatnonzero(waits)


@dataclass(frozen=True)
class FimLayout:
    """Where an SPM item's parts lie in the piece: ``S = [p2, p2 + suffix)``, ``C = [p2 - continuation, p2)``."""

    p2: int
    suffix: int
    continuation: int

    @property
    def span(self) -> tuple[int, int]:
        """The piece rows ``[start, stop)`` the item takes besides the header: C then S."""
        return self.p2 - self.continuation, self.p2 + self.suffix


def fim_layout(boundaries: int, boundary: Callable[[int], int], length: int, header: int, window: int,
               rng: np.random.Generator) -> FimLayout | None:
    """Draw the layout of an item of ``window`` tokens from a piece of ``length`` tokens whose time-step
    boundaries after the header are ``boundary(0) < ... < boundary(boundaries - 1)`` (``step_boundaries``);
    None when the window has no room or the piece no boundary (the caller makes an ordinary crop instead)."""
    free = window - header - 2  # tokens for S and C
    if free < MIN_CONTINUATION + 1 or boundaries == 0:
        return None
    p2 = boundary(int(rng.integers(boundaries)))  # uniform: the draw rng.choice makes
    s_max = min(length - p2, free - MIN_CONTINUATION, max(1, free // 2))
    s = int(rng.integers(1, s_max + 1)) if s_max >= 1 else 0
    return FimLayout(p2, s, min(free - s, p2 - header))


def spm_item(excerpt: Excerpt, layout: FimLayout, window: int, vocab: Vocab) -> dict[str, Tensor]:
    """The SPM training item of ``layout`` (the ``muse.train_data`` item format, padded to ``window`` tokens)
    from an excerpt of the piece that holds its header and ``layout.span``."""
    header, p2 = excerpt.header, layout.p2
    suffix_rows = np.arange(p2, p2 + layout.suffix)
    cont_rows = np.arange(p2 - layout.continuation, p2)
    # -1 / -2 stand for the markers until they get ids and clocks below.
    rows = np.concatenate([np.arange(header), [-1], suffix_rows, [-2], cont_rows]).astype(np.int64)
    # A marker takes the clock of the token after it.
    ids, clock = excerpt.take(np.where(rows == -1, p2, np.where(rows == -2, p2 - layout.continuation, rows)))
    ids = np.where(rows == -1, vocab.id(SUFFIX), np.where(rows == -2, vocab.id(PREFIX), ids))
    chord = torch.where(torch.from_numpy(rows < 0), 0, clock.chord)
    return padded_item(ids, Clock(clock.ticks, clock.micros, chord), excerpt.total_us, rows >= 0,  # marker targets
                       window, vocab.pad_id)                                                     # are not scored


def fim_item(ids: np.ndarray, clock: Clock, total_us: int, header: int, window: int, vocab: Vocab,
             rng: np.random.Generator) -> dict[str, Tensor] | None:
    """One SPM training item of the piece ``ids`` (L,) with whole-piece ``clock`` (each (L,)): ``fim_layout``
    then ``spm_item``; None when the piece has no usable time-step boundary. (Training crops take the same
    draws from a ``muse.excerpt.PieceIndex``, clocking only the rows they use.)"""
    cut = step_boundaries(ids, vocab, header)
    layout = fim_layout(len(cut), lambda j: int(cut[j]), len(ids), header, window, rng)
    if layout is None:
        return None
    return spm_item(Excerpt(np.asarray(ids, np.int64), clock, header, header, total_us), layout, window, vocab)


__all__ = ["SUFFIX", "PREFIX", "FimLayout", "fim_item", "fim_layout", "model_data_tokenizer", "spm_item",
           "step_boundaries",
           "with_fim_markers"]
