"""Command-line plumbing shared by the ``muse`` and ``jukebox`` programs.

Each command module exposes ``register(subparsers)``, which adds its parser and sets ``func``
to a callable ``(args) -> int``. Command modules import heavy libraries (torch) inside their
``run`` functions so that ``--help`` stays instant. User errors print one line, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from muse.core.errors import USER_ERRORS


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``prog: error: ...`` and where to find
    the usage), exit code 2, like every other user error of the CLIs."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser(prog: str, description: str, command_modules: list[str]) -> argparse.ArgumentParser:
    """A parser with one sub-command per module in ``command_modules`` (in that order)."""
    parser = OneLineParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules:
        importlib.import_module(name).register(sub)
    return parser


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv`` and run the chosen command; a user error prints one line and returns 2."""
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
