"""``muse demo``: serve the web demo (compose, continue, style map, feedback) in the browser."""

from __future__ import annotations

import argparse

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860  # as demos.app (not imported here: --help stays instant)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="serve the web demo (compose, continue, style map, feedback)",
        description="Start the Gradio web demo on the model and open it at http://HOST:PORT. Listener ratings "
                    "and A/B choices go to an SQLite database (--db); export them with `muse feedback export`.")
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST}; "
                                                        "0.0.0.0 serves other machines)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--db", metavar="PATH", help="feedback database (default: ~/.musebox/feedback.sqlite)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from demos.app import launch_demo
    from demos.feedback import DEFAULT_DB

    launch_demo(args.model, host=args.host, port=args.port, db=args.db or DEFAULT_DB, device=args.device)
    return 0
