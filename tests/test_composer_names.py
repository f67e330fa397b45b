"""Composer labels as a musician reads them (muse.composers.names) and how much training data each had
(muse.composers.training_data): display names, era groups, the featured list, name lookup, counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from muse.composers import ComposerEmbeddings, parse_composer_mix
from muse.composers.names import (
    ERAS,
    FEATURED,
    composer_name,
    display_name,
    featured,
    grouped,
    resolve_composer,
    suggest,
)
from muse.composers.training_data import DATA_STATS_FILE, estimated_data, training_data
from muse.core.errors import UserError

# the bundled model's labels (muse/assets/model/tokenizer.json)
BUNDLED = ("alkan", "bach", "bartok", "beethoven", "brahms", "burgmuller", "buxtehude", "chaminade", "chopin",
           "clementi", "cramer", "czerny", "debussy", "diabelli", "dvorak", "faure", "german", "gershwin", "ginastera",
           "grieg", "handel", "haydn", "heller", "holst", "hummel", "joplin", "lemire", "liszt", "maier",
           "mendelssohn", "mozart", "other", "paganini", "rachmaninoff", "ravel", "rothchild", "satie", "scarlatti",
           "schubert", "schumann", "scriabin", "shostakovich", "stravinsky", "tchaikovsky", "vaughan_williams",
           "vivaldi")


def test_labels_get_display_names_eras_and_dates() -> None:
    bach = composer_name("bach")
    assert (bach.name, bach.era, bach.years) == ("J. S. Bach", "Baroque", "1685\u20131750")
    assert display_name("vaughan_williams") == "Ralph Vaughan Williams"
    assert composer_name("oneills1850").era == "Collections & folk" and composer_name("oneills1850").years == ""
    assert composer_name("other").era == "Other"


def test_an_unknown_label_is_title_cased_and_grouped_as_other() -> None:
    entry = composer_name("le_thiere")
    assert (entry.name, entry.era, entry.years) == ("Le Thiere", "Other", "")
    assert display_name("x") == "X"


def test_groups_follow_the_eras_and_are_chronological_within_each() -> None:
    groups = grouped(BUNDLED)
    assert list(groups) == [e for e in ERAS if e in groups] and "Collections & folk" not in groups
    assert sorted(e.label for g in groups.values() for e in g) == sorted(BUNDLED)  # every label once
    for entries in groups.values():
        born = [e.born for e in entries if e.born]
        assert born == sorted(born)
    assert [e.label for e in groups["Classical"]][:3] == ["haydn", "clementi", "mozart"]
    assert all(composer_name(x).era != "Other" for x in BUNDLED if x not in ("other", "lemire", "rothchild"))


def test_the_featured_list_keeps_what_the_model_has_best_trained_first() -> None:
    assert featured(("chopin", "bach", "alkan")) == ["bach", "chopin"]  # FEATURED's order, alkan is not featured
    amounts = {x: float(i) for i, x in enumerate(reversed(FEATURED))}  # the later in FEATURED, the more data
    top = featured(BUNDLED, amounts, n=3)
    assert len(top) == 3 and set(top) == set(sorted((x for x in FEATURED if x in BUNDLED),
                                                    key=lambda x: -amounts[x])[:3])
    assert top == [x for x in FEATURED if x in top]  # shown in FEATURED's (familiar) order


@pytest.mark.parametrize("typed, label", [
    ("bach", "bach"), ("J. S. Bach", "bach"), ("js bach", "bach"), ("BACH", "bach"), ("Dvořák", "dvorak"),
    ("Frederic Chopin", "chopin"), ("Haendel", "handel"), ("Vaughan Williams", "vaughan_williams"),
    ("Ralph Vaughan Williams", "vaughan_williams"), ("bahc", None), ("", None), ("   ", None)])
def test_typed_names_resolve_to_the_models_label(typed: str, label: str | None) -> None:
    assert resolve_composer(typed, BUNDLED) == label


def test_a_misspelling_gets_close_labels() -> None:
    assert suggest("bahc", BUNDLED)[0] == "bach"
    assert suggest("Schuman", BUNDLED)[0] == "schumann"
    assert suggest("zzzz", BUNDLED) == []


def test_the_facade_accepts_display_names_in_a_style_mix() -> None:
    mix = parse_composer_mix("J. S. Bach:0.7, Frédéric Chopin:0.3", BUNDLED)
    assert mix.names == ("bach", "chopin") and mix.weights == pytest.approx((0.7, 0.3))
    with pytest.raises(UserError, match="unknown composer 'bahc'"):
        parse_composer_mix("bahc", BUNDLED)


def _embeddings(lengths: dict[str, float]) -> ComposerEmbeddings:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(len(lengths), 8))
    rows *= np.array(list(lengths.values()))[:, None] / np.linalg.norm(rows, axis=1, keepdims=True)
    return ComposerEmbeddings(tuple(lengths), rows)


def test_without_statistics_the_shortest_embedding_rows_rank_first(tmp_path: Path) -> None:
    emb = _embeddings({"bach": 1.2, "chopin": 2.5, "satie": 3.0, "mozart": 1.0})
    data = training_data(emb, tmp_path)  # nothing beside the model
    assert not data.counted and data.ranked() == ["mozart", "bach", "chopin", "satie"]
    assert data.top(2) == ["mozart", "bach"] and data.describe("bach") == "#2 of 4 by training data (estimated)"
    assert "estimated" in data.source and estimated_data(emb).ranked() == data.ranked()


def _stats(labels: dict[str, tuple[int, int]]) -> dict:
    return {"composers": list(labels), "labels": {x: {"pieces": p, "tokens": t} for x, (p, t) in labels.items()}}


def test_statistics_beside_the_model_or_in_its_runs_dataset_are_counted(tmp_path: Path) -> None:
    emb = _embeddings({"bach": 3.0, "chopin": 1.0})
    model = tmp_path / "model"
    model.mkdir()
    (model / DATA_STATS_FILE).write_text(json.dumps(_stats({"bach": (1003, 4_300_000), "chopin": (75, 590_000)})))
    data = training_data(emb, model)
    assert data.counted and data.ranked() == ["bach", "chopin"]
    assert data.describe("bach") == "1,003 pieces, 4.30 M tokens" and data.pieces["chopin"] == 75

    run, dataset = tmp_path / "run", tmp_path / "DATA"  # runs/x/checkpoints/step_N -> runs/x/data.json -> DATA
    (run / "checkpoints" / "step_00000100").mkdir(parents=True)
    dataset.mkdir()
    (dataset / "stats.json").write_text(json.dumps(_stats({"bach": (10, 100), "chopin": (20, 200)})))
    (run / "data.json").write_text(json.dumps({"path": str(dataset)}))
    assert training_data(emb, run / "checkpoints" / "step_00000100").ranked() == ["chopin", "bach"]
    assert training_data(emb, run).counted

    (dataset / "stats.json").write_text(json.dumps(_stats({"bach": (10, 100), "satie": (20, 200)})))
    assert not training_data(emb, run).counted  # another model's labels: not used
    (dataset / "stats.json").write_text("{not json")
    assert not training_data(emb, run).counted
