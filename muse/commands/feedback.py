"""``muse feedback export``: the demo's listener ratings and A/B choices as JSON lines for preference tuning."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("feedback", help="export the web demo's listener feedback",
                                description="Work with the feedback the web demo stored (ratings, A/B choices).")
    sub = top.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    e = sub.add_parser(
        "export", help="write ratings and A/B choices as JSON lines",
        description="Write one JSON object per rating ({\"type\": \"rating\", \"rating\": 1|-1, \"sample\": ...}) "
                    "and per A/B choice ({\"type\": \"preference\", \"chosen\": ..., \"rejected\": ...}); a sample "
                    "holds its generation settings, seed, model hash and token ids.")
    e.add_argument("-o", "--output", required=True, metavar="PREFS.jsonl", help="file to write")
    e.add_argument("--pairs", action="store_true",
                   help="write preference pairs for 'muse tune' instead ({\"prompt\", \"chosen\", \"rejected\", "
                        "\"settings\", ...}): each A/B choice, and every sample rated up against every sample of "
                        "the same prompt rated down (docs/PREFERENCES.md)")
    e.add_argument("--db", metavar="PATH", help="feedback database (default: ~/.musebox/feedback.sqlite)")
    e.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from muse.feedback import DEFAULT_DB, open_existing

    store = open_existing(args.db or DEFAULT_DB)
    if args.pairs:
        summary = store.export_pairs(args.output)
        print(f"wrote {args.output}: {summary.describe()}")
        return 0
    n = store.export_jsonl(args.output)
    print(f"wrote {args.output}: {n} feedback events")
    return 0
