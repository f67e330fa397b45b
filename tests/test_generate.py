"""MuseGenerator: composing and continuing with a tiny model, filters, grammar constraints, windows, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic
import torch

from musetok import MidiTokenizer, TokenizerConfig
from musetok.vocab import Kind

from muse import generate as generate_module
from muse.clock import Clock
from muse.config import MuseConfig
from muse.core.errors import UserError
from muse.core.sampling import generate as engine_generate
from muse.core.transformer import TransformerConfig
from muse.decoding import PieceDecoder
from muse.generate import MuseGenerator, numbered_paths
from muse.grammar import LOOP_CYCLES, LOOP_TOKENS, MusicGrammar
from muse.saved_model import build_model, load_model, save_model

CHORALE = "classical/bach-bwv001-_400_chorales-004003b.mid"
COMPOSERS = ("bach", "chopin", "mozart")
N_CTX = 32  # tiny, so that generation and priming slide the window


def tiny_model_dir(folder: Path, wait_bias: float = 3.0, shy: tuple[str, ...] = ()) -> Path:
    """A random tiny model that likes waits (so time advances), saved as a model folder; it all but never
    plays a note of the ``shy`` instruments by itself."""
    tokenizer = MidiTokenizer(TokenizerConfig(composers=COMPOSERS))
    torch.manual_seed(0)
    config = MuseConfig(
        transformer=TransformerConfig(width=32, depth=2, heads=2, n_ctx=N_CTX,
                                      attn_order=("block_local", "block_transpose"), blocks=4),
        time_quantum=6, time_buckets=16, chord_max=4)
    model = build_model(config, tokenizer)
    waits = np.flatnonzero(np.asarray(tokenizer.vocab.kind) == Kind.WAIT)
    with torch.no_grad():
        model.vocab.row_bias[torch.as_tensor(model.tables.row[waits])] += wait_bias
        vocab = tokenizer.vocab
        for name in shy:  # note-on rows are (instrument, pitch) rows: only this instrument's notes move
            note = np.isin(vocab.kind, (Kind.NOTE, Kind.DRUM)) & vocab.is_on
            on = np.flatnonzero(note & (vocab.key == vocab.instruments.index(name)))
            model.vocab.row_bias[torch.as_tensor(np.unique(model.tables.row[on]))] -= 30.0
    return save_model(model, tokenizer, folder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def gen(model_dir: Path) -> MuseGenerator:
    return MuseGenerator(model_dir)


def tick_seconds(bpm: float = 20.0) -> float:
    """The longest possible grid tick (at the slowest tempo), the grammar's precision."""
    return 60.0 / (bpm * 24)


def note_keys(gen: MuseGenerator, ids: np.ndarray) -> set[str]:
    kind = np.asarray(gen.vocab.kind)[ids]
    notes = ids[(kind == Kind.NOTE) | (kind == Kind.DRUM)]
    return {gen.vocab.instruments[k] for k in np.asarray(gen.vocab.key)[notes]}


def test_generate_obeys_the_request(gen: MuseGenerator) -> None:
    pieces = gen.generate("chopin", ["piano", "strings"], seconds=6.0, seed=7, n=2)
    assert len(pieces) == 2
    for piece in pieces:
        header = gen.tokenizer.text(piece.ids[:4]).split()
        assert header == ["chopin", "piano", "strings", "start"]
        assert piece.ended and piece.ids[-1] == gen.vocab.end_id
        assert 6.0 - tick_seconds() <= piece.seconds <= 6.0 + 1e-6  # end exactly at the requested length
        assert piece.skipped == 0  # the grammar never lets an impossible token through
        assert note_keys(gen, piece.ids) <= {"piano", "strings"}
        assert len(piece.ids) > N_CTX  # long enough to have slid the window
    assert not np.array_equal(pieces[0].ids, pieces[1].ids)


