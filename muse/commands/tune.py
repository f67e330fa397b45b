"""``muse tune``: preference tuning (DPO) of a saved model on preference pairs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser(
        "tune", help="tune a model on preference pairs (DPO)",
        description="Direct Preference Optimization of MODEL on PREFS (pairs written by 'muse feedback export "
                    "--pairs' or the preference benchmark, or the events of 'muse feedback export') against the "
                    "frozen original, on the shared Trainer (resumable). The tuned model is written to RUN/model, "
                    "a normal model folder ('muse generate --model RUN'). See docs/PREFERENCES.md.")
    t.add_argument("--model", required=True, metavar="MODEL", help="model folder or training run folder to tune")
    t.add_argument("--prefs", required=True, metavar="PREFS.jsonl", help="preference pairs")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder (e.g. runs/dpo)")
    t.add_argument("--method", choices=("dpo",), default="dpo", help="tuning method (default: dpo)")
    t.add_argument("--beta", type=float, default=0.1,
                   help="DPO's beta: smaller lets the model move further from the original (default: 0.1)")
    t.add_argument("--steps", type=int, default=200, help="optimizer steps (default: 200)")
    t.add_argument("--batch-size", type=int, default=8, help="pairs per step (default: 8)")
    t.add_argument("--lr", type=float, default=1e-5, help="peak learning rate (default: 1e-5)")
    t.add_argument("--context", type=int, default=256,
                   help="prompt tokens kept before a completion when the prime is long (default: 256)")
    t.add_argument("--seed", type=int, default=0, help="seed of the pair order (default: 0)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    t.add_argument("--override", action="append", default=[], metavar="KEY",
                   help="with --resume: accept a changed config.train.steps (or log_every, checkpoint_every)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    from muse.core.errors import UserError
    from muse.tune import tune, tune_config

    if args.override and not args.resume:
        raise UserError("--override only applies with --resume")
    config = tune_config(args.steps, args.batch_size, args.lr, args.beta, seed=args.seed, context=args.context)
    result = tune(args.model, args.prefs, args.out, config, resume=args.resume, overrides=tuple(args.override),
                  progress=not args.no_progress)
    print(f"step {result.step}: {result.pairs} pairs, log-ratio margin over the original {result.margin:+.3f} "
          f"(chosen ahead in {100 * result.accuracy:.0f}% of pairs); tuned model in {result.model_dir}")
    return 0
