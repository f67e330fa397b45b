"""One generated variation as the page shows it, and the texts about it: its card's caption and the
status line after a job (how the audio was made, which variations came out empty)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from demos.media import PieceFiles
from muse.feedback import Sample

PLAIN_TONES = "plain tones"  # how a RenderResult describes audio made without a soundfont


@dataclass(frozen=True)
class Variation:
    """One generated sample as the page shows it; ``boundary``: seconds where its prime ends (a continuation)."""

    sample: Sample
    files: PieceFiles
    caption: str
    boundary: float | None = None


def variation_label(k: int) -> str:
    return f"Variation {k}"


def caption(k: int, piece: Any, length: str) -> str:
    """A card's caption: variation ``k``, ``length`` (e.g. "12.0 s"), its notes and its own seed,
    flagged when it stopped early or has no notes."""
    text = f"**{variation_label(k)}** \u00b7 {length} \u00b7 {piece.n_notes} notes \u00b7 seed {piece.seed}"
    if not getattr(piece, "ended", True):
        text += " \u00b7 *stopped early*"
    if not piece.n_notes:
        text += " \u00b7 **no notes**"
    return text


def summary(done: str, variations: Sequence[Variation], new_notes: Sequence[int] | None = None) -> str:
    """The status line after a job: ``done``, how the audio was made, and a warning for each variation
    without new notes (``new_notes``: notes each one added; default: its caption's count)."""
    lines = [done]
    empty = [k for k, count in enumerate(new_notes or [], start=1) if count == 0]
    if empty and len(empty) == len(variations):
        lines.append("\u26a0 No variation has any new notes: the model generated only silence.")
    elif empty:
        lines.append(f"\u26a0 {', '.join(variation_label(k) for k in empty)}: no new notes, only silence.")
    audio = sorted({v.files.audio for v in variations if v.files.audio})
    for how in audio:
        warn = "\u26a0 " if how.startswith(PLAIN_TONES) else ""
        lines.append(f"{warn}Audio: {how}.")
    return "\n\n".join(lines)


__all__ = ["PLAIN_TONES", "Variation", "caption", "summary", "variation_label"]