def test_same_seed_same_music(gen: MuseGenerator) -> None:
    a = gen.generate("bach", ["piano"], seconds=3.0, seed=11)
    b = gen.generate("bach", ["piano"], seconds=3.0, seed=11)
    c = gen.generate("bach", ["piano"], seconds=3.0, seed=12)
    assert np.array_equal(a[0].ids, b[0].ids)
    assert not np.array_equal(a[0].ids, c[0].ids)


@pytest.mark.parametrize("filters", [dict(top_k=1), dict(top_p=1e-6), dict(min_p=0.999)],
                         ids=["top_k=1", "top_p=0", "min_p=0.999"])
def test_filters_that_keep_one_token_equal_greedy(gen: MuseGenerator, filters: dict) -> None:
    """Each filter that keeps only the likeliest token decodes greedily: the seed no longer matters and
    the three give the same piece (the facade refuses temperature 0 itself: ``muse.core.ranges``)."""
    greedy = gen.generate("mozart", ["piano"], seconds=2.0, seed=1, top_k=1)[0]
    assert np.array_equal(gen.generate("mozart", ["piano"], seconds=2.0, seed=99, top_k=1)[0].ids, greedy.ids)
    filtered = gen.generate("mozart", ["piano"], seconds=2.0, seed=5, **filters)[0]
    assert np.array_equal(filtered.ids, greedy.ids)


def test_temperature_and_top_k_change_the_music(gen: MuseGenerator) -> None:
    base = gen.generate("bach", ["piano"], seconds=3.0, seed=3)[0]
    hot = gen.generate("bach", ["piano"], seconds=3.0, seed=3, temperature=2.0)[0]
    narrow = gen.generate("bach", ["piano"], seconds=3.0, seed=3, top_k=5)[0]
    assert not np.array_equal(base.ids, hot.ids)
    assert not np.array_equal(base.ids, narrow.ids)


def test_continuation_past_the_context_window(gen: MuseGenerator, midi_dir: Path) -> None:
    prime = gen.tokenizer.encode(midi_dir / CHORALE, composer="mozart").ids[:-1]  # without `end`
    assert len(prime) > 10 * N_CTX
    prime_seconds = gen.tokenizer.seconds(prime)
    kept = gen.continue_midi(midi_dir / CHORALE, "mozart", seconds=4.0, seed=2, keep_prime=True)[0]
    assert np.array_equal(kept.ids[: len(prime)], prime)  # the prime, then the continuation
    assert len(kept.ids) > len(prime) + 1
    assert prime_seconds + 4.0 - tick_seconds() <= kept.seconds <= prime_seconds + 4.0 + 1e-6
    assert kept.skipped == 0
    alone = gen.continue_midi(midi_dir / CHORALE, "mozart", seconds=4.0, seed=2, keep_prime=False)[0]
    assert gen.tokenizer.text(alone.ids[:4]).split()[:3] == ["mozart", "piano", "start"]
    assert gen.vocab.kind[alone.ids[3]] == Kind.TEMPO  # the prime's tempo carries over
    assert 4.0 - tick_seconds() <= alone.seconds <= 4.0 + 1e-6
    assert np.array_equal(alone.ids[4:], kept.ids[len(prime):])


def test_continuation_can_switch_instruments(gen: MuseGenerator, midi_dir: Path) -> None:
    piece = gen.continue_midi(midi_dir / CHORALE, "bach", seconds=3.0, seed=4, instruments=["strings"],
                              keep_prime=False)[0]
    assert gen.tokenizer.text(piece.ids[:3]).split() == ["bach", "strings", "start"]
    assert note_keys(gen, piece.ids[3:]) <= {"strings"}


