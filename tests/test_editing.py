"""Editing (issue 19): fill-in-the-middle markers and training layout, span grammar, infill and accompany."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import symusic
import torch
import yaml

from musetok import MidiTokenizer, TokenizerConfig
from musetok.instruments import program_to_key
from musetok.vocab import Kind

from composer_models import wait_loving_model
from muse.cli import main
from muse.clock import Clock, ClockState
from muse.config import MuseConfig
from muse.core.errors import UserError
from muse.core.token_shards import TokenDataset
from muse.core.transformer import TransformerConfig
from muse.evaluate import evaluate
from muse.fim import PREFIX, SUFFIX, fim_item, model_data_tokenizer, with_fim_markers
from muse.generate import MuseGenerator
from muse.saved_model import build_model, load_model
from muse.span_decoding import SpanDecoder
from muse.span_grammar import SpanGrammar
from muse.train_data import CropDataset, muse_loss
from muse.training import train
from preference_models import tiny_dataset

REPO = Path(__file__).resolve().parents[1]
COMPOSERS = ("bach", "chopin", "mozart")
CHORALE = "bach-bwv001-_400_chorales-004003b.mid"
N_CTX = 48
TPQ = 480  # the crafted files: 120 BPM, so one second is 960 ticks and 48 grid ticks


def tiny_model_dir(folder: Path, markers: bool) -> Path:
    """A random tiny model (header conditioning on) that likes waits, with or without FIM markers."""
    return wait_loving_model(folder, COMPOSERS, N_CTX, fim_markers=markers, wait_bias=2.0)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("plain"), markers=False))


@pytest.fixture(scope="module")
def fim(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("fim"), markers=True))


def write_midi(path: Path, tracks: dict[tuple[int, bool], list[tuple[float, float, int]]]) -> Path:
    """A 120 BPM file: ``{(program, is_drum): [(start s, duration s, pitch), ...]}``."""
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, 120.0))
    for (program, drum), notes in tracks.items():
        track = symusic.Track(f"p{program}", program, drum)
        for start, dur, pitch in notes:
            track.notes.append(symusic.Note(int(start * 960), int(dur * 960), pitch, 80))
        score.tracks.append(track)
    path.write_bytes(score.dumps_midi())
    return path


def notes(track: symusic.Track) -> np.ndarray:
    """(time, duration, pitch, velocity) rows of a track, sorted."""
    n = track.notes.numpy()
    rows = np.stack([n["time"], n["duration"], n["pitch"], n["velocity"]], 1).astype(np.int64)
    return rows[np.lexsort(rows.T[::-1])] if len(rows) else rows.reshape(0, 4)


def grid(ticks: np.ndarray, tpq: int) -> np.ndarray:
    return (2 * ticks * 24 + tpq) // (2 * tpq)


def span_waits(gen: MuseGenerator, span_ids: np.ndarray) -> int:
    return int(np.asarray(gen.vocab.wait_ticks)[span_ids].sum())


# ------------------------------------------------------------------------------ vocabulary


def test_markers_are_appended_without_moving_an_id(tmp_path: Path) -> None:
    old = MidiTokenizer(TokenizerConfig(composers=COMPOSERS))
    new = with_fim_markers(old)
    assert new.vocab.tokens[: old.vocab.size] == old.vocab.tokens
    assert new.vocab.tokens[old.vocab.size:] == (SUFFIX, PREFIX)
    assert (np.asarray(new.vocab.kind)[old.vocab.size:] == Kind.MARKER).all()
    assert not old.vocab.has_fim_markers and new.vocab.has_fim_markers
    assert "fim_markers" not in old.config.to_dict()  # a marker-less vocabulary is written as before
    old.save(tmp_path / "old.json")
    new.save(tmp_path / "new.json")
    assert MidiTokenizer.load(tmp_path / "old.json").vocab.fingerprint == old.vocab.fingerprint
    assert MidiTokenizer.load(tmp_path / "new.json").vocab.has_fim_markers
    assert with_fim_markers(new) is new


def test_a_fim_model_reads_its_datasets_shards_and_no_other_vocabulary() -> None:
    data = MidiTokenizer(TokenizerConfig(composers=COMPOSERS))
    fim_model = with_fim_markers(data)
    assert model_data_tokenizer(data, fim_model, "DATA").vocab.fingerprint == fim_model.vocab.fingerprint
    assert model_data_tokenizer(data, data, "DATA") is data
    other = MidiTokenizer(TokenizerConfig(composers=COMPOSERS[:-1]))
    for model in (other, with_fim_markers(other)):
        with pytest.raises(UserError, match="^DATA: the dataset's vocabulary differs from the model's"):
            model_data_tokenizer(data, model, "DATA")


def test_plain_generation_never_writes_a_marker(fim: MuseGenerator) -> None:
    piece = fim.generate("bach", ["piano"], seconds=2.0, seed=3)[0]
    assert not (np.asarray(fim.vocab.kind)[piece.ids] == Kind.MARKER).any()


# ------------------------------------------------------------------------------ training layout


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = (CHORALE, "mozart-contradance_n1.mid", "bach-bwv001-_400_chorales-003806b.mid")
    return tiny_dataset(midi_dir, tmp_path_factory.mktemp("layout"), files, valid_fraction=0.34)


def _find(ids: np.ndarray, part: np.ndarray) -> list[int]:
    return [p for p in range(len(ids) - len(part) + 1) if np.array_equal(ids[p:p + len(part)], part)]


def test_fim_crops_keep_every_token_at_its_place_in_the_piece(dataset: Path) -> None:
    data = TokenDataset(dataset)
    tok = with_fim_markers(data.load_tokenizer())
    pieces = data.split_indices("train")
    crops = CropDataset(data, pieces, tok, 64, items=24, seed=1, fim_rate=0.6)
    suf, pre = tok.vocab.id(SUFFIX), tok.vocab.id(PREFIX)
    wait = np.asarray(tok.vocab.wait_ticks)
    seen = 0
    for i in range(len(crops)):
        item = crops[i]
        ids = item["ids"].numpy()
        if suf not in ids:
            continue
        seen += 1
        a, b = int(np.flatnonzero(ids == suf)[0]), int(np.flatnonzero(ids == pre)[0])
        n = int((ids != tok.vocab.pad_id).sum())
        suffix, cont = ids[a + 1:b], ids[b + 1:n]
        ticks = item["ticks"].numpy()
        assert ticks[a] == ticks[a + 1] and ticks[b] == ticks[b + 1]  # a marker has the next token's clock
        # the continuation ends exactly where the suffix starts (t2), both at their true times
        assert ticks[n - 1] + wait[cont[-1]] == ticks[a + 1]
        assert wait[cont[-1]] > 0  # t2 is a time-step boundary
        assert (np.diff(ticks[a + 1:b]) == wait[suffix[:-1]]).all()
        assert (np.diff(ticks[b + 1:n]) == wait[cont[:-1]]).all()
        # marker targets are not scored, every other target is
        mask = item["mask"].numpy()
        assert not mask[a - 1] and not mask[b - 1] and mask[a:b - 1].all() and mask[b:n - 1].all()
        # the continuation and the suffix are contiguous in one piece, in this order
        assert any(_find(np.asarray(data.tokens(int(p)), np.int64), np.concatenate([cont, suffix])) for p in pieces)
    assert seen >= 5
    batch = {k: torch.stack([crops[i][k] for i in range(4)]) for k in crops[0]}
    model = build_model(MuseConfig(transformer=TransformerConfig(width=16, depth=1, heads=2, n_ctx=64)), tok)
    assert torch.isfinite(muse_loss(model, batch).loss)


def test_fim_rate_zero_keeps_the_old_crops(dataset: Path) -> None:
    data = TokenDataset(dataset)
    tok = data.load_tokenizer()
    old = CropDataset(data, data.split_indices("train"), tok, 64, items=6, seed=2)
    new = CropDataset(data, data.split_indices("train"), with_fim_markers(tok), 64, items=6, seed=2, fim_rate=0.0)
    for i in range(6):
        for key, value in old[i].items():
            assert torch.equal(value, new[i][key])


def test_at_a_forced_note_the_model_may_first_write_what_sorts_before_it() -> None:
    """The tokenizer writes a step's note-ons from low to high, so a forced melody note-on leaves room
    for the model's own lower note-ons before it, in rising order (issue 19: accompaniment onsets);
    what the model would write after it (waits, higher notes) adds to the forced note's probability."""
    tok = MidiTokenizer()
    ids = {name: int(tok.ids_from_text(name)[0])
           for name in ("piano:v72:C4", "piano:v72:E4", "piano:v72:A3", "piano:v72:G4", "piano:v72:C5",
                        "piano:v0:G4", "wait:6", "end")}
    before = tok.ids_from_text("bach piano start")
    grammar = SpanGrammar(tok.vocab, before, 2, len(before), 0, 24,
                          [(0, ids["piano:v72:G4"]), (12, ids["piano:v0:G4"])],
                          instruments=[tok.vocab.instruments.index("piano")])
    seq = torch.as_tensor(before, dtype=torch.long)[None]

    def probs_after(*names: str) -> dict[str, float]:
        """The next token's probabilities under equal model logits, after the mask and ``fold``."""
        nonlocal seq
        seq = torch.cat([seq, torch.tensor([[ids[n] for n in names]])], dim=1) if names else seq
        mask = grammar(seq)
        p = torch.softmax(grammar.fold(torch.zeros(mask.shape).masked_fill(~mask, -torch.inf)), dim=-1)[0]
        return {name: float(p[i]) for name, i in ids.items()}

    first = probs_after()
    assert first["piano:v72:C4"] == first["piano:v72:A3"] > 0
    assert first["piano:v72:G4"] > 50 * first["piano:v72:C4"]  # it carries the waits' and higher notes' share
    assert first["piano:v72:C5"] == first["wait:6"] == first["end"] == 0  # after the melody, or moving on
    second = probs_after("piano:v72:C4")
    assert second["piano:v72:E4"] > 0 and second["piano:v72:A3"] == 0  # rising only
    third = probs_after("piano:v72:G4")
    assert grammar.forced[0] == [False, True] and third["piano:v72:C5"] > 0 and third["wait:6"] > 0


