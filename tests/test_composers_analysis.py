"""Composer-embedding analysis: cosine similarities, 2-D projections, clustering, neighbours, export, figures."""

from __future__ import annotations

import csv
import json
import math
import os
import stat

import numpy as np
import pytest

from composer_models import random_model
from muse.composers import (
    analyse,
    cluster_order,
    composer_embeddings,
    cosine_similarity,
    export_analysis,
    neighbours,
    plot_heatmap,
    plot_map,
    project_2d,
)
from muse.composers.embeddings import ComposerEmbeddings, cluster_labels
from muse.core.errors import UserError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def hand_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)))


def two_groups(seed: int = 0) -> ComposerEmbeddings:
    """Six composers around two opposite directions, listed interleaved (a0, b0, a1, b1, ...)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(2, 16))
    base[1] = -base[0]
    vectors = np.stack([base[i % 2] + 0.1 * rng.normal(size=16) for i in range(6)])
    return ComposerEmbeddings(tuple(f"{'ab'[i % 2]}{i // 2}" for i in range(6)), vectors)


def test_cosine_similarity_matches_a_hand_computation() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0], [3.0, 4.0]])
    sim = cosine_similarity(vectors)
    expected = np.array([[hand_cosine(a, b) for b in vectors] for a in vectors])
    np.testing.assert_allclose(sim, expected, atol=1e-12)
    assert sim[0, 1] == pytest.approx(1 / math.sqrt(2)) and sim[1, 2] == pytest.approx(-1 / math.sqrt(2))
    assert sim[0, 3] == pytest.approx(0.6) and sim[0, 2] == pytest.approx(0.0)


def test_model_embeddings_are_the_composer_token_rows() -> None:
    model, tokenizer = random_model(("bach", "chopin", "satie"))
    emb = composer_embeddings(model)
    assert emb.names == ("bach", "chopin", "satie") and emb.vectors.shape == (3, model.config.transformer.width)
    ids = [tokenizer.vocab.composer_id(c) for c in emb.names]
    rows = model.vocab.rows.weight.detach().double().numpy()[model.tables.row[ids]]
    np.testing.assert_allclose(emb.vectors, rows, rtol=1e-6)
    assert cosine_similarity(emb.vectors)[0, 2] == pytest.approx(hand_cosine(rows[0], rows[2]), abs=1e-9)


def test_pca_preserves_distances_of_directions_in_a_plane() -> None:
    # Unit vectors in a random 2-D plane of R^32: their PCA map is an isometry.
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(32, 2)))
    angles = rng.uniform(0, 2 * np.pi, size=7)
    vectors = np.stack([np.cos(angles), np.sin(angles)], 1) @ basis.T * rng.uniform(0.5, 3, size=(7, 1))
    coords = project_2d(vectors, "pca")
    assert coords.shape == (7, 2)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    dist = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(coords), dist(unit), atol=1e-9)
    np.testing.assert_array_equal(project_2d(vectors, "pca"), coords)  # deterministic, signs included


def test_tsne_gives_seeded_2d_coordinates() -> None:
    emb = two_groups()
    coords = project_2d(emb.vectors, "tsne", seed=3)
    assert coords.shape == (6, 2) and np.isfinite(coords).all()
    np.testing.assert_array_equal(coords, project_2d(emb.vectors, "tsne", seed=3))
    with pytest.raises(UserError, match="at least 2"):
        project_2d(emb.vectors[:1], "pca")
    with pytest.raises(UserError, match="pca, tsne"):
        project_2d(emb.vectors, "umap")  # type: ignore[arg-type]


def test_clustering_puts_similar_composers_together() -> None:
    emb = two_groups()
    sim = cosine_similarity(emb.vectors)
    order = cluster_order(sim)
    assert sorted(order) == list(range(6))
    groups = [emb.names[i][0] for i in order]
    assert groups in (list("aaabbb"), list("bbbaaa"))
    labels = cluster_labels(sim, 2)
    assert len(set(labels[::2])) == 1 and len(set(labels[1::2])) == 1 and labels[0] != labels[1]


def test_neighbours_are_the_most_similar_others() -> None:
    emb = two_groups()
    near = neighbours(emb, "A0", k=3)  # names are normalised like the tokenizer's
    sim = cosine_similarity(emb.vectors)[0]
    assert [n.name for n in near] == [emb.names[j] for j in np.argsort(-sim) if j != 0][:3]
    assert {n.name for n in near[:2]} == {"a1", "a2"} and near[2].name.startswith("b")
    for n in near:
        assert n.similarity == pytest.approx(hand_cosine(emb.vectors[0], emb.vectors[emb.names.index(n.name)]))
    assert len(neighbours(emb, "a0", k=50)) == 5
    with pytest.raises(UserError, match="known composers: a0, b0, a1, b1, a2, b2"):
        neighbours(emb, "mozart")
    with pytest.raises(UserError, match="at least 1"):
        neighbours(emb, "a0", k=0)


def test_export_csv_and_json_hold_coordinates_and_similarities(tmp_path) -> None:
    emb = two_groups()
    analysis = analyse(emb, methods=("pca", "tsne"))
    with open(export_analysis(analysis, tmp_path / "c.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["composer"] for r in rows] == list(emb.names)
    for i, r in enumerate(rows):
        assert float(r["pca_x"]) == pytest.approx(analysis.coords["pca"][i, 0])
        assert float(r["tsne_y"]) == pytest.approx(analysis.coords["tsne"][i, 1])
        assert [float(r[f"sim_{n}"]) for n in emb.names] == pytest.approx(analysis.similarity[i])
        assert [float(r[f"emb_{d}"]) for d in range(16)] == pytest.approx(emb.vectors[i])
    assert sorted(int(r["cluster_rank"]) for r in rows) == list(range(6))
    data = json.loads(export_analysis(analysis, tmp_path / "c.json").read_text())
    assert data["composers"] == list(emb.names)
    np.testing.assert_allclose(data["similarity"], analysis.similarity)
    np.testing.assert_allclose(data["coords"]["pca"], analysis.coords["pca"])
    assert [data["composers"].index(n) for n in data["cluster_order"]] == list(analysis.order)
    with pytest.raises(UserError, match=r"\.csv or \.json"):
        export_analysis(analysis, tmp_path / "c.txt")


def test_map_and_heatmap_are_written_as_png(tmp_path) -> None:
    analysis = analyse(two_groups(), methods=("pca",))
    umask = os.umask(0)
    os.umask(umask)
    for path in (plot_map(analysis, tmp_path / "map.png", "pca"), plot_heatmap(analysis, tmp_path / "heat.png")):
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as any file a user writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heat.png", "map.png"]  # no temporary left behind
    with pytest.raises(UserError, match=r"\.png"):
        plot_map(analysis, tmp_path / "map.jpg", "pca")
    with pytest.raises(ValueError, match="tsne"):
        plot_map(analysis, tmp_path / "t.png", "tsne")
