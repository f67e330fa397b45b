"""Do style blends steer smoothly? The composer posterior along a blend of two composers.

For a pair A -> B (``--pair bach,chopin``) and each weight w of B in ``--weights`` (default 0, 0.25,
0.5, 0.75, 1), ``--seeds`` pieces (default 10) of ``--seconds`` seconds of ``--instruments``
(default piano) are generated in one batch with the style mix ``"A:1-w,B:w"`` of ``MuseGenerator``
(``muse.composers.mixing``: the header's composer embedding is the weighted sum; w = 0 and w = 1
are plain A and plain B). The same seed is used at every weight (common random numbers). Each piece
is scored by ``muse.composers.scoring.ComposerScorer`` (``include_header=False``: the instruments
are given, not scored; the first context window) over ALL the model's composers. Reported per
weight: the mean (and standard deviation) of the posterior of B and of A, and how many pieces the
scorer ranks B first; then Spearman's rho between the weights and the mean posterior of B (issue
15's target: >= 0.9, with and without guidance). ``--guidance 1,2`` runs every weight once per
guidance weight W (1: plain sampling) in one invocation.

    .venv/bin/python benchmarks/blend.py --model runs/small --guidance 1,2 --json blend.json
    .venv/bin/python benchmarks/blend.py --pair bach,chopin --seeds 2 --seconds 4 --weights 0,0.5,1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muse import sampling_defaults as D
from muse.core.errors import USER_ERRORS, UserError

log = logging.getLogger("benchmarks.blend")


@dataclass
class WeightResult:
    guidance: float
    weight: float  # of the second composer
    mix: str  # the --composer string passed to MuseGenerator
    second: list[float]  # posterior of the second composer, per piece
    first: list[float]  # posterior of the first composer, per piece
    top: list[str]  # the scorer's most probable composer, per piece
    gen_seconds: float
    score_seconds: float


def mix_text(first: str, second: str, weight: float) -> str:
    """The style mix with ``weight`` on ``second`` (a plain composer at 0 and 1)."""
    if weight <= 0:
        return first
    if weight >= 1:
        return second
    return f"{first}:{1 - weight:g},{second}:{weight:g}"


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties; NaN when either side is constant)."""
    from scipy.stats import spearmanr

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def parse_floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what}: not a comma-separated list of numbers: {text!r}") from None
    if not values:
        raise UserError(f"{what}: empty")
    return values


def fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def run(gen, scorer, first: str, second: str, weight: float, guidance: float,  # noqa: ANN001
        args: argparse.Namespace) -> WeightResult:
    mix = mix_text(first, second, weight)
    start = time.perf_counter()
    pieces = gen.generate(mix, args.instruments, args.seconds, temperature=args.temperature, top_p=args.top_p,
                          seed=args.seed, n=args.seeds, guidance=guidance)
    gen_seconds = time.perf_counter() - start
    start = time.perf_counter()
    posts = [scorer.score_ids(p.ids, f"{mix} #{i}") for i, p in enumerate(pieces)]
    score_seconds = time.perf_counter() - start
    i1, i2 = scorer.composers.index(first), scorer.composers.index(second)
    result = WeightResult(guidance, weight, mix, [float(p.posterior[i2]) for p in posts],
                          [float(p.posterior[i1]) for p in posts], [p.ranking()[0][0] for p in posts],
                          gen_seconds, score_seconds)
    log.info("guidance %g, %s: P(%s) %.3f, P(%s) %.3f (generated in %.1f s, scored in %.1f s)", guidance, mix,
             second, np.mean(result.second), first, np.mean(result.first), gen_seconds, score_seconds)
    return result


