"""Do continuations keep the prime's texture? Continue real held-out pieces and compare.

``--n`` pieces (default 20) of the dataset's ``--split`` (default: valid, pieces not used in
training) by the ``--composers`` (default: the 8 of issue 15) with exactly the ``--instruments``
(default: piano) and at least ``--prime`` + ``--seconds`` long are chosen deterministically: the
composers in turn (round robin, in the order given), each composer's pieces longest first. Each
piece's first ``--prime`` seconds (default 10: the tokens before the first one at or past 10 s,
decoded with the dataset's tokenizer to a score; notes sounding at the cut end there) prime
``MuseGenerator.continue_midi`` for ``--seconds`` seconds (default 15) in the piece's composer's
style (``keep_prime=False``: the continuation alone is measured), one piece per prime, seed
``--seed`` + its number.

Per piece (``muse.music_stats``, pitched notes): median note length (s) and notes per second of
the prime, of the continuation and, for scale, of the real next ``--seconds`` of the piece
(notes cut at the window's end), the ratios continuation / prime, whether each is within +-35%
(issue 15's target: both, for every piece), and the longest note of the continuation (s). The
last row pools the pieces: mean ratios (geometric) and the share within +-35%.

    .venv/bin/python benchmarks/continuation.py --model runs/small --data DATA --json cont.json
    .venv/bin/python benchmarks/continuation.py --data DATA --n 2 --prime 4 --seconds 4
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from musetok.sequence import token_seconds
from musetok.vocab import Kind

from muse import sampling_defaults as D
from muse.core.errors import USER_ERRORS, UserError
from muse.core.token_shards import TokenDataset
from muse.music_stats import median_duration, score_notes

log = logging.getLogger("benchmarks.continuation")
DEFAULT_COMPOSERS = "bach,mozart,beethoven,chopin,haydn,schubert,schumann,debussy"
TOLERANCE = 0.35


@dataclass
class PieceResult:
    piece: str
    composer: str
    seed: int
    prime_seconds: float
    prime_median: float
    prime_notes_per_second: float
    real_median: float  # the real next --seconds of the piece
    real_notes_per_second: float
    median: float  # the continuation
    notes_per_second: float
    longest_note: float
    n_notes: int
    seconds: float
    gen_seconds: float

    @property
    def median_ratio(self) -> float:
        return self.median / self.prime_median if self.prime_median > 0 else float("nan")

    @property
    def rate_ratio(self) -> float:
        return self.notes_per_second / self.prime_notes_per_second if self.prime_notes_per_second > 0 else float("nan")

    @property
    def real_median_ratio(self) -> float:
        return self.real_median / self.prime_median if self.prime_median > 0 else float("nan")

    @property
    def real_rate_ratio(self) -> float:
        return (self.real_notes_per_second / self.prime_notes_per_second if self.prime_notes_per_second > 0
                else float("nan"))


def within(ratio: float) -> bool:
    return bool(ratio == ratio and abs(ratio - 1) <= TOLERANCE)


def instruments_of(ds: TokenDataset, vocab, i: int) -> tuple[str, ...]:  # noqa: ANN001
    header = ds.tokens(i)[: ds.pieces[i].header]
    return tuple(sorted(vocab.tokens[int(t)] for t in header if vocab.kind[int(t)] == Kind.INSTRUMENT))


def choose(ds: TokenDataset, vocab, args: argparse.Namespace) -> list[int]:  # noqa: ANN001
    """Round robin over the composers, each one's eligible pieces longest first, ``args.n`` in all."""
    wanted = tuple(sorted(args.instruments))
    queues = []
    for composer in args.composers:
        eligible = [i for i, p in enumerate(ds.pieces) if p.composer == composer and args.split in ('all', p.split)
                    and p.seconds >= args.prime + args.seconds and instruments_of(ds, vocab, i) == wanted]
        eligible.sort(key=lambda i: (-ds.pieces[i].seconds, ds.pieces[i].id))
        log.info("%s: %d eligible %s pieces", composer, len(eligible), args.split)
        queues.append(eligible)
    chosen: list[int] = []
    while len(chosen) < args.n and any(queues):
        for q in queues:
            if q and len(chosen) < args.n:
                chosen.append(q.pop(0))
    if not chosen:
        raise UserError(f"{args.data}: no {args.split} pieces by {', '.join(args.composers)} for "
                        f"{','.join(wanted)} of at least {args.prime + args.seconds:g} s")
    if len(chosen) < args.n:
        log.warning("only %d eligible pieces (asked for %d)", len(chosen), args.n)
    return chosen


