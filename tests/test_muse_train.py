"""Training the symbolic model end to end: a tiny dataset built from real MIDI files, crops, resume, eval."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from musetok.vocab import Kind

from muse.cli import main
from muse.core.checkpoint import load_checkpoint_config
from muse.core.errors import UserError
from muse.core.token_shards import TokenDataset
from muse.evaluate import evaluate, evaluate_midi
from muse.generate import MuseGenerator
from muse.model import MuseModel
from muse.saved_model import load_model
from muse.train_data import CropDataset, WindowDataset
from muse.training import train
from muse.warm_start import init_from
from preference_models import tiny_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tiny_dataset(midi_dir, tmp_path_factory.mktemp("tiny"))  # two pieces each of three composers
    ds = TokenDataset(out)
    assert len(ds.split_indices("train")) and len(ds.split_indices("valid")), "the test needs both splits"
    return out


@pytest.fixture(scope="module")
def preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/muse/tiny.yaml, shortened to 6 steps (evaluation and checkpoints every 3)."""
    data = yaml.safe_load((REPO / "configs" / "muse" / "tiny.yaml").read_text())
    data["train"].update(steps=6, log_every=1, eval_every=3, checkpoint_every=3, batch_size=2)
    path = tmp_path_factory.mktemp("preset") / "tiny6.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(dataset: Path, preset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "straight"
    rc = main(["train", "--config", str(preset), "--data", str(dataset), "--out", str(run), "--no-progress"])
    assert rc == 0
    return run


def test_training_logs_metrics_and_exports_a_model(trained: Path) -> None:
    records = metrics(trained)
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert {"lr", "tokens_per_s", "bits_per_token", "grad_norm"} <= set(steps[-1])
    assert [r["step"] for r in evals] == [3, 6] and "eval_bits_per_token" in evals[-1]
    assert steps[-1]["loss"] < steps[0]["loss"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "note_limits.json"):
        assert (trained / "model" / name).is_file()
    loaded = load_model(trained)
    assert loaded.limits is not None and loaded.limits.note_seconds["piano"] > 0  # learnt from the training split
    assert loaded.config.vocab_size == loaded.tokenizer.vocab.size
    assert loaded.tokenizer.config.composers == ("bach", "mozart", "scarlatti")
    step = trained / "checkpoints" / "step_00000006"  # a checkpoint's config is a muse model's: same header
    doc = json.loads((step / "config.json").read_text())
    assert (doc["format"], doc["kind"]) == ("musebox-model", "muse") and load_checkpoint_config(step) == doc["config"]
    last = load_model(trained / "checkpoints" / "latest").model.state_dict()  # the pointer file, or its folder
    assert all(torch.equal(last[k], v) for k, v in load_model(trained / "checkpoints").model.state_dict().items())


def test_resume_continues_exactly(dataset: Path, preset: Path, trained: Path, tmp_path: Path) -> None:
    run = tmp_path / "interrupted"
    result = train(preset, dataset, run, max_steps=4, progress=False)  # stops mid-schedule at step 4
    assert result.step == 4
    with pytest.raises(UserError, match="--resume"):
        train(preset, dataset, run, progress=False)
    result = train(preset, dataset, run, resume=True, progress=False)
    assert result.step == 6
    assert _same_records(metrics(run), metrics(trained))
    a = load_model(run).model.state_dict()
    b = load_model(trained).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _same_records(a: list[dict], b: list[dict]) -> bool:
    """Equal apart from the measured speed."""
    drop = ("tokens_per_s",)
    return [{k: v for k, v in r.items() if k not in drop} for r in a] == \
        [{k: v for k, v in r.items() if k not in drop} for r in b]


def test_crops_keep_the_header_and_the_piece_clock(dataset: Path) -> None:
    data = TokenDataset(dataset)
    tokenizer = data.load_tokenizer()
    crops = CropDataset(data, data.split_indices("train"), tokenizer, 48, items=20, seed=3, augment_config=None)
    for i in range(20):
        item = crops[i]
        ids = item["ids"].numpy()
        start = int(np.flatnonzero(ids == tokenizer.vocab.start_id)[0])
        assert tokenizer.vocab.kind[ids[0]] == Kind.COMPOSER
        header = ids[: start + 1]
        piece = next(p for p in range(len(data)) if np.array_equal(data.tokens(p)[: start + 1], header)
                     and _contains(np.asarray(data.tokens(p)), ids[start + 1:]))
        whole = np.asarray(data.tokens(piece)).astype(np.int64)
        body = ids[start + 1:]
        times = tokenizer.token_times(whole)
        ticks = item["ticks"].numpy()[start + 1:]
        # The body's ticks are those of its place in the whole piece (one of its occurrences).
        assert any(np.array_equal(ticks, times[at:at + len(body)]) for at in _find_all(whole, body))
        assert int(item["total_us"]) == pytest.approx(tokenizer.seconds(whole) * 1e6, abs=2e3)
    assert torch.equal(crops[5]["ids"], crops[5]["ids"])  # an item is a pure function of its index
    assert not torch.equal(crops[5]["ids"], crops[6]["ids"])


