"""Style mixing: the ``"bach:0.7,chopin:0.3"`` parser, the blended composer embedding, generation with a mix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from composer_models import loaded, random_model
from muse.composers import ComposerMix, parse_composer_mix
from muse.core.errors import UserError
from muse.generate import MuseGenerator

COMPOSERS = ("bach", "chopin", "satie", "cpebach")


@pytest.fixture(scope="module")
def tiny():
    return random_model(COMPOSERS[:3])


def test_weights_are_normalised_to_sum_to_one() -> None:
    mix = parse_composer_mix("bach:0.7,chopin:0.3", COMPOSERS)
    assert mix == ComposerMix(("bach", "chopin"), pytest.approx((0.7, 0.3)))
    assert parse_composer_mix("bach:2, chopin:6", COMPOSERS).weights == pytest.approx((0.25, 0.75))
    halves = parse_composer_mix(" Bach , CHOPIN ", COMPOSERS)  # no weights: equal shares; names normalised
    assert halves.names == ("bach", "chopin") and halves.weights == pytest.approx((0.5, 0.5))
    single = parse_composer_mix("satie", COMPOSERS)
    assert single.weights == (1.0,) and not single.is_blend and single.dominant == "satie"
    assert parse_composer_mix("bach:1,chopin:3", COMPOSERS).dominant == "chopin"
    over = parse_composer_mix("chopin:3,bach:1", COMPOSERS).weights_over(COMPOSERS)
    np.testing.assert_allclose(over, [0.25, 0.75, 0.0, 0.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=len(COMPOSERS)))
def test_any_positive_weights_become_proportional_shares(weights: list[float]) -> None:
    text = ",".join(f"{name}:{w!r}" for name, w in zip(COMPOSERS, weights))
    mix = parse_composer_mix(text, COMPOSERS)
    assert sum(mix.weights) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(mix.weights, np.array(weights) / sum(weights), rtol=1e-9)
    assert mix.weights_over(COMPOSERS).sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("text, message", [
    ("bach:0.5,mozart:0.5", "unknown composer 'mozart'.*known composers: bach, chopin, satie, cpebach"),
    ("bach:0", "positive number"),
    ("bach:-1", "positive number"),
    ("bach:nan", "positive number"),
    ("bach:inf", "positive number"),
    ("bach:lots", "'lots' of 'bach'.*not a number"),
    ("bach:1,Bach:2", "'bach' appears twice"),
    (" , ", "no composer.*known composers: bach, chopin"),
])
def test_bad_mixes_are_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_composer_mix(text, COMPOSERS)


def test_blended_embedding_is_the_weighted_sum_of_composer_embeddings(tiny) -> None:
    model, tokenizer = tiny
    weights = torch.tensor([0.6, 0.3, 0.1])
    vocab = tokenizer.vocab
    ids = torch.as_tensor([[vocab.composer_id("satie"), vocab.instrument_base, vocab.start_id, vocab.id("wait:12")]])
    with torch.no_grad():
        plain = model.token_embedding(ids)
        mixed = model.token_embedding(ids, weights)
        rows = model.composer_embeddings()
    torch.testing.assert_close(mixed[0, 0], weights[0] * rows[0] + weights[1] * rows[1] + weights[2] * rows[2])
    torch.testing.assert_close(mixed[0, 1:], plain[0, 1:], rtol=0, atol=0)  # only the composer position changes
    one_hot = torch.tensor([0.0, 0.0, 1.0])  # all of satie's weight: the plain satie token
    torch.testing.assert_close(model.token_embedding(ids, one_hot), plain, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="2 weights"):
        model.token_embedding(ids, torch.tensor([0.5, 0.5]))


def test_cached_decoding_with_a_mix_equals_the_full_forward(tiny) -> None:
    model, tokenizer = tiny
    vocab = tokenizer.vocab
    ids = torch.as_tensor([[vocab.composer_id("bach"), vocab.instrument_base, vocab.start_id,
                            vocab.id("tempo:120"), vocab.id("piano:v64:C4"), vocab.id("wait:12"),
                            vocab.id("piano:v0:C4"), vocab.id("piano:v80:E4"), vocab.id("wait:24")]] * 2)
    mix = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8]])
    with torch.no_grad():
        full = model(ids, composer_mix=mix)
        cache = model.new_cache(2, composer_mix=mix)
        steps = [model.step(ids[:, :3], cache)] + [model.step(ids[:, i:i + 1], cache) for i in range(3, 9)]
        plain = model(ids)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    assert not torch.allclose(full[:, 0], plain[:, 0])  # the mix changes the prediction after the header


def test_generation_with_a_mix_blends_the_composer_embedding(tiny, monkeypatch) -> None:
    model, tokenizer = tiny
    generator = MuseGenerator(loaded(model, tokenizer))
    mixes = []  # the composer_mix of every decoding cache (one per context window)
    new_cache = model.new_cache
    monkeypatch.setattr(model, "new_cache",
                        lambda b, total=None, mix=None: mixes.append(mix) or new_cache(b, total, mix))
    kwargs = dict(instruments=["piano"], seconds=0.25, seed=5)
    blend = generator.generate("bach:0.4,chopin:0.6", **kwargs)[0]
    assert blend.ids[0] == tokenizer.vocab.composer_id("chopin")  # the header names the heaviest composer
    assert len(mixes) > 1  # the window slid: every fresh cache gets the mix again
    for mix in mixes:
        torch.testing.assert_close(mix, torch.tensor([0.4, 0.6, 0.0]))
    mixes.clear()
    chopin = generator.generate("chopin", **kwargs)[0]
    assert mixes and all(mix is None for mix in mixes)
    assert np.array_equal(generator.generate("chopin:1", **kwargs)[0].ids, chopin.ids)  # a one-composer "mix" is plain
    with pytest.raises(UserError, match="known composers: bach, chopin, satie"):
        generator.generate("bach:0.5,ravel:0.5", **kwargs)


def test_style_transfer_continues_a_piece_as_another_composer(tiny, midi_dir) -> None:
    model, tokenizer = tiny
    generator = MuseGenerator(loaded(model, tokenizer))
    prime = midi_dir / "classical" / "chopin-ecossaise_no2_in_g.mid"
    piece = generator.continue_midi(prime, "bach:0.7,satie:0.3", seconds=0.25, seed=1, keep_prime=True)[0]
    prime_ids = tokenizer.encode(prime, composer="bach").ids
    assert piece.ids[0] == tokenizer.vocab.composer_id("bach")
    assert np.array_equal(piece.ids[: len(prime_ids) - 1], prime_ids[:-1])  # the prime, then the continuation
    assert len(piece.ids) > len(prime_ids) - 1
