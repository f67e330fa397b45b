"""Does every requested instrument play? Pieces for sets of instruments, with and without the rules.

For each instrument set of ``--sets`` (default ``piano,strings,harp;piano,bass,drums;strings,brass,reed``)
and each pair ``REST:SHARE`` of ``--rules`` (the longest rest in seconds and the least share of the notes,
``muse.requests``; 0 = that rule off; default ``0:0,4:0,4:0.08``: the model alone, the rest rule alone, the
defaults), ``--n`` pieces (default 20) of ``--seconds`` seconds (default 20) by ``--composer`` (default
chopin; ``none``: unknown) are generated in one batch with ``MuseGenerator.generate(...,
max_instrument_rest=REST, min_instrument_share=SHARE)``, seeds ``--seed``, ``--seed`` + 1, ... (the same
for every rule: common random numbers). Reported per set and limit:
how many pieces have a note-on (or drum hit) of every requested instrument, how many give each at
least ``--share`` (default 5%) of the piece's note-ons (issue 18's target: 90% of the pieces), the mean
share of each piece's least-played requested instrument, and the longest stretch any requested
instrument went without a note-on (the piece's start and end count as edges).

    .venv/bin/python benchmarks/instruments.py --model muse/assets/model --json instruments.json
    .venv/bin/python benchmarks/instruments.py --sets piano,strings,harp --n 4 --seconds 6
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from musetok.sequence import token_seconds
from musetok.vocab import Kind, Vocab

from muse.core.errors import USER_ERRORS

log = logging.getLogger("benchmarks.instruments")


@dataclass
class Result:
    instruments: list[str]
    rest: float  # the limit (0: off)
    floor: float  # the least share of the notes (0: off)
    pieces: int
    all_present: int  # pieces with every requested instrument
    all_share: int  # pieces giving each at least the share of note-ons
    least_share: float  # mean over pieces of the smallest requested instrument's share
    longest_rest: float  # the longest gap of any requested instrument in any piece, seconds
    seconds: float  # wall time of the batch


def onsets(ids: np.ndarray, vocab: Vocab) -> dict[int, np.ndarray]:
    """Seconds of the note-ons and drum hits of each instrument key in ``ids`` (T,)."""
    at = token_seconds(ids, vocab)
    on = np.isin(vocab.kind[ids], (Kind.NOTE, Kind.DRUM)) & vocab.is_on[ids]
    return {int(k): at[on & (vocab.key[ids] == k)] for k in np.unique(vocab.key[ids[on]])}


def measure(gen, instruments: list[str], rest: float, floor: float,  # noqa: ANN001
            args: argparse.Namespace) -> Result:
    started = time.monotonic()
    composer = None if args.composer == "none" else args.composer
    pieces = gen.generate(composer, instruments, seconds=args.seconds, seed=args.seed, n=args.n,
                          max_instrument_rest=rest, min_instrument_share=floor)
    keys = [gen.instruments.index(name) for name in instruments]
    present = share_ok = 0
    least, longest = [], 0.0
    for piece in pieces:
        found = onsets(piece.ids, gen.vocab)
        counts = np.array([len(found.get(k, ())) for k in keys])
        total = max(sum(len(v) for v in found.values()), 1)
        present += bool((counts > 0).all())
        share_ok += bool((counts >= args.share * total).all())
        least.append(counts.min() / total)
        for k in keys:
            edges = np.r_[0.0, np.sort(found.get(k, np.zeros(0))), piece.seconds]
            longest = max(longest, float(np.diff(edges).max()))
    return Result(instruments, rest, floor, len(pieces), present, share_ok, float(np.mean(least)), longest,
                  time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument("--sets", default="piano,strings,harp;piano,bass,drums;strings,brass,reed",
                   help="instrument sets, ';' between sets, ',' within one")
    p.add_argument("--rules", default="0:0,4:0,4:0.08",
                   help="REST:SHARE pairs, ',' between them: the longest rest (seconds) and the least share of "
                        "the notes; 0 = that rule off (default: 0:0,4:0,4:0.08)")
    p.add_argument("--composer", default="chopin", help="composer, or none (default: chopin)")
    p.add_argument("--n", type=int, default=20, help="pieces per set and limit (default: 20)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each piece (default: 20)")
    p.add_argument("--seed", type=int, default=1000, help="seed of the first piece (default: 1000)")
    p.add_argument("--share", type=float, default=0.05, help="share of note-ons each must have (default: 0.05)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from muse.generate import MuseGenerator

    try:
        gen = MuseGenerator(args.model)
        sets = [[x.strip() for x in group.split(",") if x.strip()] for group in args.sets.split(";")]
        rules = [tuple(float(x) for x in pair.split(":")) for pair in args.rules.split(",")]
        if any(len(rule) != 2 for rule in rules):
            raise ValueError(f"--rules takes REST:SHARE pairs, not {args.rules!r}")
        results = [measure(gen, names, rest, floor, args) for names in sets for rest, floor in rules]
    except (*USER_ERRORS, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'instruments':<24} {'rest':>5} {'floor':>5} {'all play':>9} {f'each >= {args.share:.0%}':>10} "
          f"{'least share':>11} {'longest rest':>12} {'wall':>7}")
    for r in results:
        print(f"{','.join(r.instruments):<24} {r.rest or 'off':>5} {r.floor or 'off':>5} "
              f"{r.all_present:>4}/{r.pieces:<4} {r.all_share:>5}/{r.pieces:<4} {r.least_share:>11.1%} "
              f"{r.longest_rest:>10.1f} s {r.seconds:>6.0f}s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in results], fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
