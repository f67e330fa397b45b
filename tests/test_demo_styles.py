"""The demo's composer choices and Style map without a server: display names grouped by era with the
featured composers first, presets the model can play, the interactive map and sending to Compose."""

from __future__ import annotations

import numpy as np
import pytest

from demos.controls import NO_BLEND, composer_spec
from demos.limits import LimitError
from demos.style_plot import map_figure
from demos.styles import PRESETS, STAR, Styles
from demos.tabs.style_map import StyleMap, similarity_table
from muse.composers import ComposerEmbeddings, analyse
from muse.composers.training_data import TrainingData
from muse.core.errors import UserError

LABELS = ("alkan", "bach", "beethoven", "chopin", "handel", "joplin", "mozart", "other", "satie", "vivaldi")
TOKENS = {x: float(1000 * (len(LABELS) - i)) for i, x in enumerate(LABELS)}  # alkan most, vivaldi least


def styles(counted: bool = True, featured: tuple[str, ...] = ("bach", "mozart", "chopin")) -> Styles:
    pieces = {x: int(v // 100) for x, v in TOKENS.items()}
    return Styles(LABELS, TrainingData(dict(TOKENS), counted=counted, pieces=pieces if counted else {}), featured)


def embeddings() -> ComposerEmbeddings:
    return ComposerEmbeddings(LABELS, np.random.default_rng(1).normal(size=(len(LABELS), 16)))


def test_choices_show_names_featured_first_then_by_era_and_send_labels() -> None:
    choices = styles().choices()
    assert [label for _, label in choices[:3]] == ["bach", "mozart", "chopin"]
    assert choices[0][0] == f"{STAR} J. S. Bach (Baroque)"
    assert sorted(label for _, label in choices) == sorted(LABELS)  # each label once
    rest = [shown for shown, _ in choices[3:]]
    assert rest[:2] == ["Baroque \u00b7 Antonio Vivaldi", "Baroque \u00b7 G. F. Handel"]  # born 1678, 1685
    assert rest[-1] == "Other \u00b7 Other composers (mixed)"


def test_presets_are_those_the_model_can_play() -> None:
    made = styles().presets(("piano", "strings"), ("C minor", "Eb major", "Ab major"), (20, 600), max_seconds=25)
    titles = [p.title for p in made]
    assert "Stormy Beethoven in C minor" in titles and "Joplin rag" in titles
    assert "Mozart for strings, G major" not in titles  # no G major key here
    assert "Vivaldi for strings and harp" not in titles  # no harp
    assert "Blend: Haydn and Mozart, half and half" not in titles  # no haydn
    assert all(p.seconds <= 25 for p in made) and len(PRESETS) > len(made) >= 4


def test_composer_spec_takes_display_names_and_suggests_with_names() -> None:
    assert composer_spec("J. S. Bach", "Frédéric Chopin", 0.6, LABELS) == "bach:0.60,chopin:0.40"
    with pytest.raises(LimitError, match=r"unknown composer 'Bahc': did you mean bach \(J\. S\. Bach\)\?"):
        composer_spec("Bahc", NO_BLEND, 0.7, LABELS)


def test_the_map_groups_by_era_with_hover_names_and_sizes_by_training_data() -> None:
    analysis = analyse(embeddings())
    fig = map_figure(analysis, "pca", styles(), "title")
    eras = [trace.name for trace in fig.data]
    assert eras == ["Baroque", "Classical", "Romantic", "20th century", "Other"]
    bach = fig.data[0]
    i = list(bach.customdata).index("bach")
    assert bach.hovertext[i].startswith("<b>J. S. Bach</b><br>Baroque, 1685\u20131750<br>90 pieces, 9 k tokens")
    assert "closest: " in bach.hovertext[i] and bach.mode == "markers+text"
    sizes = {label: size for trace in fig.data for label, size in zip(trace.customdata, trace.marker.size)}
    assert sizes["alkan"] > sizes["bach"] > sizes["vivaldi"]
    estimated = map_figure(analysis, "pca", styles(counted=False), "title")
    assert "(estimated)" in estimated.data[0].hovertext[0]


def test_the_style_map_opens_on_the_most_trained_and_sends_names_to_compose() -> None:
    tools = StyleMap(embeddings(), styles())
    assert tools.most_trained(3) == ["alkan", "bach", "beethoven"]
    assert tools.most_trained(50) == list(LABELS)  # fewer composers than asked: all of them
    fig, table = tools.draw(["bach", "Chopin", "W. A. Mozart"], "t-SNE")
    assert sorted(table["headers"][1:]) == ["Frédéric Chopin", "J. S. Bach", "W. A. Mozart"]
    assert "3 of 10 composers" in fig.layout.title.text
    near = tools.nearest("J. S. Bach", 2)
    assert near["headers"] == ["composer", "era", "similarity"] and len(near["data"]) == 2
    assert tools.to_compose("Frédéric Chopin", NO_BLEND) == ("chopin", NO_BLEND)
    assert tools.to_compose("bach", "chopin") == ("bach", "chopin")
    for bad, message in (((None, NO_BLEND), "choose a composer"), (("bahc", NO_BLEND), "did you mean bach"),
                         (("bach", "nobody"), "unknown composer to blend with")):
        with pytest.raises(UserError, match=message):
            tools.to_compose(*bad)
    with pytest.raises(UserError, match="at least two composers"):
        tools.draw(["bach"], "PCA")
    with pytest.raises(UserError, match="unknown projection"):
        tools.draw(["bach", "chopin"], "UMAP")
    with pytest.raises(UserError, match="whole number"):
        tools.nearest("bach", "many")


def test_the_similarity_table_uses_display_names() -> None:
    table = similarity_table(analyse(ComposerEmbeddings(("bach", "satie"), np.eye(2))))
    assert table["headers"] == ["composer", "J. S. Bach", "Erik Satie"] and table["data"][0][0] == "J. S. Bach"
