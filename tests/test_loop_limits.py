"""The loop rule's limits (``muse.note_limits``, enforced by ``muse.grammar``): the longest exact repeats of
the training data counted as the grammar counts them, learnt at a quantile, stored with the model (files
written before keep the fixed limits) and handed to the grammar a generator builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musetok import MidiTokenizer, TokenizerConfig

from muse.core.errors import UserError
from muse.core.token_shards import TokenDataset
from muse.generate import MuseGenerator
from muse.grammar import MusicGrammar
from muse.note_limits import (
    LOOP_CYCLES,
    LOOP_PERIODS,
    LOOP_TOKENS,
    NoteLimits,
    compute_note_limits,
    key_limits,
    longest_loops,
)
from preference_models import tiny_dataset
from test_instrument_rest import spy_grammars
from test_note_limits import COMPOSERS, LIMITS, holding_model_dir, token_ids


@pytest.fixture(scope="module")
def vocab():  # noqa: ANN201
    return MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).vocab


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(midi_dir, tmp_path_factory.mktemp("loops"))


def test_loop_limits_are_the_grammars_to_set(vocab) -> None:
    """Learnt limits (``muse.note_limits``) replace the defaults: 3 periods closes the trill after its
    fourth statement, 30 tokens the 40-token phrase 30 tokens into its second."""
    trill = " piano:v64:E4 wait:2 piano:v0:E4 piano:v64:F4 wait:2 piano:v0:F4"  # 6 tokens
    head = "bach piano start tempo:120"
    for n, closed in ((3, False), (4, True)):
        g = MusicGrammar(vocab, 3, loop_cycles=3)
        assert bool(g(token_ids(vocab, head + trill * n))[0, vocab.id("piano:v64:E4")]) != closed
    notes = [f"{name}{octave}" for octave in (3, 4, 5) for name in "CDEFGAB"][:20]
    phrase = [f"piano:v64:{note} wait:1" for note in notes]
    for cut, closed in ((14, False), (15, True)):  # 28 or 30 tokens repeated
        text = head + " " + " ".join(phrase) + " " + " ".join(phrase[:cut])
        allowed = MusicGrammar(vocab, 3, loop_tokens=30)(token_ids(vocab, text))[0]
        assert bool(allowed[vocab.id(phrase[cut].split()[0])]) != closed


def test_longest_loops_counts_the_runs_the_grammar_counts() -> None:
    """A 2-token figure stated 10 times inside tokens that never repeat: a run of 18 tokens at period 2
    (9 periods begun); period 4 runs 16 tokens (4 periods); stretches are counted apart, and a last
    stretch too short to hold a loop of every period is left out."""
    figure = np.tile([1, 2], 10)
    ids = np.r_[[7, 8, 9], np.arange(1000, 1050), figure, np.arange(2000, 2100)]  # a 3-token header first
    assert longest_loops(ids, 3).tolist() == [[18, 9]]
    assert longest_loops(np.arange(5000, 5300), 0).tolist() == [[0, 0]]
    trill = np.tile([3, 4, 5], 30)  # period 3: 87 tokens, 29 periods begun
    two = longest_loops(np.r_[ids[3:], np.arange(3000, 3100 + 2 * LOOP_PERIODS), trill], 0, stretch=250)
    assert two.tolist()[0] == [18, 9] and two.tolist()[-1] == [87, 29]
    assert len(longest_loops(np.r_[np.arange(9000, 9250), figure], 0, stretch=250)) == 1  # 20 tokens: left out


def test_loop_limits_are_learnt_stored_and_reach_the_grammar(dataset: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ds = TokenDataset(dataset)
    vocab = ds.load_tokenizer().vocab
    runs = np.concatenate([longest_loops(ids, vocab.header_length(ids))
                           for ids in (ds.tokens(int(i)) for i in ds.split_indices("train"))])
    for q in (0.5, 1.0):
        limits = compute_note_limits(dataset, loop_quantile=q)
        assert limits.loop_quantile == q
        assert limits.loop_tokens == max(2, int(np.ceil(np.quantile(runs[:, 0], q))))
        assert limits.loop_cycles == max(2, int(np.ceil(np.quantile(runs[:, 1], q))))
    assert NoteLimits.from_dict(limits.to_dict()) == limits
    old = {k: v for k, v in limits.to_dict().items() if not k.startswith("loop_")}  # written before loops were learnt
    assert NoteLimits.from_dict(old).loop_quantile is None
    assert key_limits(NoteLimits.from_dict(old), vocab)[3:] == key_limits(None, vocab)[3:] == (LOOP_CYCLES, LOOP_TOKENS)
    with pytest.raises(UserError, match="loop_quantile"):
        compute_note_limits(dataset, loop_quantile=0)
    with pytest.raises(ValueError, match="loop"):
        NoteLimits(**{**LIMITS.__dict__, "loop_tokens": 0})
    learnt = NoteLimits(**{**LIMITS.__dict__, "loop_cycles": 3, "loop_tokens": 20, "loop_quantile": 0.9})
    gen = MuseGenerator(holding_model_dir(tmp_path / "m", limits=learnt))
    made = spy_grammars(monkeypatch)
    gen.generate("bach", ["piano"], seconds=1.0, seed=0)
    assert made[-1].loop_limit.tolist() == [min(3 * p, 20) for p in range(1, LOOP_PERIODS + 1)]
