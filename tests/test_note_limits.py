"""Note limits: learnt from a dataset (checked against a direct count), stored with a model, and
enforced by the grammar while sampling (no note longer than the limit nor shorter than the shortest,
never more notes sounding than the polyphony limit, nothing held at ``end``); old model folders
without limits, and limits files without a shortest note, still load (the loop rule's limits:
tests/test_loop_limits.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import symusic
import torch

from musetok import MidiTokenizer, TokenizerConfig
from musetok.vocab import Kind

from muse.cli import main
from muse.config import MuseConfig
from muse.core.errors import CheckpointError, UserError
from muse.core.transformer import TransformerConfig
from muse.data.build import BuildOptions, build_dataset
from muse.data.sources import midi_dir_sources
from muse.generate import MuseGenerator
from muse.grammar import MusicGrammar
from muse.note_limits import (
    MAX_MIN_NOTE_SECONDS,
    NOTE_LIMITS_FILE,
    NoteLimits,
    compute_note_limits,
    key_limits,
    read_note_limits,
    weighted_quantile,
)
from muse.saved_model import build_model, load_model, save_model

COMPOSERS = ("bach", "chopin")
CHORALES = ["bach-bwv001-_400_chorales-004003b.mid", "bach-bwv001-_400_chorales-003806b.mid"]
LIMITS = NoteLimits(note_seconds={"piano": 0.6, "strings": 0.9}, polyphony={"piano": 3, "strings": 2},
                    default_note_seconds=1.0, default_polyphony=4, pieces=2, source="test")
EPS = 1e-3  # seconds: the score's tick <-> second rounding


# ----------------------------------------------------------------------------- fixtures


def holding_model_dir(folder: Path, limits: NoteLimits | None = LIMITS, off_bias: float = -6.0) -> Path:
    """A random tiny model that likes waits and note-ons and avoids note-offs: left alone, it holds
    notes for ever and piles them up (the failure the limits are for). With a positive ``off_bias``
    it releases every note as soon as it may instead."""
    tokenizer = MidiTokenizer(TokenizerConfig(composers=COMPOSERS))
    torch.manual_seed(0)
    config = MuseConfig(
        transformer=TransformerConfig(width=32, depth=2, heads=2, n_ctx=32,
                                      attn_order=("block_local", "block_transpose"), blocks=4),
        time_quantum=6, time_buckets=16, chord_max=4)
    model = build_model(config, tokenizer)
    vocab = tokenizer.vocab
    kind, velocity = np.asarray(vocab.kind), np.asarray(vocab.velocity)
    rows = model.tables.row
    with torch.no_grad():
        model.vocab.row_bias[torch.as_tensor(rows[kind == Kind.WAIT])] += 4.0
        model.vocab.row_bias[torch.as_tensor(rows[(kind == Kind.NOTE) & (velocity == 0)])] += off_bias
        model.vocab.row_bias[torch.as_tensor(np.unique(rows[(kind == Kind.NOTE) & (velocity > 0)]))] += 1.0
    return save_model(model, tokenizer, folder, limits=limits)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return holding_model_dir(tmp_path_factory.mktemp("limited"))


@pytest.fixture(scope="module")
def gen(model_dir: Path) -> MuseGenerator:
    return MuseGenerator(model_dir)


def track_notes(score: symusic.Score) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(start, end) seconds of the pitched notes of each track, by track name."""
    seconds = score.to("second")
    out = {}
    for track in seconds.tracks:
        if track.is_drum or not len(track.notes):
            continue
        notes = track.notes.numpy()
        start = notes["time"].astype(np.float64)
        out[track.name] = (start, start + notes["duration"].astype(np.float64))
    return out


