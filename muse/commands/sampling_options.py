"""The sampling options every generating command offers, with the defaults of ``muse.sampling_defaults``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from muse import sampling_defaults as D

OPTIONS = ("temperature", "top_p", "top_k", "min_p")


def add_sampling_options(p: argparse.ArgumentParser, names: Sequence[str] = OPTIONS) -> None:
    """Add ``--temperature``, ``--top-p``, ``--top-k`` and ``--min-p`` (or those of ``names``) to ``p``."""
    helps = {
        "temperature": (float, D.TEMPERATURE, "sampling temperature in (0, 100]; lower is safer"),
        "top_p": (float, D.TOP_P, "nucleus sampling mass, 1 = off"),
        "top_k": (int, D.TOP_K, "keep the k most likely tokens, 0 = off"),
        "min_p": (float, D.MIN_P, "min-p filter, 0 = off"),
    }
    for name in names:
        kind, default, text = helps[name]
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=default, help=f"{text} (default: {default:g})")
