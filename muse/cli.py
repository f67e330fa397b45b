"""The ``muse`` program: one sub-command per module in ``muse/commands``."""

from __future__ import annotations

from muse.core.cli import build_parser, run_cli

# Order is the order shown by --help.
COMMAND_MODULES: list[str] = ["muse.commands.tokenize", "muse.commands.data", "muse.commands.train", "muse.commands.model",
                               "muse.commands.generate", "muse.commands.edit", "muse.commands.composers",
                               "muse.commands.demo", "muse.commands.feedback"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(
        "muse", "MuseNet-style symbolic music: tokenize, build data, train, generate, continue.", COMMAND_MODULES
    )
    return run_cli(parser, argv)
