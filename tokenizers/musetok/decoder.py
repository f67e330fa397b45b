"""Token ids -> symusic.Score, vectorized and tolerant of truncated or partly invalid sequences.

Rules: tokens after the first ``end`` are ignored (and counted as skipped); the header is what comes
before ``start`` (or, without ``start``, the leading composer/instrument tokens). A token that cannot
happen where it stands (ids outside the vocabulary, header tokens in the body, a note-off for a note
that is not sounding, a pedal-on while the pedal is down ...) is skipped and counted; ``pad`` is ignored.
A note-on for a sounding note re-strikes it (the old one ends there). Notes still sounding at the end are
closed at the final time (at least one step long) and counted as closed. Drum hits last a 16th note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from musetok.instruments import key_to_program
from musetok.vocab import Kind, Vocab

_HEADER_KINDS = (Kind.COMPOSER, Kind.INSTRUMENT)


@dataclass(frozen=True)
class DecodeResult:
    """A decoded score (ticks on the grid: ``tpq == ticks_per_beat``) and what had to be repaired.

    ``skipped``: impossible tokens skipped; ``closed``: notes or pedals still on at the end, closed there.
    ``composer``: the composer label of the header, ``None`` if absent or unknown."""

    score: symusic.Score
    skipped: int
    closed: int
    n_notes: int
    composer: str | None


def decode_ids(ids: np.ndarray, vocab: Vocab) -> DecodeResult:
    """Decode a 1-D array of token ids (any integer dtype)."""
    ids = np.asarray(ids).astype(np.int64).ravel()
    in_vocab = (ids >= 0) & (ids < vocab.size)
    skipped = int((~in_vocab).sum())
    ids = np.where(in_vocab, ids, vocab.pad_id)
    ends = np.flatnonzero(ids == vocab.end_id)
    if len(ends):
        skipped += int((ids[ends[0] + 1:] != vocab.pad_id).sum())
        ids = ids[:ends[0]]
    kind = vocab.kind[ids]
    is_header = np.isin(kind, _HEADER_KINDS) | (ids == vocab.unknown_composer_id)
    header = vocab.header_length(ids)
    if header:
        n_head, body_from = header - 1, header
    else:  # a fragment: its header (if any) is the leading composer/instrument tokens
        n_head = len(ids) if is_header.all() else int(np.argmin(is_header))
        body_from = n_head
    head, body = ids[:n_head], ids[body_from:]
    skipped += int((~is_header[:n_head] & (head != vocab.pad_id)).sum())
    composer = _composer(head, vocab)
    body_kind = vocab.kind[body]
    bad = ((body_kind == Kind.SPECIAL) & (body != vocab.pad_id)) | np.isin(body_kind, _HEADER_KINDS)
    skipped += int(bad.sum())
    waits = vocab.wait_ticks[body].astype(np.int64)
    time = np.cumsum(waits) - waits
    final = int(waits.sum())
    builder = _ScoreBuilder(vocab)
    bad_notes, open_notes = builder.notes(body, body_kind, time, final)
    bad_pedals, open_pedals = builder.pedals(body, body_kind, time, final)
    builder.meta(body, body_kind, time)
    return DecodeResult(builder.score(), skipped + bad_notes + bad_pedals, open_notes + open_pedals,
                        builder.n_notes, composer)


def _composer(head: np.ndarray, vocab: Vocab) -> str | None:
    found = head[vocab.kind[head] == Kind.COMPOSER]
    return vocab.tokens[int(found[0])] if len(found) else None


class _ScoreBuilder:
    """Collects per-key note and pedal arrays, then writes one track per instrument key."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self.res = vocab.config.ticks_per_beat
        self.tracks: dict[int, dict[str, np.ndarray]] = {}
        self.tempos = symusic.Tempo.from_numpy(np.zeros(0, np.int32), np.zeros(0, np.int32))
        self.timesigs = None
        self.n_notes = 0

    def notes(self, body, kind, time, final) -> tuple[int, int]:
        """Pair note-ons with the next event of the same voice; returns (skipped, closed)."""
        v = self.vocab
        sel = np.flatnonzero(kind == Kind.NOTE)
        voice = v.key[body[sel]].astype(np.int64) * 128 + v.pitch[body[sel]]
        order = np.lexsort((sel, voice))
        sel, voice = sel[order], voice[order]
        vel, t = v.velocity[body[sel]], time[sel]
        same_prev = np.r_[False, voice[1:] == voice[:-1]]
        prev_on = np.r_[False, vel[:-1] > 0]
        bad_off = (vel == 0) & ~(same_prev & prev_on)
        on = np.flatnonzero(vel > 0)
        has_next = np.r_[voice[1:] == voice[:-1], False][on]
        nxt = np.minimum(on + 1, len(voice) - 1)
        start = t[on]
        end = np.where(has_next, t[nxt], np.maximum(final, start + 1))
        self._add(voice[on] // 128, voice[on] % 128, start, end, v.velocity_values[vel[on]])
        drums = np.flatnonzero(kind == Kind.DRUM)
        dt = time[drums]
        self._add(np.full(len(drums), v.drum_key), v.pitch[body[drums]], dt, dt + max(1, self.res // 4),
                  v.velocity_values[v.velocity[body[drums]]])
        return int(bad_off.sum()), int((~has_next).sum())

    def pedals(self, body, kind, time, final) -> tuple[int, int]:
        """Keep pedal tokens that change the pedal state; returns (skipped, closed)."""
        v = self.vocab
        sel = np.flatnonzero(kind == Kind.PEDAL)
        key = v.key[body[sel]].astype(np.int64)
        order = np.lexsort((sel, key))
        sel, key = sel[order], key[order]
        on = v.is_on[body[sel]]
        same_prev = np.r_[False, key[1:] == key[:-1]]
        prev_on = np.r_[False, on[:-1]]
        valid = np.where(same_prev, on != prev_on, on)
        sel, key, on = sel[valid], key[valid], on[valid]
        closed = on & ~np.r_[key[1:] == key[:-1], False]
        start, end = time[sel[on]], time[sel[np.minimum(np.flatnonzero(on) + 1, max(len(sel) - 1, 0))]]
        end = np.where(closed[on], np.maximum(final, start + 1), end)
        for k in np.unique(key):
            mine = key[on] == k
            times = np.stack([start[mine], end[mine]], 1).ravel()
            values = np.tile([127, 0], int(mine.sum()))
            self._track(int(k))["pedal"] = (times, values)
        return int((~valid).sum()), int(closed.sum())

    def meta(self, body, kind, time) -> None:
        """Tempo and time-signature changes (the last one at a step wins)."""
        v = self.vocab
        sel = np.flatnonzero(kind == Kind.TEMPO)
        if len(sel):
            last = np.r_[time[sel][1:] != time[sel][:-1], True]
            sel = sel[last]
            mspq = np.round(60_000_000 / v.tempo_bpm[body[sel]]).astype(np.int32)
            self.tempos = symusic.Tempo.from_numpy(time[sel].astype(np.int32), mspq)
        sel = np.flatnonzero(kind == Kind.TIMESIG)
        if len(sel):
            last = np.r_[time[sel][1:] != time[sel][:-1], True]
            sel = sel[last]
            num, den = zip(*(v.timesig_of(int(i)) for i in body[sel]))
            self.timesigs = symusic.TimeSignature.from_numpy(
                time[sel].astype(np.int32), np.array(num, np.uint8), np.array(den, np.uint8))

    def _track(self, key: int) -> dict:
        return self.tracks.setdefault(key, {})

    def _add(self, key, pitch, start, end, velocity) -> None:
        self.n_notes += len(key)
        for k in np.unique(key):
            mine = key == k
            self._track(int(k))["notes"] = (start[mine], end[mine] - start[mine], pitch[mine], velocity[mine])

    def score(self) -> symusic.Score:
        v = self.vocab
        programs = key_to_program(v.config.family_mode)
        score = symusic.Score(self.res)
        score.tempos = self.tempos
        if self.timesigs is not None:
            score.time_signatures = self.timesigs
        for key in sorted(self.tracks):
            parts = self.tracks[key]
            drum = key == v.drum_key
            track = symusic.Track(v.instruments[key], 0 if drum else int(programs[key]), drum)
            if "notes" in parts:
                start, duration, pitch, velocity = parts["notes"]
                order = np.lexsort((pitch, start))
                track.notes = symusic.Note.from_numpy(
                    start[order].astype(np.int32), duration[order].astype(np.int32),
                    pitch[order].astype(np.int8), velocity[order].astype(np.int8))
            if "pedal" in parts:
                times, values = parts["pedal"]
                track.controls = symusic.ControlChange.from_numpy(
                    times.astype(np.int32), np.full(len(times), 64, np.uint8), values.astype(np.uint8))
            score.tracks.append(track)
        if not len(score.tracks) and (len(score.tempos) or len(score.time_signatures)):
            # symusic (0.6) writes the meta events of a score without tracks out of order: give it one
            score.tracks.append(symusic.Track("conductor"))
        return score
