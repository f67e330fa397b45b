"""``SpanGrammar``: the grammar of a generated time span [t1, t2) inside fixed music (editing).

Wraps ``muse.grammar.MusicGrammar`` (chosen instruments, note-offs only for sounding notes, the
note limits of ``muse.note_limits``) and adds, all in grid ticks:
- a start: the grammar's state is first advanced over the fixed music before ``t1`` (so it knows
  the clock, the tempo and the notes still sounding there), whatever the token layout in front;
- forced events: fixed tokens (the original's tempo changes and the note-ons/offs of fixed notes
  inside the span; a melody's notes when accompanying) are emitted at their tick, in order:
  no wait may pass the next one (see ``fold``), and once the clock is at its tick the model may only
  write the tokens that the tokenizer puts before it within a time step (``Vocab.step_order``: e.g.
  its own note-offs, and note-ons of lower voices before a melody's note-on), in that order (each
  after the step's last), or the event itself, which ``fold`` gives the probability of everything
  the model would write after it (waits, later tokens of the step): the model's own notes keep
  their probability instead of taking that of the waits it may not write yet;
- protected notes: a fixed note that sounds may not be released nor re-struck by the model;
- an exact end: no wait may pass ``t2`` (``fold``, a logit filter, gives the probability of the waits
  too long for the next event or ``t2`` to the wait that reaches it exactly); at ``t2`` only the note-offs
  of the generated notes still sounding (at that instant), then ``end``. ``end`` is never allowed
  before. So the span lasts exactly ``t2 - t1`` ticks and every note it opens is closed by ``t2``;
  fixed notes held across ``t2`` keep sounding (their note-off lies after the span).
- the model may not write tempo, time-signature, pedal or marker tokens (the fixed music's are kept).

``forced[b]`` records, per row, which generated positions were forced (fixed, not the model's).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from musetok.vocab import STEP_ORDER_NONE, Kind, Vocab

from muse.grammar import MusicGrammar
from muse.note_limits import LOOP_CYCLES, LOOP_TOKENS

_FAR_US = 2**50  # onset given to fixed notes so that note-length limits never stop a wait for them


class SpanGrammar:
    """Allowed next tokens (B, V) for a span ``[start_tick, end_tick)`` generated after a prompt.

    ``before``: the fixed music before the span as one sequence (T,) (header first, in time
    order), ending exactly at ``start_tick``. ``prompt_len``: length of the prompt the engine
    starts from (its layout does not matter here). ``events``: forced ``(tick, id)`` pairs inside
    the span, in order. ``instruments``, ``max_note_seconds``, ``max_polyphony``,
    ``min_note_seconds``: as ``MusicGrammar``.
    ``budget``: the most tokens the engine will generate after the prompt; when what is left of it
    only just covers finishing (the forced events, a note-off per own sounding note and the waits to
    t2), the model may only wait and release notes (forced events still come), so a busy model
    completes the span in time.
    """

    def __init__(self, vocab: Vocab, before: np.ndarray, header_len: int, prompt_len: int, start_tick: int,
                 end_tick: int, events: Sequence[tuple[int, int]] = (), *, batch: int = 1,
                 instruments: Iterable[int] | None = None, max_note_seconds: Sequence[float] | None = None,
                 max_polyphony: Sequence[int] | None = None, min_note_seconds: Sequence[float] | None = None,
                 budget: int | None = None, loop_cycles: int = LOOP_CYCLES, loop_tokens: int = LOOP_TOKENS) -> None:
        if not end_tick > start_tick:
            raise ValueError(f"the span must last at least one tick, got [{start_tick}, {end_tick})")
        self.vocab, self.start_tick, self.end_tick = vocab, int(start_tick), int(end_tick)
        self.inner = MusicGrammar(vocab, header_len, instruments=instruments, max_note_seconds=max_note_seconds,
                                  max_polyphony=max_polyphony, min_note_seconds=min_note_seconds,
                                  loop_cycles=loop_cycles, loop_tokens=loop_tokens)
        before_t = torch.as_tensor(np.asarray(before, np.int64))[None].expand(batch, -1)
        self.inner(before_t)  # advance the clock and the sounding notes to t1
        if int(self.inner.state.ticks[0]) != self.start_tick:
            raise ValueError(f"the music before the span ends at tick {int(self.inner.state.ticks[0])}, "
                             f"not at {self.start_tick}")
        self.inner.seen = prompt_len
        self.prompt_len = prompt_len
        kind = np.asarray(vocab.kind)
        key = np.asarray(vocab.key, np.int64)
        pitch = np.asarray(vocab.pitch, np.int64)
        melodic_note = kind == Kind.NOTE
        is_on = np.asarray(vocab.is_on)
        self.slot_of_note = torch.from_numpy(np.where(melodic_note, key * 128 + pitch, -1))  # on or off
        self.is_note_on = torch.from_numpy(melodic_note & is_on)
        self.note_ids = torch.from_numpy(np.flatnonzero(melodic_note))
        self.note_slot = self.slot_of_note[self.note_ids]
        self.off_ids = torch.from_numpy(np.flatnonzero(melodic_note & ~is_on))
        self.off_slot = self.slot_of_note[self.off_ids]
        self.never = torch.from_numpy(np.isin(kind, (Kind.TEMPO, Kind.TIMESIG, Kind.PEDAL, Kind.MARKER)))
        self.step_order = torch.tensor(vocab.step_order)  # (V,)
        self.is_wait = torch.from_numpy(np.asarray(vocab.wait_ticks) > 0)  # (V,)
        ticks = [int(t) for t, _ in events]
        if any(not self.start_tick <= t < self.end_tick for t in ticks) or ticks != sorted(ticks):
            raise ValueError("forced events must lie inside the span, in time order")
        self.event_tick = torch.tensor(ticks + [self.end_tick], dtype=torch.long)
        self.event_id = torch.tensor([int(i) for _, i in events] + [-1], dtype=torch.long)
        self.n_events = len(ticks)
        # Fixed notes sounding at t1 (begun before the span): protected like those forced inside it.
        sounding = self.inner.sounding.clone()
        self.fixed = sounding & self.inner.melodic_slot  # (B, n_slots)
        self.pointer = torch.zeros(batch, dtype=torch.long)  # next forced event of each row
        self.forcing = torch.zeros(batch, dtype=torch.bool)  # the last mask allowed the next forced token
        self.forced: list[list[bool]] = [[] for _ in range(batch)]
        self.last_order = torch.full((batch,), -1, dtype=torch.long)  # step order of this step's last event
        self.defer: Tensor | None = None  # (B, V) tokens folded into a forced event by ``fold``
        self.seen = prompt_len
        self.budget = budget
        self.max_wait = max(int(np.max(vocab.wait_ticks)), 1)
        self.finishing = self.is_wait.clone()  # (V,) what a span short of tokens may still write
        self.finishing[self.off_ids] = True

    def _absorb(self, new: Tensor) -> None:
        """Track the forced tokens among ``new`` (B, T) and the fixed notes they start or end."""
        for t in range(new.shape[1]):
            token = new[:, t]
            was_forced = self.forcing & (token == self.event_id[self.pointer.clamp_max(self.n_events)])
            for b in range(new.shape[0]):
                self.forced[b].append(bool(was_forced[b]))
            slot = self.slot_of_note[token]
            rows = was_forced & (slot >= 0)
            if rows.any():
                r = rows.nonzero().flatten()
                self.fixed[r, slot[r]] = self.is_note_on[token[r]]
            self.pointer += was_forced.long()
            order = self.step_order[token]
            self.last_order = torch.where(self.is_wait[token], -1,
                                          torch.where(order < STEP_ORDER_NONE, order, self.last_order))
            self.forcing[:] = False

    def __call__(self, seq: Tensor) -> Tensor:
        """Allowed next tokens (B, V) bool after ``seq`` (B, T), ``T >= prompt_len``."""
        seq = seq.cpu()
        new = seq[:, self.seen:]
        self._absorb(new)
        self.seen = seq.shape[1]
        inner = self.inner
        inner._advance(new)  # (the inner grammar's own incremental update, done here so that the
        inner.seen = seq.shape[1]  # fixed notes can be exempted from the note-length limit below)
        inner.onset_us = torch.where(self.fixed, _FAR_US, inner.onset_us)
        allowed = inner(seq)  # nothing new to advance: the mask at the current state
        B, V = allowed.shape
        allowed &= ~self.never
        allowed[:, inner.end_id] = False
        # Protected fixed notes: neither released nor re-struck by the model.
        allowed[:, self.note_ids] &= ~self.fixed[:, self.note_slot]
        ticks = inner.state.ticks
        next_tick = self.event_tick[self.pointer.clamp_max(self.n_events)]  # (B,) next event or t2
        self.cap = next_tick - ticks  # (B,) the longest wait allowed; longer ones are folded into it (``fold``)
        if self.budget is not None:
            self._guard_budget(allowed, seq.shape[1] - self.prompt_len)
        force = (self.pointer < self.n_events) & (ticks == next_tick)
        self.defer = None
        if force.any():
            rows = force.nonzero().flatten()
            event = self.event_id[self.pointer[rows]]  # (R,)
            order, event_order = self.step_order[None], self.step_order[event][:, None]
            before = (order < event_order) & (order > self.last_order[rows, None])
            later = allowed[rows] & ((order > event_order) & (order < STEP_ORDER_NONE) | self.is_wait[None])
            self.defer = torch.zeros(B, V, dtype=torch.bool)  # folded into the forced event (``fold``)
            self.defer[rows] = later  # (the event itself is neither later nor a wait)
            allowed[rows] &= before | later
            allowed[rows, event] = True
            self.forcing = force
        finished = (self.pointer >= self.n_events) & (ticks >= self.end_tick)
        if finished.any():
            own = inner.held & ~self.fixed  # the generated notes still sounding at t2
            release = own[:, self.off_slot]
            allowed[finished] = False
            allowed[:, self.off_ids] |= finished[:, None] & release
            allowed[:, inner.end_id] = finished & ~own.any(dim=1)
        return allowed

    def _guard_budget(self, allowed: Tensor, used: int) -> None:
        """Once the tokens left (of ``budget``) only just cover finishing the span, rows may only
        release notes and take the longest wait open to them (forced events are added afterwards)."""
        inner, ticks = self.inner, self.inner.state.ticks
        own = (inner.held & ~self.fixed).sum(dim=1)
        waits_to_end = -(-(self.end_tick - ticks).clamp_min(0) // self.max_wait)
        tight = (self.budget - used) <= 2 * (self.n_events - self.pointer) + own + waits_to_end + 8  # (B,)
        if not tight.any():
            return
        waits, length = inner.wait_ids, inner.wait_ticks.long()  # (W,)
        open_w = allowed[:, waits] & (length[None] <= self.cap[:, None])  # (B, W)
        longest = torch.where(open_w, length[None], -1).max(dim=1).values  # (B,)
        allowed[tight] &= self.finishing[None]
        allowed[:, waits] = torch.where(tight[:, None], open_w & (length[None] == longest[:, None]), allowed[:, waits])

    def fold(self, logits: Tensor) -> Tensor:
        """Logit filter (B, V) -> (B, V) run right after this constraint: the waits longer than the next
        event (or ``t2``) allows are removed and their probability goes to the longest allowed wait
        ("wait until then"), so a model that wants to wait still does when only short waits fit. At a
        forced event, what the model would write after it (``defer``) is folded into the event first."""
        if self.defer is not None:
            defer = self.defer.to(logits.device)
            rows = defer.any(dim=1).nonzero().flatten()
            event = self.event_id[self.pointer[rows.cpu()]].to(logits.device)  # the pointer moves in ``__call__`` only
            logits = logits.clone()
            merged = torch.logsumexp(torch.where(defer[rows], logits[rows], -torch.inf), dim=1)
            logits[rows, event] = torch.logaddexp(logits[rows, event], merged)
            logits = logits.masked_fill(defer, -torch.inf)
        waits = self.inner.wait_ids.to(logits.device)
        length = self.inner.wait_ticks.long().to(logits.device)  # (W,) ticks of each wait
        cap = self.cap.to(logits.device)
        w = logits[:, waits]  # (B, W)
        over = length[None] > cap[:, None]
        target = length[None] == cap[:, None]  # the wait of exactly `cap` ticks (none when cap > max_wait)
        can = (target & torch.isfinite(w)).any(dim=1)  # rows whose longest allowed wait is not masked
        merged = torch.logsumexp(torch.where(over | target, w, -torch.inf), dim=1)  # (B,)
        w = torch.where(target & can[:, None], merged[:, None], w)
        w = w.masked_fill(over, -torch.inf)
        out = logits.clone()
        out[:, waits] = w
        return out


__all__ = ["SpanGrammar"]