def sounding_time(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many notes sound in each interval between consecutive note boundaries, and its length."""
    edges = np.unique(np.r_[start, end])
    counts = ((start[None] <= edges[:-1, None]) & (end[None] > edges[:-1, None])).sum(axis=1)
    return counts, np.diff(edges)


def max_sounding(start: np.ndarray, end: np.ndarray) -> int:
    counts, length = sounding_time(start, end)
    return int(counts[length > EPS].max(initial=0))


# ------------------------------------------------------------------------ the grammar alone


def token_ids(vocab, text: str) -> torch.Tensor:
    """Ids (1, T) of space-separated token strings."""
    return torch.as_tensor(vocab.ids(text.split()).astype(np.int64))[None]


class TestGrammar:
    @pytest.fixture(scope="class")
    def vocab(self):
        return MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).vocab

    def ids(self, vocab, text: str) -> torch.Tensor:
        return token_ids(vocab, text)

    def grammar(self, vocab, **kwargs) -> MusicGrammar:
        seconds, polyphony = key_limits(LIMITS, vocab)[:2]
        return MusicGrammar(vocab, 3, instruments=[vocab.instruments.index("piano")], max_note_seconds=seconds,
                            max_polyphony=polyphony, **kwargs)

    def test_no_wait_carries_a_note_past_its_limit(self, vocab) -> None:
        g = self.grammar(vocab)  # piano: 0.6 s; at 120 BPM a tick lasts 1/48 s
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4 wait:12"))  # 0.25 s held
        assert allowed[0, vocab.id("wait:16")] and not allowed[0, vocab.id("wait:17")]  # up to 0.6 s exactly
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4 wait:12 wait:16"))  # at the limit
        assert allowed[0].nonzero().flatten().tolist() == [vocab.id("piano:v0:C4")]  # released before anything else
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4 wait:12 wait:16 piano:v0:C4"))
        waits = np.flatnonzero(np.asarray(vocab.kind) == Kind.WAIT)
        assert allowed[0, waits].all()  # released: time moves on
        allowed = self.grammar(vocab)(self.ids(vocab, "bach piano start piano:v64:C4 wait:12 piano:v64:C4"))
        assert allowed[0, vocab.id("wait:28")] and not allowed[0, vocab.id("wait:29")]  # a re-strike is a new note

    def test_no_zero_length_notes(self, vocab) -> None:
        g = self.grammar(vocab)
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4"))
        assert not allowed[0, vocab.id("piano:v0:C4")] and not allowed[0, vocab.id("piano:v64:C4")]
        assert allowed[0, vocab.id("piano:v64:E4")] and allowed[0, vocab.id("wait:1")]
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4 wait:1"))
        assert allowed[0, vocab.id("piano:v0:C4")] and allowed[0, vocab.id("piano:v64:C4")]

    def test_no_note_shorter_than_the_shortest(self, vocab) -> None:
        n_keys = len(vocab.instruments)
        shortest = np.zeros(n_keys)
        shortest[vocab.instruments.index("piano")] = 0.1  # at 120 BPM a tick lasts 1/48 s: 4.8 ticks
        g = self.grammar(vocab, min_note_seconds=shortest)
        text = "bach piano start piano:v64:C4 wait:2 piano:v64:E4 wait:2"  # C4 83 ms, E4 42 ms old
        allowed = g(self.ids(vocab, text))
        for young in ("piano:v0:C4", "piano:v64:C4", "piano:v0:E4", "piano:v80:E4"):
            assert not allowed[0, vocab.id(young)], young  # neither released nor struck again
        assert allowed[0, vocab.id("piano:v64:G4")] and allowed[0, vocab.id("wait:1")]
        allowed = g(self.ids(vocab, text + " wait:1"))  # C4 104 ms, E4 63 ms
        assert allowed[0, vocab.id("piano:v0:C4")] and allowed[0, vocab.id("piano:v64:C4")]
        assert not allowed[0, vocab.id("piano:v0:E4")]
        finishing = self.grammar(vocab, min_note_seconds=shortest, target_seconds=0.1)
        allowed = finishing(self.ids(vocab, "bach piano start piano:v64:C4 wait:4 piano:v64:E4 wait:1"))
        assert allowed[0].nonzero().flatten().tolist() == sorted(vocab.id(f"piano:v0:{p}") for p in ("C4", "E4"))

    def test_polyphony_limit_masks_new_notes_until_a_note_off(self, vocab) -> None:
        g = self.grammar(vocab)  # piano: 3 notes
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4 piano:v64:E4 piano:v64:G4 wait:6"))
        assert not allowed[0, vocab.id("piano:v64:B4")] and not allowed[0, vocab.id("piano:v32:C5")]
        assert allowed[0, vocab.id("piano:v64:E4")]  # a re-strike adds no note
        assert allowed[0, vocab.id("piano:v0:G4")] and allowed[0, vocab.id("wait:6")]
        allowed = g(self.ids(vocab, "bach piano start piano:v64:C4 piano:v64:E4 piano:v64:G4 wait:6 piano:v0:E4"))
        assert allowed[0, vocab.id("piano:v64:B4")]

    def test_limits_are_per_instrument(self, vocab) -> None:
        seconds, polyphony = key_limits(LIMITS, vocab)[:2]
        g = MusicGrammar(vocab, 4, instruments=[vocab.instruments.index(n) for n in ("piano", "strings")],
                         max_note_seconds=seconds, max_polyphony=polyphony)
        allowed = g(self.ids(vocab, "bach piano strings start strings:v64:C4 strings:v64:E4 piano:v64:C4"))
        assert not allowed[0, vocab.id("strings:v64:G4")] and allowed[0, vocab.id("piano:v64:G4")]
        assert allowed[0, vocab.id("wait:28")] and not allowed[0, vocab.id("wait:29")]  # piano's 0.6 s comes first

    def test_a_piece_ends_with_every_note_released(self, vocab) -> None:
        g = MusicGrammar(vocab, 3)  # no requested length, no limits
        assert not g(self.ids(vocab, "bach piano start piano:v64:C4 wait:4"))[0, vocab.end_id]
        assert g(self.ids(vocab, "bach piano start piano:v64:C4 wait:4 piano:v0:C4"))[0, vocab.end_id]
        # drum hits end by themselves
        assert g(self.ids(vocab, "bach drums start drums:v64:C2 wait:4"))[0, vocab.end_id]

    def test_the_grammar_never_dead_ends(self, vocab) -> None:
        """Random walks through the grammar with tight limits: some token is always allowed, and
        the walk reaches `end` with nothing held."""
        gen = torch.Generator().manual_seed(0)
        piano = vocab.instruments.index("piano")
        for tight in ((0.05, 1, 0.0), (0.3, 2, 0.25), (5.0, 8, 0.1), (0.06, 3, 0.05)):
            n_keys = len(vocab.instruments)
            g = MusicGrammar(vocab, 3, instruments=[piano], target_seconds=2.0,
                             max_note_seconds=np.full(n_keys, tight[0]), max_polyphony=np.full(n_keys, tight[1]),
                             min_note_seconds=np.full(n_keys, tight[2]))
            seq = self.ids(vocab, "bach piano start tempo:120").repeat(4, 1)
            done = torch.zeros(4, dtype=torch.bool)
            for _ in range(3000):
                allowed = g(seq)
                assert allowed[~done].any(dim=1).all()
                weights = allowed.float() + allowed.float() * torch.from_numpy(np.array(vocab.kind) == Kind.WAIT) * 200
                token = torch.multinomial(weights.clamp_min(1e-9) * allowed, 1, generator=gen)[:, 0]
                token = torch.where(done, vocab.pad_id, token)
                seq = torch.cat([seq, token[:, None]], dim=1)
                done |= token == vocab.end_id
                if done.all():
                    break
            assert done.all()
            for row in seq:
                result = MidiTokenizer(TokenizerConfig(composers=COMPOSERS)).decode(row.numpy())
                assert result.closed == 0 and result.skipped == 0


# --------------------------------------------------------------------- sampling a tiny model


def test_sampled_pieces_keep_the_limits(gen: MuseGenerator) -> None:
    pieces = gen.generate("chopin", ["piano", "strings"], seconds=6.0, seed=3, n=3)
    for piece in pieces:
        assert piece.ended and piece.closed == 0 and piece.skipped == 0  # every note released before `end`
        notes = track_notes(piece.score)
        assert notes, "the model played nothing"
        for name, (start, end) in notes.items():
            assert (end - start).max() <= LIMITS.note_seconds[name] + EPS, name
            assert max_sounding(start, end) <= LIMITS.polyphony[name], name


def test_overrides_replace_the_stored_limits(gen: MuseGenerator) -> None:
    free = gen.generate("chopin", ["piano"], seconds=6.0, seed=3, max_note_seconds=0, max_polyphony=0)[0]
    start, end = track_notes(free.score)["piano"]
    assert (end - start).max() > 1.0 and max_sounding(start, end) > 3  # left alone, the model holds notes
    assert free.closed == 0  # but still releases them before `end`
    tight = gen.generate("chopin", ["piano"], seconds=6.0, seed=3, max_note_seconds=0.25, max_polyphony=2)[0]
    start, end = track_notes(tight.score)["piano"]
    assert (end - start).max() <= 0.25 + EPS and max_sounding(start, end) <= 2 and tight.closed == 0
    for bad in (dict(max_note_seconds=-1.0), dict(max_note_seconds=float("nan")), dict(max_polyphony=2.5),
                dict(max_polyphony=-3)):
        with pytest.raises(UserError, match="max_"):
            gen.generate("bach", ["piano"], seconds=1.0, **bad)


def test_no_note_shorter_than_the_shortest_override(tmp_path: Path) -> None:
    """A model that releases notes as soon as it may writes some shorter than 0.1 s; with a shortest
    note of 0.1 s, every note that ends before the piece does lasts at least that long."""
    gen = MuseGenerator(holding_model_dir(tmp_path / "releasing", off_bias=8.0))

    def ended_early(piece) -> np.ndarray:
        start, end = track_notes(piece.score)["piano"]
        return (end - start)[end < piece.seconds - EPS]

    free = gen.generate("chopin", ["piano"], seconds=6.0, seed=5, bpm=120, min_note_seconds=0)[0]
    assert (ended_early(free) < 0.1 - EPS).sum() >= 3
    pieces = gen.generate("chopin", ["piano"], seconds=6.0, seed=5, n=2, bpm=120, min_note_seconds=0.1)
    for piece in pieces:
        assert piece.closed == 0 and len(ended_early(piece)) > 10
        assert ended_early(piece).min() >= 0.1 - EPS
    for bad, match in ((dict(min_note_seconds=-0.1), "min_note_seconds"), (dict(min_note_seconds=0.3), "at most 0.25"),
                       (dict(min_note_seconds=0.2, max_note_seconds=0.1), "must not exceed the longest")):
        with pytest.raises(UserError, match=match):
            gen.generate("bach", ["piano"], seconds=1.0, **bad)


def test_continuations_keep_the_limits(gen: MuseGenerator, midi_dir: Path) -> None:
    piece = gen.continue_midi(midi_dir / "classical" / CHORALES[0], "bach", seconds=4.0, seed=1, keep_prime=False)[0]
    assert piece.ended and piece.closed == 0
    start, end = track_notes(piece.score)["piano"]
    assert (end - start).max() <= LIMITS.note_seconds["piano"] + EPS
    assert max_sounding(start, end) <= LIMITS.polyphony["piano"]


# ------------------------------------------------------------------------- the model folder


def test_old_model_folders_load_without_limits(tmp_path: Path) -> None:
    folder = holding_model_dir(tmp_path / "old", limits=None)
    assert not (folder / NOTE_LIMITS_FILE).exists()
    gen = MuseGenerator(folder)
    assert gen.limits is None
    assert key_limits(None, gen.vocab)[:3] == (None, None, None)
    piece = gen.generate("bach", ["piano"], seconds=3.0, seed=2)[0]
    assert piece.ended and piece.closed == 0  # releasing before `end` needs no limits


def test_limits_files_without_a_shortest_note_have_no_minimum(tmp_path: Path) -> None:
    folder = holding_model_dir(tmp_path / "v1", limits=LIMITS)
    data = json.loads((folder / NOTE_LIMITS_FILE).read_text())
    for name in ("min_note_seconds", "default_min_note_seconds", "shortest_quantile"):
        del data[name]
    (folder / NOTE_LIMITS_FILE).write_text(json.dumps(data))  # as written before the shortest note was learnt
    gen = MuseGenerator(folder)
    assert gen.limits == LIMITS and key_limits(gen.limits, gen.vocab).min_seconds is None
    learnt = NoteLimits(**{**LIMITS.__dict__, "min_note_seconds": {"piano": 0.05}, "default_min_note_seconds": 0.02,
                           "shortest_quantile": 0.02})
    assert NoteLimits.from_dict(learnt.to_dict()) == learnt
    mins = key_limits(learnt, gen.vocab).min_seconds
    assert mins[gen.vocab.instruments.index("piano")] == 0.05 and mins[gen.vocab.instruments.index("organ")] == 0.02
    with pytest.raises(ValueError, match="shortest"):
        NoteLimits(**{**LIMITS.__dict__, "min_note_seconds": {"piano": 0.7}})  # longer than piano's 0.6 s


def test_manifests_replay_the_shortest_note_they_were_made_with(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest records the shortest note (None: the model's); one written before the shortest note
    existed replays without it, as it was made."""
    from dataclasses import replace

    from muse.manifest import make_manifest, replay
    from test_instrument_rest import spy_grammars  # (that module imports this one: imported here, not above)

    learnt = replace(LIMITS, min_note_seconds={"piano": 0.1}, shortest_quantile=0.02)
    gen = MuseGenerator(holding_model_dir(tmp_path / "m", limits=learnt, off_bias=8.0))
    made = spy_grammars(monkeypatch)
    settings = dict(composer="bach", instruments=["piano"], seconds=2.0, bpm=120)
    manifest = make_manifest(gen, gen.generate(seed=4, **settings)[0], "compose", settings)
    assert manifest.settings["min_note_seconds"] is None
    piano = gen.vocab.instruments.index("piano")
    _again, same = replay(gen, manifest)
    assert same and int(made[-1].young_us[0, piano, 0]) == 100_000
    older = replace(manifest, settings={k: v for k, v in manifest.settings.items() if k != "min_note_seconds"})
    replay(gen, older)
    assert int(made[-1].young_us.max()) == 1  # only the rule against zero-length notes


def test_limits_round_trip_and_bad_files_are_one_line(model_dir: Path, tmp_path: Path) -> None:
    assert load_model(model_dir).limits == LIMITS
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / NOTE_LIMITS_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=NOTE_LIMITS_FILE):
        load_model(broken)
    (broken / NOTE_LIMITS_FILE).write_text(json.dumps({**LIMITS.to_dict(), "polyphony": {"piano": 0}}))
    with pytest.raises(CheckpointError, match="polyphony"):
        load_model(broken)


