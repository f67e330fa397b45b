"""Editing (issue 19) on held-out pieces: fill a gap in the middle of an excerpt, accompany a melody.

``--n`` pieces (default 20) of the dataset's ``--split`` (default: valid, pieces not used in
training) with exactly the ``--instruments`` (default: piano) and at least ``--offset`` +
``--excerpt`` seconds long, chosen deterministically: the eligible pieces in id order (ids start
with the composer), ``--n`` of them evenly spaced. Each gives one excerpt: its music from
``--offset`` (default 10 s) for ``--excerpt`` seconds (default 20; the tokens between the first
time steps at or past both times, decoded with the dataset's tokenizer: notes sounding into the
excerpt from before are left out, those sounding at its end close there). Piece k uses seed
``--seed`` + k and its composer when the model knows it.

Infill (``MuseGenerator.infill``): the gap ``[t1, t2)`` of ``--gap`` seconds (default 4) in the
middle of the excerpt is regenerated. Per gap:

- guarantees: input notes starting before t1 or at/after t2 that are missing or changed in the
  output (``outside_violations``, target 0: each note compared as (track, tick, duration, pitch,
  velocity)); the span's waits add up to exactly ``t2 - t1`` ticks (``exact_length``); generated
  notes still sounding past t2 (``held_past_t2``, target 0);
- texture: notes per second of the gap over those of the surrounding ``2 x --context`` seconds
  (``--context`` before t1 and after t2, default 4 + 4 = 8 s): within +-35% (the issue's target);
  the Jensen-Shannon distance (bits) of their duration-weighted pitch-class histograms. For scale,
  both figures for the real gap of the piece (its own notes there);
- wall time of the call (the issue's target: <= 5 s per 4-second gap on 2 CPU cores).

Accompaniment (``MuseGenerator.accompany``): the excerpt's top voice is the fixed melody (the
highest note of each onset, skipped while a higher melody note still sounds: the skyline; in a
piece of several pitched tracks, the first one) and the model accompanies it with
``--accompany-with`` (default piano). Per piece:

- ``fixed_violations``: melody notes missing or changed in the output (target 0);
- onset alignment: the share of the accompaniment's distinct onset times within 50 ms of a melody
  onset, against the same share for the real piece's other notes (target here: at least 80% of the
  real share);
- key fit: in windows of ``--key-window`` seconds (default 4), the melody's local key
  (Krumhansl-Schmuckler, from its notes in the window and ``--key-context`` s on either side) and
  the Jensen-Shannon distance between the accompaniment's pitch-class histogram there and that
  key's profile, averaged over the windows; against the same figure for the real other notes
  (target: at most 20% more).

    .venv/bin/python benchmarks/editing.py --data DATA --json editing.json
    .venv/bin/python benchmarks/editing.py --model runs/stage2/model --data DATA --n 20 --json e.json
    .venv/bin/python benchmarks/editing.py --data DATA --quick     # a smoke run: 2 short pieces
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import symusic

from musetok.sequence import token_seconds
from musetok.vocab import Kind

from muse import sampling_defaults as D
from muse.core.errors import USER_ERRORS, UserError
from muse.core.token_shards import TokenDataset
from muse.music_stats import (
    KK_MAJOR,
    KK_MINOR,
    Notes,
    estimate_key,
    jensen_shannon,
    pitch_class_histogram,
    score_notes,
)

log = logging.getLogger("benchmarks.editing")
TOLERANCE = 0.35  # gap density within +-35% of the surroundings
ALIGN_SECONDS = 0.05  # an onset within 50 ms of a melody onset is aligned with it
ALIGN_FLOOR = 0.8  # accompaniment's aligned share >= 80% of the real one
KEY_SLACK = 1.2  # accompaniment's key distance <= 120% of the real one
MAX_GAP_SECONDS = 5.0  # wall time per gap (2 CPU cores)
EPS = 1e-4
QUICK = dict(n=2, excerpt=6.0, gap=2.0, context=2.0, offset=0.0, key_window=2.0, key_context=1.0)


# ------------------------------------------------------------------------------ pieces and excerpts


def instruments_of(ds: TokenDataset, vocab, i: int) -> tuple[str, ...]:  # noqa: ANN001 (musetok Vocab)
    header = ds.tokens(i)[: ds.pieces[i].header]
    return tuple(sorted(vocab.tokens[int(t)] for t in header if vocab.kind[int(t)] == Kind.INSTRUMENT))


def choose(ds: TokenDataset, vocab, args: argparse.Namespace) -> list[int]:  # noqa: ANN001
    """``args.n`` eligible pieces, evenly spaced over the eligible ones in id order."""
    wanted = tuple(sorted(args.instruments))
    eligible = sorted((i for i, p in enumerate(ds.pieces) if args.split in ("all", p.split)
                       and p.seconds >= args.offset + args.excerpt and instruments_of(ds, vocab, i) == wanted),
                      key=lambda i: ds.pieces[i].id)
    if not eligible:
        raise UserError(f"{args.data}: no {args.split} pieces for {','.join(wanted)} of at least "
                        f"{args.offset + args.excerpt:g} s")
    if len(eligible) < args.n:
        log.warning("only %d eligible pieces (asked for %d)", len(eligible), args.n)
    picks = np.unique(np.linspace(0, len(eligible) - 1, min(args.n, len(eligible))).round().astype(int))
    return [eligible[k] for k in picks]


def excerpt(ds: TokenDataset, tokenizer, i: int, offset: float, seconds: float) -> symusic.Score:  # noqa: ANN001
    """The piece's music from ``offset`` for ``seconds`` (see the module doc), grid ticks (tpq = ticks per beat)."""
    vocab = tokenizer.vocab
    ids = np.asarray(ds.tokens(i), np.int64)
    header = ds.pieces[i].header
    times = token_seconds(ids, vocab)
    p0 = max(header, int(np.searchsorted(times, offset, side="left")))
    p1 = int(np.searchsorted(times, offset + seconds, side="left"))
    before = ids[header:p0]
    state = [before[vocab.kind[before] == kind][-1:] for kind in (Kind.TEMPO, Kind.TIMESIG)]
    body = ids[p0:p1]
    body = body[vocab.kind[body] != Kind.SPECIAL]
    return tokenizer.decode(np.concatenate([ids[:header], *state, body, [vocab.end_id]])).score