@pytest.mark.parametrize("shortest", [None, 0.2])
def test_a_span_short_of_tokens_stops_starting_notes_and_still_ends_in_its_budget(shortest: float | None) -> None:
    """A model that would only ever start notes fills the span with them while tokens allow, then is
    held to waits, note-offs and the forced events, and writes ``end`` within the budget (also when
    young notes may not be released: ``shortest`` seconds)."""
    tok = MidiTokenizer()
    vocab = tok.vocab
    before = tok.ids_from_text("bach piano start")
    forced = [(48, int(tok.ids_from_text("piano:v72:G4")[0])), (96, int(tok.ids_from_text("piano:v0:G4")[0]))]
    budget = 60
    grammar = SpanGrammar(vocab, before, 2, len(before), 0, 192, forced,
                          instruments=[vocab.instruments.index("piano")], budget=budget,
                          min_note_seconds=None if shortest is None else np.full(len(vocab.instruments), shortest))
    preference = torch.where(grammar.is_note_on, 10.0, 0.0) + torch.where(grammar.is_wait, -torch.tensor(
        np.asarray(vocab.wait_ticks), dtype=torch.float) / 1000, 0.0)  # notes first, then the shortest wait
    seq = torch.as_tensor(before, dtype=torch.long)[None]
    for _ in range(budget):
        mask = grammar(seq)
        assert mask.any()
        token = int(torch.argmax(grammar.fold(preference[None].masked_fill(~mask, -torch.inf))))
        seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
        if token == vocab.end_id:
            break
    new = seq[0, len(before):].numpy()
    assert new[-1] == vocab.end_id and len(new) <= budget
    assert grammar.forced[0].count(True) == 2  # the melody note and its release, both kept
    assert np.isin(new, np.flatnonzero(np.asarray(vocab.is_on) & (np.asarray(vocab.kind) == Kind.NOTE))).sum() > 2


