"""Grammar constraints for sampling MuseNet token sequences (a ``muse.core.sampling.Constraint``).

After the header, at every step:
- header-only tokens (pad, start, composer, instrument tokens) are never allowed;
- notes and drum hits only for the chosen instruments;
- a note-off only for a note that is sounding (per instrument and pitch);
- ``end`` only once the requested length is reached and no note sounds: from then on only the
  note-offs of the notes still sounding (at that final instant), then ``end``; no wait may
  overshoot the requested length, so a piece lasts the requested seconds to within a tick. Without
  a requested length, ``end`` is allowed whenever no note sounds. Drum hits are never "held".
- note limits (``muse.note_limits``), per melodic instrument key: a wait may not carry a sounding
  note past ``max_note_seconds``, and a note that not even the shortest wait may pass is released
  at once (only the note-offs of such notes are allowed); at ``max_polyphony`` sounding notes an
  instrument's new note-ons are masked (a re-strike of a sounding pitch stays allowed) until a
  note-off;
- no zero-length notes: a note that started at this instant is neither struck again nor released
  before a wait (unless forced as above or at the end); with ``min_note_seconds``, likewise a note that
  has sounded for less than its instrument's shortest note;
- rests (``max_rest_seconds``): no wait may carry time more than that past the last note-on (or
  drum hit) of any chosen instrument, counted from the end of the prompt; an instrument that not
  even the shortest wait may pass plays next (only its note-ons and the releases of sounding
  notes are open, after any release forced above), the rest of the time step following it;
- shares (``min_share``): once ``share_grace`` notes have been generated, a chosen instrument with fewer
  than that share of the note-ons generated since the prompt plays next (only its note-ons and the
  releases of sounding notes are open); when none of its note-ons is open (at its polyphony limit with
  every note just struck), no note-on is, until time moves on. Rows releasing by force, with an
  instrument due to play or finishing are left to those rules;
- a fixed tempo (``tempo_changes=False``): no tempo token after the prompt; else a sequence that is only
  its header opens with a tempo token, as every training piece does (the model still picks which);
- one tempo and one time signature per time step: after a tempo (time-signature) token, no other until a
  wait. The data never has two (a second would only replace the first), and a model that starts writing
  them back to back can fill a piece's whole token budget with them.
- no endless loops: the next token may not extend an exact repetition (``seq[t] == seq[t - p]`` at
  every position of the run, for a period p of 1 to ``LOOP_PERIODS`` tokens after the header) to
  ``min(loop_cycles * p, loop_tokens)`` tokens, unless it is the only token allowed. A sampler that
  copies what it played (``muse.copy_head``) can otherwise fall into a trill of one pair of notes for
  the rest of the piece. The two limits are learnt from the training data with the note limits
  (``muse.note_limits``: the 98th percentile of the longest run of its 1,200-token stretches; the
  classical corpus gives 8 periods and 103 tokens); without them, ``LOOP_CYCLES`` and ``LOOP_TOKENS``.
Some token is always allowed: a row that is not releasing by force nor finishing can take the
shortest wait, unless an instrument is due to play, and then that instrument's note-ons are open
(at its polyphony limit, re-strikes of the notes it holds; none of them is young, as a rest limit
(at least 0.5 s) is longer than any shortest note (at most ``MAX_MIN_NOTE_SECONDS``)); a row that is
releasing or finishing has a sounding note to release (or ``end``).

The state (clock and sounding notes of each row) is updated incrementally from the tokens added
since the last call, so a step costs O(V), whatever the length of the sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from musetok.vocab import Kind, Vocab

from muse.clock import ClockState, TokenClock
from muse.core.errors import UserError
from muse.note_limits import LOOP_CYCLES, LOOP_PERIODS, LOOP_TOKENS, NO_LIMIT_NOTES, NO_LIMIT_US
from muse.token_tables import TokenTables


def instrument_keys(vocab: Vocab, names: Iterable[str]) -> list[int]:
    """Instrument-key indices of ``names``; an unknown name is a ``UserError`` listing the known ones."""
    keys = []
    for name in names:
        norm = name.strip().lower()
        if norm not in vocab.instruments:
            raise UserError(f"unknown instrument {name!r}; known instruments: {', '.join(vocab.instruments)}")
        keys.append(vocab.instruments.index(norm))
    return keys


class MusicGrammar:
    """Allowed next tokens ``(B, V)`` for sequences ``(B, T)`` that start with a ``header_len`` header.

    ``instruments``: the instrument keys whose notes may be generated (None: all).
    ``target_seconds``: the requested length of the whole sequence (None: ``end`` whenever no note sounds).
    ``max_note_seconds`` / ``max_polyphony`` / ``min_note_seconds``: per instrument key ((n_instruments,), as
    ``muse.note_limits.key_limits`` gives them; ``inf`` / ``NO_LIMIT_NOTES`` / 0: no limit), or None: no limits.
    ``max_rest_seconds``: the longest any of ``instruments`` may go without a note-on (None: no limit).
    ``min_share``: the least share of the generated note-ons each of ``instruments`` keeps (None: no floor;
    at most half of an equal share is enforced, ``0.5 / len(instruments)``).
    ``tempo_changes``: whether tempo tokens may be sampled (False: the prompt's tempo holds).
    ``loop_cycles`` / ``loop_tokens``: the loop rule's limits (see the module doc).
    """

    def __init__(self, vocab: Vocab, header_len: int, *, instruments: Iterable[int] | None = None,
                 target_seconds: float | None = None, max_note_seconds: Sequence[float] | None = None,
                 max_polyphony: Sequence[int] | None = None, max_rest_seconds: float | None = None,
                 min_share: float | None = None, tempo_changes: bool = True,
                 min_note_seconds: Sequence[float] | None = None, loop_cycles: int = LOOP_CYCLES,
                 loop_tokens: int = LOOP_TOKENS) -> None:
        self.vocab, self.header_len = vocab, header_len
        tables = TokenTables.from_vocab(vocab)
        self.clock = TokenClock(tables)
        kind = np.asarray(vocab.kind)
        key = np.asarray(vocab.key, np.int64)
        is_note = (kind == Kind.NOTE) | (kind == Kind.DRUM)
        allowed = ~np.isin(kind, (Kind.COMPOSER, Kind.INSTRUMENT, Kind.MARKER))  # markers: muse.fim only
        allowed[[vocab.pad_id, vocab.start_id, vocab.unknown_composer_id]] = False
        instruments = None if instruments is None else sorted(set(instruments))
        if instruments is not None:
            allowed &= ~is_note | np.isin(key, instruments)
        if not tempo_changes:
            allowed &= kind != Kind.TEMPO
        self.opening = torch.from_numpy(kind == Kind.TEMPO) if tempo_changes else None  # (V,) a header's next
        self.per_step = torch.from_numpy(np.stack([kind == Kind.TEMPO, kind == Kind.TIMESIG]))  # (2, V) once a step
        self.is_wait = torch.from_numpy(kind == Kind.WAIT)
        self.stepped: Tensor | None = None  # (B, 2) a tempo / time signature written since the last wait
        self.base = torch.from_numpy(allowed)
        self.off_ids = torch.from_numpy(np.flatnonzero(is_note & (np.asarray(vocab.velocity) == 0)))
        off_ids = self.off_ids.numpy()
        self.off_slot = torch.from_numpy(key[off_ids] * 128 + np.asarray(vocab.pitch, np.int64)[off_ids])
        on = is_note & np.asarray(vocab.is_on)
        self.on_slot = torch.from_numpy(np.where(on, key * 128 + np.asarray(vocab.pitch, np.int64), -1))
        self.off_slot_of = torch.from_numpy(np.where(is_note & (np.asarray(vocab.velocity) == 0),
                                                     key * 128 + np.asarray(vocab.pitch, np.int64), -1))
        self.wait_ids = torch.from_numpy(np.flatnonzero(kind == Kind.WAIT))
        self.wait_ticks = torch.as_tensor(tables.wait_ticks)[self.wait_ids].float()
        self.ticks_per_beat = tables.ticks_per_beat
        n_keys = len(vocab.instruments)
        self.n_keys, self.n_slots = n_keys, n_keys * 128
        melodic = np.arange(n_keys) != vocab.drum_key  # drum hits have a fixed length: never held
        self.melodic_slot = torch.from_numpy(np.repeat(melodic, 128))
        self.note_limit = max_note_seconds is not None
        seconds = np.full(n_keys, np.inf) if max_note_seconds is None else np.asarray(max_note_seconds, np.float64)
        limit_us = np.where(np.isfinite(seconds) & melodic, np.round(np.minimum(seconds, 1e12) * 1e6), NO_LIMIT_US)
        self.slot_limit_us = torch.from_numpy(np.repeat(limit_us.astype(np.int64), 128))
        shortest = np.zeros(n_keys) if min_note_seconds is None else np.asarray(min_note_seconds, np.float64)
        if len(shortest) != n_keys or not (np.isfinite(shortest) & (shortest >= 0)).all():
            raise ValueError(f"min_note_seconds must give one number >= 0 per instrument key ({n_keys})")
        # A note is "young" while it has sounded less than this (at least 1 us: a note struck at this instant).
        young_us = np.maximum(np.round(np.where(melodic, shortest, 0.0) * 1e6), 1).astype(np.int64)
        self.young_us = torch.from_numpy(young_us[:vocab.n_melodic])[None, :, None]  # (1, M, 1)
        self.polyphony_limit = max_polyphony is not None
        self.polyphony = torch.as_tensor(np.full(n_keys, NO_LIMIT_NOTES) if max_polyphony is None
                                         else np.asarray(max_polyphony, np.int64))
        if len(seconds) != n_keys or len(self.polyphony) != n_keys:
            raise ValueError(f"note limits must give one value per instrument key ({n_keys})")
        # The vocabulary's layout (musetok.vocab): one block of waits, then the melodic notes as
        # [key][velocity bin 0..bins][pitch], so that __call__ can work on views of them.
        self.n_melodic = vocab.n_melodic
        self.wait_block = slice(vocab.wait_base, vocab.note_base)
        self.note_block = slice(vocab.note_base, vocab.drum_base)
        bins, block = vocab.config.velocity_bins + 1, np.arange(vocab.note_base, vocab.drum_base)
        if not (np.array_equal(self.wait_ids.numpy(), np.arange(vocab.wait_base, vocab.note_base))
                and vocab.drum_key == self.n_melodic and len(block) == self.n_melodic * bins * 128
                and np.array_equal(key[block], np.repeat(np.arange(self.n_melodic), bins * 128))
                and np.array_equal(np.asarray(vocab.velocity)[block],
                                   np.tile(np.repeat(np.arange(bins), 128), self.n_melodic))
                and np.array_equal(np.asarray(vocab.pitch)[block], np.tile(np.arange(128), self.n_melodic * bins))):
            raise ValueError("MusicGrammar: unexpected vocabulary layout (waits, then notes by key, velocity, pitch)")
        if max_rest_seconds is not None and (instruments is None or not max_rest_seconds > 0):
            raise ValueError("a rest limit needs the chosen instruments and a positive number of seconds")
        if min_share is not None and (instruments is None or not 0 < min_share < 1):
            raise ValueError("a share floor needs the chosen instruments and a share in (0, 1)")
        if not instruments:  # no instrument to keep playing (a header without any: no notes at all)
            max_rest_seconds = None
        if not instruments or len(instruments) < 2:  # one instrument has every note
            min_share = None
        self.chosen_keys = None if instruments is None else torch.as_tensor(instruments, dtype=torch.long)  # (k,)
        self.rest_us = None if max_rest_seconds is None else int(round(min(max_rest_seconds, 1e12) * 1e6))
        self.last_on_us: Tensor | None = None  # (B, n_keys) last note-on of each instrument (or the prompt's end)
        on_key = np.where(is_note & np.asarray(vocab.is_on), key, -1)  # each note-on's instrument key
        self.chosen_ons = None if instruments is None else \
            torch.from_numpy(on_key[None, :] == np.asarray(instruments, np.int64)[:, None])  # (k, V) note-ons of each
        self.on_key = torch.from_numpy(on_key)  # (V,) the instrument key of each note-on, else -1
        self.min_share = None if min_share is None else min(float(min_share), 0.5 / len(instruments))
        self.share_grace = 0 if min_share is None else int(np.ceil(1 / self.min_share))
        self.on_count: Tensor | None = None  # (B, n_keys) note-ons generated after the prompt, per instrument
        self.end_id = vocab.end_id
        self.target_us = None if target_seconds is None else int(round(target_seconds * 1e6))
        self.state: ClockState | None = None
        self.sounding: Tensor | None = None
        self.onset_us: Tensor | None = None  # (B, n_slots) when each sounding note started, microseconds
        self.seen = 0
        periods = torch.arange(1, LOOP_PERIODS + 1)
        self.loop_periods, self.loop_limit = periods, torch.clamp(int(loop_cycles) * periods, max=int(loop_tokens))
        self.loop_run: Tensor | None = None  # (B, LOOP_PERIODS) exact-repetition run at each period

    @property
    def elapsed_seconds(self) -> Tensor:
        """Elapsed seconds (B,) of each row as of the last call (zeros before the first)."""
        if self.state is None:
            return torch.zeros(1)
        return self.state.micros.double() / 1e6

    def _advance(self, ids: Tensor) -> None:
        """Fold the tokens ``ids`` (B, T) added since the last call into the state."""
        B, T = ids.shape
        if self.state is None:
            self.state = ClockState.zeros(B)
            self.sounding = torch.zeros(B, self.n_slots, dtype=torch.bool)
            self.onset_us = torch.zeros(B, self.n_slots, dtype=torch.long)
            self.stepped = torch.zeros(B, 2, dtype=torch.bool)
        if T == 0:
            return
        pos = torch.arange(T).expand(B, T)
        last_wait = torch.where(self.is_wait[ids], pos, -1).amax(dim=1, keepdim=True)  # (B, 1)
        since = (self.per_step[:, ids] & (pos > last_wait)).any(dim=2).T  # (B, 2) after the chunk's last wait
        self.stepped = torch.where(last_wait >= 0, since, self.stepped | since)
        clock = self.clock(ids, self.state)
        self.state = clock.end
        if self.last_on_us is None:  # the prompt: rests count from its end, shares from after it
            self.last_on_us = self.state.micros[:, None].repeat(1, self.n_keys)
            self.on_count = torch.zeros(B, self.n_keys, dtype=torch.long)
        else:
            key = self.on_key[ids]
            self.on_count.scatter_add_(1, key.clamp_min(0), (key >= 0).long())
        # The last note-on and the last note-off of each (instrument, pitch) in this chunk decide
        # whether it still sounds (a repeated note-on is a re-strike; one note-off ends it).
        last = []
        for slot in (self.on_slot[ids], self.off_slot_of[ids]):
            found = torch.full((B, self.n_slots), -1, dtype=torch.long)
            found.scatter_reduce_(1, slot.clamp_min(0), torch.where(slot >= 0, pos, -1), reduce="amax")
            last.append(found)
        touched = (last[0] >= 0) | (last[1] >= 0)
        self.sounding = torch.where(touched, last[0] > last[1], self.sounding)
        started = (last[0] >= 0) & (last[0] > last[1])
        on_us = clock.micros.gather(1, last[0].clamp_min(0))  # (B, n_slots) when each slot last struck
        self.onset_us = torch.where(started, on_us, self.onset_us)
        struck = torch.where(last[0] >= 0, on_us, -1).view(B, self.n_keys, 128).amax(dim=2)
        self.last_on_us = torch.maximum(self.last_on_us, struck)

    def _wait_us(self) -> Tensor:
        """Microseconds (B, W) each wait token would last at each row's tempo (rounded as ``TokenClock``)."""
        return torch.round(self.wait_ticks[None] * (60e6 / self.ticks_per_beat) / self.state.bpm[:, None]).long()

    @property
    def held(self) -> Tensor:
        """Melodic notes sounding (B, n_slots) bool as of the last call (drum hits never count)."""
        return self.sounding & self.melodic_slot

    def __call__(self, seq: Tensor) -> Tensor:
        """Allowed next tokens (B, V) bool after ``seq`` (B, T), ``T >= header_len``.

        Note tokens are handled through a view (B, n_melodic, velocity bins + 1, 128) of the melodic
        note block (velocity 0 = note-off), waits through a slice: no index tensors over the vocabulary."""
        seq = seq.cpu()
        self._advance(seq[:, self.seen:])
        self._loops(seq)
        self.seen = seq.shape[1]
        B, V = seq.shape[0], self.base.shape[0]
        M, S = self.n_melodic, self.n_melodic * 128
        allowed = self.base.expand(B, V).clone()
        if self.opening is not None and seq.shape[1] == self.header_len:  # the first token after the header
            return allowed & self.opening
        allowed &= ~(self.stepped[:, :, None] & self.per_step[None]).any(dim=1)  # one of each per time step
        notes = allowed[:, self.note_block].view(B, M, -1, 128)
        waits = allowed[:, self.wait_block]
        held = self.held
        mel_held = held[:, :S].view(B, M, 128)
        offs = self.sounding[:, :S].view(B, M, 128).clone()  # a note-off only for a sounding note
        now = self.state.micros[:, None]
        wait_us = self._wait_us()
        # No zero-length notes (the data has none), nor notes shorter than the shortest: a note that has
        # sounded less than that is neither struck again nor released (unless released by force, below).
        young = mel_held & (now[:, :, None] - self.onset_us[:, :S].view(B, M, 128) < self.young_us)
        forced = late = torch.zeros(B, dtype=torch.bool)
        no_on = young
        offs &= ~young
        if self.polyphony_limit:  # no new note of an instrument already at its limit
            full = mel_held.sum(dim=2) >= self.polyphony[:M]  # (B, M)
            no_on = no_on | (full[:, :, None] & ~mel_held)
        notes[:, :, 1:] &= ~no_on[:, :, None]
        if self.note_limit:  # no wait may carry a sounding note past its limit
            ends = torch.where(held, self.onset_us + self.slot_limit_us, NO_LIMIT_US)  # (B, n_slots)
            waits &= now + wait_us <= ends.amin(dim=1, keepdim=True)
            # A note that not even the shortest wait may pass is released now, before anything else.
            due = (held & (ends < now + wait_us.amin(dim=1, keepdim=True)))[:, :S].view(B, M, 128)
            forced = due.flatten(1).any(dim=1)
            if bool(forced.any()):
                allowed[forced] = False
                offs = torch.where(forced[:, None, None], due, offs)
        if self.rest_us is not None:  # no wait past the moment a silent instrument is due to play
            due_us = self.last_on_us[:, self.chosen_keys] + self.rest_us  # (B, k)
            waits &= now + wait_us <= due_us.amin(dim=1, keepdim=True)
            due_now = due_us < now + wait_us.amin(dim=1, keepdim=True)  # (B, k) not even the shortest wait passes
            late = due_now.any(dim=1)
            if bool(late.any()):  # a due instrument plays next
                allowed[late] &= (due_now[late, :, None] & self.chosen_ons[None]).any(dim=1)
        if self.min_share is not None:  # an instrument behind its share holds the others' note-ons back
            counts = self.on_count[:, self.chosen_keys]  # (B, k)
            total = counts.sum(dim=1, keepdim=True)
            behind = (counts < self.min_share * total) & (total >= self.share_grace)
            held_back = behind.any(dim=1) & ~forced & ~late
            if bool(held_back.any()):
                behind_ons = (behind[held_back, :, None] & self.chosen_ons[None]).any(dim=1)  # (b, V)
                rows = allowed[held_back]
                can_play = (rows & behind_ons).any(dim=1, keepdim=True)  # else it waits until it can
                allowed[held_back] = torch.where(can_play, rows & behind_ons, rows & ~self.chosen_ons.any(dim=0))
        holding = held.any(dim=1)
        if self.target_us is not None:
            remaining = self.target_us - self.state.micros  # (B,)
            waits &= wait_us <= remaining[:, None]
            done = remaining <= 0
            fits = (wait_us <= remaining[:, None]).any(dim=1)
            finished = done | ~fits
            # At the requested length: release the notes still sounding (now), then `end`.
            if bool(finished.any()):
                allowed[finished] = False
                offs = torch.where(finished[:, None, None], mel_held, offs)
            allowed[:, self.end_id] = finished & ~holding
        else:
            allowed[:, self.end_id] &= ~holding
        notes[:, :, 0] = offs  # notes and waits are views of allowed
        return self._break_loops(seq, allowed)

    def _loops(self, seq: Tensor) -> None:
        """Advance the exact-repetition runs over the tokens of ``seq`` (B, T) not seen yet."""
        if self.loop_run is None:
            self.loop_run = torch.zeros(seq.shape[0], LOOP_PERIODS, dtype=torch.long)
        for t in range(max(self.seen, self.header_len), seq.shape[1]):
            back = t - self.loop_periods  # (P,)
            same = (seq[:, t, None] == seq[:, back.clamp_min(0)]) & (back >= self.header_len)
            self.loop_run = torch.where(same, self.loop_run + 1, 0)

    def _break_loops(self, seq: Tensor, allowed: Tensor) -> Tensor:
        """``allowed`` (B, V) without the tokens that would carry a loop past its limit (see the module doc)."""
        over = self.loop_run >= self.loop_limit  # (B, P)
        if not bool(over.any()):
            return allowed
        t = seq.shape[1]
        rows, period = over.nonzero(as_tuple=True)
        blocked = torch.zeros_like(allowed)
        blocked[rows, seq[rows, t - 1 - period]] = True  # the token that would continue the period (p = period + 1)
        kept = allowed & ~blocked
        return torch.where(kept.any(dim=1, keepdim=True), kept, allowed)


__all__ = ["MusicGrammar", "instrument_keys"]
