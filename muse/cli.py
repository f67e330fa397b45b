"""The ``muse`` program: one sub-command per module in ``muse/commands``, plus the commands that
other packages of the distribution register (``demos.command``: ``muse demo``).

The library never imports the UI: an optional command module is named here and loaded by name
only when its package is installed, so ``muse`` works without ``demos``.
"""

from __future__ import annotations

import argparse
import importlib.util

from muse.core.cli import build_parser, run_cli

# Order is the order shown by --help.
COMMAND_MODULES: list[str] = ["muse.commands.tokenize", "muse.commands.data", "muse.commands.train",
                               "muse.commands.model",
                               "muse.commands.generate", "muse.commands.edit", "muse.commands.composers",
                               "demos.command", "muse.commands.feedback", "muse.commands.critic",
                               "muse.commands.tune"]
OPTIONAL_PACKAGES = ("demos",)  # packages whose commands are offered only when they are installed


def installed(module: str) -> bool:
    """False for a command of an optional package that is not installed."""
    package = module.split(".")[0]
    if package not in OPTIONAL_PACKAGES:
        return True
    return importlib.util.find_spec(package) is not None


def parser() -> argparse.ArgumentParser:
    """The ``muse`` program's parser, every installed command registered."""
    return build_parser("muse", "MuseNet-style symbolic music: tokenize, build data, train, generate, continue.",
                        [m for m in COMMAND_MODULES if installed(m)])


def main(argv: list[str] | None = None) -> int:
    return run_cli(parser(), argv)