def test_span_decoder_sees_the_clock_training_gives(fim: MuseGenerator, midi_dir: Path) -> None:
    """The layout fed in segments (generation) gets the logits of a training item's forward pass."""
    model, vocab = fim.model, fim.vocab
    ids = np.asarray(fim.tokenizer.encode(midi_dir / "classical" / CHORALE, composer="bach").ids, np.int64)
    header = int(np.flatnonzero(ids == vocab.start_id)[0]) + 1
    with torch.no_grad():
        c = model.clock(torch.as_tensor(ids)[None])
    piece_clock, total_us = Clock(c.ticks[0], c.micros[0], c.chord[0]), int(c.end.micros[0])
    item = fim_item(ids, piece_clock, total_us, header, N_CTX, vocab, np.random.default_rng(5))
    n = int((item["ids"] != vocab.pad_id).sum())
    seq = item["ids"][:n]
    a, b = int((seq == vocab.id(SUFFIX)).nonzero()[0]), int((seq == vocab.id(PREFIX)).nonzero()[0])
    suffix, cont = seq[a + 1:b].numpy(), seq[b + 1:].numpy()
    p2 = next(p for p in range(len(cont), len(ids)) if np.array_equal(ids[p - len(cont):p], cont)
              and np.array_equal(ids[p:p + len(suffix)], suffix))

    def state(p: int) -> ClockState:
        with torch.no_grad():
            return model.clock(torch.as_tensor(ids[:p])[None]).end

    with torch.no_grad():
        clock = Clock(item["ticks"][None, :n], item["micros"][None, :n], item["chord"][None, :n])
        expected = model(seq[None], clock, torch.tensor([total_us]))
        decoder = SpanDecoder(model, seq[None], b + 1, [(0, ClockState.zeros(1)), (a, state(p2)), (b, None)],
                              state(p2 - len(cont)), total_us / 1e6)
        got = decoder.step(seq[None], decoder.new_cache(1))
        cache = decoder.new_cache(1)  # the same layout fed in chunks, as the engine may prime it
        decoder.start_window(cache, b + 1, b + 1)
        chunked = torch.cat([decoder.step(part, cache) for part in seq[None].split(3, dim=1)], dim=1)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunked, got, atol=1e-5, rtol=1e-5)