# ------------------------------------------------------------------------- learnt from data


def synthetic_midi(path: Path) -> None:
    """Piano at 120 BPM: C4 0-1 s, E4 0-0.5 s, G4 0.5-2 s (two notes sound at once for 1 s);
    strings: one 3 s note."""
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))
    piano = symusic.Track("piano", 0, False)
    for start, dur, pitch in ((0, 960, 60), (0, 480, 64), (480, 1440, 67)):
        piano.notes.append(symusic.Note(start, dur, pitch, 80))
    strings = symusic.Track("strings", 40, False)
    strings.notes.append(symusic.Note(0, 2880, 48, 80))
    score.tracks.extend([piano, strings])
    score.dump_midi(str(path))


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("midi")
    for name in CHORALES:
        shutil.copy(midi_dir / "classical" / name, src / name)
    synthetic_midi(src / "test-synthetic.mid")
    out = tmp_path_factory.mktemp("data")
    build_dataset(midi_dir_sources(src, composer_from="prefix"),
                  BuildOptions(out=out, workers=0, valid_fraction=0.0, progress=False, cache=False))
    return out


def test_limits_of_a_known_piece(tmp_path: Path) -> None:
    src = tmp_path / "midi"
    src.mkdir()
    synthetic_midi(src / "test-synthetic.mid")
    build_dataset(midi_dir_sources(src, composer_from="prefix"),
                  BuildOptions(out=tmp_path / "data", workers=0, valid_fraction=0.0, progress=False, cache=False))
    limits = compute_note_limits(tmp_path / "data", duration_quantile=1.0, polyphony_quantile=1.0)
    assert limits.note_seconds == {"piano": 1.5, "strings": 3.0}
    assert limits.polyphony == {"piano": 2, "strings": 1}
    assert limits.notes == {"piano": 3, "strings": 1} and limits.pieces == 1
    assert limits.min_note_seconds == {"piano": 0.25, "strings": 0.25}  # 0.5 s and 3 s, at most MAX_MIN_NOTE_SECONDS
    assert compute_note_limits(tmp_path / "data", shortest_quantile=0).min_note_seconds["piano"] == 0.0
    with pytest.raises(UserError, match="shortest_quantile"):
        compute_note_limits(tmp_path / "data", shortest_quantile=0.999)
    median = compute_note_limits(tmp_path / "data", duration_quantile=0.5, polyphony_quantile=0.5)
    assert median.note_seconds["piano"] == 1.0  # durations 0.5, 1.0, 1.5
    assert median.polyphony["piano"] == 1  # 2 notes for 1 of the 2 sounding seconds, 1 for the other
    assert compute_note_limits(tmp_path / "data", polyphony_quantile=0.51).polyphony["piano"] == 2


