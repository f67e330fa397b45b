"""Composer contrast (``data.contrast_rate``): crops scored again with another composer, the pairwise
scorer term in the loss, and training runs that use it (logged, resumed exactly)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch.utils.data import default_collate

from musetok.vocab import Kind

from muse.clock import Clock
from muse.config import load_run_config
from muse.core.token_shards import TokenDataset
from muse.saved_model import build_model, load_model
from muse.train_data import CropDataset, contrast_loss, muse_loss
from muse.training import train
from preference_models import FILES as TINY_FILES
from preference_models import tiny_dataset

REPO = Path(__file__).resolve().parents[1]
FILES = (*TINY_FILES, "chopin-ecossaise_no2_in_g.mid")  # four composers
N_CTX = 64  # configs/muse/tiny.yaml


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(midi_dir, tmp_path_factory.mktemp("contrast"), FILES, valid_fraction=0.3)


def crops(data: TokenDataset, **kwargs) -> CropDataset:
    return CropDataset(data, data.split_indices("train"), data.load_tokenizer(), N_CTX, items=200, seed=3, **kwargs)


def test_contrast_names_another_composer_and_leaves_the_crop_alone(dataset: Path) -> None:
    data = TokenDataset(dataset)
    vocab = data.load_tokenizer().vocab
    plain, contrast = crops(data, composer_dropout=0.3), crops(data, composer_dropout=0.3, contrast_rate=1.0)
    blanked = named = 0
    for i in range(len(plain)):
        a, b = plain[i], contrast[i]
        assert "negative" not in a and a.keys() == b.keys() - {"negative"}
        assert all(torch.equal(a[k], b[k]) for k in a)  # the draw comes after the crop's own
        own, negative = int(b["ids"][0]), int(b["negative"])
        if own == vocab.unknown_composer_id:
            blanked += 1
            assert negative == -1  # the unconditional crops have no composer to contrast
        else:
            named += 1
            assert vocab.kind[negative] == Kind.COMPOSER and negative != own
    assert blanked > 20 and named > 100
    # the rivals are the split's labels, each as likely (the scorer's uniform prior), however many pieces it has
    labels = {int(data.tokens(int(p))[0]) for p in data.split_indices("train")} - {vocab.unknown_composer_id}
    many = crops(data, contrast_rate=1.0)
    many.items = 1500
    pairs = [(int(many[i]["ids"][0]), int(many[i]["negative"])) for i in range(len(many))]
    assert {n for _, n in pairs} == labels and len(labels) >= 3
    most = Counter(own for own, _ in pairs).most_common(1)[0][0]
    rivals = Counter(n for own, n in pairs if own == most)
    assert set(rivals) == labels - {most}
    assert max(rivals.values()) < 1.5 * min(rivals.values())
    half = crops(data, contrast_rate=0.5)
    share = sum(int(half[i]["negative"]) >= 0 for i in range(len(half))) / len(half)
    assert 0.35 < share < 0.65


def _tiny_model(dataset: Path, **changes) -> torch.nn.Module:
    """configs/muse/tiny.yaml's model (``changes`` to its config), in eval mode."""
    torch.manual_seed(0)
    run = load_run_config(REPO / "configs" / "muse" / "tiny.yaml")
    return build_model(dataclasses.replace(run.model, **changes), TokenDataset(dataset).load_tokenizer()).eval()


def _batch(dataset: Path, rate: float = 1.0, start: int = 0) -> dict[str, torch.Tensor]:
    data = TokenDataset(dataset)
    return default_collate([crops(data, contrast_rate=rate)[start + i] for i in range(6)])