def test_training_with_fim_rate_exports_a_model_with_markers(dataset: Path, tmp_path: Path, midi_dir: Path) -> None:
    preset = yaml.safe_load((REPO / "configs" / "muse" / "tiny.yaml").read_text())
    preset["train"].update(steps=2, log_every=1, eval_every=2, checkpoint_every=2, batch_size=2)
    preset["data"]["fim_rate"] = 0.5
    path = tmp_path / "fim.yaml"
    path.write_text(yaml.safe_dump(preset))
    train(path, dataset, tmp_path / "run", progress=False)
    loaded = load_model(tmp_path / "run")
    assert loaded.tokenizer.vocab.has_fim_markers
    assert loaded.tokenizer.vocab.size == TokenDataset(dataset).load_tokenizer().vocab.size + 2
    # its marker-less dataset
    assert np.isfinite(evaluate(loaded, dataset, split="train", batch_size=2, max_pieces=1).overall.bits_per_token)
    gen = MuseGenerator(loaded)
    piece = gen.infill(midi_dir / "classical" / CHORALE, 3.0, 4.0, seed=1)[0]
    assert piece.mode == "fim"


# ------------------------------------------------------------------------------ infill


def check_outside_kept(source: symusic.Score, edited: symusic.Score, start_tick: int, end_tick: int) -> None:
    """Every input note starting outside [start, end) (grid) is in the output, unchanged, in its track."""
    for before, after in zip(source.tracks, edited.tracks):
        a, b = notes(before), notes(after)
        outside = (grid(a[:, 0], source.tpq) < start_tick) | (grid(a[:, 0], source.tpq) >= end_tick)
        out_b = (grid(b[:, 0], edited.tpq) < start_tick) | (grid(b[:, 0], edited.tpq) >= end_tick)
        assert np.array_equal(a[outside], b[out_b])