def continue_piece(gen, ds: TokenDataset, tokenizer, i: int, k: int, args: argparse.Namespace) -> PieceResult:  # noqa: ANN001
    record = ds.pieces[i]
    ids = np.asarray(ds.tokens(i), np.int64)
    times = token_seconds(ids, tokenizer.vocab)
    cut = int(np.searchsorted(times, args.prime, side="left"))  # tokens before the first at or past --prime
    prime_ids = ids[:cut]
    prime_seconds = tokenizer.seconds(prime_ids)
    prime = tokenizer.decode(prime_ids).score
    prime_notes = score_notes(prime)
    whole = score_notes(tokenizer.decode(ids).score)
    real = whole.window(prime_seconds, prime_seconds + args.seconds)
    seed = args.seed + k
    start = time.perf_counter()
    piece = gen.continue_midi(prime, record.composer, args.seconds, keep_prime=False, temperature=args.temperature,
                              top_p=args.top_p, seed=seed, n=1, guidance=args.guidance)[0]
    elapsed = time.perf_counter() - start
    notes = score_notes(piece.score)
    length = piece.seconds
    result = PieceResult(
        piece=record.id, composer=record.composer, seed=seed, prime_seconds=prime_seconds,
        prime_median=median_duration(prime_notes), prime_notes_per_second=len(prime_notes) / prime_seconds,
        real_median=median_duration(real), real_notes_per_second=len(real) / args.seconds,
        median=median_duration(notes), notes_per_second=len(notes) / length if length > 0 else float("nan"),
        longest_note=float(notes.duration.max()) if len(notes) else float("nan"), n_notes=len(notes),
        seconds=length, gen_seconds=elapsed)
    log.info("%s (%s): median %.2f s vs prime %.2f s, %.1f notes/s vs %.1f, longest %.1f s (%.1f s)", record.id,
             record.composer, result.median, result.prime_median, result.notes_per_second,
             result.prime_notes_per_second, result.longest_note, elapsed)
    return result


def fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def geomean(values: list[float]) -> float:
    values = [v for v in values if v == v and v > 0]
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def summary(results: list[PieceResult]) -> dict:
    n = len(results)
    return {"pieces": n,
            "median_ratio_geomean": geomean([r.median_ratio for r in results]),
            "notes_per_second_ratio_geomean": geomean([r.rate_ratio for r in results]),
            "median_within": sum(within(r.median_ratio) for r in results) / n,
            "notes_per_second_within": sum(within(r.rate_ratio) for r in results) / n,
            "both_within": sum(within(r.median_ratio) and within(r.rate_ratio) for r in results) / n,
            "real_median_within": sum(within(r.real_median_ratio) for r in results) / n,
            "real_notes_per_second_within": sum(within(r.real_rate_ratio) for r in results) / n,
            "longest_note_mean": float(np.nanmean([r.longest_note for r in results])),
            "longest_note_max": float(np.nanmax([r.longest_note for r in results])),
            "generation_seconds": float(sum(r.gen_seconds for r in results))}


