"""Every chosen instrument plays: the grammar's rest limit (``max_rest_seconds``) and the facade's
``max_instrument_rest``, on hand-written sequences, on tiny models that avoid an instrument, and on
the bundled model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import symusic
import torch

from musetok import MidiTokenizer, TokenizerConfig
from musetok.sequence import token_seconds
from musetok.vocab import Kind

from muse import generate as generate_module
from muse.core.errors import UserError
from muse.generate import BUNDLED_MODEL, MuseGenerator
from muse.grammar import MusicGrammar
from muse.manifest import make_manifest, replay
from muse.requests import DEFAULT_MAX_INSTRUMENT_REST, DEFAULT_MIN_INSTRUMENT_SHARE
from test_generate import COMPOSERS, tiny_model_dir
from test_note_limits import token_ids

EPS = 1e-6


def onsets(gen: MuseGenerator, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Seconds of every note-on (and drum hit) of each instrument of ``ids``."""
    v = gen.vocab
    seconds = token_seconds(ids, v)
    on = np.isin(v.kind[ids], (Kind.NOTE, Kind.DRUM)) & v.is_on[ids]
    return {v.instruments[k]: seconds[on & (v.key[ids] == k)] for k in np.unique(v.key[ids[on]])}


def spy_grammars(monkeypatch: pytest.MonkeyPatch) -> list[MusicGrammar]:
    """The grammars the generator makes from now on, in order."""
    made: list[MusicGrammar] = []

    def spy(*args, **kwargs) -> MusicGrammar:
        made.append(MusicGrammar(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(generate_module, "MusicGrammar", spy)
    return made


def longest_rest(times: np.ndarray, start: float, end: float) -> float:
    """The longest stretch of [start, end] without an onset in ``times``."""
    edges = np.r_[start, np.sort(times[(times >= start) & (times <= end)]), end]
    return float(np.diff(edges).max())


# ------------------------------------------------------------------------------ the grammar alone


class TestGrammar:
    @pytest.fixture(scope="class")
    def vocab(self):
        return MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).vocab

    ids = staticmethod(token_ids)

    def grammar(self, vocab, text: str, **kwargs) -> MusicGrammar:
        """A grammar for piano + strings that has seen the prompt ``text`` (its rests count from there)."""
        g = MusicGrammar(vocab, 4, instruments=[vocab.instruments.index(n) for n in ("piano", "strings")], **kwargs)
        g(self.ids(vocab, text))
        return g

    def test_no_wait_passes_an_instrument_due_to_play(self, vocab) -> None:
        prompt = "bach piano strings start tempo:120"  # at 120 BPM a tick lasts 1/48 s: 1 s = 48 ticks
        g = self.grammar(vocab, prompt, max_rest_seconds=1.0)
        allowed = g(self.ids(vocab, prompt + " piano:v64:C4 wait:24"))  # 0.5 s: strings silent since the start
        assert allowed[0, vocab.id("wait:24")] and not allowed[0, vocab.id("wait:25")]
        allowed = g(self.ids(vocab, prompt + " piano:v64:C4 wait:24 wait:24"))  # 1 s: strings due
        waits = np.flatnonzero(np.asarray(vocab.kind) == Kind.WAIT)
        assert not allowed[0, waits].any()
        assert allowed[0, vocab.id("strings:v64:E4")]  # the silent instrument's notes stay open
        assert allowed[0, vocab.id("piano:v0:C4")] and allowed[0, vocab.id("piano:v64:G4")]  # and the rest
        allowed = g(self.ids(vocab, prompt + " piano:v64:C4 wait:24 wait:24 strings:v64:E4"))
        assert not allowed[0, waits].any()  # piano's last note is 1 s old too: it is due as well
        allowed = g(self.ids(vocab, prompt + " piano:v64:C4 wait:24 wait:24 strings:v64:E4 piano:v64:C4"))
        assert allowed[0, vocab.id("wait:48")] and not allowed[0, vocab.id("wait:49")]  # both restart the count

    def test_rests_count_from_the_end_of_the_prompt(self, vocab) -> None:
        prompt = "bach piano strings start tempo:120 piano:v64:C4 wait:96 wait:96 piano:v0:C4"  # 4 s, no strings
        g = self.grammar(vocab, prompt, max_rest_seconds=1.0)
        allowed = g(self.ids(vocab, prompt))
        assert allowed[0, vocab.id("wait:48")] and not allowed[0, vocab.id("wait:49")]

    def test_the_count_follows_the_tempo(self, vocab) -> None:
        prompt = "bach piano strings start tempo:60"  # a tick lasts 1/24 s
        allowed = self.grammar(vocab, prompt, max_rest_seconds=1.0)(self.ids(vocab, prompt))
        assert allowed[0, vocab.id("wait:24")] and not allowed[0, vocab.id("wait:25")]

    def test_without_a_limit_waits_are_free(self, vocab) -> None:
        prompt = "bach piano strings start tempo:120"
        g = self.grammar(vocab, prompt)
        allowed = g(self.ids(vocab, prompt + " piano:v64:C4 wait:96 wait:96 wait:96"))
        assert allowed[0, vocab.id("wait:96")]

    def test_a_limit_needs_the_instruments(self, vocab) -> None:
        with pytest.raises(ValueError, match="chosen instruments"):
            MusicGrammar(vocab, 3, max_rest_seconds=1.0)

    def test_a_fixed_tempo_masks_tempo_tokens(self, vocab) -> None:
        prompt = "bach piano strings start tempo:101 wait:1"  # a new time step: any tempo may follow
        tempos = np.flatnonzero(np.asarray(vocab.kind) == Kind.TEMPO)
        assert self.grammar(vocab, prompt)(self.ids(vocab, prompt))[0, tempos].all()
        allowed = self.grammar(vocab, prompt, tempo_changes=False)(self.ids(vocab, prompt))
        assert not allowed[0, tempos].any() and allowed[0, vocab.id("wait:1")]

    def test_random_walks_never_dead_end(self, vocab) -> None:
        """Random walks that prefer waits: some token is always allowed, every walk reaches `end`, and no
        chosen instrument rests longer than the limit (tight note limits too)."""
        gen = torch.Generator().manual_seed(0)
        keys = [vocab.instruments.index(n) for n in ("piano", "strings", "drums")]
        n_keys = len(vocab.instruments)
        tokenizer = MidiTokenizer(TokenizerConfig(composers=COMPOSERS))
        for polyphony in (1, 4):
            g = MusicGrammar(vocab, 5, instruments=keys, target_seconds=2.0, max_rest_seconds=0.5,
                             max_note_seconds=np.full(n_keys, 0.3), max_polyphony=np.full(n_keys, polyphony))
            seq = self.ids(vocab, "bach piano strings drums start tempo:120").repeat(2, 1)
            done = torch.zeros(2, dtype=torch.bool)
            is_wait = torch.from_numpy(np.array(vocab.kind) == Kind.WAIT)
            for _ in range(2000):
                allowed = g(seq)
                assert allowed[~done].any(dim=1).all()
                weights = allowed.float() * (1 + 500 * is_wait)
                token = torch.where(done, vocab.pad_id, torch.multinomial(weights, 1, generator=gen)[:, 0])
                seq = torch.cat([seq, token[:, None]], dim=1)
                done |= token == vocab.end_id
                if done.all():
                    break
            assert done.all()
            for row in seq.numpy():
                row = row[row != vocab.pad_id]
                assert tokenizer.decode(row).closed == 0
                clock = token_seconds(row, vocab)
                on = np.isin(vocab.kind[row], (Kind.NOTE, Kind.DRUM)) & vocab.is_on[row]
                for k in keys:
                    assert longest_rest(clock[on & (vocab.key[row] == k)], 0.0, 2.0) <= 0.5 + EPS


# ------------------------------------------------------------------------- tiny models, whole pieces


@pytest.fixture(scope="module")
def shy(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    """A tiny model that writes sparse music and all but never plays harp or drums by itself."""
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("shy"), wait_bias=6.0, shy=("harp", "drums")))