def test_contrast_loss_adds_the_pairwise_scorer_term(dataset: Path) -> None:
    model, batch = _tiny_model(dataset), _batch(dataset)
    rows = (batch["negative"] >= 0).nonzero().squeeze(1)
    assert len(rows) == 6
    plain = muse_loss(model, {k: v for k, v in batch.items() if k != "negative"}).loss
    assert torch.equal(contrast_loss(model, batch, 0.0).loss, plain)

    def log_likelihood(ids: torch.Tensor) -> torch.Tensor:  # (B,) the scorer's sum over the scored targets
        clock = Clock.of_inputs(batch)
        nll = model(ids[:, :-1], clock, batch["total_us"], targets=ids[:, 1:])
        return -(nll * batch["mask"]).sum(1)

    other = batch["ids"].clone()
    other[:, 0] = batch["negative"]
    margin = log_likelihood(batch["ids"]) - log_likelihood(other)
    expected = plain + 3.0 * F.softplus(-margin).sum() / (batch["ids"].shape[0] * (batch["ids"].shape[1] - 1))
    out = contrast_loss(model, batch, 3.0)
    torch.testing.assert_close(out.loss, expected)
    assert float(out.metrics["contrast_acc"]) == pytest.approx(float((margin > 0).float().mean()))
    none = dict(batch, negative=torch.full_like(batch["negative"], -1))  # no row to contrast
    assert torch.equal(contrast_loss(model, none, 3.0).loss, plain)


def test_structure_dropout_hides_lengths_in_training_only_and_alike_for_both_rows(dataset: Path) -> None:
    model, batch = _tiny_model(dataset, structure_dropout=0.5), _batch(dataset)
    model.transformer.eval()  # isolate the structure dropout from the transformer's
    plain = {k: v for k, v in batch.items() if k != "negative"}
    assert torch.equal(muse_loss(model, plain).loss, muse_loss(model, plain).loss)  # eval: nothing hidden
    model.train()
    model.transformer.eval()
    losses = [muse_loss(model, plain).loss for _ in range(4)]
    assert not all(torch.equal(losses[0], x) for x in losses[1:])
    same = dict(batch, negative=batch["ids"][:, 0])  # "another" composer that is the crop's own
    for _ in range(4):  # the contrast row hides the length exactly when its own row does
        assert float(contrast_loss(model, same, 1.0).metrics["contrast_margin"]) == 0.0


def test_the_contrast_term_teaches_the_composer_to_explain_the_crop(dataset: Path) -> None:
    """A few steps on the contrast term alone (no next-token loss) widen the margins of the batch's crops
    and of crops it did not see."""
    model = _tiny_model(dataset)  # eval mode: the margins are measured without dropout's noise
    seen, unseen = _batch(dataset), _batch(dataset, start=50)

    def margin(batch: dict[str, torch.Tensor]) -> float:
        with torch.no_grad():
            return float(contrast_loss(model, batch, 1.0).metrics["contrast_margin"])

    before = margin(seen), margin(unseen)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        out = contrast_loss(model, seen, 1.0)
        (out.loss - muse_loss(model, {k: v for k, v in seen.items() if k != "negative"}).loss).backward()
        opt.step()
        opt.zero_grad()
    after = margin(seen), margin(unseen)
    assert after[0] > before[0] + 0.05
    assert after[1] > before[1]


def test_a_contrast_run_logs_its_accuracy_and_resumes_exactly(dataset: Path, tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "configs" / "muse" / "tiny.yaml").read_text())
    data["train"].update(steps=6, log_every=1, eval_every=3, checkpoint_every=3, batch_size=2)
    data["data"].update(contrast_rate=0.5, contrast_weight=2.0, composer_dropout=0.15)
    preset = tmp_path / "contrast.yaml"
    preset.write_text(yaml.safe_dump(data))
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(preset, dataset, straight, progress=False)
    train(preset, dataset, interrupted, max_steps=4, progress=False)
    train(preset, dataset, interrupted, resume=True, progress=False)

    def records(run: Path) -> list[dict]:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"} for line in lines]

    logged = records(straight)
    assert records(interrupted) == logged
    steps = [r for r in logged if "loss" in r]
    evals = [r for r in logged if "eval_loss" in r]
    assert len(steps) == 6 and all(0.0 <= r["contrast_acc"] <= 1.0 for r in steps)
    assert evals and all("eval_contrast_acc" in r and "eval_bits_per_token" in r for r in evals)
    a, b = load_model(straight).model.state_dict(), load_model(interrupted).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_contrast_settings_are_checked() -> None:
    from muse.config import MuseDataConfig

    with pytest.raises(ValueError, match="contrast_rate"):
        MuseDataConfig(contrast_rate=1.5)
    with pytest.raises(ValueError, match="contrast_weight"):
        MuseDataConfig(contrast_weight=-1.0)
