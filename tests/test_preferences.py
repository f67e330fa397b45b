"""Preference loop (issue 21), part 1: pairs from feedback, DPO tuning, and the statistics it reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from muse.cli import main
from muse.core.errors import UserError
from muse.core.token_shards import TokenDataset
from muse.dpo import PairDataset, pair_margins, reference_margins
from muse.feedback import FeedbackStore, Sample
from muse.generate import MuseGenerator
from muse.metrics import roc_auc, wilson_interval
from muse.prefs import PreferencePair, pairs_from_events, read_prefs, write_prefs
from muse.saved_model import load_model
from muse.tune import TUNE_FILE, tune, tune_config
from muse.windows import scoring_windows
from preference_models import sample_pairs, tiny_dataset, tiny_model


@pytest.fixture(scope="module")
def model_dir(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tiny_dataset(midi_dir, tmp_path_factory.mktemp("prefs"))
    return tiny_model(tmp_path_factory.mktemp("model"), TokenDataset(data).load_tokenizer())


@pytest.fixture(scope="module")
def pairs(model_dir: Path) -> list[PreferencePair]:
    return sample_pairs(MuseGenerator(model_dir), 4)


@pytest.fixture(scope="module")
def tuned(model_dir: Path, pairs: list[PreferencePair], tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefs = tmp_path_factory.mktemp("pairs") / "prefs.jsonl"
    write_prefs(pairs, prefs)
    run = tmp_path_factory.mktemp("runs") / "dpo"
    rc = main(["tune", "--model", str(model_dir), "--prefs", str(prefs), "--out", str(run), "--steps", "6",
               "--batch-size", "4", "--lr", "3e-3", "--no-progress"])
    assert rc == 0
    return run


# ---- statistics -------------------------------------------------------------------------------------


def test_roc_auc_is_the_share_of_correctly_ordered_pairs() -> None:
    # positives 0.9, 0.4, 0.4 against negatives 0.4, 0.1: of the 6 pairs, 4 ordered and 2 tied -> 5/6
    assert roc_auc([0.9, 0.4, 0.4], [0.4, 0.1]) == pytest.approx(5 / 6)
    assert roc_auc([3, 4], [1, 2]) == 1.0 and roc_auc([1, 2], [3, 4]) == 0.0
    assert roc_auc([1, 1], [1, 1, 1]) == 0.5
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 40), rng.normal(0, 1, 30)
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc_auc(pos, neg) == pytest.approx(brute)
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1.0], [])


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 20)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(20, 20)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    a, b = wilson_interval(50, 100)
    # centre 0.5; half width z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n) with z = 1.959964
    half = 1.959964 * math.sqrt(0.25 / 100 + 1.959964**2 / 40000) / (1 + 1.959964**2 / 100)
    assert (a, b) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half)) and a == pytest.approx(0.40383, abs=1e-5)


# ---- pairs from feedback -------------------------------------------------------------------------------


def _sample(i: int, prompt: list[int], body: list[int], prime: int | None = None) -> Sample:
    return Sample(id=f"s{i}", mode="compose", settings={"composer": "bach", "seconds": 5.0, "variation": i},
                  seed=i, model_hash="abc", tokens=prompt + body, prime_tokens=len(prompt) if prime is None else prime)


def test_feedback_thumbs_and_choices_become_the_expected_pairs(tmp_path: Path) -> None:
    p1, p2 = [5, 60, 1], [6, 60, 1]  # two prompts (headers)
    store = FeedbackStore(tmp_path / "fb.sqlite")
    s1, s2, s3, s4 = (_sample(i, p1, [300 + i, 2]) for i in range(1, 5))
    store.rate(s1, 1, "alice")
    store.rate(s2, -1, "alice")
    store.rate(s3, -1, "alice")
    store.rate(s3, -1, "bob")
    store.rate(s4, 1, "alice")
    store.rate(s4, -1, "bob")  # net 0: neither liked nor disliked
    store.rate(_sample(5, p2, [305, 2]), 1, "alice")  # liked, but nothing of its prompt disliked: no pair
    store.choose(_sample(6, p1, [306, 2]), _sample(7, p1, [307, 2]), "carol")
    store.choose(_sample(8, p1, [308, 2]), _sample(9, p2, [309, 2]), "carol")  # different prompts: skipped
    summary = pairs_from_events(store.events())
    got = {(p.source, p.chosen_id, p.rejected_id) for p in summary.pairs}
    assert got == {("choice", "s6", "s7"), ("rating", "s1", "s2"), ("rating", "s1", "s3")}
    assert (summary.from_choices, summary.from_ratings, summary.skipped_choices) == (1, 2, 1)
    first = next(p for p in summary.pairs if p.chosen_id == "s1" and p.rejected_id == "s2")
    assert first.prompt == tuple(p1) and first.chosen == (301, 2) and first.rejected == (302, 2)
    assert first.settings == {"composer": "bach", "seconds": 5.0}  # the variation number is not a setting

    out = tmp_path / "prefs.jsonl"
    assert main(["feedback", "export", "--pairs", "-o", str(out), "--db", str(tmp_path / "fb.sqlite")]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(d["chosen_id"], d["rejected_id"]) for d in lines} == {("s6", "s7"), ("s1", "s2"), ("s1", "s3")}
    assert read_prefs(out) == list(summary.pairs)
    events = tmp_path / "events.jsonl"  # the plain export reads as the same pairs
    assert main(["feedback", "export", "-o", str(events), "--db", str(tmp_path / "fb.sqlite")]) == 0
    assert read_prefs(events) == list(summary.pairs)


def test_a_prime_is_part_of_the_prompt() -> None:
    a = _sample(1, [5, 60, 1, 400, 401], [402, 2]).to_dict()
    b = _sample(2, [5, 60, 1, 400, 401], [403, 2]).to_dict()
    pair = pairs_from_events([{"type": "preference", "chosen": a, "rejected": b}]).pairs[0]
    assert pair.prompt == (5, 60, 1, 400, 401) and pair.chosen == (402, 2)
    header_only = _sample(3, [5, 60, 1], [404], prime=0).to_dict()  # prime_tokens 0: the header is the prompt
    other = _sample(4, [5, 60, 1], [405], prime=0).to_dict()
    pair = pairs_from_events([{"type": "preference", "chosen": header_only, "rejected": other}]).pairs[0]
    assert pair.prompt == (5, 60, 1)


def test_bad_preference_files_are_one_line_errors(model_dir: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(UserError, match="no such preferences file"):
        read_prefs(tmp_path / "none.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(UserError, match="no preference pairs"):
        read_prefs(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": [1], "chosen": [2], "rejected": [3]}\nnot json\n')
    with pytest.raises(UserError, match="bad.jsonl:2"):
        read_prefs(bad)
    foreign = tmp_path / "foreign.jsonl"
    write_prefs([PreferencePair((3, 60, 1), (70000, 2), (301, 2))], foreign)
    for args in (["--prefs", str(foreign)], ["--prefs", str(empty)], ["--prefs", str(tmp_path / "none.jsonl")]):
        rc = main(["tune", "--model", str(model_dir), "--out", str(tmp_path / "run"), "--no-progress", *args])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "error:" in err
    rc = main(["tune", "--model", str(model_dir), "--prefs", str(foreign), "--out", str(tmp_path / "run")])
    assert "outside the model's vocabulary" in capsys.readouterr().err
    rc = main(["tune", "--model", str(tmp_path / "nowhere"), "--prefs", str(foreign), "--out", str(tmp_path / "r")])
    assert rc == 2 and "model folder not found" in capsys.readouterr().err


# ---- DPO ----------------------------------------------------------------------------------------------


def test_windows_score_each_completion_token_once() -> None:
    # header 3, prompt 10 tokens, 40 tokens in all, context 12: windows of 12 = header + 9
    windows = scoring_windows(40, 3, 12, first_scored=10, context=4)
    targets = [int(r) for rows, scored in windows for r in rows[scored]]
    assert sorted(targets) == list(range(10, 40))
    assert windows[0][0][3] == 6  # the first stretch starts 4 tokens before the completion
    assert all(len(rows) <= 13 and list(rows[:3]) == [0, 1, 2] for rows, _ in windows)


def test_dpo_raises_the_chosen_samples_likelihood_relative_to_the_rejected(model_dir: Path, pairs, tuned: Path) -> None:
    original = load_model(model_dir)
    data = PairDataset(pairs, original.tokenizer, original.config.n_ctx)
    reference_margins(original.model, data)
    before = data.ref_margin.clone()
    assert torch.equal(pair_margins(original.model, data), before)
    after = pair_margins(load_model(tuned).model, data)
    assert (after - before).mean() > 0 and ((after - before) > 0).all()
    last = [json.loads(line) for line in (tuned / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == 6 and last["margin"] > 0 and last["accuracy"] == 1.0


def test_the_tuned_model_is_a_normal_model_folder(model_dir: Path, tuned: Path, tmp_path: Path) -> None:
    loaded = load_model(tuned)  # the run folder resolves to its exported model/
    assert loaded.path == tuned and (tuned / "model" / "model.safetensors").is_file()
    assert loaded.config == load_model(model_dir).config
    piece = MuseGenerator(tuned).generate("bach", ["piano"], seconds=1.0, seed=3)[0]
    assert piece.n_notes >= 0 and len(piece.ids) > 3
    assert main(["generate", "--model", str(tuned / "model"), "--composer", "bach", "--seconds", "1",
                 "-o", str(tmp_path / "out.mid")]) == 0
    record = json.loads((tuned / TUNE_FILE).read_text())
    assert record["pairs"] == 4 and record["config"]["beta"] == 0.1 and len(record["prefs_sha256"]) == 64


def test_tuning_resumes_and_refuses_other_settings(model_dir: Path, pairs, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tune_config(4, 2, 3e-3, 0.1, checkpoint_every=2, log_every=1)
    straight = tune(model_dir, pairs, tmp_path / "straight", config, progress=False)
    tune(model_dir, pairs, run, tune_config(2, 2, 3e-3, 0.1, checkpoint_every=2, log_every=1), progress=False)
    with pytest.raises(UserError, match="already holds a tuning run"):
        tune(model_dir, pairs, run, config, progress=False)
    with pytest.raises(UserError, match="beta"):
        tune(model_dir, pairs, run, tune_config(4, 2, 3e-3, 0.2, checkpoint_every=2, log_every=1), resume=True,
             overrides=("config.train.steps",), progress=False)
    resumed = tune(model_dir, pairs, run, config, resume=True, overrides=("config.train.steps",), progress=False)
    assert resumed.step == straight.step == 4
    records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["step"] == 1 and records[0]["margin"] == pytest.approx(0.0, abs=1e-4)  # starts as the reference
    assert records[-1]["margin"] > 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the resumed run logged steps 3 and 4 after the checkpoint of step 2
    # same data order and weights as an uninterrupted run, up to the schedule that --override steps changed
    assert resumed.margin > 0 and straight.margin > 0