def markdown(results: list[PieceResult]) -> str:
    def ok(ratio: float) -> str:
        return "ok" if within(ratio) else "**out**"

    lines = ["| piece | composer | median note prime / cont. / real next (s) | ratio cont./prime "
             "| notes/s prime / cont. / real next | ratio cont./prime | longest note in cont. (s) |", "|---" * 7 + "|"]
    for r in results:
        lines.append(f"| {r.piece} | {r.composer} | {fmt(r.prime_median)} / {fmt(r.median)} / {fmt(r.real_median)} "
                     f"| {fmt(r.median_ratio)} {ok(r.median_ratio)} | {fmt(r.prime_notes_per_second, 1)} / "
                     f"{fmt(r.notes_per_second, 1)} / {fmt(r.real_notes_per_second, 1)} | {fmt(r.rate_ratio)} "
                     f"{ok(r.rate_ratio)} | {fmt(r.longest_note, 1)} |")
    s = summary(results)
    lines.append(f"| **all ({s['pieces']})** | | geometric mean ratio | {fmt(s['median_ratio_geomean'])}, "
                 f"{100 * s['median_within']:.0f}% ok (real next: {100 * s['real_median_within']:.0f}%) | "
                 f"geometric mean ratio | {fmt(s['notes_per_second_ratio_geomean'])}, "
                 f"{100 * s['notes_per_second_within']:.0f}% ok (real next: "
                 f"{100 * s['real_notes_per_second_within']:.0f}%) | mean {fmt(s['longest_note_mean'], 1)}, "
                 f"max {fmt(s['longest_note_max'], 1)} |")
    lines += ["", f"Both within +-35% of the prime: {100 * s['both_within']:.0f}% of the pieces."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model, run or checkpoint folder (default: the bundled model)")
    parser.add_argument("--data", required=True, help="dataset folder built by `muse data build`")
    parser.add_argument("--composers", default=DEFAULT_COMPOSERS,
                        help=f"comma-separated (default: {DEFAULT_COMPOSERS})")
    parser.add_argument("--n", type=int, default=20, help="pieces to continue (default: 20)")
    parser.add_argument("--split", choices=("all", "train", "valid"), default="valid",
                        help="where the pieces come from (default: valid)")
    parser.add_argument("--instruments", default="piano", help="the pieces' exact instrumentation (default: piano)")
    parser.add_argument("--prime", type=float, default=10.0, help="seconds of the piece given (default: 10)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds to continue (default: 15)")
    parser.add_argument("--temperature", type=float, default=D.TEMPERATURE)
    parser.add_argument("--top-p", type=float, default=D.TOP_P)
    parser.add_argument("--guidance", type=float, default=None,
                        help="guidance weight W (default: the facade's, 2 for a model trained with composer dropout)")
    parser.add_argument("--seed", type=int, default=0, help="piece k uses seed SEED + k (default: 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    args.command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    args.composers = [c.strip() for c in args.composers.split(",") if c.strip()]
    args.instruments = [c.strip() for c in args.instruments.split(",") if c.strip()]
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from muse.generate import MuseGenerator

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    try:
        if args.n < 1 or args.prime <= 0 or args.seconds <= 0:
            raise UserError("--n, --prime and --seconds must be positive")
        ds = TokenDataset(args.data)
        tokenizer = ds.load_tokenizer()
        gen = MuseGenerator(model=args.model)
        for c in args.composers:
            if c not in gen.composers:
                raise UserError(f"the model has no composer {c!r}; it knows {', '.join(gen.composers)}")
        chosen = choose(ds, tokenizer.vocab, args)
        with torch.no_grad():
            results = [continue_piece(gen, ds, tokenizer, i, k, args) for k, i in enumerate(chosen)]
    except USER_ERRORS as err:
        print(f"continuation: error: {err}", file=sys.stderr)
        return 2
    total = time.perf_counter() - began
    guidance = "default" if args.guidance is None else format(args.guidance, "g")
    print(f"\n$ {args.command}\n\n{gen.loaded.path}, data {args.data} ({args.split} split, "
          f"{','.join(args.instruments)}): {len(results)} pieces, {args.prime:g} s prime, {args.seconds:g} s "
          f"continuation, temperature {args.temperature:g}, top-p {args.top_p:g}, guidance {guidance}; "
          f"{torch.get_num_threads()} thread(s), {total:.0f} s in all\n")
    print(markdown(results))
    if args.json:
        settings = {k: getattr(args, k) for k in ("model", "data", "composers", "n", "split", "instruments", "prime",
                                                   "seconds", "temperature", "top_p", "guidance", "seed", "threads",
                                                   "command")}
        rows = [{**asdict(r), "median_ratio": r.median_ratio, "notes_per_second_ratio": r.rate_ratio,
                 "median_within": within(r.median_ratio), "notes_per_second_within": within(r.rate_ratio)}
                for r in results]
        out = {"settings": settings, "pieces": rows, "overall": summary(results), "total_seconds": total}

        def clean(v: object) -> object:
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return None if isinstance(v, float) and v != v else v

        args.json.write_text(json.dumps(clean(out), indent=1, allow_nan=False) + "\n")
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