def _find_all(whole: np.ndarray, part: np.ndarray) -> list[int]:
    return [at for at in range(len(whole) - len(part) + 1) if np.array_equal(whole[at:at + len(part)], part)]


def _contains(whole: np.ndarray, part: np.ndarray) -> bool:
    return bool(_find_all(whole, part))


def test_augmented_crops_differ_but_keep_the_header(dataset: Path) -> None:
    data = TokenDataset(dataset)
    tokenizer = data.load_tokenizer()
    from musetok.augment import AugmentConfig

    plain = CropDataset(data, data.split_indices("train"), tokenizer, 48, items=8, seed=1)
    augmented = CropDataset(data, data.split_indices("train"), tokenizer, 48, items=8, seed=1,
                            augment_config=AugmentConfig(max_transpose=6))
    differ = 0
    for i in range(8):
        a, b = plain[i]["ids"], augmented[i]["ids"]
        start = int((a == tokenizer.vocab.start_id).nonzero()[0])
        assert torch.equal(a[: start + 1], b[: start + 1])
        differ += not torch.equal(a, b)
    assert differ >= 4


def test_windows_score_every_token_once(dataset: Path) -> None:
    data = TokenDataset(dataset)
    tokenizer = data.load_tokenizer()
    pieces = data.split_indices("valid")
    windows = WindowDataset(data, pieces, tokenizer, 40)
    scored = sum(int(windows[j]["mask"].sum()) for j in range(len(windows)))
    assert scored == sum(data.pieces[p].length - 1 for p in pieces)


def test_eval_prints_bits_per_composer_and_the_unigram_baseline(trained: Path, dataset: Path, capsys) -> None:
    assert main(["eval", "--model", str(trained), "--data", str(dataset)]) == 0
    table = capsys.readouterr().out
    assert "unigram" in table and "all" in table
    report = evaluate(trained, dataset)
    assert report.overall.tokens == sum(s.tokens for s in report.composers)
    assert {s.label for s in report.composers} <= {"bach", "mozart", "scarlatti"}
    for score in (*report.composers, report.overall):
        assert 0 < score.bits_per_token < 20 and 0 < score.unigram_bits_per_token < 20


