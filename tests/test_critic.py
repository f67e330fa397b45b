"""Preference loop (issue 21), part 2: the critic, the reward model, reranking by them, and the scripted raters."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import symusic

import muse.critic as critic_module
from muse.cli import main
from muse.composers.mixing import parse_composer_mix
from muse.composers.scoring import ComposerScorer
from muse.core.errors import CheckpointError, UserError
from muse.core.token_shards import TokenDataset
from muse.critic import Critic, CriticConfig, load_critic
from muse.critic_training import CriticRunConfig, default_critic_train, train_critic
from muse.generate import MuseGenerator
from muse.metrics import roc_auc
from muse.prefs import PreferencePair, write_prefs
from muse.rerank import best_of_groups, combined_scores, style_scores
from preference_models import monotone_midis, tiny_dataset, tiny_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from raters import KeyRater, RepetitionRater, from_midi_bytes, prefer, repetition  # noqa: E402

TINY_CRITIC = ["--width", "16", "--depth", "1", "--heads", "2", "--n-ctx", "32", "--max-windows", "2",
               "--seconds", "1.5", "--steps", "4", "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def setup(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = tiny_dataset(midi_dir, tmp_path_factory.mktemp("critic"))
    return tiny_model(tmp_path_factory.mktemp("model"), TokenDataset(data).load_tokenizer()), data


@pytest.fixture(scope="module")
def critic_run(setup: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, data = setup
    run = tmp_path_factory.mktemp("runs") / "critic"
    assert main(["critic", "train", "--model", str(model), "--data", str(data), "--out", str(run), *TINY_CRITIC]) == 0
    return run


# ---- critic ----------------------------------------------------------------------------------------


def test_critic_training_records_the_held_out_auc(critic_run: Path, capsys) -> None:
    report = json.loads((critic_run / "report.json").read_text())
    scores = report["held_out_scores"]
    assert report["auc"] == pytest.approx(roc_auc(scores["real"], scores["generated"]))
    assert 0.0 <= report["auc"] <= 1.0 and report["held_out_real"] == len(scores["real"]) >= 1
    assert report["real"] == 3 and report["generated"] == 3  # the valid split's pieces, one sample each
    meta = json.loads((critic_run / "critic" / "critic.json").read_text())
    assert meta["kind"] == "critic" and meta["info"]["held_out_auc"] == report["auc"]
    assert len((critic_run / "negatives.jsonl").read_text().splitlines()) == 3


TOY_FILES = (  # 14 readable pieces of four composers
    "bach-bwv001-_400_chorales-003706b.mid", "bach-bwv001-_400_chorales-003806b.mid",
    "bach-bwv001-_400_chorales-003907b.mid", "bach-bwv001-_400_chorales-004003b.mid",
    "bach-bwv001-_400_chorales-004006b.mid", "bach-bwv001-_400_chorales-016806b.mid",
    "bach-bwv001-_400_chorales-019705b.mid", "scarlatti-k054.mid", "scarlatti-k087.mid", "mozart-contradance_n1.mid",
    "mozart-contradance_n2.mid", "mozart-the_chelsea_notebook-early_pieces_n8_minuet.mid",
    "chopin-ecossaise_no2_in_g.mid", "mendelsonn-choral_4.mid",
)


def test_critic_separates_real_music_from_an_obviously_different_class(midi_dir: Path, tmp_path: Path) -> None:
    """A separable toy: 14 real pieces against 14 files of one note struck on every eighth; the
    held-out ROC AUC (5 + 5 pieces never trained on) is above chance, and recorded."""
    data = tiny_dataset(midi_dir, tmp_path / "toy", TOY_FILES, valid_fraction=0.0)
    model = tiny_model(tmp_path / "model", TokenDataset(data).load_tokenizer())
    fake = monotone_midis(tmp_path / "fake", 14)
    config = CriticRunConfig(critic=CriticConfig(width=16, depth=1, heads=2, n_ctx=32, max_windows=4, seconds=4.0),
                             train=replace(default_critic_train(), steps=40, batch_size=8, lr=3e-3, warmup_steps=4,
                                           checkpoint_every=40),
                             split="train", held_out=0.35)
    report = train_critic(model, data, tmp_path / "run", config, samples=fake, progress=False)
    assert (report.real, report.generated, report.held_out_real, report.held_out_generated) == (14, 14, 5, 5)
    assert report.auc > 0.5 and report.train_auc > 0.5
    meta = json.loads((tmp_path / "run" / "critic" / "critic.json").read_text())
    assert meta["info"]["held_out_auc"] == report.auc
    critic = load_critic(tmp_path / "run")
    real = critic.score_midi(midi_dir / "classical" / TOY_FILES[0])
    assert real > critic.score_midi(fake / "monotone_0.mid")


def test_a_saved_critic_reloads_and_scores_the_same(critic_run: Path, setup: tuple[Path, Path], tmp_path: Path,
                                                     capsys) -> None:
    critic = load_critic(critic_run)  # the run folder resolves to its critic/
    assert critic.kind == "critic" and critic.config.n_ctx == 32
    report = json.loads((critic_run / "report.json").read_text())
    negatives = [np.asarray(json.loads(line)) for line in (critic_run / "negatives.jsonl").read_text().splitlines()]
    again = critic.score_many([negatives[i] for i in report["held_out"]["generated"]])
    assert again == pytest.approx(report["held_out_scores"]["generated"], abs=1e-5)
    one = critic.score_ids(negatives[0])
    assert isinstance(one, float) and one == pytest.approx(critic.score_many(negatives)[0], abs=1e-5)
    # the composer label is not what it judges
    relabelled = negatives[0].copy()
    relabelled[0] = critic.tokenizer.vocab.unknown_composer_id
    assert critic.score_ids(relabelled) == pytest.approx(one, abs=1e-6)
    path = tmp_path / "n0.mid"
    critic.tokenizer.decode_to_file(negatives[0], path)
    assert main(["critic", "score", "--critic", str(critic_run / "critic"), str(path)]) == 0
    assert str(path) in capsys.readouterr().out


def test_critic_trains_on_a_folder_of_samples(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = setup
    gen = MuseGenerator(model)
    samples = tmp_path / "samples"
    gen.save(gen.generate("mozart", ["piano"], seconds=1.5, seed=4, n=3), samples / "s.mid")
    run = tmp_path / "run"
    assert main(["critic", "train", "--model", str(model), "--data", str(data), "--out", str(run),
                 "--samples", str(samples), *TINY_CRITIC]) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["generated"] == 3 and not (run / "negatives.jsonl").exists()


def test_critic_errors_are_one_line(setup: tuple[Path, Path], critic_run: Path, tmp_path: Path, capsys) -> None:
    model, data = setup
    with pytest.raises(CheckpointError, match="not a critic"):
        load_critic(model)
    train = ["critic", "train", "--model", str(model), *TINY_CRITIC]
    for args, message in (
            ([*train, "--data", str(tmp_path), "--out", str(tmp_path / "r")], "not a built dataset"),
            ([*train, "--data", str(data), "--out", str(tmp_path / "r"), "--samples", str(tmp_path / "none")],
             "no such folder"),
            ([*train, "--data", str(data), "--out", str(critic_run)], "already holds a critic run"),
            (["critic", "score", "--critic", str(model), str(tmp_path)], "not a critic"),
            (["critic", "score", "--critic", str(critic_run), str(tmp_path)], "no MIDI files")):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err


# ---- reward model ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reward_run(setup: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model on pairs where the sample with more notes is chosen."""
    model, _ = setup
    gen = MuseGenerator(model)
    pieces = gen.generate("bach", ["piano"], seconds=1.5, seed=8, n=8)
    pairs = []
    for a, b in zip(pieces[::2], pieces[1::2]):
        good, bad = (a, b) if a.n_notes >= b.n_notes else (b, a)
        pairs.append(PreferencePair(tuple(map(int, good.ids[:3])), tuple(map(int, good.ids[3:])),
                                    tuple(map(int, bad.ids[3:])), "more-notes"))
    folder = tmp_path_factory.mktemp("reward")
    write_prefs(pairs, folder / "prefs.jsonl")
    assert main(["critic", "reward", "--model", str(model), "--prefs", str(folder / "prefs.jsonl"),
                 "--out", str(folder / "run"), *TINY_CRITIC]) == 0
    return folder / "run"


