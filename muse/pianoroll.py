"""Piano-roll pictures (PNG) of a score, with the boundary between a prime and its continuation.

Notes are bars (time in seconds across, MIDI pitch up), one colour per track, drums as ticks in
grey. With ``boundary`` the prime is shaded and a line marks where the model took over; with
``span`` a regenerated (or to be regenerated) stretch is shaded between two lines. Built on
matplotlib's object API (no pyplot state), so several requests can draw at once. Used by
``MuseGenerator.save`` (``muse generate/continue --png``) and the web demo, whose player moves a
playhead over the picture: ``draw_roll_picture`` also says where the time axis lies in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from musetok.instruments import FAMILIES, PROGRAM_TO_FAMILY

from muse.core.atomic import atomic_path

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
DRUM_COLOUR = "#7f7f7f"
SPAN_COLOUR = "#9467bd"


@dataclass(frozen=True)
class RollTrack:
    """One track's notes in seconds: ``start``, ``duration``, ``pitch`` arrays of shape (n,)."""

    label: str
    start: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    is_drum: bool


def roll_tracks(score: symusic.Score) -> list[RollTrack]:
    """The non-empty tracks of ``score`` in seconds, labelled by name (else instrument family)."""
    score = score.to("second")
    tracks = []
    for track in score.tracks:
        if not len(track.notes):
            continue
        notes = track.notes.numpy()
        if track.is_drum:
            label = "drums"
        else:
            label = track.name or FAMILIES[PROGRAM_TO_FAMILY[int(track.program) % 128]]
        tracks.append(RollTrack(label, notes["time"].astype(np.float64), notes["duration"].astype(np.float64),
                                notes["pitch"].astype(np.int64), bool(track.is_drum)))
    return tracks


@dataclass(frozen=True)
class RollPicture:
    """A piano-roll PNG at ``path`` and where its plot lies, as fractions of the image's width and height
    from its top-left corner: the time axis runs from 0 s at ``left`` to ``seconds`` at ``right``, the
    pitches between ``top`` and ``bottom``."""

    path: Path
    left: float
    right: float
    top: float
    bottom: float
    seconds: float

    def x_of(self, seconds: float) -> float:
        """The fraction of the image's width at ``seconds`` of music."""
        return self.left + (self.right - self.left) * seconds / self.seconds


def draw_piano_roll(score: symusic.Score, path: str | Path, *, boundary: float | None = None,
                    span: tuple[float, float] | None = None, title: str | None = None, width: float = 10.0,
                    height: float = 3.2, dpi: int = 100) -> Path:
    """Write the piano roll of ``score`` to ``path`` (PNG); ``boundary`` (seconds) marks the end of
    the prime, ``span`` (start, end seconds) a regenerated stretch. Returns ``path``."""
    return draw_roll_picture(score, path, boundary=boundary, span=span, title=title, width=width, height=height,
                             dpi=dpi).path


def draw_roll_picture(score: symusic.Score, path: str | Path, *, boundary: float | None = None,
                      span: tuple[float, float] | None = None, title: str | None = None, width: float = 10.0,
                      height: float = 3.2, dpi: int = 100) -> RollPicture:
    """``draw_piano_roll``, returning the picture with where its time axis lies (``RollPicture``)."""
    tracks = roll_tracks(score)
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    marks = [boundary or 0.0, span[1] if span else 0.0]
    end = max([float((t.start + t.duration).max()) for t in tracks] + marks + [1.0])
    pitches = np.concatenate([t.pitch for t in tracks]) if tracks else np.array([60])
    low, high = int(pitches.min()) - 2, int(pitches.max()) + 2
    handles = []
    for i, track in enumerate(tracks):
        colour = DRUM_COLOUR if track.is_drum else COLOURS[i % len(COLOURS)]
        length = np.full_like(track.duration, end / 400) if track.is_drum else np.maximum(track.duration, end / 1000)
        x0, x1 = track.start, track.start + length
        y0, y1 = track.pitch - 0.4, track.pitch + 0.4
        boxes = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1),
                          np.stack([x0, y1], 1)], 1)
        ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="none", alpha=0.85))
        handles.append(Patch(color=colour, label=track.label))
    if boundary is not None:
        ax.axvspan(0.0, boundary, color="#000000", alpha=0.06, lw=0)
        ax.axvline(boundary, color="#d62728", lw=1.6, ls="--")
        ax.text(boundary, low, "  continuation \u2192", color="#d62728", va="bottom", ha="left", fontsize=9)
        ax.text(boundary, low, "prime  ", color="#555555", va="bottom", ha="right", fontsize=9)
        handles.append(Patch(facecolor="#000000", alpha=0.12, label="prime"))
    if span is not None:
        ax.axvspan(span[0], span[1], color=SPAN_COLOUR, alpha=0.12, lw=0)
        for x in span:
            ax.axvline(x, color=SPAN_COLOUR, lw=1.4, ls="--")
        ax.text((span[0] + span[1]) / 2, high, "regenerated", color=SPAN_COLOUR, va="top", ha="center", fontsize=9)
        handles.append(Patch(facecolor=SPAN_COLOUR, alpha=0.25, label="span"))
    if not tracks:
        ax.text(end / 2, (low + high) / 2, "no notes", ha="center", va="center", color="#777777")
    ax.set_xlim(0.0, end * 1.01)
    ax.set_ylim(low, high)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    ax.grid(axis="x", alpha=0.25)
    if title:
        ax.set_title(title, fontsize=10)
    if handles:
        ax.legend(handles=handles[:10], loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8, frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    box = ax.get_position()  # in figure fractions from the bottom left, as the constrained layout placed it
    return RollPicture(path, left=float(box.x0), right=float(box.x1), top=1.0 - float(box.y1),
                       bottom=1.0 - float(box.y0), seconds=float(ax.get_xlim()[1]))


__all__ = ["RollPicture", "RollTrack", "draw_piano_roll", "draw_roll_picture", "roll_tracks"]
