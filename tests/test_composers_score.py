"""The composer scorer (posterior over composers of a piece) and the style-adherence report."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from composer_models import HELD_OUT, TRAIN_FILES, fit_two_composers, loaded, random_model
from muse.composers import ComposerScorer, style_adherence, write_posteriors
from muse.core.errors import UserError
from muse.generate import MuseGenerator

CHORALE = "bach-bwv001-_400_chorales-004003b.mid"


@pytest.fixture(scope="module")
def tiny():
    return loaded(*random_model(("bach", "chopin", "satie", "paganini")))


@pytest.fixture(scope="module")
def fitted(midi_dir: Path):
    return fit_two_composers(midi_dir)


def hand_log_likelihoods(model, ids: np.ndarray, composer_ids: list[int], total_us: int) -> np.ndarray:
    """log p(ids[1:] | ids[0] = c) for each composer id c, one plain forward pass each."""
    out = []
    for c in composer_ids:
        seq = torch.as_tensor(ids, dtype=torch.long)[None].clone()
        seq[0, 0] = c
        with torch.no_grad():
            logp = model(seq[:, :-1], total_us=torch.tensor([total_us])).log_softmax(-1)
        out.append(float(logp[0].gather(-1, seq[0, 1:, None]).sum().double()))
    return np.array(out)


def test_posterior_is_the_softmax_of_the_composers_likelihoods(tiny, midi_dir: Path) -> None:
    scorer = ComposerScorer(tiny)
    ids = tiny.tokenizer.encode(midi_dir / "classical" / CHORALE).ids
    result = scorer.score_ids(ids, "chorale")
    window = ids[: tiny.model.n_ctx + 1]  # by default: the first context window
    with torch.no_grad():  # the structure embeddings see the whole piece's length, as in training
        total_us = int(tiny.model.clock(torch.as_tensor(ids, dtype=torch.long)[None]).end.micros)
    ids_of = [tiny.tokenizer.vocab.composer_id(c) for c in scorer.composers]
    expected = hand_log_likelihoods(tiny.model, window, ids_of, total_us)
    np.testing.assert_allclose(result.log_likelihood, expected, rtol=1e-4)
    assert result.posterior.sum() == pytest.approx(1.0, abs=1e-12)
    odds = np.exp(expected - expected.max())
    np.testing.assert_allclose(result.posterior, odds / odds.sum(), rtol=1e-3)
    assert result.tokens == tiny.model.n_ctx and result.truncated
    assert [p for _, p in result.ranking()] == sorted(result.posterior, reverse=True)
    assert result.summary(2).count("%") == 2 and result.rank_of(result.ranking()[0][0]) == 0


def test_whole_pieces_are_scored_in_windows_each_token_once(tiny, midi_dir: Path) -> None:
    ids = tiny.tokenizer.encode(midi_dir / "classical" / CHORALE).ids
    assert len(ids) > 5 * tiny.model.n_ctx
    whole = ComposerScorer(tiny, max_tokens=0).score_ids(ids)
    assert whole.tokens == len(ids) - 1 and not whole.truncated
    assert whole.posterior.sum() == pytest.approx(1.0) and np.isfinite(whole.log_likelihood).all()
    assert whole.log_likelihood.max() < ComposerScorer(tiny).score_ids(ids).log_likelihood.max()  # more tokens
    # The batch is only a grouping of (window, composer) rows.
    np.testing.assert_allclose(ComposerScorer(tiny, max_tokens=0, batch_size=3).score_ids(ids).log_likelihood,
                               whole.log_likelihood, rtol=1e-5)
    first = ComposerScorer(tiny, max_tokens=100).score_ids(ids)
    assert first.tokens == 99 and first.truncated
    given = ComposerScorer(tiny, max_tokens=0, include_header=False).score_ids(ids)
    header = int(np.flatnonzero(ids == tiny.tokenizer.vocab.start_id)[0]) + 1
    assert given.tokens == len(ids) - header


def test_candidates_can_be_a_subset(tiny, midi_dir: Path) -> None:
    ids = tiny.tokenizer.encode(midi_dir / "classical" / CHORALE).ids
    full = ComposerScorer(tiny).score_ids(ids)
    pair = ComposerScorer(tiny, composers=["Satie", "bach"]).score_ids(ids)
    assert pair.composers == ("satie", "bach") and pair.posterior.sum() == pytest.approx(1.0)
    index = [full.composers.index(c) for c in pair.composers]
    np.testing.assert_allclose(pair.log_likelihood, full.log_likelihood[index], rtol=1e-6)
    with pytest.raises(Exception, match="known composers: bach, chopin, satie, paganini"):
        ComposerScorer(tiny, composers=["bach", "mozart"])


def test_a_folder_is_scored_file_by_file_skipping_unreadable_ones(tiny, midi_dir: Path, tmp_path: Path,
                                                                    caplog) -> None:
    folder, empty, bad = tmp_path / "pieces", tmp_path / "empty", tmp_path / "bad"
    for d in (folder / "sub", empty, bad):
        d.mkdir(parents=True)
    (folder / "sub" / "a.mid").symlink_to(midi_dir / "classical" / CHORALE)
    (folder / "broken.mid").write_bytes(b"not a midi file")
    (folder / "notes.txt").write_text("ignored")
    (bad / "x.mid").write_bytes(b"MThd nonsense")
    scorer = ComposerScorer(tiny)
    with caplog.at_level(logging.WARNING):
        results = scorer.score_path(folder)
    assert [Path(r.source).name for r in results] == ["a.mid"]
    assert "broken.mid" in caplog.text
    with pytest.raises(UserError, match="no MIDI files"):
        scorer.score_path(empty)
    with pytest.raises(UserError, match="none of its 1 MIDI files"):
        scorer.score_path(bad)
    with pytest.raises(UserError, match="no such file"):
        scorer.score_path(tmp_path / "missing.mid")


def test_posteriors_are_written_as_csv_and_json(tiny, midi_dir: Path, tmp_path: Path) -> None:
    results = [ComposerScorer(tiny).score_midi(midi_dir / "classical" / CHORALE)]
    with open(write_posteriors(results, tmp_path / "p.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["top"] == results[0].ranking()[0][0]
    assert sum(float(rows[0][c]) for c in results[0].composers) == pytest.approx(1.0, abs=1e-5)
    data = json.loads(write_posteriors(results, tmp_path / "p.json").read_text())
    assert data[0]["posterior"] == pytest.approx(dict(zip(results[0].composers, results[0].posterior)))
    with pytest.raises(UserError, match=r"\.csv or \.json"):
        write_posteriors(results, tmp_path / "p.xlsx")


def test_a_model_trained_to_separate_two_composers_recognises_them(fitted, midi_dir: Path) -> None:
    scorer = ComposerScorer(fitted)
    for name, composer in [*HELD_OUT.items(), *((f, f.split("-")[0]) for f in TRAIN_FILES)]:
        result = scorer.score_midi(midi_dir / "classical" / name)
        assert result.ranking()[0][0] == composer, (name, result.summary())
        assert result.posterior.sum() == pytest.approx(1.0)


def test_style_adherence_report(fitted) -> None:
    report = style_adherence(MuseGenerator(fitted), n=2, seconds=0.25, instruments=["strings"], seed=0)
    assert [r.composer for r in report.rows] == ["bach", "paganini"] and report.overall.pieces == 4
    assert report.candidates == 2 and report.chance_top1 == 0.5 and report.chance_top3 == 1.0
    for row in (*report.rows, report.overall):
        assert row.top1 in (0.0, 0.25, 0.5, 0.75, 1.0) and row.top3 == 1.0  # two candidates: always in the top 3
        assert 0.0 <= row.mean_posterior <= 1.0
    assert report.overall.top1 == pytest.approx(np.mean([r.top1 for r in report.rows]))
    table = report.table()
    assert "chance" in table and "paganini" in table and "50.0%" in table
    with pytest.raises(UserError, match="not among the candidates: bach, paganini"):
        style_adherence(MuseGenerator(fitted), composers=["chopin"], n=1, seconds=0.25)