def note_rows(score: symusic.Score, tracks: range | None = None) -> Counter:
    """Multiset of (track, time, duration, pitch, velocity) of the notes of ``score`` (its own ticks)."""
    rows: Counter = Counter()
    for t, track in enumerate(score.tracks):
        if tracks is not None and t not in tracks:
            continue
        n = track.notes.numpy()
        rows.update(zip([t] * len(n["time"]), n["time"].tolist(), n["duration"].tolist(), n["pitch"].tolist(),
                        n["velocity"].tolist()))
    return rows


def differences(a: Counter, b: Counter) -> int:
    """Notes in one multiset and not the other (a changed note counts twice: gone and new)."""
    return sum(((a - b) + (b - a)).values())


def in_window(notes: Notes, begin: float, stop: float) -> Notes:
    """The notes with an onset in ``[begin, stop)`` (absolute times kept)."""
    keep = (notes.start >= begin - EPS) & (notes.start < stop - EPS)
    return Notes(notes.start[keep], notes.end[keep], notes.pitch[keep])


def join(a: Notes, b: Notes) -> Notes:
    return Notes(np.r_[a.start, b.start], np.r_[a.end, b.end], np.r_[a.pitch, b.pitch])


def pc_distance(a: Notes, b: Notes) -> float:
    """Jensen-Shannon distance (bits) of two sets of notes' pitch-class histograms (NaN when one is silent)."""
    ha, hb = pitch_class_histogram(a), pitch_class_histogram(b)
    return jensen_shannon(ha, hb) if ha.sum() > 0 and hb.sum() > 0 else float("nan")


# ------------------------------------------------------------------------------ infill


@dataclass
class GapResult:
    piece: str
    composer: str
    seed: int
    mode: str
    start: float
    end: float
    outside_violations: int
    exact_length: bool
    held_past_t2: int
    n_notes: int
    density_ratio: float  # gap notes/s over the surroundings' notes/s
    real_density_ratio: float  # the same for the real gap
    pc_jsd: float  # gap vs surroundings, pitch-class histograms
    real_pc_jsd: float
    wall_seconds: float


