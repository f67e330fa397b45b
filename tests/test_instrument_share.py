"""No line takes every note: the grammar's share floor (``min_share``) and the facade's
``min_instrument_share``, on hand-written sequences, random walks and a tiny model that favours one
instrument (manifests: tests/test_instrument_rest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musetok import MidiTokenizer, TokenizerConfig
from musetok.vocab import Kind

from muse.core.errors import UserError
from muse.generate import MuseGenerator
from muse.grammar import MusicGrammar
from muse.requests import DEFAULT_MIN_INSTRUMENT_SHARE
from test_generate import COMPOSERS, tiny_model_dir
from test_instrument_rest import onsets, spy_grammars
from test_note_limits import token_ids


@pytest.fixture(scope="module")
def vocab():
    return MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).vocab


def keys_of(vocab, *names: str) -> list[int]:
    return [vocab.instruments.index(n) for n in names]


def shares(gen_vocab, ids: np.ndarray, names: list[str]) -> dict[str, float]:
    """Each instrument's share of the note-ons of ``ids``."""
    v = gen_vocab
    on = np.isin(v.kind[ids], (Kind.NOTE, Kind.DRUM)) & v.is_on[ids]
    total = max(int(on.sum()), 1)
    return {n: float((on & (v.key[ids] == v.instruments.index(n))).sum()) / total for n in names}


def test_an_instrument_behind_its_share_plays_next(vocab) -> None:
    prompt = "bach piano strings start tempo:120"
    polyphony = np.full(len(vocab.instruments), 8)
    polyphony[vocab.instruments.index("strings")] = 1

    def allowed_after(text: str) -> torch.Tensor:
        g = MusicGrammar(vocab, 4, instruments=keys_of(vocab, "piano", "strings"), min_share=0.125,
                         max_polyphony=polyphony)
        assert (g.min_share, g.share_grace) == (0.125, 8)
        g(token_ids(vocab, prompt))
        return g(token_ids(vocab, f"{prompt} {text}"))[0]

    seven = "piano:v64:A1 " + " ".join(f"piano:v64:C{o} wait:6 piano:v0:C{o}" for o in range(1, 7))
    assert allowed_after(seven)[vocab.id("piano:v64:C4")]  # 7 piano notes: fewer than the 8 of the grace
    allowed = allowed_after(f"{seven} piano:v64:C7")  # 8 notes, strings none: strings play next
    assert allowed[vocab.id("strings:v64:E4")] and allowed[vocab.id("piano:v0:A1")]  # or a release
    assert not allowed[vocab.id("piano:v64:C4")] and not allowed[vocab.id("wait:6")]
    allowed = allowed_after(f"{seven} piano:v64:C7 strings:v64:E4")  # 1 of 9 is 11%: still behind, but at
    assert allowed[vocab.id("wait:1")]  # its polyphony limit with a note just struck: time moves on first
    assert not allowed[vocab.id("piano:v64:C4")] and not allowed[vocab.id("strings:v64:G4")]
    allowed = allowed_after(f"{seven} piano:v64:C7 strings:v64:E4 wait:1")
    assert allowed[vocab.id("strings:v64:E4")] and not allowed[vocab.id("piano:v64:C4")]  # a re-strike
    allowed = allowed_after(f"{seven} piano:v64:C7 strings:v64:E4 wait:1 strings:v0:E4 strings:v64:G4")
    assert allowed[vocab.id("piano:v64:C4")] and allowed[vocab.id("wait:6")]  # 2 of 10 is 20%: caught up


def test_the_prompts_notes_do_not_count_and_one_instrument_has_no_floor(vocab) -> None:
    prompt = "bach piano strings start tempo:120 " + " ".join(f"piano:v64:C{o} wait:6" for o in range(1, 9))
    g = MusicGrammar(vocab, 4, instruments=keys_of(vocab, "piano", "strings"), min_share=0.125)
    assert g(token_ids(vocab, prompt))[0, vocab.id("piano:v64:D4")]  # 8 piano notes, all in the prompt
    alone = MusicGrammar(vocab, 3, instruments=keys_of(vocab, "piano"), min_share=0.25)
    assert alone.min_share is None