def test_eval_midi_scores_a_folder_with_the_models_vocabulary(trained: Path, midi_dir: Path, tmp_path: Path,
                                                              capsys) -> None:
    """``muse eval --midi``: files tokenized with the model's vocabulary, labelled by folder; a label the
    model does not know is the unknown composer; the baseline is fit on the files themselves."""
    for folder, name in (("bach", "bach-bwv001-_400_chorales-003706b.mid"),
                         ("chopin", "chopin-ecossaise_no2_in_g.mid")):
        (tmp_path / folder).mkdir(exist_ok=True)
        shutil.copy(midi_dir / "classical" / name, tmp_path / folder / name)
    assert main(["eval", "--model", str(trained), "--midi", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "bach" in table and "unknown_composer" in table and "chopin" not in table
    report = evaluate_midi(trained, tmp_path, composer_from="parent")
    assert report.overall.pieces == 2 and report.overall.tokens == sum(s.tokens for s in report.composers)
    assert 0 < report.overall.bits_per_token < 20
    assert main(["eval", "--model", str(trained), "--midi", str(tmp_path / "nothing")]) == 2


def test_trained_model_generates(trained: Path, tmp_path: Path) -> None:
    gen = MuseGenerator(trained)
    piece = gen.generate("bach", ["piano"], seconds=1.0, seed=0)[0]
    assert gen.tokenizer.text(piece.ids[:3]).split() == ["bach", "piano", "start"]


def test_training_errors_are_one_line(dataset: Path, tmp_path: Path, capsys) -> None:
    rc = main(["train", "--config", str(REPO / "configs/muse/tiny.yaml"), "--data", str(tmp_path / "nothing"),
               "--out", str(tmp_path / "run")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {transformer: {width: 8}}\ntrain: {steps: 1, batch_size: 1}\nlearning: 3\n")
    rc = main(["train", "--config", str(bad), "--data", str(dataset), "--out", str(tmp_path / "run")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "bad.yaml" in err and "learning" in err


def test_composer_dropout_blanks_the_composer_of_that_share_of_crops(dataset: Path) -> None:
    data = TokenDataset(dataset)
    tokenizer = data.load_tokenizer()
    vocab = tokenizer.vocab

    def unknown_share(p: float) -> float:
        crops = CropDataset(data, data.split_indices("train"), tokenizer, 40, items=300, seed=1, composer_dropout=p)
        return sum(int(crops[i]["ids"][0]) == vocab.unknown_composer_id for i in range(len(crops))) / len(crops)

    assert unknown_share(0.0) == 0.0
    assert 0.35 < unknown_share(0.5) < 0.65


def test_init_from_starts_a_fim_run_from_a_saved_model(dataset: Path, preset: Path, trained: Path,
                                                        tmp_path: Path) -> None:
    data = yaml.safe_load(preset.read_text())
    data["data"] = {**data.get("data", {}), "fim_rate": 0.5}
    fim_preset = tmp_path / "fim.yaml"
    fim_preset.write_text(yaml.safe_dump(data))
    run = tmp_path / "warm"
    result = train(fim_preset, dataset, run, max_steps=1, progress=False, init_from=trained / "model")
    assert result.step == 1 and (run / "init_from.txt").read_text().strip() == str((trained / "model").resolve())
    old, new = load_model(trained / "model"), load_model(run / "checkpoints")
    assert new.tokenizer.vocab.has_fim_markers and not old.tokenizer.vocab.has_fim_markers
    n = old.tokenizer.vocab.size
    assert list(new.tokenizer.vocab.tokens[:n]) == list(old.tokenizer.vocab.tokens)
    # One step of lr ~0 (warmup) moves nothing much: every old token's embedding row is where it was.
    old_rows = old.model.vocab.rows.weight[torch.as_tensor(old.model.tables.row)]
    new_rows = new.model.vocab.rows.weight[torch.as_tensor(new.model.tables.row[:n])]
    assert torch.allclose(old_rows, new_rows, atol=0.05) and not torch.allclose(old_rows, old_rows.roll(1, 0))
    with pytest.raises(UserError, match="--init-from starts a new run"):
        train(fim_preset, dataset, run, resume=True, progress=False, init_from=trained / "model")
    dense = yaml.safe_load(preset.read_text())  # another attention layout: the same weights, copied
    dense["model"]["transformer"]["attn_order"] = ["dense"]
    (tmp_path / "dense.yaml").write_text(yaml.safe_dump(dense))
    train(tmp_path / "dense.yaml", dataset, tmp_path / "dense", max_steps=1, progress=False,
          init_from=trained / "model")
    assert load_model(tmp_path / "dense" / "checkpoints").config.transformer.attn_order == ("dense",)
    wide = yaml.safe_load(preset.read_text())
    wide["model"]["transformer"]["width"] *= 2
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump(wide))
    with pytest.raises(UserError, match="width"):
        train(tmp_path / "wide.yaml", dataset, tmp_path / "wide", progress=False, init_from=trained / "model")


def test_init_from_adds_a_copy_head_that_starts_where_the_model_was(dataset: Path, preset: Path, trained: Path,
                                                                    tmp_path: Path) -> None:
    data = yaml.safe_load(preset.read_text())
    data["model"]["copy_head"] = True
    data["train"].update(steps=3, eval_every=3, checkpoint_every=3, lr=0.05, warmup_steps=1)
    copy_preset = tmp_path / "copy.yaml"
    copy_preset.write_text(yaml.safe_dump(data))
    old = load_model(trained / "model")
    fresh = MuseModel(dataclasses.replace(old.config, copy_head=True), old.model.tables)
    init_from(fresh, old.tokenizer, trained / "model")
    ids = torch.as_tensor(TokenDataset(dataset).tokens(0)[:40].astype(np.int64))[None]
    with torch.no_grad():
        assert torch.equal(fresh.eval()(ids), old.model.eval()(ids))  # the head starts at zero: no change
    train(copy_preset, dataset, tmp_path / "copy", max_steps=3, progress=False, init_from=trained / "model")
    new = load_model(tmp_path / "copy" / "model")
    assert new.config.copy_head and new.model.copy.proj.abs().sum() > 0  # the head learnt something
    gen = MuseGenerator(tmp_path / "copy" / "model")  # a copy-head model samples through the cached path
    piece = gen.generate("bach", ["piano"], seconds=2.0, seed=0)[0]
    assert piece.n_notes > 0
    with pytest.raises(UserError, match="copy_head"):  # going back would drop the learnt head
        train(preset, dataset, tmp_path / "back", progress=False, init_from=tmp_path / "copy" / "model")