def infill_gap(gen, score: symusic.Score, piece_id: str, composer: str | None, seed: int,  # noqa: ANN001
               args: argparse.Namespace) -> GapResult:
    t1 = args.excerpt / 2 - args.gap / 2
    began = time.perf_counter()
    out = gen.infill(score, t1, t1 + args.gap, composer=composer, n=1, seed=seed, temperature=args.temperature,
                     top_p=args.top_p, name=piece_id)[0]
    wall = time.perf_counter() - began
    assert out.score.tpq == score.tpq
    # guarantees, in the score's own ticks (the tokenizer grid: tpq == ticks per beat)
    scale = score.tpq / gen.vocab.config.ticks_per_beat
    lo, hi = out.start_tick * scale, out.end_tick * scale
    outside = range(len(out.score.tracks))

    def kept(rows: Counter) -> Counter:
        return Counter({r: c for r, c in rows.items() if r[1] < lo or r[1] >= hi})

    violations = differences(kept(note_rows(score, outside)), kept(note_rows(out.score, outside)))
    waits = int(np.asarray(gen.vocab.wait_ticks)[out.span_ids].sum())
    new = [r for r in note_rows(out.score).elements() if lo <= r[1] < hi]
    held = sum(r[1] + r[2] > hi for r in new)
    # texture, in seconds
    source, edited = score_notes(score), score_notes(out.score)
    a, b = out.start, out.end
    around = join(in_window(source, a - args.context, a), in_window(source, b, b + args.context))
    gap, real = in_window(edited, a, b), in_window(source, a, b)
    rate_around = len(around) / (2 * args.context)

    def ratio(notes: Notes) -> float:
        return len(notes) / (b - a) / rate_around if rate_around > 0 else float("nan")

    result = GapResult(piece=piece_id, composer=composer or "", seed=seed, mode=out.mode, start=a, end=b,
                       outside_violations=violations, exact_length=waits == out.end_tick - out.start_tick,
                       held_past_t2=int(held), n_notes=out.n_notes, density_ratio=ratio(gap),
                       real_density_ratio=ratio(real), pc_jsd=pc_distance(gap, around),
                       real_pc_jsd=pc_distance(real, around), wall_seconds=wall)
    log.info("%s: gap %.2f-%.2f s (%s), %d notes, density x%.2f (real x%.2f), JSD %.3f (real %.3f), %.1f s",
             piece_id, a, b, out.mode, out.n_notes, result.density_ratio, result.real_density_ratio, result.pc_jsd,
             result.real_pc_jsd, wall)
    return result


# ------------------------------------------------------------------------------ accompaniment


def split_melody(score: symusic.Score) -> tuple[symusic.Score, symusic.Score]:
    """(melody, the rest) of ``score``, same tempo map: the first pitched track when there are several,
    else the skyline of the one (the highest note of each onset, unless a higher melody note still sounds)."""
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    melody, rest = score.copy(), score.copy()
    if len(pitched) > 1:
        first = next(i for i, t in enumerate(score.tracks) if not t.is_drum and len(t.notes))
        melody.tracks = [melody.tracks[first]]
        rest.tracks = [t for i, t in enumerate(rest.tracks) if i != first]
        return melody, rest
    track = pitched[0] if pitched else symusic.Track("", 0, False)
    n = track.notes.numpy()
    order = np.lexsort((-n["pitch"], n["time"]))
    top = np.zeros(len(order), bool)
    sounding: list[tuple[int, int]] = []  # (end, pitch) of the melody notes so far that may still sound
    last_time = None
    for k in order:
        t, p = int(n["time"][k]), int(n["pitch"][k])
        if t == last_time:
            continue  # a lower note of the same onset
        last_time = t
        sounding = [(e, q) for e, q in sounding if e > t]
        if any(q > p for _, q in sounding):
            continue  # under a melody note still sounding
        top[k] = True
        sounding.append((t + int(n["duration"][k]), p))
    fields = ("time", "duration", "pitch", "velocity")
    tracks = []
    for keep in (top, ~top):
        part = symusic.Track("melody" if keep is top else track.name, int(track.program), False)
        part.notes = symusic.Note.from_numpy(*(n[f][keep] for f in fields))
        tracks.append(part)
    melody.tracks, rest.tracks = [tracks[0]], [tracks[1]]
    return melody, rest


