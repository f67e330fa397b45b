"""Editing a piece the user brings: fill a time span (``infill``) or accompany fixed tracks (``accompany``).

Both are one job: some notes of the input are *fixed*, a span ``[t1, t2)`` of grid ticks is
generated around them, and the output is the input ``symusic.Score`` itself (its resolution, tracks,
tempo map and controls) with the generated notes added, so every fixed note stays exactly as it was.

- ``infill``: the fixed notes are those whose (grid) onset lies outside ``[t1, t2)``; the notes
  starting inside the span are replaced. A fixed note sounding into or across the span keeps its
  original end (it is protected: the model neither releases nor re-strikes it, its note-off is
  forced at its tick). Generated notes start in the span and end by ``t2``.
  With a model whose vocabulary has the fill-in-the-middle markers (``muse.fim``) the prompt is
  ``header fim:suffix <music from t2> fim:prefix <music before t1>`` (mode ``"fim"``); without
  them (mode ``"continuation"``) it is the music before ``t1`` only: the span continues it, still
  with the exact length and the forced events, and the original music after ``t2`` is kept.
- ``accompany``: every note of the input is fixed; the span is the whole piece; the model writes the
  chosen instruments while the fixed tracks' tokens are forced into the sequence at their ticks
  (mode ``"accompaniment"``), so it hears the melody as it happens (not ahead of it). The generated
  parts go to new tracks.

The constraints are ``muse.span_grammar.SpanGrammar``; the decoder is ``muse.span_decoding.SpanDecoder``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import symusic
import torch

from musetok.errors import TokenizerError
from musetok.instruments import key_to_program, program_to_key
from musetok.quantize import to_grid
from musetok.reader import read_midi
from musetok.vocab import Kind

from muse.clock import ClockState
from muse.core.errors import UserError
from muse.core.ranges import MAX_GENERATE_SECONDS, MAX_PIECES, check_number, check_seed
from muse.core.sampling import generate
from muse.fim import PREFIX, SUFFIX
from muse.grammar import instrument_keys
from muse.note_limits import KeyLimits
from muse.span_decoding import SpanDecoder
from muse.span_grammar import SpanGrammar

if TYPE_CHECKING:
    from muse.generate import MuseGenerator

log = logging.getLogger(__name__)

MAX_TOKENS_PER_SECOND = 120  # as muse.generate: safety cap on the tokens of a span
Mode = str  # "fim" | "continuation" | "accompaniment"


@dataclass(frozen=True)
class EditedPiece:
    """One edited piece: ``score`` (the input's resolution and tracks plus the generated notes),
    ``mode`` used, the span in seconds and grid ticks, the generated notes' count, the sampled
    token row ``ids`` (prompt + span), the span's tokens ``span_ids`` (forced ones included, ending
    with ``end``) and the seed. ``ended``/``skipped``/``closed`` as ``Piece`` (always True/0/0: the
    grammar closes every generated note by the span's end)."""

    ids: np.ndarray
    score: symusic.Score
    seconds: float
    n_notes: int
    mode: Mode
    start: float
    end: float
    start_tick: int
    end_tick: int
    seed: int
    span_ids: np.ndarray = None
    ended: bool = True
    skipped: int = 0
    closed: int = 0


@dataclass(frozen=True)
class _Source:
    """The input as read: its score, name and canonical grid form."""

    score: symusic.Score
    name: str
    onset: list[np.ndarray]  # per track, grid onset of each note
    end_tick: int  # grid tick of the last event
    tempo_tick: np.ndarray
    tempo_bpm: np.ndarray


def _read(gen: MuseGenerator, midi: str | Path | bytes | symusic.Score, strict: bool,
          name: str | None = None) -> _Source:
    config = gen.tokenizer.config
    if strict and config.recover:
        import dataclasses
        config = dataclasses.replace(config, recover=False)
    if isinstance(midi, (str, Path)) and not Path(midi).is_file():
        raise UserError(f"{midi}: no such MIDI file")
    parsed = read_midi(midi, config, name)
    score, res = parsed.score, config.ticks_per_beat
    if sum(len(t.notes) for t in score.tracks) == 0:
        raise UserError(f"{parsed.name}: the file has no notes")
    onset = [to_grid(t.notes.numpy()["time"], score.tpq, res) for t in score.tracks]
    q = gen.tokenizer.quantize(score)
    end_tick = int(max(q.offset.max(initial=0), q.onset.max(initial=0) + 1))
    return _Source(score, parsed.name, onset, end_tick, np.asarray(q.tempo_time, np.int64),
                   np.asarray(gen.vocab.tempo_values[q.tempo_bin], np.float64))


def _tick_seconds(src: _Source, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(tick, seconds) at each tempo change."""
    dt = np.diff(src.tempo_tick, append=src.tempo_tick[-1])
    secs = np.concatenate([[0.0], np.cumsum(dt * 60.0 / (src.tempo_bpm * res))[:-1]])
    return src.tempo_tick, secs


def seconds_to_tick(src: _Source, seconds: float, res: int) -> int:
    """Nearest grid tick of a time in seconds under the input's tempo map."""
    ticks, secs = _tick_seconds(src, res)
    i = int(np.searchsorted(secs, seconds, side="right") - 1)
    return int(round(ticks[i] + (seconds - secs[i]) * src.tempo_bpm[i] * res / 60.0))


def tick_to_seconds(src: _Source, tick: int, res: int) -> float:
    """Seconds of a grid tick under the input's tempo map."""
    ticks, secs = _tick_seconds(src, res)
    i = int(np.searchsorted(ticks, tick, side="right") - 1)
    return float(secs[i] + (tick - ticks[i]) * 60.0 / (src.tempo_bpm[i] * res))


def bar_span(src: _Source, first: int, last: int, res: int) -> tuple[int, int]:
    """Grid ticks of the start of bar ``first`` and the end of bar ``last`` (1-based, inclusive),
    from the file's time signatures (4/4 where it has none)."""
    if not 1 <= first <= last:
        raise UserError(f"--bars must be FIRST-LAST with 1 <= FIRST <= LAST, not {first}-{last}")
    score = src.score
    sigs = [(int(ts.time), int(ts.numerator), int(ts.denominator)) for ts in score.time_signatures]
    if not sigs or sigs[0][0] > 0:
        sigs.insert(0, (0, 4, 4))
    bars, tick, i = [0], 0, 0
    while len(bars) <= last:
        while i + 1 < len(sigs) and sigs[i + 1][0] <= tick:
            i += 1
        _, num, den = sigs[i]
        tick += max(1, num * score.tpq * 4 // den)
        bars.append(tick)
    start, end = (int(x) for x in to_grid(np.array([bars[first - 1], bars[last]]), score.tpq, res))
    return start, end


def _split_waits(body: np.ndarray, wait_ticks: np.ndarray, wait_base: int, cuts: Sequence[int]) -> np.ndarray:
    """``body`` with every wait that crosses one of the ``cuts`` (ticks) split there."""
    out: list[int] = []
    t = 0
    for token in body.tolist():
        w = int(wait_ticks[token])
        if w == 0:
            out.append(token)
            continue
        for cut in cuts:
            if t < cut < t + w:
                out.append(wait_base + (cut - t) - 1)
                w -= cut - t
                t = cut
        out.append(wait_base + w - 1)
        t += w
    return np.asarray(out, np.int64)


def _waits(ticks: int, max_wait: int, wait_base: int) -> list[int]:
    """Wait tokens advancing ``ticks`` (full waits first)."""
    full, rest = divmod(ticks, max_wait)
    return [wait_base + max_wait - 1] * full + ([wait_base + rest - 1] if rest else [])


def _span_notes(tokens: np.ndarray, forced: Sequence[bool], start: int, end: int, gen: MuseGenerator) -> list[tuple]:
    """Generated (not forced) notes (key, pitch, start, end, velocity) of span tokens, grid ticks."""
    v = gen.vocab
    kind, key, pitch, vel = (np.asarray(a) for a in (v.kind, v.key, v.pitch, v.velocity))
    wait = np.asarray(v.wait_ticks)
    res, t = v.config.ticks_per_beat, start
    open_: dict[int, tuple[int, int]] = {}
    notes = []
    for token, was_forced in zip(tokens.tolist(), forced):
        if token == v.end_id:
            break
        if wait[token]:
            t += int(wait[token])
            continue
        k = kind[token]
        if k == Kind.DRUM and not was_forced:
            notes.append((int(key[token]), int(pitch[token]), t, min(t + max(1, res // 4), end),
                          int(v.velocity_values[vel[token]])))
        if k != Kind.NOTE:
            continue
        slot = int(key[token]) * 128 + int(pitch[token])
        if slot in open_:  # a note-off, or any note-on on its slot, ends a generated note
            s, velocity = open_.pop(slot)
            notes.append((slot // 128, slot % 128, s, t, velocity))
        if vel[token] > 0 and not was_forced:
            open_[slot] = (t, int(v.velocity_values[vel[token]]))
    if open_:
        raise RuntimeError(f"the span left {len(open_)} generated note(s) open (grammar bug)")
    return [n for n in notes if n[3] > n[2]]


def _add_notes(score: symusic.Score, notes: list[tuple], gen: MuseGenerator, merge: bool) -> symusic.Score:
    """A copy of ``score`` with grid ``notes`` added at its resolution: into the first track of the
    same instrument key when ``merge``, else into new tracks (one per key)."""
    out = score.copy()
    res, tpq = gen.vocab.config.ticks_per_beat, score.tpq
    mode = gen.vocab.config.family_mode
    key_of_program, programs = program_to_key(mode), key_to_program(mode)
    tracks: dict[int, symusic.Track] = {}
    if merge:
        for track in out.tracks:
            k = gen.vocab.drum_key if track.is_drum else int(key_of_program[track.program & 127])
            tracks.setdefault(k, track)
    for k in sorted({n[0] for n in notes}):
        if k not in tracks:
            drum = k == gen.vocab.drum_key
            out.tracks.append(symusic.Track(gen.vocab.instruments[k], 0 if drum else int(programs[k]), drum))
            tracks[k] = out.tracks[-1]
        track = tracks[k]
        for key, pitch, s, e, velocity in notes:
            if key == k:
                start = (2 * s * tpq + res) // (2 * res)
                stop = (2 * e * tpq + res) // (2 * res)
                track.notes.append(symusic.Note(int(start), int(max(1, stop - start)), int(pitch), int(velocity)))
        track.notes.sort()
    return out


def _fill(gen: MuseGenerator, src: _Source, fixed: symusic.Score, composer: str | None, keys: list[int],
          start: int, end: int, mode: Mode, *, merge: bool, n: int, sampling, seed: int | None,
          limits: tuple, callback: Callable[[float, float], None] | None,
          cancel: threading.Event | Callable[[], bool] | None) -> list[EditedPiece]:
    """Generate ``[start, end)`` (grid ticks) around the ``fixed`` notes; see the module doc."""
    vocab, model, res = gen.vocab, gen.model, gen.vocab.config.ticks_per_beat
    n = check_number(n, "the number of variations", low=1, high=MAX_PIECES, integer=True)
    seed = check_seed(seed)
    t1, t2 = tick_to_seconds(src, start, res), tick_to_seconds(src, end, res)
    check_number(t2 - t1, "the span to generate", low=0, high=MAX_GENERATE_SECONDS, low_open=True, unit="seconds")
    enc = gen.tokenizer.encode(fixed, composer=composer, name=src.name)
    ids = np.asarray(enc.ids, np.int64)
    h_enc = vocab.header_length(ids)
    fixed_keys = [int(vocab.key[i]) for i in ids[1:h_enc - 1]]
    header = np.array([ids[0]] + [vocab.instrument_base + k for k in sorted(set(fixed_keys) | set(keys))]
                      + [vocab.start_id], np.int64)
    body = ids[h_enc:-1] if ids[-1] == vocab.end_id else ids[h_enc:]
    wait = np.asarray(vocab.wait_ticks, np.int64)
    body = _split_waits(body, wait, vocab.wait_base, (start, end))
    times = np.cumsum(wait[body]) - wait[body]
    is_wait = wait[body] > 0
    prefix = body[times < start]
    reached = int(wait[prefix].sum())
    prefix = np.concatenate([prefix, _waits(start - reached, vocab.config.max_wait, vocab.wait_base)]).astype(np.int64)
    inside = (times >= start) & (times < end) & ~is_wait
    events = list(zip(times[inside].tolist(), body[inside].tolist()))
    suffix = body[times >= end]
    if mode == "fim" and not (vocab.has_fim_markers and len(suffix)):
        mode = "continuation"
    device = gen.device
    h = len(header)
    segments: list[tuple[int, ClockState | None]] = [(0, ClockState.zeros(n, device))]
    if mode == "fim":
        s = min(len(suffix), max(1, model.n_ctx // 4))
        head = np.concatenate([header, [vocab.id(SUFFIX)], suffix[:s], [vocab.id(PREFIX)]]).astype(np.int64)
        before_suffix = np.concatenate([header, body[times < end]])
        with torch.no_grad():
            at_t2 = model.clock(torch.as_tensor(before_suffix, device=device)[None].expand(n, -1)).end
        segments += [(h, at_t2), (len(head) - 1, None)]
    else:
        head = header
    if len(head) > model.n_ctx - 2:
        raise UserError(f"{src.name}: the prompt's fixed part ({len(head)} tokens) does not fit the model's context")
    prompt = np.concatenate([head, prefix])
    batch = torch.as_tensor(prompt, device=device)[None].expand(n, -1).contiguous()
    budget = int(MAX_TOKENS_PER_SECOND * (t2 - t1)) + len(events) + 128
    grammar = SpanGrammar(vocab, np.concatenate([header, prefix]), h, len(prompt), start, end, events, batch=n,
                          instruments=keys, max_note_seconds=limits.seconds, max_polyphony=limits.polyphony,
                          min_note_seconds=limits.min_seconds, budget=budget, loop_cycles=limits.loop_cycles,
                          loop_tokens=limits.loop_tokens)
    total = tick_to_seconds(src, max(src.end_tick, end), res)
    decoder = SpanDecoder(model, batch, len(head), segments, ClockState.zeros(n, device), total)
    span = t2 - t1

    def progress(done: int, total_steps: int) -> None:
        if callback is not None:
            elapsed = float(grammar.inner.state.ticks.min()) if grammar.inner.state is not None else start
            callback(min(max(tick_to_seconds(src, int(elapsed), res) - t1, 0.0), span), span)

    log.info("%s: generating %.2f-%.2f s (%s mode, %d fixed events inside)", src.name, t1, t2, mode, len(events))
    out = generate(decoder, batch, budget, sampling=sampling, seed=seed, stop_tokens=(vocab.end_id,),
                   pad_id=vocab.pad_id, constraint=grammar, filters=(grammar.fold,), callback=progress, cancel=cancel,
                   keep_prefix=len(head))
    pieces = []
    for b in range(n):
        row = out.ids[b].cpu().numpy()
        new = row[len(prompt):]
        if not (new == vocab.end_id).any():
            if out.stopped == "cancelled":
                raise UserError("cancelled before the span was complete")
            raise UserError(f"the model did not complete the span within {budget} tokens; try another seed")
        new = new[: int(np.flatnonzero(new == vocab.end_id)[0]) + 1]
        forced = grammar.forced[b] + [False] * (len(new) - len(grammar.forced[b]))
        notes = _span_notes(new, forced, start, end, gen)
        score = _add_notes(fixed, notes, gen, merge)
        pieces.append(EditedPiece(ids=np.concatenate([prompt, new]), score=score, seconds=total, n_notes=len(notes),
                                  mode=mode, start=t1, end=t2, start_tick=start, end_tick=end, seed=out.seed,
                                  span_ids=new))
    return pieces


def _remove_span(src: _Source, start: int, end: int) -> symusic.Score:
    """A copy of the input without the notes whose grid onset lies in ``[start, end)``."""
    out = src.score.copy()
    for track, onset in zip(out.tracks, src.onset):
        if ((onset >= start) & (onset < end)).any():
            notes = track.notes.numpy()
            keep = (onset < start) | (onset >= end)
            track.notes = symusic.Note.from_numpy(*(notes[f][keep] for f in ("time", "duration", "pitch", "velocity")))
    return out


def _keys(gen: MuseGenerator, names: Sequence[str] | None, default: list[int]) -> list[int]:
    if names is None:
        return default
    if not names:
        raise UserError(f"choose at least one instrument: {', '.join(gen.instruments)}")
    return sorted(set(instrument_keys(gen.vocab, names)))


def _file_keys(gen: MuseGenerator, src: _Source) -> list[int]:
    mode = gen.vocab.config.family_mode
    key_of_program = program_to_key(mode)
    return sorted({gen.vocab.drum_key if t.is_drum else int(key_of_program[t.program & 127])
                   for t in src.score.tracks if len(t.notes)})


def infill(gen: MuseGenerator, midi: str | Path | bytes | symusic.Score, start: float | None = None,
           end: float | None = None, *, bars: tuple[int, int] | None = None, composer: str | None = None,
           instruments: Sequence[str] | None = None, n: int = 1, sampling=None, seed: int | None = None,
           limits: KeyLimits = KeyLimits(None, None), callback: Callable[[float, float], None] | None = None,
           cancel: threading.Event | Callable[[], bool] | None = None, strict: bool = False,
           name: str | None = None) -> list[EditedPiece]:
    """Regenerate the span ``[start, end)`` seconds (or ``bars=(first, last)``, 1-based inclusive) of
    ``midi``; ``n`` variations. See the module doc for what is kept and the modes. ``name``: what
    messages call the input (default: its path)."""
    src = _read_checked(gen, midi, strict, name)
    a, b = _span_ticks(src, start, end, bars, gen.vocab.config.ticks_per_beat)
    keys = _keys(gen, instruments, _file_keys(gen, src))
    mix = None if composer is None else gen._mix(composer)
    fixed = _remove_span(src, a, b)
    return _fill(gen, src, fixed, None if mix is None else mix.dominant, keys, a, b, "fim", merge=True, n=n,
                 sampling=sampling, seed=seed, limits=limits, callback=callback, cancel=cancel)


def span_of(gen: MuseGenerator, midi: str | Path | bytes | symusic.Score, start: float | None = None,
            end: float | None = None, *, bars: tuple[int, int] | None = None,
            strict: bool = False, name: str | None = None) -> tuple[float, float]:
    """The span ``infill`` would regenerate, ``(start, end)`` in seconds after rounding to the grid,
    found and checked exactly as ``infill`` does (same errors), without generating anything."""
    src = _read_checked(gen, midi, strict, name)
    res = gen.vocab.config.ticks_per_beat
    a, b = _span_ticks(src, start, end, bars, res)
    return tick_to_seconds(src, a, res), tick_to_seconds(src, b, res)


def _read_checked(gen: MuseGenerator, midi: str | Path | bytes | symusic.Score, strict: bool,
                  name: str | None = None) -> _Source:
    try:
        return _read(gen, midi, strict, name)
    except TokenizerError as err:
        raise UserError(str(err)) from err


def _span_ticks(src: _Source, start: float | None, end: float | None, bars: tuple[int, int] | None,
                res: int) -> tuple[int, int]:
    """Grid ticks ``[a, b)`` of a span given in seconds or as bars; a ``UserError`` when it is not one of the piece."""
    length = tick_to_seconds(src, src.end_tick, res)
    if bars is not None:
        if start is not None or end is not None:
            raise UserError("give either --start/--end or --bars, not both")
        a, b = bar_span(src, bars[0], bars[1], res)
        if a >= src.end_tick:
            raise UserError(f"{src.name}: bar {bars[0]} starts after the end of the file ({length:.2f} s)")
    else:
        if start is None or end is None:
            raise UserError("give the span to regenerate: --start and --end in seconds, or --bars FIRST-LAST")
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0:
            raise UserError(f"--start must be >= 0 seconds, not {start:g}")
        if start >= end:
            raise UserError(f"--start ({start:g} s) must be before --end ({end:g} s)")
        if end > length + 1e-6:
            raise UserError(f"{src.name}: --end {end:g} s is beyond the end of the file ({length:.2f} s)")
        a, b = seconds_to_tick(src, start, res), seconds_to_tick(src, end, res)
    b = min(b, max(src.end_tick, a + 1))
    if b <= a:
        raise UserError(f"the span {start:g}-{end:g} s is shorter than one grid step")
    return a, b


def accompany(gen: MuseGenerator, midi: str | Path | bytes | symusic.Score, composer: str | None,
              instruments: Sequence[str], *, n: int = 1, sampling=None, seed: int | None = None,
              limits: KeyLimits = KeyLimits(None, None), callback: Callable[[float, float], None] | None = None,
              cancel: threading.Event | Callable[[], bool] | None = None, strict: bool = False,
              name: str | None = None) -> list[EditedPiece]:
    """Write ``instruments`` around every note of ``midi`` (kept unchanged) for its whole length."""
    keys = _keys(gen, list(instruments), [])
    src = _read_checked(gen, midi, strict, name)
    mix = None if composer is None else gen._mix(composer)
    return _fill(gen, src, src.score, None if mix is None else mix.dominant, keys, 0, src.end_tick, "accompaniment",
                 merge=False, n=n, sampling=sampling, seed=seed, limits=limits, callback=callback, cancel=cancel)


__all__ = ["EditedPiece", "accompany", "bar_span", "infill", "seconds_to_tick", "span_of", "tick_to_seconds"]
