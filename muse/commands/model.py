"""``muse model limits``: learn note limits from a dataset and store them with a saved model."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    m = subparsers.add_parser("model", help="inspect or amend a saved model",
                              description="Commands on a saved model folder.")
    sub = m.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    lim = sub.add_parser(
        "limits", help="learn note limits from a dataset and store them with a model",
        description="Compute the longest a note sounds and the most notes sounding at once, per instrument, "
                    "and how long an exact repeat may run, from the training split of a dataset built by "
                    "'muse data build', and write them to the "
                    "model folder's note_limits.json (used by 'muse generate' and 'muse continue'). "
                    "'muse train' does this itself when it exports a model.")
    lim.add_argument("--model", required=True, metavar="MODEL", help="model folder or training run folder")
    lim.add_argument("--data", required=True, metavar="DATA", help="dataset folder (muse data build)")
    lim.add_argument("--split", choices=("train", "valid"), default="train",
                     help="split to learn from (default: train)")
    lim.add_argument("--duration-quantile", type=float, default=0.995, metavar="Q",
                     help="quantile of note durations taken as the limit (default: 0.995)")
    lim.add_argument("--polyphony-quantile", type=float, default=0.95, metavar="Q",
                     help="quantile of the time-weighted number of notes sounding at once (default: 0.95)")
    lim.add_argument("--loop-quantile", type=float, default=0.98, metavar="Q",
                     help="quantile of the longest exact repeat of each 1,200-token stretch, in tokens and in "
                          "periods, taken as the loop rule's limits (default: 0.98)")
    lim.set_defaults(func=run_limits)


def run_limits(args: argparse.Namespace) -> int:
    from muse.note_limits import attach_note_limits

    path, limits = attach_note_limits(args.model, args.data, split=args.split,
                                      duration_quantile=args.duration_quantile,
                                      polyphony_quantile=args.polyphony_quantile, loop_quantile=args.loop_quantile)
    print(limits.table())
    print(f"wrote {path}")
    return 0