def aligned_share(onsets: np.ndarray, melody: np.ndarray) -> float:
    """Share of the distinct ``onsets`` (seconds) within ``ALIGN_SECONDS`` of one of ``melody``'s."""
    onsets, melody = np.unique(np.round(onsets, 3)), np.unique(np.round(melody, 3))
    if not len(onsets) or not len(melody):
        return float("nan")
    k = np.searchsorted(melody, onsets)
    right, left = melody[np.minimum(k, len(melody) - 1)], melody[np.maximum(k - 1, 0)]
    nearest = np.minimum(np.abs(onsets - right), np.abs(onsets - left))
    return float((nearest <= ALIGN_SECONDS + 1e-9).mean())


def key_profile(notes: Notes) -> np.ndarray | None:
    """The Krumhansl-Kessler profile (normalized, [12]) of the notes' estimated key (None without one)."""
    key = estimate_key(pitch_class_histogram(notes))
    if key is None:
        return None
    profile = np.roll(KK_MINOR if key.minor else KK_MAJOR, key.tonic)
    return profile / profile.sum()


def key_distance(part: Notes, melody: Notes, seconds: float, window: float, context: float) -> float:
    """Mean over windows of the JSD between ``part``'s pitch classes and the melody's local key profile."""
    out = []
    for begin in np.arange(0.0, seconds - EPS, window):
        profile = key_profile(in_window(melody, begin - context, begin + window + context))
        hist = pitch_class_histogram(in_window(part, begin, begin + window))
        if profile is not None and hist.sum() > 0:
            out.append(jensen_shannon(hist, profile))
    return float(np.mean(out)) if out else float("nan")


@dataclass
class AccompanyResult:
    piece: str
    composer: str
    seed: int
    melody_notes: int
    fixed_violations: int
    n_notes: int
    real_notes: int  # the real piece's other notes (what the accompaniment replaces)
    aligned: float  # share of the accompaniment's onsets within 50 ms of a melody onset
    real_aligned: float  # the same for the real piece's other notes
    key_jsd: float  # accompaniment vs the melody's local key
    real_key_jsd: float
    wall_seconds: float


def accompany_piece(gen, score: symusic.Score, piece_id: str, composer: str | None, seed: int,  # noqa: ANN001
                    args: argparse.Namespace) -> AccompanyResult:
    melody, rest = split_melody(score)
    began = time.perf_counter()
    out = gen.accompany(melody, composer, args.accompany_with, n=1, seed=seed, temperature=args.temperature,
                        top_p=args.top_p, name=piece_id)[0]
    wall = time.perf_counter() - began
    fixed = range(len(melody.tracks))
    violations = differences(note_rows(melody), note_rows(out.score, fixed))
    generated = out.score.copy()
    generated.tracks = [t for i, t in enumerate(generated.tracks) if i not in fixed]
    tune, part, real = score_notes(melody), score_notes(generated), score_notes(rest)
    seconds = float(score.to("second").end())
    result = AccompanyResult(
        piece=piece_id, composer=composer or "", seed=seed, melody_notes=len(tune), fixed_violations=violations,
        n_notes=len(part), real_notes=len(real), aligned=aligned_share(part.start, tune.start),
        real_aligned=aligned_share(real.start, tune.start),
        key_jsd=key_distance(part, tune, seconds, args.key_window, args.key_context),
        real_key_jsd=key_distance(real, tune, seconds, args.key_window, args.key_context), wall_seconds=wall)
    log.info("%s: accompaniment of %d melody notes: %d notes (real %d), aligned %.2f (real %.2f), key JSD %.3f "
             "(real %.3f), %.1f s", piece_id, len(tune), len(part), len(real), result.aligned, result.real_aligned,
             result.key_jsd, result.real_key_jsd, wall)
    return result


# ------------------------------------------------------------------------------ summary


