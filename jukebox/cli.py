"""The ``jukebox`` program: one sub-command per module in ``jukebox/commands``."""

from __future__ import annotations

import argparse

from muse.core.cli import build_parser, run_cli

# Order is the order shown by --help.
COMMAND_MODULES: list[str] = ["jukebox.commands.data", "jukebox.commands.vqvae", "jukebox.commands.train_vqvae",
                              "jukebox.commands.sample", "jukebox.commands.train_prior"]


def parser() -> argparse.ArgumentParser:
    """The ``jukebox`` program's parser, every command registered."""
    return build_parser("jukebox", "Jukebox-style raw audio: VQ-VAE codec, priors, sampling, training.",
                        COMMAND_MODULES)


def main(argv: list[str] | None = None) -> int:
    return run_cli(parser(), argv)
