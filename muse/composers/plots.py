"""PNG figures of a ``ComposerAnalysis``: the labelled 2-D map and the clustered similarity heatmap.

Matplotlib runs with its non-interactive Agg backend, so no display is needed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from muse.composers.embeddings import ComposerAnalysis, Method, cluster_labels
from muse.composers.files import write_output
from muse.core.errors import UserError

log = logging.getLogger(__name__)

TITLES = {"pca": "PCA", "tsne": "t-SNE"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_png(path: str | Path) -> Path:
    """``path`` as a ``Path``; a ``UserError`` unless it names a .png file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"{path}: figures are written as .png files")
    return path


def _save(fig, path: Path) -> Path:
    try:
        write_output(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight"))
    finally:
        _pyplot().close(fig)
    log.debug("wrote %s", path)
    return path


def plot_map(analysis: ComposerAnalysis, path: str | Path, method: Method = "pca", title: str | None = None) -> Path:
    """Scatter of the composers' 2-D ``method`` coordinates with a label on each point, coloured by
    cluster, written to ``path`` (.png)."""
    path = check_png(path)
    if method not in analysis.coords:
        raise ValueError(f"the analysis has no {method} coordinates (computed: {', '.join(analysis.coords)})")
    plt = _pyplot()
    xy, names = analysis.coords[method], analysis.names
    colours = cluster_labels(analysis.similarity, min(8, len(names) // 4))
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, cmap="tab10", vmin=0, vmax=9, s=36, zorder=2)
    for (x, y), name in zip(xy, names):
        ax.annotate(name, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=8, zorder=3)
    ax.set_title(title or f"Composer embeddings ({TITLES[method]}, {len(names)} composers)")
    ax.set_xlabel(f"{TITLES[method]} 1")
    ax.set_ylabel(f"{TITLES[method]} 2")
    ax.grid(alpha=0.3, zorder=1)
    ax.margins(0.12)
    return _save(fig, path)


def plot_heatmap(analysis: ComposerAnalysis, path: str | Path, title: str | None = None) -> Path:
    """Cosine-similarity matrix in clustering order, labelled on both axes, written to ``path`` (.png)."""
    path = check_png(path)
    plt = _pyplot()
    order = analysis.order
    names = [analysis.names[i] for i in order]
    sim = analysis.similarity[np.ix_(order, order)]
    size = min(16.0, 3.0 + 0.22 * len(names))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(sim, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(title or "Cosine similarity of composer embeddings (clustered)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)


__all__ = ["check_png", "plot_heatmap", "plot_map"]