def test_the_floor_is_at_most_half_an_equal_share(vocab) -> None:
    g = MusicGrammar(vocab, 6, instruments=keys_of(vocab, "piano", "strings", "harp", "drums"), min_share=0.5)
    assert g.min_share == 0.125 and g.share_grace == 8
    with pytest.raises(ValueError, match="share floor"):
        MusicGrammar(vocab, 3, min_share=0.1)


def test_random_walks_keep_the_floor_and_never_dead_end(vocab) -> None:
    """Walks that favour piano notes and waits: some token is always allowed, every walk ends, and from
    the grace on each instrument keeps its share (to within the one note the others may be ahead)."""
    gen = torch.Generator().manual_seed(1)
    keys = keys_of(vocab, "piano", "strings", "drums")
    n_keys = len(vocab.instruments)
    piano = torch.from_numpy((np.asarray(vocab.key) == keys[0]) & np.asarray(vocab.is_on)
                             & (np.asarray(vocab.kind) == Kind.NOTE))
    is_wait = torch.from_numpy(np.asarray(vocab.kind) == Kind.WAIT)
    for rest in (None, 0.5):
        g = MusicGrammar(vocab, 5, instruments=keys, target_seconds=3.0, max_rest_seconds=rest, min_share=0.1,
                         max_note_seconds=np.full(n_keys, 0.3), max_polyphony=np.full(n_keys, 3))
        seq = token_ids(vocab, "bach piano strings drums start tempo:120").repeat(3, 1)
        done = torch.zeros(3, dtype=torch.bool)
        for _ in range(3000):
            allowed = g(seq)
            assert allowed[~done].any(dim=1).all()
            weights = allowed.float() * (1 + 20 * is_wait + 2000 * piano)
            token = torch.where(done, vocab.pad_id, torch.multinomial(weights, 1, generator=gen)[:, 0])
            seq = torch.cat([seq, token[:, None]], dim=1)
            done |= token == vocab.end_id
            if done.all():
                break
        assert done.all()
        for row in seq.numpy():
            row = row[row != vocab.pad_id]
            on = np.isin(vocab.kind[row], (Kind.NOTE, Kind.DRUM)) & vocab.is_on[row]
            counts = np.array([(on & (vocab.key[row] == k)).sum() for k in keys])
            assert counts.sum() >= g.share_grace
            assert (counts + 1 >= 0.1 * counts.sum()).all(), counts


@pytest.fixture(scope="module")
def shy(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    """A tiny model that writes sparse music and all but never plays harp by itself."""
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("shy"), wait_bias=6.0, shy=("harp", "drums")))


def test_each_requested_instrument_keeps_its_share(shy: MuseGenerator) -> None:
    wanted = ["piano", "harp"]
    free = shy.generate("bach", wanted, seconds=4.0, seed=2, n=2, max_instrument_rest=1.0, min_instrument_share=0)
    assert min(shares(shy.vocab, p.ids, wanted)["harp"] for p in free) < 0.2  # the rest rule alone: a few notes
    pieces = shy.generate("bach", wanted, seconds=4.0, seed=2, n=2, max_instrument_rest=1.0,
                          min_instrument_share=0.3)
    for piece in pieces:
        assert piece.ended and piece.closed == 0 and piece.skipped == 0
        assert set(onsets(shy, piece.ids)) == set(wanted)
        total = sum(1 for _ in piece.score.tracks for _ in _.notes)
        for name, share in shares(shy.vocab, piece.ids, wanted).items():
            assert share >= 0.25 - 1 / total, (name, share)  # the floor is capped at half an equal share


def test_the_default_share_applies_and_bad_shares_are_user_errors(shy: MuseGenerator,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    made = spy_grammars(monkeypatch)
    for given, used in ((None, DEFAULT_MIN_INSTRUMENT_SHARE), (0.2, 0.2), (0, None)):
        shy.generate("bach", ["piano", "harp"], seconds=1.0, min_instrument_share=given, cancel=lambda: True)
        assert made[-1].min_share == used
    for bad in (-0.1, 0.6, "most", True):
        with pytest.raises(UserError, match=r"min_instrument_share \(a share of the notes; 0 = no floor\) must be"):
            shy.generate("bach", ["piano"], seconds=1.0, min_instrument_share=bad)
