"""benchmarks/preferences.py runs end to end (so the script never rots): its quick mode on a tiny model
trains a critic, labels sample pairs with the three scripted raters, tunes with DPO, trains reward
models, reranks, and reports every figure of issue 21 (critic AUC, win rates with 95% intervals,
bits/token drift)."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import pytest

from muse.core.token_shards import TokenDataset
from muse.metrics import wilson_interval
from preference_models import tiny_dataset, tiny_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import preferences as bench  # noqa: E402


@pytest.fixture(scope="module")
def setup(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = tiny_dataset(midi_dir, tmp_path_factory.mktemp("bench"))
    return tiny_model(tmp_path_factory.mktemp("model"), TokenDataset(data).load_tokenizer()), data


def test_quick_mode_reports_every_figure(setup: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    model, data = setup
    out = tmp_path / "prefs.json"
    args = ["--model", str(model), "--data", str(data), "--quick", "--pairs", "2,3", "--eval-prompts", "3",
            "--seconds", "2", "--steps", "2", "--lr", "1e-4", "--reward-steps", "2", "--val-pieces", "2",
            "--threads", "1", "--json", str(out), "--out", str(tmp_path / "work")]
    assert bench.main(args) == 0
    printed = capsys.readouterr().out
    assert "| rater | method | pairs |" in printed and "benchmarks/preferences.py --model" in printed
    report = json.loads(out.read_text())
    assert report["settings"]["quick"] and report["settings"]["rerank"] == 2 and report["settings"]["pairs"] == "2,3"
    assert 0.0 <= report["critic_auc"] <= 1.0
    assert (tmp_path / "work" / "critic" / "critic" / "critic.json").is_file()  # kept with --out
    rows = report["results"]
    raters = {"fewer-repeats-1bar", "key-C-major", "critic"}
    assert {r["rater"] for r in rows if r["method"] == "rerank-critic"} == raters
    tuned = [r for r in rows if r["method"] == "dpo"]
    skipped = {note.split(":")[0] for note in report["notes"]}
    assert {r["rater"] for r in tuned} | skipped == raters and "key-C-major" not in skipped
    assert {(r["rater"], r["pairs"]) for r in tuned} == {(name, n) for name in raters - skipped for n in (2, 3)}
    assert len([r for r in rows if r["method"] == "rerank-reward"]) == len(tuned)
    for r in rows:
        assert r["wins"] + r["losses"] + r["ties"] == 3
        low, high = wilson_interval(r["wins"], r["wins"] + r["losses"])
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))
        decided = r["wins"] + r["losses"]
        assert r["win_rate"] == (pytest.approx(r["wins"] / decided) if decided else None)
    for r in tuned:
        assert math.isfinite(r["delta_bits"]) and r["delta_bits"] == pytest.approx(r["bits_tuned"] - r["bits_original"])
        assert r["train_seconds"] > 0 and (tmp_path / "work" / f"dpo_{r['rater']}_{r['pairs']}" / "model").is_dir()
    assert {"pair_samples", "eval_samples", "bits", "critic", "total"} <= set(report["timings_seconds"])


def test_pairs_0_measures_only_the_critic_reranking(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = setup
    out = tmp_path / "rerank.json"
    assert bench.main(["--model", str(model), "--data", str(data), "--quick", "--pairs", "0", "--eval-prompts", "2",
                       "--seconds", "2", "--raters", "repeats,key", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {(r["method"], r["rater"]) for r in report["results"]} == {("rerank-critic", "fewer-repeats-1bar"),
                                                                     ("rerank-critic", "key-C-major")}
    assert all(r["wins"] + r["losses"] + r["ties"] == 2 for r in report["results"])
    assert not {"pair_samples", "bits"} & set(report["timings_seconds"])


def test_bad_options_are_one_line_errors(setup: tuple[Path, Path], capsys) -> None:
    model, data = setup
    for extra, message in ((["--raters", "loudness"], "--raters"), (["--key", "H dur"], "--key"),
                           (["--pairs", "0,5"], "--pairs"), (["--pairs", "0", "--rerank", "0"], "--pairs"),
                           (["--rerank", "1"], "--rerank")):
        assert bench.main(["--model", str(model), "--data", str(data), "--quick", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err


def test_reruns_with_the_same_cache_compute_only_the_rows_they_add(setup: tuple[Path, Path], tmp_path: Path,
                                                                    caplog) -> None:
    model, data = setup
    args = ["--model", str(model), "--data", str(data), "--quick", "--pairs", "2", "--eval-prompts", "3",
            "--seconds", "2", "--steps", "2", "--raters", "repeats,key", "--reward-steps", "2", "--val-pieces", "2",
            "--cache", str(tmp_path / "cache")]
    critic = tmp_path / "second" / "critic" / "critic"  # trained by the second run, given to the third
    runs = {"dpo only": ["--rerank", "0", "--out", str(tmp_path / "first")],
            "reranking added": ["--rerank", "2", "--out", str(tmp_path / "second")],
            "again": ["--rerank", "2", "--critic", str(critic)]}
    rows, work = {}, {}
    for run, extra in runs.items():
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert bench.main([*args, *extra, "--json", str(tmp_path / "report.json")]) == 0
        rows[run] = json.loads((tmp_path / "report.json").read_text())["results"]
        for row in rows[run]:
            row.pop("eval_seconds")  # the critic's reranking rows are judged again from the kept samples
        said = [r.getMessage() for r in caplog.records]
        work[run] = {m for m in ("drew batch", "tuning on") if any(line.startswith(m) for line in said)}
    assert work == {"dpo only": {"drew batch", "tuning on"}, "reranking added": {"drew batch"}, "again": set()}
    dpo = [r for r in rows["reranking added"] if r["method"] == "dpo"]
    assert dpo and dpo == rows["dpo only"]  # (the repeats rater may tie every pair of so short pieces)
    assert rows["again"] == rows["reranking added"]