def nanmean(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return float(np.mean(values)) if values else float("nan")


def geomean(values: list[float]) -> float:
    values = [v for v in values if v == v and v > 0]
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def within(ratio: float) -> bool:
    return bool(ratio == ratio and abs(ratio - 1) <= TOLERANCE)


def infill_summary(rows: list[GapResult]) -> dict:
    n = len(rows)
    return {"pieces": n, "modes": dict(Counter(r.mode for r in rows)),
            "outside_violations": sum(r.outside_violations for r in rows),
            "exact_length": sum(r.exact_length for r in rows), "held_past_t2": sum(r.held_past_t2 for r in rows),
            "density_ratio_geomean": geomean([r.density_ratio for r in rows]),
            "density_within": sum(within(r.density_ratio) for r in rows) / n,
            "real_density_within": sum(within(r.real_density_ratio) for r in rows) / n,
            "pc_jsd_mean": nanmean([r.pc_jsd for r in rows]),
            "real_pc_jsd_mean": nanmean([r.real_pc_jsd for r in rows]),
            "wall_seconds_mean": nanmean([r.wall_seconds for r in rows]),
            "wall_seconds_max": max(r.wall_seconds for r in rows)}


def accompany_summary(rows: list[AccompanyResult]) -> dict:
    return {"pieces": len(rows), "fixed_violations": sum(r.fixed_violations for r in rows),
            "notes_ratio_geomean": geomean([r.n_notes / r.real_notes for r in rows if r.real_notes]),
            "notes_within": sum(r.real_notes > 0 and within(r.n_notes / r.real_notes) for r in rows) / len(rows),
            "aligned_mean": nanmean([r.aligned for r in rows]),
            "real_aligned_mean": nanmean([r.real_aligned for r in rows]),
            "key_jsd_mean": nanmean([r.key_jsd for r in rows]),
            "real_key_jsd_mean": nanmean([r.real_key_jsd for r in rows]),
            "wall_seconds_mean": nanmean([r.wall_seconds for r in rows]),
            "wall_seconds_max": max(r.wall_seconds for r in rows)}


def fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def targets_table(infill: dict | None, acc: dict | None, args: argparse.Namespace) -> tuple[str, dict]:
    """The issue's figures beside their targets (markdown) and the same as a dict of (value, target, met)."""
    rows: list[tuple[str, str, str, bool]] = []
    if infill:
        n = infill["pieces"]
        rows += [
            ("infill: notes before t1 / from t2 on changed", str(infill["outside_violations"]), "0",
             infill["outside_violations"] == 0),
            ("infill: gaps of exactly t2 - t1 ticks", f"{infill['exact_length']} of {n}", f"{n} of {n}",
             infill["exact_length"] == n),
            ("infill: generated notes held past t2", str(infill["held_past_t2"]), "0", infill["held_past_t2"] == 0),
            (f"infill: gap notes/s within +-35% of the surrounding {2 * args.context:g} s",
             f"{100 * infill['density_within']:.0f}% (geo. mean ratio {fmt(infill['density_ratio_geomean'])}; "
             f"real gap {100 * infill['real_density_within']:.0f}%)", "100%", infill["density_within"] == 1.0),
            ("infill: pitch-class JSD gap vs surroundings (bits)",
             f"{fmt(infill['pc_jsd_mean'], 3)} (real gap {fmt(infill['real_pc_jsd_mean'], 3)})",
             f"<= {fmt(KEY_SLACK * infill['real_pc_jsd_mean'], 3)} (real +20%)",
             infill["pc_jsd_mean"] <= KEY_SLACK * infill["real_pc_jsd_mean"]),
            (f"infill: wall time per {args.gap:g} s gap ({args.threads} thread(s))",
             f"mean {fmt(infill['wall_seconds_mean'], 1)} s, max {fmt(infill['wall_seconds_max'], 1)} s",
             f"<= {MAX_GAP_SECONDS:g} s", infill["wall_seconds_max"] <= MAX_GAP_SECONDS)]
    if acc:
        rows += [
            ("accompany: melody notes changed", str(acc["fixed_violations"]), "0", acc["fixed_violations"] == 0),
            ("accompany: onsets within 50 ms of a melody onset",
             f"{fmt(acc['aligned_mean'])} (real {fmt(acc['real_aligned_mean'])})",
             f">= {fmt(ALIGN_FLOOR * acc['real_aligned_mean'])} (real -20%)",
             acc["aligned_mean"] >= ALIGN_FLOOR * acc["real_aligned_mean"]),
            ("accompany: notes against the real other notes", f"x{fmt(acc['notes_ratio_geomean'])} (geometric "
             f"mean), {100 * acc['notes_within']:.0f}% of pieces within +-{100 * TOLERANCE:.0f}%", "(not a target)",
             True),
            ("accompany: pitch-class JSD to the melody's local key (bits)",
             f"{fmt(acc['key_jsd_mean'], 3)} (real {fmt(acc['real_key_jsd_mean'], 3)})",
             f"<= {fmt(KEY_SLACK * acc['real_key_jsd_mean'], 3)} (real +20%)",
             acc["key_jsd_mean"] <= KEY_SLACK * acc["real_key_jsd_mean"]),
            (f"accompany: wall time per {args.excerpt:g} s piece", f"mean {fmt(acc['wall_seconds_mean'], 1)} s, "
             f"max {fmt(acc['wall_seconds_max'], 1)} s", "(not a target)", True)]
    lines = ["| figure | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {name} | {value} | {target} | {'yes' if met else '**no**'} |" for name, value, target, met in rows]
    return "\n".join(lines), {name: {"measured": value, "target": target, "met": bool(met)}
                              for name, value, target, met in rows}


def per_piece_table(infill: list[GapResult], acc: list[AccompanyResult]) -> str:
    lines = []
    if infill:
        lines += ["| piece | mode | gap (s) | changed outside | exact | held past t2 | notes | density x (real) "
                  "| JSD (real) | wall (s) |", "|---" * 10 + "|"]
        lines += [f"| {r.piece} | {r.mode} | {r.start:.2f}-{r.end:.2f} | {r.outside_violations} | "
                  f"{'yes' if r.exact_length else '**no**'} | {r.held_past_t2} | {r.n_notes} | {fmt(r.density_ratio)} "
                  f"({fmt(r.real_density_ratio)}) | {fmt(r.pc_jsd, 3)} ({fmt(r.real_pc_jsd, 3)}) | "
                  f"{r.wall_seconds:.1f} |" for r in infill]
    if acc:
        lines += ["", "| piece | melody notes | changed | notes (real) | aligned (real) | key JSD (real) | wall (s) |",
                  "|---" * 7 + "|"]
        lines += [f"| {r.piece} | {r.melody_notes} | {r.fixed_violations} | {r.n_notes} ({r.real_notes}) | "
                  f"{fmt(r.aligned)} ({fmt(r.real_aligned)}) | {fmt(r.key_jsd, 3)} ({fmt(r.real_key_jsd, 3)}) | "
                  f"{r.wall_seconds:.1f} |"
                  for r in acc]
    return "\n".join(lines)


def clean(v: object) -> object:
    """JSON-safe copy: NaN becomes null."""
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    return None if isinstance(v, float) and v != v else v


# ------------------------------------------------------------------------------ command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model, run or checkpoint folder (default: the bundled model)")
    parser.add_argument("--data", required=True, help="dataset folder built by `muse data build`")
    parser.add_argument("--n", type=int, default=20, help="pieces (default: 20)")
    parser.add_argument("--split", choices=("all", "train", "valid"), default="valid",
                        help="where the pieces come from (default: valid)")
    parser.add_argument("--instruments", default="piano", help="the pieces' exact instrumentation (default: piano)")
    parser.add_argument("--offset", type=float, default=10.0, help="where the excerpt starts, seconds (default: 10)")
    parser.add_argument("--excerpt", type=float, default=20.0, help="excerpt length, seconds (default: 20)")
    parser.add_argument("--gap", type=float, default=4.0, help="gap in its middle, seconds (default: 4)")
    parser.add_argument("--context", type=float, default=4.0,
                        help="seconds before and after the gap it is compared with (default: 4)")
    parser.add_argument("--accompany-with", default="piano", help="instruments of the accompaniment (default: piano)")
    parser.add_argument("--key-window", type=float, default=4.0, help="local key windows, seconds (default: 4)")
    parser.add_argument("--key-context", type=float, default=2.0,
                        help="melody seconds on either side of a window its key is estimated from (default: 2)")
    parser.add_argument("--tasks", default="infill,accompany", help="infill, accompany or both (default: both)")
    parser.add_argument("--temperature", type=float, default=D.TEMPERATURE)
    parser.add_argument("--top-p", type=float, default=D.TOP_P)
    parser.add_argument("--seed", type=int, default=0, help="piece k uses seed SEED + k (default: 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the target's cores)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 pieces, 6 s excerpts from the start, 2 s gaps (overrides those options)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    args.command = shlex.join([os.path.relpath(sys.executable), "benchmarks/editing.py", *(argv or sys.argv[1:])])
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, min(getattr(args, name), value) if name == "n" else value)
    args.instruments = sorted(c.strip() for c in args.instruments.split(",") if c.strip())
    args.accompany_with = [c.strip() for c in args.accompany_with.split(",") if c.strip()]
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    return args


def check_args(args: argparse.Namespace) -> None:
    if args.n < 1 or min(args.excerpt, args.gap, args.context, args.key_window) <= 0 or args.offset < 0:
        raise UserError("--n, --excerpt, --gap, --context and --key-window must be positive, --offset >= 0")
    if args.gap + 2 * args.context > args.excerpt + EPS:
        raise UserError(f"the gap and its surroundings ({args.gap + 2 * args.context:g} s) do not fit "
                        f"the excerpt ({args.excerpt:g} s)")
    if not args.tasks or set(args.tasks) - {"infill", "accompany"}:
        raise UserError(f"--tasks must name infill and/or accompany, not {','.join(args.tasks)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from muse.generate import MuseGenerator

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    gaps: list[GapResult] = []
    accompaniments: list[AccompanyResult] = []
    try:
        check_args(args)
        ds = TokenDataset(args.data)
        tokenizer = ds.load_tokenizer()
        gen = MuseGenerator(model=args.model)
        chosen = choose(ds, tokenizer.vocab, args)
        with torch.no_grad():
            for k, i in enumerate(chosen):
                record = ds.pieces[i]
                composer = record.composer if record.composer in gen.composers else None
                score = excerpt(ds, tokenizer, i, args.offset, args.excerpt)
                if "infill" in args.tasks:
                    gaps.append(infill_gap(gen, score, record.id, composer, args.seed + k, args))
                if "accompany" in args.tasks:
                    accompaniments.append(accompany_piece(gen, score, record.id, composer, args.seed + k, args))
    except USER_ERRORS as err:
        print(f"editing: error: {err}", file=sys.stderr)
        return 2
    total = time.perf_counter() - began
    infill = infill_summary(gaps) if gaps else None
    acc = accompany_summary(accompaniments) if accompaniments else None
    table, targets = targets_table(infill, acc, args)
    modes = ", ".join(f"{m} {c}" for m, c in (infill or {}).get("modes", {}).items())
    print(f"\n$ {args.command}\n\n{gen.loaded.path}, data {args.data} ({args.split} split, "
          f"{','.join(args.instruments)}): {len(chosen)} pieces, {args.excerpt:g} s excerpts from {args.offset:g} s, "
          f"{args.gap:g} s gaps{f' ({modes})' if modes else ''}, accompaniment with {','.join(args.accompany_with)}; "
          f"temperature {args.temperature:g}, top-p {args.top_p:g}; {torch.get_num_threads()} thread(s), "
          f"{total:.0f} s in all\n")
    print(table)
    print()
    print(per_piece_table(gaps, accompaniments))
    if args.json:
        settings = {k: getattr(args, k) for k in ("model", "data", "n", "split", "instruments", "offset", "excerpt",
                                                   "gap", "context", "accompany_with", "key_window", "key_context",
                                                   "tasks", "temperature", "top_p", "seed", "threads", "quick",
                                                   "command")}
        out = {"settings": settings, "model": str(gen.loaded.path), "targets": targets,
               "infill": {"overall": infill, "pieces": [asdict(r) for r in gaps]} if gaps else None,
               "accompany": {"overall": acc, "pieces": [asdict(r) for r in accompaniments]} if accompaniments else None,
               "total_seconds": total}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(clean(out), indent=1, allow_nan=False) + "\n")
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
