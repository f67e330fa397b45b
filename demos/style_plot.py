"""The Style map's interactive figure (plotly): one point per composer, coloured by era, sized by training data.

Hovering a point names the composer (display name, era, dates, training data, nearest neighbour);
the toolbar zooms and pans (double-click resets); the legend lists the eras shown, and clicking an
era hides or shows its composers. Labels are written beside the points when there are few enough
to read (``LABELLED_POINTS``); with more, the names appear on hover.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from demos.styles import Styles
from muse.composers import ComposerAnalysis
from muse.composers.names import ERAS, composer_name

LABELLED_POINTS = 24  # at most this many points get their name written beside them
ERA_COLOURS = dict(zip(ERAS, ("#8c564b", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#7f7f7f")))
SIZES = (9.0, 30.0)  # marker diameter in px: least and most training data


def marker_sizes(styles: Styles, names: tuple[str, ...]) -> np.ndarray:
    """Diameter (N,) of each composer's marker: by the square root of its tokens when counted, else by its
    rank in the estimate (the whole model's labels set the scale, so a subset keeps its sizes)."""
    amounts = styles.training.tokens
    if styles.training.counted:
        values = np.sqrt(np.maximum([amounts.get(n, 0.0) for n in names], 0.0))
        top = np.sqrt(max(max(amounts.values(), default=0.0), 1.0))
    else:
        ranked = styles.training.ranked()
        values = np.array([len(ranked) - ranked.index(n) if n in ranked else 0 for n in names], np.float64)
        top = float(max(len(ranked), 1))
    low, high = SIZES
    return low + (high - low) * np.clip(values / top, 0.0, 1.0)


def map_figure(analysis: ComposerAnalysis, method: str, styles: Styles, title: str) -> Any:
    """The plotly figure of ``analysis``'s ``method`` coordinates (one trace per era, in ``ERAS`` order)."""
    import plotly.graph_objects as go

    names, xy = analysis.names, analysis.coords[method]
    sim = analysis.similarity.copy()
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    sizes = marker_sizes(styles, names)
    labelled = len(names) <= LABELLED_POINTS
    fig = go.Figure()
    for era in ERAS:
        rows = [i for i, n in enumerate(names) if composer_name(n).era == era]
        if not rows:
            continue
        hover = [_hover(styles.about(names[i]), composer_name(names[nearest[i]]).name,
                        float(analysis.similarity[i, nearest[i]])) for i in rows]
        fig.add_trace(go.Scatter(
            x=xy[rows, 0], y=xy[rows, 1], name=era, mode="markers+text" if labelled else "markers",
            text=[composer_name(names[i]).name for i in rows], textposition="top center",
            hovertext=hover, hoverinfo="text", customdata=[names[i] for i in rows],
            marker={"size": sizes[rows], "color": ERA_COLOURS[era], "opacity": 0.85,
                    "line": {"width": 1, "color": "white"}}))
    fig.update_layout(title=title, legend_title_text="Era (click to hide)", hovermode="closest", height=600,
                      margin={"l": 30, "r": 20, "t": 60, "b": 30}, dragmode="zoom", template="plotly_white")
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False)
    return fig


def _hover(lines: list[str], closest: str, similarity: float) -> str:
    name, *rest = (line for line in lines if line)
    return "<br>".join([f"<b>{name}</b>", *rest, f"closest: {closest} ({similarity:.2f})"])


__all__ = ["ERA_COLOURS", "LABELLED_POINTS", "map_figure", "marker_sizes"]