def test_window_decoder_sees_the_global_clock(model_dir: Path, midi_dir: Path) -> None:
    """After a slide, the window's logits equal a full forward given the tokens' place in the piece."""
    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    ids = torch.as_tensor(tokenizer.encode(midi_dir / CHORALE, composer="bach").ids[:200].astype(np.int64))[None]
    header = 3
    decoder = PieceDecoder(model, ids, header, total_seconds=40.0)
    window = torch.cat([ids[:, :header], ids[:, -20:]], dim=1)
    cache = decoder.new_cache(1)
    decoder.start_window(cache, header, 180)  # what the engine announces after a slide
    logits = torch.cat([decoder.step(part, cache) for part in window.split(4, dim=1)], dim=1)
    whole = model.clock(ids)
    rows = torch.cat([torch.arange(header), torch.arange(180, 200)])
    clock = Clock(whole.ticks[:, rows], whole.micros[:, rows], whole.chord[:, rows])
    expected = model(window, clock, torch.tensor([40_000_000]))
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)


def test_window_decoder_drives_the_engine_like_a_full_forward(model_dir: Path, midi_dir: Path) -> None:
    """Greedy decoding through slides picks, at every step, the argmax of a full forward of the
    window the engine documents (header + the latest tokens, slid by half the free part)."""
    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    prompt = torch.as_tensor(tokenizer.encode(midi_dir / CHORALE, composer="bach").ids[:40].astype(np.int64))[None]
    header, new = 3, 30
    out = engine_generate(PieceDecoder(model, prompt, header, None), prompt, new, keep_prefix=header,
                          sampling=generate_module.SamplingConfig(temperature=0.0))
    assert out.windows >= 2
    seq = out.ids
    whole = model.clock(seq)
    hop = round(0.5 * (N_CTX - header))
    tail_start = header
    with torch.no_grad():
        for length in range(prompt.shape[1], prompt.shape[1] + new):
            if header + length - tail_start > N_CTX:
                tail_start = length - (N_CTX - header - hop)
            rows = torch.cat([torch.arange(header), torch.arange(tail_start, length)])
            clock = Clock(whole.ticks[:, rows], whole.micros[:, rows], whole.chord[:, rows])
            logits = model(seq[:, rows], clock)[:, -1]
            assert int(logits.argmax()) == int(seq[0, length])


def test_window_decoder_gives_the_same_piece_whatever_the_prime_chunk(model_dir: Path, midi_dir: Path) -> None:
    """The engine may feed a prompt or a slid window in chunks of any size: the decoder is told
    where each window sits, so a seeded run gives the same tokens whatever ``prime_chunk``."""
    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    prompt = torch.as_tensor(tokenizer.encode(midi_dir / CHORALE, composer="bach").ids[:13].astype(np.int64))[None]
    header = tokenizer.vocab.header_length(prompt[0])
    runs = {}
    for chunk in (1, 4, 7, None):
        out = engine_generate(PieceDecoder(model, prompt, header, 20.0), prompt, 60, keep_prefix=header,
                              prime_chunk=chunk, seed=3)
        assert out.windows >= 2
        runs[chunk] = out
    for chunk in (1, 4, 7):
        assert torch.equal(runs[chunk].ids, runs[None].ids), chunk
        torch.testing.assert_close(runs[chunk].logprobs, runs[None].logprobs, atol=1e-4, rtol=0)


