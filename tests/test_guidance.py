"""Classifier-free guidance (``GuidedDecoder``) and reranking by composer, on a tiny model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from musetok import MidiTokenizer, TokenizerConfig
from musetok.vocab import Kind

import muse.generate as generate_module
from muse.composers.mixing import parse_composer_mix
from muse.config import MuseConfig
from muse.core.errors import UserError
from muse.core.sampling import GuidedDecoder, guide_logits
from muse.core.transformer import TransformerConfig
from muse.generate import DEFAULT_GUIDANCE, MuseGenerator
from muse.rerank import best_by_style, best_of_groups, style_scores
from muse.saved_model import build_model, save_model

COMPOSERS = ("bach", "chopin", "mozart")


def tiny_model(folder: Path, composer_dropout: float = 0.15) -> Path:
    """A random tiny header-conditioned model (waits favoured, so time advances), saved."""
    tokenizer = MidiTokenizer(TokenizerConfig(composers=COMPOSERS))
    torch.manual_seed(0)
    config = MuseConfig(
        transformer=TransformerConfig(width=32, depth=2, heads=2, n_ctx=32,
                                      attn_order=("block_local", "block_transpose"), blocks=4),
        time_quantum=6, time_buckets=16, chord_max=4, header_conditioning=True, composer_dropout=composer_dropout)
    model = build_model(config, tokenizer)
    waits = np.flatnonzero(np.asarray(tokenizer.vocab.kind) == Kind.WAIT)
    with torch.no_grad():
        model.vocab.row_bias[torch.as_tensor(model.tables.row[waits])] += 3.0
        model.header_cond.composers.weight.mul_(50)  # composers that matter, so guidance changes the music
    return save_model(model, tokenizer, folder)


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    return MuseGenerator(tiny_model(tmp_path_factory.mktemp("guided")))


def test_guide_logits_is_the_cfg_combination() -> None:
    cond, uncond = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    assert guide_logits(cond, uncond, 1.0) is cond
    torch.testing.assert_close(guide_logits(cond, uncond, 0.0), uncond)
    torch.testing.assert_close(guide_logits(cond, uncond, 3.0), uncond + 3 * (cond - uncond))


def test_guided_rows_are_the_plain_rows_and_share_nothing(gen: MuseGenerator) -> None:
    """The conditional half of a guided batch is the plain decoder's output for those ids, the
    unconditional half its output for the ids with the composer unknown; changing the composer
    of the conditional rows leaves the unconditional rows untouched."""
    model, vocab = gen.model, gen.vocab
    header = [vocab.composer_id("bach"), vocab.instrument_base + vocab.instruments.index("piano"), vocab.start_id]
    body = torch.randint(vocab.wait_base, vocab.wait_base + 20, (2, 12))
    ids = torch.cat([torch.tensor([header, header]), body], dim=1)

    def halves(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured = []
        inner = model.new_cache  # record what the wrapped model computes for each half

        class Spy:
            n_ctx = model.n_ctx

            def new_cache(self, b: int):  # noqa: ANN202
                return inner(b)

            def step(self, x: torch.Tensor, cache) -> torch.Tensor:  # noqa: ANN001
                out = model.step(x, cache)
                captured.append(out)
                return out

        guided = GuidedDecoder(Spy(), 2.0, gen._unconditional)
        guided.step(rows, guided.new_cache(rows.shape[0]))
        return captured[0].chunk(2)

    cond, uncond = halves(ids)
    with torch.no_grad():
        torch.testing.assert_close(cond, model(ids), atol=1e-5, rtol=0)
        torch.testing.assert_close(uncond, model(gen._unconditional(ids)), atol=1e-5, rtol=0)
    other = ids.clone()
    other[:, 0] = vocab.composer_id("mozart")
    cond2, uncond2 = halves(other)
    assert torch.equal(uncond2, uncond)
    assert not torch.allclose(cond2, cond)


def test_guidance_one_is_plain_sampling_and_other_weights_change_the_music(gen: MuseGenerator) -> None:
    plain = gen.generate("bach", ["piano"], seconds=4.0, seed=3, n=2, guidance=1.0)
    unknown = gen.generate(None, ["piano"], seconds=4.0, seed=3, n=2, guidance=1.0)
    guided = gen.generate("bach", ["piano"], seconds=4.0, seed=3, n=2, guidance=3.0)
    assert any(not np.array_equal(a.ids[1:], u.ids[1:]) for a, u in zip(plain, unknown))  # the composer matters
    assert any(not np.array_equal(a.ids, g.ids) for a, g in zip(plain, guided))
    for piece in guided:  # still well formed music of the requested length
        assert piece.ended and piece.skipped == 0 and abs(piece.seconds - 4.0) < 0.2


def test_the_default_guidance_needs_a_composer_and_a_model_trained_for_it(gen: MuseGenerator, tmp_path: Path) -> None:
    assert gen.default_guidance("bach") == DEFAULT_GUIDANCE == 2.0
    assert gen.default_guidance("bach:0.5,chopin:0.5") == DEFAULT_GUIDANCE
    assert gen.default_guidance(None) == 1.0
    default = gen.generate("bach", ["piano"], seconds=3.0, seed=4)[0]
    assert np.array_equal(default.ids, gen.generate("bach", ["piano"], seconds=3.0, seed=4, guidance=2.0)[0].ids)
    no_composer = gen.generate(None, ["piano"], seconds=3.0, seed=4)[0]  # no composer to guide toward: plain
    assert np.array_equal(no_composer.ids, gen.generate(None, ["piano"], seconds=3.0, seed=4, guidance=1.0)[0].ids)
    unguided = MuseGenerator(tiny_model(tmp_path / "m", composer_dropout=0.0))
    assert unguided.default_guidance("bach") == 1.0
    piece = unguided.generate("bach", ["piano"], seconds=3.0, seed=4)[0]
    assert np.array_equal(piece.ids, unguided.generate("bach", ["piano"], seconds=3.0, seed=4, guidance=1.0)[0].ids)


def test_guidance_is_refused_where_it_means_nothing(gen: MuseGenerator, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="choose a composer"):
        gen.generate(None, ["piano"], seconds=2.0, guidance=2.0)
    with pytest.raises(UserError, match="guidance must be"):
        gen.generate("bach", ["piano"], seconds=2.0, guidance=float("nan"))
    unguided = MuseGenerator(tiny_model(tmp_path / "m", composer_dropout=0.0))
    with pytest.raises(UserError, match="not trained with composer dropout"):
        unguided.generate("bach", ["piano"], seconds=2.0, guidance=2.0)


def test_rerank_keeps_the_best_scored_candidate_of_each_group(gen: MuseGenerator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def spy(candidates, scores, k):
        seen.append((list(candidates), np.asarray(scores), k))
        return best_of_groups(candidates, scores, k)

    monkeypatch.setattr(generate_module, "best_of_groups", spy)
    kept = gen.generate("chopin", ["piano"], seconds=3.0, seed=11, n=2, rerank=3)
    (candidates, scores, k), = seen
    assert k == 3 and len(candidates) == 6
    mix = parse_composer_mix("chopin", gen.composers)
    np.testing.assert_allclose(scores, style_scores(gen.reranker.composer_scorer, [c.ids for c in candidates], mix))
    for g, piece in enumerate(kept):
        assert np.array_equal(piece.ids, candidates[3 * g + int(np.argmax(scores[3 * g:3 * g + 3]))].ids)
        # a group's first candidate is the piece its seed makes alone (row_seeds), the others differ
        alone = gen.generate("chopin", ["piano"], seconds=3.0, seed=11 + g)[0]
        assert np.array_equal(candidates[3 * g].ids, alone.ids) and piece.seed == 11 + g
    assert len({c.ids.tobytes() for c in candidates}) == 6
    assert scores.min() >= 0 and scores.max() <= 1


def test_best_by_style_groups_and_refuses_ragged_input(gen: MuseGenerator) -> None:
    pieces = gen.generate("bach", ["piano"], seconds=2.0, seed=5, n=4)
    mix = parse_composer_mix("bach:0.5,mozart:0.5", gen.composers)
    best, scores = best_by_style(pieces, [p.ids for p in pieces], 2, gen.reranker.composer_scorer, mix)
    assert len(best) == 2 and scores.shape == (4,)
    with pytest.raises(ValueError, match="groups of 3"):
        best_by_style(pieces, [p.ids for p in pieces], 3, gen.reranker.composer_scorer, mix)
    with pytest.raises(UserError, match="choose a composer"):
        gen.generate(None, ["piano"], seconds=2.0, rerank=2)
    with pytest.raises(UserError, match="rerank must be"):
        gen.generate("bach", ["piano"], seconds=2.0, rerank=0)


def test_composer_dropout_is_recorded_in_the_model_config() -> None:
    config = MuseConfig(transformer=TransformerConfig(width=8, depth=1, heads=1, n_ctx=8))
    assert config.composer_dropout == 0.0
    with pytest.raises(ValueError, match="composer_dropout"):
        dataclasses.replace(config, composer_dropout=1.0)


def test_jukebox_refuses_guidance_for_priors_without_label_dropout(tmp_path: Path, capsys) -> None:
    from jukebox.cli import main as jukebox_main

    for weight, message in (("2", "trained without label dropout"), ("nan", "--guidance must be")):
        rc = jukebox_main(["sample", "--model", "small", "--seconds", "1", "--out", str(tmp_path / "run"),
                           "--guidance", weight])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before any work
