"""The learned composer embeddings of a model: similarities, 2-D maps, clustering, neighbours, export.

Each composer token of the vocabulary has an input embedding row (``MuseModel.composer_embeddings``).
Cosine similarity compares their directions; the 2-D maps project the unit-normalised rows
(direction again, not length, which mostly reflects how much data a composer had):

- ``pca``: the first two principal components (deterministic, distances are linear);
- ``tsne``: scikit-learn's t-SNE with cosine distances (local neighbourhoods; seeded).

``cluster_order`` orders composers by average-linkage hierarchical clustering of the cosine
distances (SciPy, optimal leaf order), so that similar composers sit together in the heatmap.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from musetok.config import normalize_composer

from muse.composers.files import write_output
from muse.core.errors import UserError
from muse.model import MuseModel

log = logging.getLogger(__name__)

Method = Literal["pca", "tsne"]
METHODS: tuple[Method, ...] = ("pca", "tsne")


@dataclass(frozen=True, eq=False)
class ComposerEmbeddings:
    """Composer ``names`` and their embedding ``vectors`` (C, width), float64."""

    names: tuple[str, ...]
    vectors: np.ndarray

    def index(self, name: str) -> int:
        """Row of composer ``name``; an unknown name is a ``UserError`` listing the known ones."""
        norm = normalize_composer(name)
        if norm not in self.names:
            raise UserError(f"unknown composer {name!r}; known composers: {', '.join(self.names) or '(none)'}")
        return self.names.index(norm)


@dataclass(frozen=True)
class Neighbour:
    """A composer and its cosine similarity to the query composer."""

    name: str
    similarity: float


@dataclass(frozen=True, eq=False)
class ComposerAnalysis:
    """Everything the map, heatmap and export show: embeddings, similarities (C, C), the
    clustering order (C,) and 2-D coordinates (C, 2) per projection method computed."""

    embeddings: ComposerEmbeddings
    similarity: np.ndarray
    order: np.ndarray
    coords: dict[str, np.ndarray]

    @property
    def names(self) -> tuple[str, ...]:
        return self.embeddings.names


def composer_embeddings(model: MuseModel) -> ComposerEmbeddings:
    """The composer embedding rows of ``model`` (in its tokenizer's composer order)."""
    vectors = model.composer_embeddings().float().cpu().numpy().astype(np.float64)
    return ComposerEmbeddings(tuple(model.tables.composers), vectors)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (N, D) scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix (N, N) of the rows of ``vectors`` (N, D); exactly 1 on the diagonal."""
    unit = unit_rows(np.asarray(vectors, np.float64))
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(sim, 1.0)
    return sim


def _need_two(n: int) -> None:
    if n < 2:
        raise UserError(f"the model has {n} composer(s); a map needs at least 2")


def project_2d(vectors: np.ndarray, method: Method = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates (N, 2) of the unit-normalised rows of ``vectors`` (N, D) (see module doc)."""
    _need_two(len(vectors))
    unit = unit_rows(np.asarray(vectors, np.float64))
    if method == "pca":
        from sklearn.decomposition import PCA

        coords = PCA(n_components=2, svd_solver="full").fit_transform(unit)
        coords[np.abs(coords) < 1e-12] = 0.0  # rounding noise of an axis with no variance (two points)
        # PCA's signs are arbitrary: make the largest |coordinate| of each axis positive, so
        # the same embeddings always give the same picture.
        flip = np.sign(coords[np.abs(coords).argmax(axis=0), [0, 1]])
        return coords * np.where(flip == 0, 1.0, flip)
    if method == "tsne":
        from sklearn.manifold import TSNE

        n = len(unit)
        perplexity = float(np.clip((n - 1) / 3, 1.0, 30.0))  # must stay below the number of points
        tsne = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed)
        return tsne.fit_transform(unit)
    raise UserError(f"unknown projection method {method!r}; choose one of: {', '.join(METHODS)}")


def _linkage(similarity: np.ndarray) -> np.ndarray:
    """SciPy average-linkage tree (optimal leaf order) of the cosine distances ``1 - similarity``."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    distance = np.clip(1.0 - (similarity + similarity.T) / 2, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    return linkage(squareform(distance, checks=False), method="average", optimal_ordering=True)


def cluster_order(similarity: np.ndarray) -> np.ndarray:
    """Permutation (N,) putting similar items together: average-linkage clustering of the cosine
    distances ``1 - similarity`` (N, N), leaves in SciPy's optimal order."""
    if len(similarity) < 3:
        return np.arange(len(similarity))
    from scipy.cluster.hierarchy import leaves_list

    return leaves_list(_linkage(similarity))