def test_every_requested_instrument_plays_in_every_piece(shy: MuseGenerator) -> None:
    wanted = ["piano", "strings", "harp"]
    free = shy.generate("bach", wanted, seconds=3.0, seed=1, n=2, max_instrument_rest=0,
                        min_instrument_share=0)  # the rules off
    assert all("harp" not in onsets(shy, p.ids) for p in free)  # the model leaves the harp out
    pieces = shy.generate("bach", wanted, seconds=3.0, seed=1, n=2, max_instrument_rest=1.0)
    for piece in pieces:
        assert piece.ended and piece.closed == 0 and piece.skipped == 0
        found = onsets(shy, piece.ids)
        assert set(found) == set(wanted)  # each one, and no other
        for name in wanted:
            assert longest_rest(found[name], 0.0, piece.seconds) <= 1.0 + EPS, name


def test_the_default_rest_limit_applies(shy: MuseGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    made = spy_grammars(monkeypatch)
    for given, used in ((None, DEFAULT_MAX_INSTRUMENT_REST), (2.5, 2.5), (0, None)):
        shy.generate("bach", ["piano", "harp"], seconds=1.0, max_instrument_rest=given, cancel=lambda: True)
        assert made[-1].rest_us == (None if used is None else round(used * 1e6))


def test_a_continuation_keeps_the_drums(shy: MuseGenerator) -> None:
    score = symusic.Score(480)
    piano, drums = symusic.Track("piano", 0, False), symusic.Track("drums", 0, True)
    for beat in range(8):  # 4 s at 120 BPM
        piano.notes.append(symusic.Note(beat * 480, 480, 60 + beat % 5, 80))
        drums.notes.append(symusic.Note(beat * 480, 120, 36 if beat % 2 == 0 else 38, 100))
    score.tracks.extend([piano, drums])
    kept = shy.continue_midi(score, "bach", seconds=3.0, seed=3, n=2, keep_prime=False, max_instrument_rest=1.0)
    dropped = shy.continue_midi(score, "bach", seconds=3.0, seed=3, n=2, keep_prime=False, max_instrument_rest=0,
                                min_instrument_share=0)
    for piece in kept:
        assert shy.tokenizer.text(piece.ids[:4]).split() == ["bach", "piano", "drums", "start"]  # the prime's
        found = onsets(shy, piece.ids)
        assert set(found) == {"piano", "drums"}
        assert longest_rest(found["drums"], 0.0, piece.seconds) <= 1.0 + EPS
    assert all("drums" not in onsets(shy, p.ids) for p in dropped)


def test_bad_rest_limits_are_user_errors(shy: MuseGenerator) -> None:
    for bad, match in ((-1, "max_instrument_rest must be a number of seconds"),
                       ("soon", "max_instrument_rest must be a number of seconds"),
                       (0.1, "at least 0.5 seconds")):
        with pytest.raises(UserError, match=match):
            shy.generate("bach", ["piano"], seconds=1.0, max_instrument_rest=bad)


# ------------------------------------------------------------------------------- the bundled model


def test_the_bundled_model_plays_piano_strings_and_harp() -> None:
    """Left alone the bundled model mostly drops one of the three (docs/MODEL_CARD.md); with the rule each
    one plays, and never rests longer than the limit."""
    gen = MuseGenerator(BUNDLED_MODEL)
    wanted = ["piano", "strings", "harp"]
    pieces = gen.generate(None, wanted, seconds=4.0, seed=0, n=2, max_instrument_rest=1.5)
    for piece in pieces:
        found = onsets(gen, piece.ids)
        assert set(found) == set(wanted), piece.seed
        for name in wanted:
            assert longest_rest(found[name], 0.0, piece.seconds) <= 1.5 + EPS, (piece.seed, name)


@pytest.mark.parametrize("setting, rule, default", [
    ("max_instrument_rest", "rest_us", round(DEFAULT_MAX_INSTRUMENT_REST * 1e6)),
    ("min_instrument_share", "min_share", DEFAULT_MIN_INSTRUMENT_SHARE),
])
def test_manifests_replay_the_instrument_rules_they_were_made_with(shy: MuseGenerator, monkeypatch: pytest.MonkeyPatch,
                                                                  setting: str, rule: str, default: float) -> None:
    """A manifest records the rest limit and the share floor (None: the default); one written before the
    rule existed replays without it, as it was made."""
    settings = dict(composer="bach", instruments=["piano", "harp"], seconds=1.0)
    piece = shy.generate(seed=4, **settings)[0]
    manifest = make_manifest(shy, piece, "compose", settings)
    assert manifest.settings[setting] is None
    made = spy_grammars(monkeypatch)
    _again, same = replay(shy, manifest)
    assert same and getattr(made[-1], rule) == default
    older = replace(manifest, settings={k: v for k, v in manifest.settings.items() if k != setting})
    replay(shy, older)
    assert getattr(made[-1], rule) is None


def test_no_instruments_no_rest_limit() -> None:
    """A prime without notes has no instruments: nothing to keep playing, and the grammar still runs."""
    vocab = MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).vocab
    g = MusicGrammar(vocab, 2, instruments=[], max_rest_seconds=1.0, target_seconds=2.0)
    allowed = g(token_ids(vocab, "bach start tempo:120"))
    assert g.rest_us is None and allowed[0, vocab.id("wait:96")]