@pytest.mark.parametrize("q", [0.5, 0.9, 0.995, 1.0])
def test_limits_match_a_direct_count(dataset: Path, q: float) -> None:
    """The limits equal the quantiles of the decoded training pieces' notes, counted directly."""
    from muse.core.token_shards import TokenDataset

    ds = TokenDataset(dataset)
    tokenizer = ds.load_tokenizer()
    durations: dict[str, list[np.ndarray]] = {}
    sounding: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for i in ds.split_indices("train"):
        for name, (start, end) in track_notes(tokenizer.decode(ds.tokens(int(i))).score).items():
            durations.setdefault(name, []).append(end - start)
            sounding.setdefault(name, []).append(sounding_time(start, end))
    limits = compute_note_limits(dataset, duration_quantile=q, polyphony_quantile=q, shortest_quantile=q / 20)
    assert set(limits.note_seconds) == set(durations) == {"piano", "strings"}
    for name, parts in durations.items():
        expected = np.quantile(np.concatenate(parts), q, method="inverted_cdf")
        assert expected - EPS <= limits.note_seconds[name] <= expected + 2 * EPS, name
        shortest = min(np.quantile(np.concatenate(parts), q / 20, method="inverted_cdf"), MAX_MIN_NOTE_SECONDS)
        assert shortest - 2 * EPS <= limits.min_note_seconds[name] <= shortest + EPS, name
        counts = np.concatenate([c for c, _ in sounding[name]])
        length = np.concatenate([w for _, w in sounding[name]])
        sounds = counts > 0
        assert limits.polyphony[name] == int(weighted_quantile(counts[sounds], length[sounds], q)), name
        assert limits.notes[name] == sum(len(p) for p in parts)