def generated(source: symusic.Score, edited: symusic.Score) -> np.ndarray:
    """Notes of the output that are not input notes (time, duration, pitch, velocity, track)."""
    rows = []
    for i, track in enumerate(edited.tracks):
        have = {tuple(r) for r in notes(source.tracks[i])} if i < len(source.tracks) else set()
        rows += [(*r, i) for r in notes(track) if tuple(r) not in have]
    return np.array(rows, np.int64).reshape(-1, 5)


@pytest.mark.parametrize("which", ["plain", "fim"])
def test_infill_keeps_the_outside_and_fills_exactly_the_span(which: str, request, midi_dir: Path) -> None:
    gen: MuseGenerator = request.getfixturevalue(which)
    path = midi_dir / "classical" / CHORALE
    source = symusic.Score(str(path))
    pieces = gen.infill(path, 4.0, 6.0, n=2, seed=11)
    assert [p.mode for p in pieces] == ["continuation" if which == "plain" else "fim"] * 2
    for piece in pieces:
        check_outside_kept(source, piece.score, piece.start_tick, piece.end_tick)
        assert span_waits(gen, piece.span_ids) == piece.end_tick - piece.start_tick  # exact length, to a tick
        assert piece.span_ids[-1] == gen.vocab.end_id
        new = generated(source, piece.score)
        assert len(new) == piece.n_notes
        assert (grid(new[:, 0], source.tpq) >= piece.start_tick).all()
        assert (grid(new[:, 0] + new[:, 1], source.tpq) <= piece.end_tick).all()  # no generated note held past t2
    assert not np.array_equal(pieces[0].span_ids, pieces[1].span_ids)
    assert sum(p.n_notes for p in pieces) > 0


def test_notes_across_the_edges(plain: MuseGenerator, tmp_path: Path) -> None:
    path = write_midi(tmp_path / "edges.mid", {(0, False): [
        (0.0, 10.0, 48),  # held across the whole span: kept, protected
        (0.5, 1.0, 62), (2.0, 0.5, 62),
        (1.0, 4.0, 60),  # ends inside the span: kept, its note-off forced at 5 s
        (4.0, 4.0, 64),  # starts inside, ends after t2: replaced
        (5.0, 0.5, 67),  # inside: replaced
        (7.0, 0.5, 72), (8.0, 0.5, 72), (9.0, 0.5, 74)]})
    source = symusic.Score(str(path))
    for piece in plain.infill(path, 3.0, 7.0, n=2, seed=5):
        assert (piece.start_tick, piece.end_tick) == (144, 336)
        kept = notes(piece.score.tracks[0])
        for start, dur, pitch in ((0, 9600, 48), (960, 3840, 60), (6720, 480, 72), (480, 960, 62)):
            assert ((kept[:, 0] == start) & (kept[:, 1] == dur) & (kept[:, 2] == pitch)).sum() == 1
        assert not ((kept[:, 0] == 3840) & (kept[:, 2] == 64)).any()  # replaced notes are gone
        new = generated(source, piece.score)
        assert (new[:, 0] + new[:, 1] <= 6720).all()
        assert not (new[:, 2] == 48).any()  # never re-struck while the fixed note holds it
        assert not ((new[:, 2] == 60) & (new[:, 0] < 4800)).any()  # free again after its forced note-off
        assert plain.vocab.id("piano:v0:C4") in piece.span_ids  # the note-off of the fixed C4, at 5 s
        assert span_waits(plain, piece.span_ids) == 192


def test_infill_by_bars(plain: MuseGenerator, tmp_path: Path) -> None:
    path = write_midi(tmp_path / "bars.mid", {(0, False): [(i * 0.5, 0.5, 60 + i % 12) for i in range(32)]})
    piece = plain.infill(path, bars=(2, 3), seed=2)[0]
    assert (piece.start_tick, piece.end_tick) == (96, 288)  # 4/4: bar 2 starts at beat 4, bar 3 ends at beat 12
    assert span_waits(plain, piece.span_ids) == 192


# ------------------------------------------------------------------------------ accompany