class TestGrammar:
    @pytest.fixture()
    def vocab(self):
        return MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).vocab

    def ids(self, vocab, text: str) -> torch.Tensor:
        return torch.as_tensor(vocab.ids(text.split()).astype(np.int64))[None]

    def test_note_off_only_for_sounding_notes(self, vocab) -> None:
        grammar = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        allowed = grammar(self.ids(vocab, "bach piano start piano:v64:C4 piano:v64:E4 wait:12 piano:v0:C4"))
        assert allowed[0, vocab.id("piano:v0:E4")]
        assert not allowed[0, vocab.id("piano:v0:C4")]  # already released
        assert not allowed[0, vocab.id("piano:v0:D4")]  # never played
        assert allowed[0, vocab.id("piano:v64:C4")]

    def test_only_chosen_instruments_and_no_header_tokens(self, vocab) -> None:
        grammar = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        allowed = grammar(self.ids(vocab, "bach piano start tempo:120 wait:6"))
        assert allowed[0, vocab.id("piano:v64:C4")] and allowed[0, vocab.id("wait:6")]
        assert allowed[0, vocab.id("tempo:120")]
        for token in ("strings:v64:C4", "drums:v64:C2", "bach", "piano", "start", "pad"):
            assert not allowed[0, vocab.id(token)], token

    def test_one_tempo_and_one_time_signature_per_time_step(self) -> None:
        """The data never has two in one time step; a model that writes them back to back filled a
        piece's token budget with tempo tokens (stage 6, bach, seed 1)."""
        vocab = MidiTokenizer(TokenizerConfig(composers=COMPOSERS, time_signatures=True)).vocab
        grammar = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        text = "bach piano start tempo:120"
        for more, tempo, timesig in ((" timesig:3/4", False, False), (" piano:v64:C4", False, False),
                                     (" wait:6", True, True), (" tempo:90 piano:v0:C4", False, True),
                                     (" wait:1 wait:1", True, True), (" timesig:4/4 wait:3 tempo:60", False, True)):
            text += more  # one token or several at a time, as cached decoding adds them
            allowed = grammar(self.ids(vocab, text))
            assert bool(allowed[0, vocab.id("tempo:101")]) == tempo, text
            assert bool(allowed[0, vocab.id("timesig:6/8")]) == timesig, text
            assert allowed[0, vocab.id("wait:6")] and allowed[0, vocab.id("piano:v64:D4")]
        prompt = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        assert not prompt(self.ids(vocab, "bach piano start tempo:120 piano:v64:C4"))[0, vocab.id("tempo:101")]

    def test_no_loop_runs_past_its_limit(self, vocab) -> None:
        """A trill of two notes (period 6 tokens) may repeat exactly for LOOP_CYCLES periods, then its next
        token is closed (others stay open); a period of 40 tokens stops at LOOP_TOKENS; fed whole or token by
        token, the same."""
        trill = " piano:v64:E4 wait:2 piano:v0:E4 piano:v64:F4 wait:2 piano:v0:F4"  # 6 tokens
        head = "bach piano start tempo:120"
        cycles = LOOP_CYCLES + 1  # the first statement and LOOP_CYCLES exact repeats: a run of LOOP_CYCLES * 6
        whole = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        allowed = whole(self.ids(vocab, head + trill * cycles))[0]
        assert not allowed[vocab.id("piano:v64:E4")]
        assert allowed[vocab.id("piano:v64:D4")] and allowed[vocab.id("wait:2")]
        stepped = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        ids = self.ids(vocab, head + trill * cycles)
        for t in range(4, ids.shape[1] + 1):
            last = stepped(ids[:, :t])[0]
        assert torch.equal(last, allowed)
        short = MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")])
        assert short(self.ids(vocab, head + trill * (cycles - 1)))[0, vocab.id("piano:v64:E4")]
        # A long period: 40 tokens (20 notes of one step each) repeated; the limit is LOOP_TOKENS, not 16 x 40.
        notes = [f"{name}{octave}" for octave in (3, 4, 5) for name in "CDEFGAB"][:20]  # no shorter period
        phrase = "".join(f" piano:v64:{note} wait:1" for note in notes)
        reps = LOOP_TOKENS // 40 + 1  # a run of LOOP_TOKENS or more after the first statement
        loop = MusicGrammar(vocab, 3)
        text = head + phrase * (reps + 1)
        assert not loop(self.ids(vocab, text))[0, vocab.id("piano:v64:C3")]
        assert MusicGrammar(vocab, 3)(self.ids(vocab, head + phrase * reps))[0, vocab.id("piano:v64:C3")]

    def test_a_piece_opens_with_a_tempo_token(self, vocab) -> None:
        """Every training piece does; the model cannot tell a piece's start from a crop's at `start` (the
        header carries no clock), so the grammar says it. A held tempo (or a prompt past the header) is free."""
        tempos = np.asarray(vocab.kind) == Kind.TEMPO
        allowed = MusicGrammar(vocab, 3)(self.ids(vocab, "bach piano start"))[0].numpy()
        assert np.array_equal(allowed, tempos)
        held = MusicGrammar(vocab, 4, tempo_changes=False)(self.ids(vocab, "bach piano start tempo:120"))[0]
        assert held[vocab.id("piano:v64:C4")] and not held[torch.from_numpy(tempos)].any()
        prompt = "bach piano start piano:v64:C4 wait:6"  # a continuation's prime: its tempo is the default
        assert MusicGrammar(vocab, 3)(self.ids(vocab, prompt))[0, vocab.id("piano:v64:D4")]

    def test_end_only_at_the_requested_length(self, vocab) -> None:
        grammar = MusicGrammar(vocab, 3, target_seconds=1.0)  # 2 beats at 120 BPM = 48 ticks
        allowed = grammar(self.ids(vocab, "bach piano start piano:v64:C4 wait:24"))
        assert not allowed[0, vocab.end_id]
        assert allowed[0, vocab.id("wait:24")] and not allowed[0, vocab.id("wait:25")]  # no overshoot
        allowed = grammar(self.ids(vocab, "bach piano start piano:v64:C4 wait:24 wait:24"))
        assert allowed[0].nonzero().flatten().tolist() == [vocab.id("piano:v0:C4")]  # release what sounds
        allowed = grammar(self.ids(vocab, "bach piano start piano:v64:C4 wait:24 wait:24 piano:v0:C4"))
        assert allowed[0].nonzero().flatten().tolist() == [vocab.end_id]  # then only `end`

    def test_tempo_changes_what_fits(self, vocab) -> None:
        grammar = MusicGrammar(vocab, 3, target_seconds=1.0)
        allowed = grammar(self.ids(vocab, f"bach piano start {vocab.token(vocab.tempo_base)}"))  # 20 BPM
        assert allowed[0, vocab.id("wait:8")] and not allowed[0, vocab.id("wait:9")]