def markdown(results: list[WeightResult], first: str, second: str, rhos: dict[float, float]) -> str:
    lines = []
    for guidance, rho in rhos.items():
        rows = [r for r in results if r.guidance == guidance]
        lines += [f"Guidance {guidance:g}: Spearman rho (weight of {second} vs mean P({second})) = **{fmt(rho, 2)}**",
                  "", f"| weight of {second} | mix | mean P({second}) (sd) | mean P({first}) (sd) "
                  f"| ranked {second} first | ranked {first} first |", "|---" * 6 + "|"]
        for r in rows:
            n = len(r.second)
            lines.append(f"| {r.weight:g} | {r.mix} | {fmt(float(np.mean(r.second)))} ({fmt(float(np.std(r.second)))}) "
                         f"| {fmt(float(np.mean(r.first)))} ({fmt(float(np.std(r.first)))}) "
                         f"| {sum(t == second for t in r.top)}/{n} | {sum(t == first for t in r.top)}/{n} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model, run or checkpoint folder (default: the bundled model)")
    parser.add_argument("--pair", default="bach,chopin", help="FIRST,SECOND: blend from FIRST (weight 0) to SECOND "
                        "(weight 1) (default: bach,chopin)")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1", help="weights of SECOND (default: 0,0.25,0.5,0.75,1)")
    parser.add_argument("--seeds", type=int, default=10, help="pieces per weight, one batch (default: 10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of every piece (default: 20)")
    parser.add_argument("--instruments", default="piano", help="comma-separated (default: piano)")
    parser.add_argument("--guidance", default="1", help="guidance weights W, comma-separated: every weight is run "
                        "once per W (default: 1, plain sampling; e.g. 1,2)")
    parser.add_argument("--temperature", type=float, default=D.TEMPERATURE)
    parser.add_argument("--top-p", type=float, default=D.TOP_P)
    parser.add_argument("--seed", type=int, default=0, help="seed of every batch (default: 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    args.command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from muse.composers.scoring import ComposerScorer
    from muse.generate import MuseGenerator

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    try:
        names = [n.strip() for n in args.pair.split(",") if n.strip()]
        if len(names) != 2 or names[0] == names[1]:
            raise UserError(f"--pair: two different composers, FIRST,SECOND, not {args.pair!r}")
        first, second = names
        weights = parse_floats(args.weights, "--weights")
        if any(not 0 <= w <= 1 for w in weights):
            raise UserError(f"--weights: every weight between 0 and 1, not {args.weights!r}")
        guidances = parse_floats(args.guidance, "--guidance")
        args.instruments = [n.strip() for n in args.instruments.split(",") if n.strip()]
        gen = MuseGenerator(model=args.model)
        for name in (first, second):
            if name not in gen.composers:
                raise UserError(f"the model has no composer {name!r}; it knows {', '.join(gen.composers)}")
        scorer = ComposerScorer(gen.loaded, include_header=False)
        with torch.no_grad():
            results = [run(gen, scorer, first, second, w, g, args) for g in guidances for w in weights]
    except USER_ERRORS as err:
        print(f"blend: error: {err}", file=sys.stderr)
        return 2
    rhos = {g: spearman([r.weight for r in results if r.guidance == g],
                        [float(np.mean(r.second)) for r in results if r.guidance == g]) for g in guidances}
    total = time.perf_counter() - began
    print(f"\n$ {args.command}\n\n{gen.loaded.path}: {first} -> {second}, {args.seeds} pieces x {args.seconds:g} s of "
          f"{','.join(args.instruments)} per weight, temperature {args.temperature:g}, top-p {args.top_p:g}, seed "
          f"{args.seed}; posteriors over the model's {len(scorer.composers)} composers; "
          f"{torch.get_num_threads()} thread(s), {total:.0f} s in all\n")
    print(markdown(results, first, second, rhos))
    if args.json:
        settings = {k: getattr(args, k) for k in ("model", "pair", "weights", "seeds", "seconds", "instruments",
                                                   "guidance", "temperature", "top_p", "seed", "threads", "command")}
        out = {"settings": settings, "first": first, "second": second, "composers": len(scorer.composers),
               "spearman_rho": {f"{g:g}": (None if rho != rho else rho) for g, rho in rhos.items()},
               "weights": [{"guidance": r.guidance, "weight": r.weight, "mix": r.mix,
                            "mean_posterior_second": float(np.mean(r.second)),
                            "mean_posterior_first": float(np.mean(r.first)), "posterior_second": r.second,
                            "posterior_first": r.first, "top": r.top, "generation_seconds": r.gen_seconds,
                            "scoring_seconds": r.score_seconds} for r in results],
               "total_seconds": total}
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