def test_accompany_keeps_the_melody_and_fills_its_length(plain: MuseGenerator, tmp_path: Path) -> None:
    melody = [(0.0, 0.5, 72), (0.5, 0.5, 74), (1.0, 1.0, 76), (2.0, 0.25, 77), (2.5, 0.5, 79)]
    path = write_midi(tmp_path / "melody.mid", {(73, False): melody})  # flute
    source = symusic.Score(str(path))
    pieces = plain.accompany(path, "bach", ["piano", "strings"], n=2, seed=4)
    for piece in pieces:
        assert piece.mode == "accompaniment"
        assert np.array_equal(notes(piece.score.tracks[0]), notes(source.tracks[0]))  # the melody, unchanged
        assert {t.name for t in piece.score.tracks[1:]} <= {"piano", "strings"}
        assert piece.end_tick == 144 and span_waits(plain, piece.span_ids) == 144
        new = generated(source, piece.score)
        assert (new[:, 4] >= 1).all() and (new[:, 0] + new[:, 1] <= 2880).all()
        # the melody's five note-ons were forced into the sequence (the model may not use its key)
        key = int(program_to_key(plain.vocab.config.family_mode)[73])
        span = np.asarray(piece.span_ids)
        ons = (np.asarray(plain.vocab.key)[span] == key) & np.asarray(plain.vocab.is_on)[span]
        assert ons.sum() == 5


# ------------------------------------------------------------------------------ command line


def test_cli_infill_and_accompany(plain: MuseGenerator, midi_dir: Path, tmp_path: Path, capsys) -> None:
    model = str(plain.loaded.path)
    path = midi_dir / "classical" / CHORALE
    assert main(["infill", str(path), "--start", "4", "--end", "5", "--n", "2", "--seed", "3",
                 "--model", model, "-o", str(tmp_path / "out.mid")]) == 0
    out = capsys.readouterr().out
    assert "continuation" in out and (tmp_path / "out_1.mid").is_file() and (tmp_path / "out_2.mid").is_file()
    melody = write_midi(tmp_path / "m.mid", {(0, False): [(0.0, 0.5, 72), (0.5, 1.0, 74)]})
    assert main(["accompany", str(melody), "--composer", "bach", "--instruments", "strings", "--seed", "1",
                 "--model", model, "-o", str(tmp_path / "acc.mid")]) == 0
    assert "accompaniment mode" in capsys.readouterr().out
    assert len(symusic.Score(str(tmp_path / "acc.mid")).tracks) >= 1


@pytest.mark.parametrize("args, message", [
    (["infill", "{chorale}", "--start", "5", "--end", "5"], "must be before --end"),
    (["infill", "{chorale}", "--start", "5", "--end", "900"], "beyond the end of the file"),
    (["infill", "{chorale}", "--start", "1", "--end", "2", "--bars", "1-2"], "not both"),
    (["infill", "{chorale}"], "give the span"),
    (["infill", "{chorale}", "--bars", "3-1"], "--bars"),
    (["infill", "{empty}", "--start", "0", "--end", "1"], "has no notes"),
    (["infill", "{missing}", "--start", "0", "--end", "1"], "no such MIDI file"),
    (["infill", "{chorale}", "--start", "1", "--end", "2", "--instruments", "kazoo"], "unknown instrument"),
    (["accompany", "{chorale}", "--instruments", "kazoo"], "unknown instrument"),
    (["accompany", "{chorale}", "--instruments", "piano", "--composer", "nobody"], "unknown composer"),
])
def test_cli_errors_are_one_line(plain: MuseGenerator, midi_dir: Path, tmp_path: Path, capsys, args, message) -> None:
    empty = symusic.Score(TPQ)
    empty.tempos.append(symusic.Tempo(0, 120.0))
    empty.tracks.append(symusic.Track("x", 0, False))
    (tmp_path / "empty.mid").write_bytes(empty.dumps_midi())
    names = {"chorale": str(midi_dir / "classical" / CHORALE), "empty": str(tmp_path / "empty.mid"),
             "missing": str(tmp_path / "missing.mid")}
    argv = [a.format(**names) for a in args] + ["--model", str(plain.loaded.path), "-o", str(tmp_path / "o.mid")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