def test_save_writes_numbered_midi_and_wav(gen: MuseGenerator, tmp_path: Path) -> None:
    pieces = gen.generate("bach", ["piano"], seconds=2.0, seed=1, n=2)
    paths = gen.save(pieces, tmp_path / "out.mid", wav=tmp_path / "out.wav")
    assert paths == [tmp_path / "out_1.mid", tmp_path / "out_2.mid"]
    for piece, path in zip(pieces, paths):
        assert symusic.Score(str(path)).note_num() == piece.n_notes
        audio, rate = sf.read(path.with_suffix(".wav"))
        assert len(audio) / rate >= 2.0
    assert numbered_paths("x.mid", 1) == [Path("x.mid")]


def test_bad_requests_are_user_errors(gen: MuseGenerator, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="known composers: bach, chopin, mozart"):
        gen.generate("salieri", ["piano"], seconds=1.0)
    with pytest.raises(UserError, match="known instruments: piano"):
        gen.generate("bach", ["kazoo"], seconds=1.0)
    with pytest.raises(UserError, match=r"length to generate must be a number in \(0"):
        gen.generate("bach", ["piano"], seconds=0.0)
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"not midi at all")
    with pytest.raises(Exception, match="broken.mid"):
        gen.continue_midi(bad, "bach", seconds=1.0)


def test_cancel_returns_what_was_made(gen: MuseGenerator) -> None:
    pieces = gen.generate("bach", ["piano"], seconds=30.0, seed=1, cancel=lambda: True)
    assert not pieces[0].ended and len(pieces[0].ids) == 3


def test_missing_bundled_model_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(generate_module, "BUNDLED_MODEL", tmp_path / "nothing")
    with pytest.raises(UserError, match="muse train.*--model"):
        MuseGenerator()


def test_progress_is_reported_in_seconds(gen: MuseGenerator) -> None:
    seen: list[tuple[float, float]] = []
    gen.generate("bach", ["piano"], seconds=3.0, seed=2, callback=lambda done, total: seen.append((done, total)))
    assert seen and all(total == 3.0 for _, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == pytest.approx(3.0, abs=tick_seconds())
