"""Excerpts of a piece: its header and one span of its tokens, with the clock features of their place
in the whole (possibly augmented) piece, computed in a time independent of the piece's length.

A training crop or an evaluation window needs a few hundred tokens, but their clock (``muse.clock``:
elapsed ticks and microseconds, chord index) depends on every token before them, and the structure
embedding on the whole piece's duration. ``PieceIndex`` keeps the running clock at checkpoints: about
every ``CHECKPOINT_EVERY`` tokens, at a time-step boundary (right after a wait: the chord index starts
again there), it records the elapsed ticks, the tempo token in force, the waits so far, how many waits
of each (tempo in force, wait) pair came before (a wait's microseconds are rounded on their own, so
these counts give the exact elapsed microseconds under any tempo stretch), and how many melodic note
tokens of each pitch came before (what a transposition drops). An excerpt clocks only the tokens from
the checkpoint before it.

Augmentation (``musetok.augment.Augmentation``) works token by token and never touches a wait, and the
header (composer, instruments, ``start``) holds no timed token, so augmenting the tokens from a
checkpoint on gives exactly those tokens of the augmented piece, and the counts give the augmented
piece's positions, length and duration. Hence ``index.augmented(aug).excerpt(a, b)`` (``IndexedPiece``)
equals ``WholePiece(ids, header, clock, vocab, aug).excerpt(a, b)``: augmenting and clocking the whole
piece, then taking its rows ``[0, header)`` and ``[a, b)``. ``WholePiece`` serves pieces too short to
gain from an index, and evaluation windows, which walk through a whole piece anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from musetok.augment import Augmentation, stretch_tempo
from musetok.vocab import Kind, Vocab

from muse.clock import DEFAULT_BPM, Clock, ClockState, TokenClock

# Tokens between checkpoints: an excerpt augments and clocks at most about this many more than it keeps
# (1,024 made the 512-token crops of a real corpus ~25% cheaper than 4,096; an index takes a few kB a piece).
CHECKPOINT_EVERY = 1024
_TIMED = {Kind.WAIT, Kind.TEMPO, Kind.NOTE, Kind.DRUM}


@dataclass(frozen=True)
class Excerpt:
    """The header and the tokens ``[start, stop)`` of a piece ``total_us`` microseconds long: ``ids``
    (header + stop - start,) int64 and their whole-piece ``clock`` (each (header + stop - start,))."""

    ids: np.ndarray
    clock: Clock
    header: int
    start: int
    total_us: int

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, Clock]:
        """Ids (n,) and clock features (each (n,)) of the piece rows ``rows`` (n,): header rows or in [start, stop)."""
        local = np.where(rows < self.header, rows, rows - self.start + self.header)
        idx = torch.from_numpy(local)
        return self.ids[local], Clock(self.clock.ticks[idx], self.clock.micros[idx], self.clock.chord[idx])


def padded_item(ids: np.ndarray, clock: Clock, total_us: int, scored: np.ndarray, window: int,
                pad_id: int) -> dict[str, Tensor]:
    """The training item format: ``ids`` (n,) and their clock features (each (n,)) padded to ``window``
    (pad id, zero clock), ``total_us`` () and ``mask`` (window - 1,): the scored targets ``scored[1:]``."""
    n = len(ids)
    out_ids = torch.full((window,), pad_id, dtype=torch.long)
    out_ids[:n] = torch.from_numpy(np.asarray(ids, np.int64))
    fields = {}
    for name in ("ticks", "micros", "chord"):
        values = torch.zeros(window, dtype=torch.long)
        values[:n] = getattr(clock, name)
        fields[name] = values
    mask = torch.zeros(window - 1, dtype=torch.bool)
    mask[: n - 1] = torch.from_numpy(np.asarray(scored[1:n], bool))
    return {"ids": out_ids, **fields, "total_us": torch.tensor(total_us, dtype=torch.long), "mask": mask}


class PieceIndex:
    """The running clock of the piece ``ids`` (L,) at checkpoints (see the module doc), built in one pass.

    ``ids`` may be a read-only view (a shard's memmap): excerpts copy only what they use. Row ``r < m`` of
    the per-row arrays is checkpoint ``at[r]`` (``at[0] = 0``); row ``m`` is the whole piece (``at[m] = L``).
    ``augmented(aug)`` reads the piece as one draw of the augmentation augments it.
    """

    def __init__(self, ids: np.ndarray, header: int, clock: TokenClock, vocab: Vocab,
                 every: int = CHECKPOINT_EVERY) -> None:
        self.ids, self.header, self.clock, self.vocab = ids, header, clock, vocab
        x = np.asarray(ids, dtype=np.int64)
        L = len(x)
        kind = vocab.kind[x]
        assert not set(kind[:header].tolist()) & _TIMED, "a piece's header holds no wait, tempo or note"
        self.wait_ticks = clock.wait_ticks.numpy()  # (V,) int64, the clock's own table
        wait = self.wait_ticks[x]
        is_wait = wait > 0
        after_wait = np.flatnonzero(is_wait[:-1]) + 1  # time-step boundaries
        first = np.searchsorted(after_wait, np.arange(every, L, every))
        checkpoints = np.unique(np.concatenate([[0], after_wait[first[first < len(after_wait)]]]))
        self.m = len(checkpoints)
        self.at = np.append(checkpoints, L).astype(np.int64)  # (m + 1,)
        self.ticks = np.concatenate([[0], np.cumsum(wait)])[checkpoints]  # (m,)
        self.waits = np.concatenate([[0], np.cumsum(is_wait)])[self.at]  # (m + 1,) waits before each row
        # The tempo token in force at each position (the last one at or before it; -1: none, 120 BPM).
        last = np.maximum.accumulate(np.where(clock.tempo_bpm.numpy()[x] > 0, np.arange(L), -1))
        tempo = np.where(last >= 0, x[np.maximum(last, 0)], -1)
        self.tempo = np.where(checkpoints > 0, tempo[np.maximum(checkpoints - 1, 0)], -1)  # (m,)
        # Waits counted per (tempo in force, wait token) pair, cumulative over rows: (m + 1, P).
        at_wait = np.flatnonzero(is_wait)
        pair, inverse = np.unique((tempo[at_wait] + 1) * vocab.size + x[at_wait], return_inverse=True)
        self.pair_tempo, self.pair_wait = pair // vocab.size - 1, pair % vocab.size
        self.pair_counts = self._cumulative(at_wait, inverse.reshape(-1), len(pair))
        # Melodic note tokens (what a transposition may drop) per pitch, cumulative over rows: (m + 1, 128).
        at_note = np.flatnonzero(kind == Kind.NOTE)
        self.pitch_counts = self._cumulative(at_note, np.asarray(vocab.pitch)[x[at_note]].astype(np.int64), 128)
        self._plain_micros: np.ndarray | None = None  # kept once computed: windows and plain crops reuse it

    def _cumulative(self, where: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
        """(m + 1, n) int32: at row r, how many of the tokens at ``where`` before ``at[r]`` have each value."""
        row = np.searchsorted(self.at, where, side="right")  # the first row a token is counted in
        counts = np.bincount(row * n + value, minlength=(self.m + 1) * n).reshape(self.m + 1, n)
        return np.cumsum(counts, axis=0).astype(np.int32)

    def augmented(self, aug: Augmentation | None = None) -> IndexedPiece:
        """The piece as augmented by ``aug`` (None: as it is)."""
        return IndexedPiece(self, aug)

    def tokens(self, a: int, b: int, aug: Augmentation | None) -> np.ndarray:
        """Raw tokens [a, b) of the piece, augmented (int64)."""
        raw = np.asarray(self.ids[a:b], dtype=np.int64)
        return raw if aug is None else aug.apply(raw, self.vocab)

    def bpm(self, tempo: np.ndarray, aug: Augmentation | None) -> Tensor:
        """Tempo (float32, as the clock has it) of tempo tokens ``tempo`` (n,) stretched by ``aug``; -1: 120 BPM."""
        if aug is not None:
            tempo = stretch_tempo(tempo, self.vocab, aug.tempo)  # leaves -1 alone
        t = torch.from_numpy(np.asarray(tempo, np.int64))
        return torch.where(t >= 0, self.clock.tempo_bpm[t.clamp_min(0)], DEFAULT_BPM)

    def pair_micros(self, aug: Augmentation | None) -> np.ndarray:
        """(P,) int64 microseconds of each (tempo, wait) pair's wait under ``aug``."""
        if aug is None and self._plain_micros is not None:
            return self._plain_micros
        waits = self.clock.wait_ticks[torch.from_numpy(self.pair_wait)]
        micros = self.clock.wait_micros(waits, self.bpm(self.pair_tempo, aug)).numpy()
        if aug is None:
            self._plain_micros = micros
        return micros


class IndexedPiece:
    """A piece augmented by ``aug``, read through its ``PieceIndex``: each method costs about
    ``CHECKPOINT_EVERY`` + the tokens it returns, whatever the piece's length. Positions are those of the
    augmented piece."""

    def __init__(self, index: PieceIndex, aug: Augmentation | None) -> None:
        self.index, self.aug, self.header = index, aug, index.header
        self.dropped = (np.zeros(index.m + 1, np.int64) if aug is None
                        else aug.drops(index.pitch_counts).astype(np.int64))  # (m + 1,) before each row
        self.pos = index.at - self.dropped  # (m + 1,) rows' positions in the augmented piece
        self.pair_micros = index.pair_micros(aug)
        self.total_us = self._elapsed_us(index.m)

    def _elapsed_us(self, row: int) -> int:
        """Microseconds before row ``row``, from the waits of each (tempo, wait) pair before it."""
        return int(self.index.pair_counts[row].astype(np.int64) @ self.pair_micros)

    def length(self) -> int:
        """Tokens of the augmented piece."""
        return int(self.pos[-1])

    def boundaries(self) -> int:
        """How many time-step boundaries (``muse.fim.step_boundaries``) follow the header: positions p,
        header < p < length, with a wait at p - 1; every wait but a final one makes one."""
        index, end, n = self.index, int(self.index.at[-1]), 16
        while True:  # the last token of the augmented piece (the header is never dropped)
            tail = index.tokens(max(0, end - n), end, self.aug)
            if len(tail) or n >= end:
                break
            n *= 16
        return int(index.waits[-1]) - int(len(tail) > 0 and index.wait_ticks[tail[-1]] > 0)

    def boundary(self, j: int) -> int:
        """Position of boundary ``j`` (0 <= j < ``boundaries()``, in order): the token after wait j."""
        index = self.index
        k = int(np.searchsorted(index.waits[: index.m], j, side="right")) - 1  # the checkpoint before wait j
        segment = index.tokens(int(index.at[k]), int(index.at[k + 1]), self.aug)
        return int(self.pos[k] + np.flatnonzero(index.wait_ticks[segment] > 0)[j - int(index.waits[k])] + 1)

    def excerpt(self, start: int, stop: int) -> Excerpt:
        """The header and tokens [start, stop) (header <= start <= stop <= length()) with their clock: what
        augmenting and clocking the whole piece gives at those rows."""
        index, pos, dropped, m = self.index, self.pos, self.dropped, self.index.m
        assert self.header <= start <= stop <= pos[-1], (start, stop)
        k = int(np.searchsorted(pos[:m], start, side="right")) - 1
        j = max(k, int(np.searchsorted(pos, stop, side="left")))  # first row at or after stop
        need = stop - int(pos[k])  # augmented tokens from checkpoint k to stop, from at most this many raw ones
        at = int(index.at[k])
        segment = index.tokens(at, at + need + int(dropped[j] - dropped[k]), self.aug)[:need]
        assert len(segment) == need
        state = ClockState.zeros(1) if k == 0 else ClockState(
            ticks=torch.tensor([int(index.ticks[k])]), micros=torch.tensor([self._elapsed_us(k)]),
            bpm=index.bpm(index.tempo[k: k + 1], self.aug), chord=torch.zeros(1, dtype=torch.long))
        skip = start - int(pos[k])
        zeros = torch.zeros(self.header, dtype=torch.long)
        if need:
            with torch.no_grad():
                c = index.clock(torch.from_numpy(segment)[None], state)
            features = [torch.cat([zeros, getattr(c, name)[0, skip:]]) for name in ("ticks", "micros", "chord")]
        else:
            features = [zeros] * 3
        ids = np.concatenate([np.asarray(index.ids[: self.header], np.int64), segment[skip:]])
        return Excerpt(ids, Clock(*features), self.header, start, self.total_us)


class WholePiece:
    """A piece augmented by ``aug`` and clocked whole, once (O(L)): the same methods as ``IndexedPiece``,
    for pieces too short to gain from an index and for windows that walk through a whole piece."""

    def __init__(self, ids: np.ndarray, header: int, clock: TokenClock, vocab: Vocab,
                 aug: Augmentation | None = None) -> None:
        x = np.asarray(ids, dtype=np.int64)
        self.ids, self.header = (x if aug is None else aug.apply(x, vocab)), header
        with torch.no_grad():
            c = clock(torch.from_numpy(self.ids)[None])
        self.clock, self.total_us = Clock(c.ticks[0], c.micros[0], c.chord[0]), int(c.end.micros[0])
        # boundaries: positions p, header < p < length, with a wait at p - 1
        self._cuts = np.flatnonzero(clock.wait_ticks.numpy()[self.ids[header:-1]] > 0) + header + 1

    def length(self) -> int:
        return len(self.ids)

    def boundaries(self) -> int:
        return len(self._cuts)

    def boundary(self, j: int) -> int:
        return int(self._cuts[j])

    def excerpt(self, start: int, stop: int) -> Excerpt:
        rows = torch.cat([torch.arange(self.header), torch.arange(start, stop)])
        ids = np.concatenate([self.ids[: self.header], self.ids[start:stop]])
        c = self.clock
        return Excerpt(ids, Clock(c.ticks[rows], c.micros[rows], c.chord[rows]), self.header, start, self.total_us)


__all__ = ["CHECKPOINT_EVERY", "Excerpt", "IndexedPiece", "PieceIndex", "WholePiece", "padded_item"]