def cluster_labels(similarity: np.ndarray, n_clusters: int) -> np.ndarray:
    """Cluster index (N,) in ``[0, n_clusters)`` of each item, cutting the same tree as ``cluster_order``."""
    if len(similarity) < 3 or n_clusters < 2:
        return np.zeros(len(similarity), np.int64)
    from scipy.cluster.hierarchy import fcluster

    return fcluster(_linkage(similarity), t=n_clusters, criterion="maxclust").astype(np.int64) - 1


def neighbours(embeddings: ComposerEmbeddings, name: str, k: int = 5) -> list[Neighbour]:
    """The ``k`` composers most similar to ``name`` (cosine similarity), most similar first."""
    if k < 1:
        raise UserError(f"the number of neighbours must be at least 1, not {k}")
    i = embeddings.index(name)
    sim = cosine_similarity(embeddings.vectors)[i]
    others = [j for j in np.argsort(-sim, kind="stable") if j != i]
    return [Neighbour(embeddings.names[j], float(sim[j])) for j in others[:k]]


def analyse(embeddings: ComposerEmbeddings, methods: Sequence[Method] = ("pca",), seed: int = 0) -> ComposerAnalysis:
    """Similarities, clustering order and the 2-D coordinates of each of ``methods``."""
    _need_two(len(embeddings.names))
    similarity = cosine_similarity(embeddings.vectors)
    coords = {m: project_2d(embeddings.vectors, m, seed) for m in methods}
    return ComposerAnalysis(embeddings, similarity, cluster_order(similarity), coords)


def _table(analysis: ComposerAnalysis) -> tuple[list[str], list[list[object]]]:
    """CSV header and rows: name, cluster rank, 2-D coordinates, similarities, embedding."""
    names, width = analysis.names, analysis.embeddings.vectors.shape[1]
    rank = np.empty(len(names), np.int64)
    rank[analysis.order] = np.arange(len(names))
    header = ["composer", "cluster_rank"]
    for m in analysis.coords:
        header += [f"{m}_x", f"{m}_y"]
    header += [f"sim_{n}" for n in names] + [f"emb_{d}" for d in range(width)]
    rows = []
    for i, name in enumerate(names):
        row: list[object] = [name, int(rank[i])]
        for xy in analysis.coords.values():
            row += [float(xy[i, 0]), float(xy[i, 1])]
        row += [float(s) for s in analysis.similarity[i]] + [float(v) for v in analysis.embeddings.vectors[i]]
        rows.append(row)
    return header, rows


def export_format(path: str | Path) -> Literal["csv", "json"]:
    """The export format named by ``path``'s suffix; anything but .csv/.json is a ``UserError``."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise UserError(f"{path}: export to a .csv or .json file")
    return "csv" if suffix == ".csv" else "json"


def export_analysis(analysis: ComposerAnalysis, path: str | Path) -> Path:
    """Write ``analysis`` to ``path``: ``.csv`` (one row per composer) or ``.json`` (arrays)."""
    path = Path(path)
    if export_format(path) == "csv":
        header, rows = _table(analysis)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text = buf.getvalue()
    else:
        import json

        text = json.dumps({
            "composers": list(analysis.names),
            "cluster_order": [analysis.names[i] for i in analysis.order],
            "coords": {m: xy.tolist() for m, xy in analysis.coords.items()},
            "similarity": analysis.similarity.tolist(),
            "embeddings": analysis.embeddings.vectors.tolist(),
        }, indent=1) + "\n"
    write_output(path, lambda tmp: tmp.write_text(text))
    log.debug("wrote %s (%d composers)", path, len(analysis.names))
    return path


__all__ = [
    "ComposerAnalysis", "ComposerEmbeddings", "METHODS", "Method", "Neighbour", "analyse", "cluster_labels",
    "cluster_order", "composer_embeddings", "cosine_similarity", "export_analysis", "export_format", "neighbours",
    "project_2d", "unit_rows",
]
