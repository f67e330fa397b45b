"""Composer embeddings: analysis, a composer scorer, style adherence and style mixing.

    from muse.composers import analyse, composer_embeddings, plot_map, ComposerScorer
    loaded = load_model("runs/small")
    analysis = analyse(composer_embeddings(loaded.model), methods=("pca", "tsne"))
    plot_map(analysis, "map.png", "tsne"); neighbours(analysis.embeddings, "bach", k=5)
    ComposerScorer(loaded).score_midi("piece.mid").summary()   # "bach 70.1%, handel 20.3%, ..."

- ``embeddings``: embedding rows, cosine similarities, PCA / t-SNE maps, clustering, export.
- ``plots``: the labelled map and the clustered heatmap (PNG).
- ``scoring``: the posterior over composers of a piece.
- ``adherence``: how often generation for a composer is recognised as that composer.
- ``mixing``: ``"bach:0.7,chopin:0.3"`` -> weights blending the composer embeddings.

scikit-learn, SciPy and matplotlib are imported only when a function needs them.
"""

from muse.composers.adherence import AdherenceReport, AdherenceRow, style_adherence
from muse.composers.embeddings import (
    METHODS,
    ComposerAnalysis,
    ComposerEmbeddings,
    Neighbour,
    analyse,
    cluster_order,
    composer_embeddings,
    cosine_similarity,
    export_analysis,
    neighbours,
    project_2d,
)
from muse.composers.mixing import ComposerMix, parse_composer_mix
from muse.composers.plots import plot_heatmap, plot_map
from muse.composers.scoring import ComposerPosterior, ComposerScorer, write_posteriors

__all__ = [
    "METHODS", "AdherenceReport", "AdherenceRow", "ComposerAnalysis", "ComposerEmbeddings", "ComposerMix",
    "ComposerPosterior", "ComposerScorer", "Neighbour", "analyse", "cluster_order", "composer_embeddings",
    "cosine_similarity", "export_analysis", "neighbours", "parse_composer_mix", "plot_heatmap", "plot_map",
    "project_2d", "style_adherence", "write_posteriors",
]
