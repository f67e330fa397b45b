"""The MuseNet-style model: factorized vocabulary, token clock, extra embeddings, cached decoding."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from musetok import MidiTokenizer

from muse.clock import ClockState
from muse.config import MuseConfig, load_run_config
from muse.core.errors import ConfigError
from muse.core.sampling import Decoder
from muse.core.transformer import TransformerConfig
from muse.model import UNKNOWN, MuseModel
from muse.token_tables import TokenTables

REPO = Path(__file__).resolve().parents[1]
CHORALE = "classical/bach-bwv001-_400_chorales-004003b.mid"


@pytest.fixture(scope="module")
def tokenizer() -> MidiTokenizer:
    return MidiTokenizer()


@pytest.fixture(scope="module")
def tables(tokenizer: MidiTokenizer) -> TokenTables:
    return TokenTables.from_vocab(tokenizer.vocab)


def tiny_config(vocab_size: int, **changes: object) -> MuseConfig:
    transformer = TransformerConfig(width=32, depth=3, heads=2, n_ctx=48,
                                    attn_order=("block_local", "block_transpose", "dense"), blocks=6)
    return dataclasses.replace(MuseConfig(transformer=transformer, vocab_size=vocab_size, time_quantum=6,
                                          time_buckets=16, chord_max=4), **changes)


def music_ids(tokenizer: MidiTokenizer, midi_dir: Path, n: int) -> torch.Tensor:
    """The first ``n`` tokens of a real chorale (1, n)."""
    ids = tokenizer.encode(midi_dir / CHORALE, composer="bach").ids[:n]
    return torch.as_tensor(ids.astype(np.int64))[None]


def test_factorized_vocabulary_is_a_bijection(tables: TokenTables) -> None:
    pairs = set(zip(tables.row.tolist(), tables.velocity_row.tolist()))
    assert len(pairs) == tables.size
    assert tables.n_rows < tables.size / 5  # the point of factorizing
    on = tables.velocity_row >= 0
    assert (tables.row[on] >= tables.n_plain).all() and (tables.row[~on] < tables.n_plain).all()


def test_training_nll_equals_the_full_softmax(tables: TokenTables) -> None:
    torch.manual_seed(0)
    model = MuseModel(tiny_config(tables.size), tables).eval()
    ids = torch.randint(0, tables.size, (2, 40))
    full = model(ids).log_softmax(-1)
    nll = model(ids[:, :-1], targets=ids[:, 1:])
    expected = -full[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    torch.testing.assert_close(nll, expected, atol=1e-4, rtol=1e-5)


def test_clock_matches_the_tokenizer(tokenizer: MidiTokenizer, tables: TokenTables, midi_dir: Path) -> None:
    model = MuseModel(tiny_config(tables.size), tables)
    ids = music_ids(tokenizer, midi_dir, 10_000)
    clock = model.clock(ids)
    np.testing.assert_array_equal(clock.ticks[0].numpy(), tokenizer.token_times(ids[0].numpy()))
    np.testing.assert_array_equal(clock.chord[0].numpy(), tokenizer.chord_index(ids[0].numpy()))
    assert clock.end.micros.item() / 1e6 == pytest.approx(tokenizer.seconds(ids[0].numpy()), abs=1e-3)
    # Chunked: the carried state gives the same features, exactly.
    state, chunks = None, []
    for start in range(0, ids.shape[1], 37):
        part = model.clock(ids[:, start:start + 37], state)
        state = part.end
        chunks.append(part)
    for name in ("ticks", "micros", "chord"):
        assert torch.equal(torch.cat([getattr(c, name) for c in chunks], 1), getattr(clock, name))


SWITCHES = {
    "all": {},
    "none": {"time_embedding": False, "chord_embedding": False, "structure_embedding": False},
    "time_only": {"chord_embedding": False, "structure_embedding": False},
    "chord_only": {"time_embedding": False, "structure_embedding": False},
    "structure_only": {"time_embedding": False, "chord_embedding": False},
    "untied": {"tie_embeddings": False},
    "header_conditioning": {"header_conditioning": True},
    "copy_head": {"copy_head": True},
}


@pytest.mark.parametrize("switches", SWITCHES.values(), ids=SWITCHES.keys())
def test_cached_steps_equal_the_full_forward(switches: dict, tokenizer: MidiTokenizer, tables: TokenTables,
                                             midi_dir: Path) -> None:
    torch.manual_seed(1)
    model = MuseModel(tiny_config(tables.size, **switches), tables).eval()
    if model.copy is not None:  # it starts at zero: give it something to carry
        torch.nn.init.normal_(model.copy.proj, std=0.5)
        torch.nn.init.normal_(model.copy.bias, std=2.0)
    assert isinstance(model, Decoder)
    ids = torch.cat([music_ids(tokenizer, midi_dir, 48)] * 2)
    ids[1, 20:] = ids[1, 20:].flip(0)  # two different rows
    total_us = torch.tensor([20_000_000, -1])  # a target length, and an unknown one
    full = model(ids, total_us=total_us)
    cache = model.new_cache(2, torch.tensor([20.0, float("nan")]))
    cache.total_us = total_us.clone()
    steps = []
    for a, b in ((0, 5), (5, 6), (6, 19), *((i, i + 1) for i in range(19, 48))):
        steps.append(model.step(ids[:, a:b], cache))
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    assert cache.offset == 48


def test_header_conditioning_reaches_every_position(tokenizer: MidiTokenizer, tables: TokenTables,
                                                    midi_dir: Path) -> None:
    """Changing only the composer token moves the input of every later position by the same
    vector (the two composers' conditioning rows); positions before it are untouched."""
    torch.manual_seed(2)
    model = MuseModel(tiny_config(tables.size, header_conditioning=True), tables).eval()
    ids = music_ids(tokenizer, midi_dir, 48)
    other = ids.clone()
    assert ids[0, 0] == tokenizer.vocab.composer_id("bach")
    other[0, 0] = tokenizer.vocab.composer_id("mozart")
    clock = model.clock(ids)
    a = model.embed(ids, clock, None) - model.token_embedding(ids)
    b = model.embed(other, clock, None) - model.token_embedding(other)
    rows = model.header_cond.composers.weight
    bach, mozart = (int(model.header_cond.composer_row[tokenizer.vocab.composer_id(c)]) for c in ("bach", "mozart"))
    torch.testing.assert_close(a - b, (rows[bach] - rows[mozart]).expand(48, -1)[None], atol=1e-6, rtol=0)
    unknown = ids.clone()
    unknown[0, 0] = tokenizer.vocab.unknown_composer_id
    c = model.embed(unknown, clock, None) - model.token_embedding(unknown)
    torch.testing.assert_close(a - c, (rows[bach] - rows[model.header_cond.unknown_row]).expand(48, -1)[None],
                               atol=1e-6, rtol=0)


def test_header_conditioning_blends_a_composer_mix(tokenizer: MidiTokenizer, tables: TokenTables,
                                                   midi_dir: Path) -> None:
    torch.manual_seed(3)
    model = MuseModel(tiny_config(tables.size, header_conditioning=True), tables).eval()
    ids = music_ids(tokenizer, midi_dir, 48)
    one_hot = torch.zeros(len(tables.composers))
    one_hot[tables.composers.index("bach")] = 1.0
    torch.testing.assert_close(model(ids, composer_mix=one_hot[None]), model(ids), atol=1e-5, rtol=0)


def test_embedding_switches_remove_parameters(tables: TokenTables) -> None:
    on = MuseModel(tiny_config(tables.size), tables)
    off = MuseModel(tiny_config(tables.size, **SWITCHES["none"]), tables)
    names_on = {n for n, _ in on.named_parameters()}
    names_off = {n for n, _ in off.named_parameters()}
    assert names_on - names_off == {"time_emb.weight", "chord_emb.weight", "part_emb.weight", "countdown_emb.weight"}


def test_structure_counts_parts_and_down_to_the_end(tables: TokenTables) -> None:
    model = MuseModel(tiny_config(tables.size), tables)
    total = 64_000_000  # 64 s
    micros = torch.tensor([[0, 500_000, 32_000_000, 63_499_999, 63_999_999, 70_000_000]])
    part, countdown = model.structure_indices(micros, torch.tensor([total]))
    assert part.tolist() == [[0, 1, 64, 126, 127, 127]]
    assert countdown.tolist() == [[127, 127, 64, 1, 0, 0]]
    part, countdown = model.structure_indices(micros, torch.tensor([-1]))
    assert (part == UNKNOWN).all() and (countdown == UNKNOWN).all()


def test_new_cache_sets_the_target_length(tables: TokenTables) -> None:
    model = MuseModel(tiny_config(tables.size), tables)
    assert model.new_cache(3, 30.0).total_us.tolist() == [30_000_000] * 3
    assert model.new_cache(2).total_us.tolist() == [-1, -1]
    assert isinstance(model.new_cache(2).clock, ClockState)


def test_composer_embeddings_are_the_composer_token_rows(tokenizer: MidiTokenizer, tables: TokenTables) -> None:
    model = MuseModel(tiny_config(tables.size), tables)
    table = model.composer_embeddings()
    assert table.shape == (len(tokenizer.config.composers), 32)
    bach = tokenizer.vocab.composer_id("bach")
    i = list(tables.composers).index("bach")
    torch.testing.assert_close(table[i], model.vocab(torch.tensor(bach)))


def test_too_long_input_is_refused(tables: TokenTables) -> None:
    model = MuseModel(tiny_config(tables.size), tables)
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 49, dtype=torch.long))
    cache = model.new_cache(1)
    model.step(torch.zeros(1, 40, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="context"):
        model.step(torch.zeros(1, 9, dtype=torch.long), cache)


@pytest.mark.parametrize("name", ["tiny", "small", "musenet"])
def test_presets_load_and_build(name: str, tables: TokenTables) -> None:
    run = load_run_config(REPO / "configs" / "muse" / f"{name}.yaml")
    config = run.model.with_vocab(tables.size)
    with torch.device("meta"):  # no memory for the 2B-parameter preset
        model = MuseModel(config, tables)
    params = model.num_parameters()
    t = config.transformer
    if name == "musenet":
        assert (t.depth, t.heads, t.n_ctx) == (72, 24, 4096)
    if name == "small":
        assert params * 2 < 25e6  # fits the 25 MB bundle in float16
        assert 4 <= t.depth <= 6 and 512 <= t.n_ctx <= 1024
        assert set(t.attn_order) == {"block_local", "block_transpose"}
    if name == "tiny":
        assert params < 1e6


def test_vocab_size_mismatch_is_a_config_error(tables: TokenTables) -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        tiny_config(100).with_vocab(tables.size)
    assert tiny_config(0).with_vocab(tables.size).vocab_size == tables.size
    assert math.isclose(tiny_config(0).countdown_seconds, 0.5)