def test_reward_model_trains_on_pairs_and_reloads(reward_run: Path) -> None:
    scorer = load_critic(reward_run)
    report = json.loads((reward_run / "report.json").read_text())
    assert scorer.kind == "reward" and report["pairs"] == 4 and report["held_out_pairs"] == 1
    assert 0.0 <= report["held_out_accuracy"] <= 1.0


# ---- reranking -------------------------------------------------------------------------------------


class Recording(Critic):
    """A critic that remembers what it scored."""

    def __init__(self, critic: Critic) -> None:
        super().__init__(critic.net, critic.tokenizer, critic.kind, critic.info, critic.path)
        self.seen: list[tuple[list[np.ndarray], np.ndarray]] = []

    def score_many(self, pieces, batch_size: int = 32) -> np.ndarray:  # noqa: ANN001
        scores = super().score_many(pieces, batch_size)
        self.seen.append(([np.asarray(p) for p in pieces], scores))
        return scores


@pytest.mark.parametrize("scorer", ["critic_run", "reward_run"])
def test_rerank_by_critic_keeps_the_argmax_of_each_group(setup, scorer: str, request) -> None:  # noqa: ANN001
    gen = MuseGenerator(setup[0])
    critic = Recording(load_critic(request.getfixturevalue(scorer)))
    kept = gen.generate("bach", ["piano"], seconds=1.5, seed=11, n=2, rerank=3, rerank_by="critic", critic=critic)
    (candidates, scores), = critic.seen
    assert len(candidates) == 6 and len(kept) == 2
    for g, piece in enumerate(kept):
        assert np.array_equal(piece.ids, candidates[3 * g + int(np.argmax(scores[3 * g:3 * g + 3]))])


