"""The sampling options every generating command offers, with the defaults of ``muse.sampling_defaults``,
and the note-limit overrides of the commands that write notes (``muse.note_limits``)."""

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


def add_note_limit_options(p: argparse.ArgumentParser) -> None:
    """Add ``--max-note-seconds``, ``--max-polyphony`` and ``--min-note-seconds`` to ``p``."""
    p.add_argument("--max-note-seconds", metavar="S",
                   help="longest a note may sound, for every instrument; 0 = no limit (default: the model's "
                        "limits learnt from its training data, none for a model saved without them)")
    p.add_argument("--max-polyphony", metavar="N",
                   help="most notes of one instrument sounding at once; 0 = no limit (default: the model's)")
    p.add_argument("--min-note-seconds", metavar="S",
                   help="shortest a note may sound, for every instrument, up to 0.25; 0 = no limit (default: the "
                        "model's, learnt from its training data)")


def note_limit_options(args: argparse.Namespace) -> dict:
    """The facade's ``max_note_seconds`` / ``max_polyphony`` / ``min_note_seconds`` from the options, checked
    (a one-line ``UserError`` naming the option)."""
    from muse.note_limits import check_min_note, check_override  # torch: only once a command runs

    return dict(max_note_seconds=check_override(args.max_note_seconds, "--max-note-seconds"),
                max_polyphony=check_override(args.max_polyphony, "--max-polyphony", integer=True),
                min_note_seconds=check_min_note(args.min_note_seconds, "--min-note-seconds"))