def test_weighted_quantile_is_the_inverted_cdf() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 50, 200)
    for q in (0.01, 0.3, 0.5, 0.99, 1.0):
        assert weighted_quantile(values, np.ones(200), q) == np.quantile(values, q, method="inverted_cdf")
    weighted = [weighted_quantile(np.array([3, 1, 2]), np.array([8.0, 1.0, 1.0]), q) for q in (0.1, 0.2, 0.21)]
    assert weighted == [1, 2, 3]


# ------------------------------------------------------------------------------------ CLI


def test_model_limits_command_attaches_limits(dataset: Path, tmp_path: Path, capsys) -> None:
    folder = holding_model_dir(tmp_path / "model", limits=None)
    assert main(["model", "limits", "--model", str(folder), "--data", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "piano" in out and str(folder / NOTE_LIMITS_FILE) in out
    assert read_note_limits(folder) == compute_note_limits(dataset)
    assert MuseGenerator(folder).limits == read_note_limits(folder)
    assert main(["model", "limits", "--model", str(folder), "--data", str(dataset), "--loop-quantile", "0.5"]) == 0
    assert read_note_limits(folder) == compute_note_limits(dataset, loop_quantile=0.5)


def test_cli_limit_options(model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.mid"
    assert main(["generate", "--model", str(model_dir), "--composer", "bach", "--seconds", "2", "--seed", "1",
                 "--max-note-seconds", "0.3", "--max-polyphony", "2", "-o", str(out)]) == 0
    start, end = track_notes(symusic.Score(str(out)))["piano"]
    assert (end - start).max() <= 0.3 + EPS and max_sounding(start, end) <= 2
    for shortest, short_notes in ((["--min-note-seconds", "0"], True), (["--min-note-seconds", "0.1"], False)):
        assert main(["generate", "--model", str(model_dir), "--composer", "bach", "--seconds", "2", "--seed", "1",
                     "--bpm", "120", *shortest, "-o", str(out)]) == 0
        start, end = track_notes(symusic.Score(str(out)))["piano"]
        assert len(start) and bool(((end - start)[end < 2 - EPS] < 0.1 - EPS).any()) == short_notes
    for option, value in (("--max-note-seconds", "-2"), ("--max-note-seconds", "long"), ("--max-polyphony", "1.5"),
                          ("--max-polyphony", "inf"), ("--min-note-seconds", "0.5"), ("--min-note-seconds", "-1")):
        capsys.readouterr()
        rc = main(["generate", "--model", str(model_dir), "--seconds", "1", option, value, "-o", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and option in err and value in err, err
    rc = main(["model", "limits", "--model", str(model_dir), "--data", str(tmp_path / "nothing")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "nothing" in err


def test_the_bundled_model_writes_no_note_shorter_than_its_shortest() -> None:
    """The bundled model's limits hold a shortest note (left alone its mozart pieces ran into notes a tick
    long, docs/MODEL_CARD.md); every note that ends before the piece does lasts at least that long."""
    from muse.generate import BUNDLED_MODEL

    gen = MuseGenerator(BUNDLED_MODEL)
    shortest = gen.limits.min_seconds_for("piano")
    assert 0.02 < shortest <= MAX_MIN_NOTE_SECONDS and gen.limits.shortest_quantile == 0.02
    for piece in gen.generate("mozart", ["piano"], seconds=4.0, seed=0, n=2):
        start, end = track_notes(piece.score)["piano"]
        ended = (end - start)[end < piece.seconds - EPS]
        assert len(ended) > 5 and ended.min() >= shortest - EPS, piece.seed