def test_rerank_by_both_keeps_the_argmax_of_the_weighted_sum(setup, critic_run: Path) -> None:  # noqa: ANN001
    gen = MuseGenerator(setup[0])
    critic = Recording(load_critic(critic_run))
    kept = gen.generate("bach", ["piano"], seconds=1.5, seed=5, n=2, rerank=3, rerank_by="both", critic=critic,
                        critic_weight=0.5)
    (candidates, judged), = critic.seen
    style = style_scores(ComposerScorer(gen.loaded, include_header=False), candidates,
                         parse_composer_mix("bach", gen.composers))
    expected = np.log(style) + 0.5 * judged
    for g, piece in enumerate(kept):
        assert np.array_equal(piece.ids, candidates[3 * g + int(np.argmax(expected[3 * g:3 * g + 3]))])


def test_rerank_scores_and_their_errors(setup, critic_run: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    assert best_of_groups(["a", "b", "c", "d"], np.array([0.1, 0.9, 5.0, -1.0]), 2) == ["b", "c"]
    with pytest.raises(ValueError, match="groups of 3"):
        best_of_groups(["a", "b"], np.zeros(2), 3)
    both = combined_scores(np.array([0.5, 0.25]), np.array([1.0, 2.0]), critic_weight=2.0)
    assert both == pytest.approx([np.log(0.5) + 2.0, np.log(0.25) + 4.0])
    gen = MuseGenerator(setup[0])
    monkeypatch.setattr(critic_module, "BUNDLED_CRITIC", tmp_path / "not_installed")
    with pytest.raises(UserError, match="needs a critic"):
        gen.generate("bach", ["piano"], seconds=1.0, rerank=2, rerank_by="critic")
    monkeypatch.setattr(critic_module, "BUNDLED_CRITIC", critic_run / "critic")  # a bundled critic: the default
    assert len(gen.generate("bach", ["piano"], seconds=1.0, seed=2, rerank=2, rerank_by="critic")) == 1
    with pytest.raises(UserError, match="critic weight"):
        gen.generate("bach", ["piano"], seconds=1.0, rerank=2, rerank_by="both", critic=critic_run, critic_weight=-1)
    with pytest.raises(UserError, match="choose a composer"):
        gen.generate(None, ["piano"], seconds=1.0, rerank=2, rerank_by="both", critic=critic_run)
    with pytest.raises(UserError, match="rerank by"):
        gen.generate("bach", ["piano"], seconds=1.0, rerank=2, rerank_by="loudness")
    pieces = gen.generate("bach", ["piano"], seconds=1.0, seed=2, rerank=2, rerank_by="both", critic=critic_run)
    assert len(pieces) == 1
    out = tmp_path / "out.mid"
    assert main(["generate", "--model", str(setup[0]), "--composer", "bach", "--seconds", "1", "--rerank", "2",
                 "--rerank-by", "critic", "--critic", str(critic_run), "-o", str(out)]) == 0 and out.is_file()
    assert main(["generate", "--model", str(setup[0]), "--composer", "bach", "--seconds", "1", "--rerank", "2",
                 "--rerank-by", "both", "--critic", str(critic_run / "critic"), "--critic-weight", "0.5",
                 "-o", str(tmp_path / "both.mid")]) == 0 and (tmp_path / "both.mid").is_file()
    other = tiny_model(tmp_path / "other", MuseGenerator(setup[0]).tokenizer.__class__())  # another vocabulary
    with pytest.raises(UserError, match="another vocabulary"):
        MuseGenerator(other).generate(None, ["piano"], seconds=1.0, rerank=2, rerank_by="critic", critic=critic_run)


# ---- scripted raters -------------------------------------------------------------------------------


def _score(bars: list[list[tuple[int, int]]], tpq: int = 480) -> symusic.Score:
    """A 4/4 piece: bar i holds notes (16th within the bar, pitch), each a 16th long."""
    score = symusic.Score(tpq)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track("piano", 0, False)
    for b, notes in enumerate(bars):
        for step, pitch in notes:
            track.notes.append(symusic.Note(b * 4 * tpq + step * tpq // 4, tpq // 4, pitch, 80))
    score.tracks.append(track)
    return from_midi_bytes(score)


def test_repetition_rater_prefers_fewer_repeats() -> None:
    motif = [(0, 60), (4, 64), (8, 67), (12, 72)]
    rng = np.random.default_rng(0)
    varied = [[(int(s), int(p)) for s, p in zip(rng.choice(16, 4, replace=False), rng.integers(40, 90, 4))]
              for _ in range(8)]
    repeated = _score([motif] * 8)
    assert repetition(repeated, bars=4) == 1.0 and repetition(repeated, bars=1) == 1.0
    assert repetition(_score(varied), bars=1) < 0.5
    assert prefer(RepetitionRater(bars=1), _score(varied), repeated) == 1
    assert repetition(_score([motif] * 4), bars=4) == 0.0  # one 4-bar window: nothing to repeat
    some = _score([motif, motif] + varied[:6])  # two bars repeat each other, six do not
    assert repetition(_score(varied[:6]), bars=1) < repetition(some, bars=1) < 1.0


def test_key_rater_prefers_its_key() -> None:
    c_major = [(0, 60), (2, 62), (4, 64), (6, 65), (8, 67), (10, 69), (12, 71), (14, 72)]
    f_sharp = [(s, p + 6) for s, p in c_major]
    rater = KeyRater("C major")
    assert rater.score(_score([c_major])) > 0.8 > rater.score(_score([f_sharp]))
    assert prefer(rater, _score([c_major]), _score([f_sharp])) == 1
    assert prefer(KeyRater("F# major"), _score([c_major]), _score([f_sharp])) == -1
    assert rater.score(_score([[]])) == -1.0
    with pytest.raises(ValueError, match="TONIC major"):
        KeyRater("H dur").score(_score([c_major]))
