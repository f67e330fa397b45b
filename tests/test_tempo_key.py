"""Tempo and key requests: ``bpm`` held through the tempo tokens (``muse.tempo``), ``key`` met by
transposing what the model wrote (``muse.tonality``), in ``generate`` and ``continue_midi``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import symusic

from musetok.vocab import Kind

from muse.core.errors import UserError
from muse.generate import MuseGenerator
from muse.music_stats import Key, score_notes
from muse.requests import DEFAULT_KEY_CANDIDATES
from muse.tempo import bpm_range, tempo_token
from muse.tonality import (
    KeyChange,
    KeyRequest,
    as_written,
    detect_key,
    interval_to,
    key_names,
    parse_key,
    transpose_melodic,
)
from test_generate import CHORALE, tiny_model_dir
from test_instrument_rest import spy_grammars


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("model"), wait_bias=6.0))


def tempo_ids(gen: MuseGenerator, ids: np.ndarray) -> np.ndarray:
    return np.flatnonzero(gen.vocab.kind[ids] == Kind.TEMPO)


def with_drums(gen: MuseGenerator, seconds: float = 3.0, **kwargs) -> list:
    return gen.generate("bach", ["piano", "drums"], seconds=seconds, seed=5, n=2, **kwargs)


# ----------------------------------------------------------------------------------------- tempo


def test_bpm_is_the_nearest_tempo_token_held_throughout(gen: MuseGenerator) -> None:
    for piece in gen.generate("bach", ["piano", "strings"], seconds=3.0, seed=2, n=2, bpm=100):
        assert gen.tokenizer.text(piece.ids[:5]).split() == ["bach", "piano", "strings", "start", "tempo:101"]
        assert tempo_ids(gen, piece.ids).tolist() == [4]  # and no other tempo token
        assert [round(t.qpm, 1) for t in piece.score.tempos] == [100.9]
        assert piece.seconds == pytest.approx(3.0, abs=60 / (101 * 24))


def test_without_bpm_the_model_picks_the_tempo(gen: MuseGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    made = spy_grammars(monkeypatch)
    tempos = tempo_ids(gen, np.arange(gen.vocab.size))
    gen.generate("bach", ["piano"], seconds=1.0, cancel=lambda: True)
    assert bool(made[-1].base[tempos].all())
    gen.generate("bach", ["piano"], seconds=1.0, bpm=90, cancel=lambda: True)
    assert not bool(made[-1].base[tempos].any())


def test_a_continuation_changes_tempo_at_the_cut(gen: MuseGenerator, midi_dir: Path) -> None:
    prime = gen.tokenizer.encode(midi_dir / CHORALE, composer="mozart").ids[:-1]
    piece = gen.continue_midi(midi_dir / CHORALE, "mozart", seconds=2.0, seed=1, keep_prime=True, bpm=160)[0]
    assert np.array_equal(piece.ids[: len(prime)], prime)  # the prime as it was
    assert piece.ids[len(prime)] == gen.vocab.id("tempo:160")  # then the requested tempo, held
    assert tempo_ids(gen, piece.ids[len(prime):]).tolist() == [0]
    alone = gen.continue_midi(midi_dir / CHORALE, "mozart", seconds=2.0, seed=1, bpm=160, keep_prime=False)[0]
    assert gen.tokenizer.text(alone.ids[:4]).split() == ["mozart", "piano", "start", "tempo:160"]


def test_bpm_outside_the_tokenizers_tempos_is_refused(gen: MuseGenerator) -> None:
    low, high = bpm_range(gen.vocab)
    assert (low, high) == (20, 605)
    assert tempo_token(gen.vocab, 605) == gen.vocab.id("tempo:605")
    for bad in (700, 606, 19, "fast", float("nan")):
        with pytest.raises(UserError, match=r"^bpm must be a number in \[20, 605\] BPM \(the tempos this model "
                                            r"can write\), not "):
            gen.generate("bach", ["piano"], seconds=1.0, bpm=bad)


# ------------------------------------------------------------------------------------------- key


@pytest.mark.parametrize("text, tonic, minor", [
    ("D minor", 2, True), ("d", 2, None), ("F# major", 6, False), ("Bb", 10, None), ("c#m", 1, True),
    ("E flat major", 3, False), ("Ab min", 8, True), ("B", 11, None), ("bbm", 10, True), ("G\u266d maj", 6, False),
])
def test_key_names(text: str, tonic: int, minor: bool | None) -> None:
    assert parse_key(text) == KeyRequest(tonic, minor)


def test_every_listed_key_name_reads_back() -> None:
    names = key_names()
    assert len(names) == 24 and names[:3] == ["C major", "C minor", "C# major"]
    assert [parse_key(n).name for n in names] == names


def test_unknown_key_names_are_refused() -> None:
    assert parse_key(None) is None and parse_key("  ") is None
    for bad in ("H major", "D dorian", "minor", 7):
        with pytest.raises(UserError, match=r"^key .*(name a tonic A-G|must be a key name)"):
            parse_key(bad)


def test_the_smallest_interval_and_the_description() -> None:
    c_major, a_minor = Key(0, False, 0.9), Key(9, True, 0.9)
    assert interval_to(c_major, KeyRequest(2)) == 2 and interval_to(c_major, KeyRequest(7)) == -5
    assert interval_to(c_major, KeyRequest(6)) == 6 and interval_to(a_minor, KeyRequest(2, True)) == 5
    assert KeyChange(c_major, 2, KeyRequest(2, False)).describe() == \
        "written in C major, transposed up 2 semitones to D major"
    mismatch = KeyChange(c_major, 2, KeyRequest(2, True)).describe()
    assert mismatch.startswith("written in C major, transposed up 2 semitones to D major (asked for D minor")
    assert KeyChange(c_major).describe() == "C major" and KeyChange(None).describe().startswith("no key")


def test_transposition_never_moves_drums_and_stays_in_range(gen: MuseGenerator) -> None:
    v = gen.vocab
    ids = v.ids("bach piano drums start tempo:120 piano:v64:G9 drums:v64:C2 wait:4 piano:v0:G9".split())
    moved, used = transpose_melodic(ids, v, 6)  # G9 (127) + 6 leaves MIDI's range: down 6 instead
    assert used == -6
    assert gen.tokenizer.text(moved).split() == "bach piano drums start tempo:120 piano:v64:C#9 drums:v64:C2 wait:4 " \
                                                "piano:v0:C#9".split()


def test_a_piece_without_room_to_move_stays_as_written(gen: MuseGenerator) -> None:
    v = gen.vocab
    ids = v.ids("bach piano start tempo:120 piano:v64:C-1 piano:v64:G9 wait:4 piano:v0:C-1 piano:v0:G9".split())
    moved, used = transpose_melodic(ids, v, 3)
    assert used == 0 and np.array_equal(moved, ids)
    assert KeyChange(Key(0, False, 0.5), 0, KeyRequest(3)).describe() == \
        "written in C major, left there: its notes span too wide a range to reach Eb"


def test_generate_in_a_key(gen: MuseGenerator) -> None:
    plain = with_drums(gen)
    keyed = with_drums(gen, key="Eb minor", key_candidates=1)  # the same seeds, one candidate: the same music, moved
    for a, b in zip(plain, keyed):
        assert a.key.requested is None and a.key.semitones == 0 and a.key.written is not None
        assert b.key.written == a.key.written and b.key.requested == KeyRequest(3, True)
        assert b.key.key.tonic == 3 and detect_key(score_notes(b.score)).tonic == 3  # Eb, as detected again
        assert np.array_equal(b.ids, transpose_melodic(a.ids, gen.vocab, b.key.semitones)[0])
        assert np.array_equal(as_written(b.ids, gen.vocab, b.key), a.ids)
        drums = gen.vocab.kind[a.ids] == Kind.DRUM
        assert drums.any() and np.array_equal(a.ids[drums], b.ids[drums])  # drums never move
        assert -5 <= b.key.semitones <= 6 or abs(b.key.semitones) == 7  # smallest, or an octave the other way


def test_a_key_with_a_mode_keeps_the_first_candidate_in_that_mode(gen: MuseGenerator,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """For "Eb minor" each piece is the first of its ``key_candidates`` written in minor (the first of them
    when none is); a key without a mode draws one candidate."""
    seen: list[tuple[list, np.ndarray]] = []
    original = MuseGenerator._in_mode

    def spy(pieces, request, new_from):  # noqa: ANN001, ANN202
        seen.append((list(pieces), original(pieces, request, new_from)))
        return seen[-1][1]

    monkeypatch.setattr(MuseGenerator, "_in_mode", staticmethod(spy))
    pieces = gen.generate("bach", ["piano"], seconds=3.0, seed=7, n=3, key="Eb minor")
    candidates, minor = seen[-1]
    assert len(candidates) == 3 * DEFAULT_KEY_CANDIDATES
    for i, piece in enumerate(pieces):
        group = minor[i * DEFAULT_KEY_CANDIDATES:(i + 1) * DEFAULT_KEY_CANDIDATES]
        kept = int(np.argmax(group))  # the first in minor, or the first
        original_ids = candidates[i * DEFAULT_KEY_CANDIDATES + kept].ids
        assert np.array_equal(piece.ids, transpose_melodic(original_ids, gen.vocab, piece.key.semitones)[0])
        assert piece.key.key.tonic == 3 and piece.key.key.minor == bool(group.any())
        assert piece.seed == 7 + i
    assert sum(m.sum() for _, m in seen) > 0  # some candidate was in minor
    gen.generate("bach", ["piano"], seconds=1.0, seed=7, n=2, key="Eb")  # no mode: nothing to choose by
    assert len(seen) == 1
    for bad in (0, 9, 2.5, "many"):
        with pytest.raises(UserError, match=r"key_candidates must be a whole number in \[1, 8\]"):
            gen.generate("bach", ["piano"], seconds=1.0, key="Eb minor", key_candidates=bad)


def test_a_continuation_in_a_key_moves_the_kept_prime_with_it(gen: MuseGenerator, midi_dir: Path) -> None:
    prime = gen.tokenizer.encode(midi_dir / CHORALE, composer="mozart").ids[:-1]
    plain = gen.continue_midi(midi_dir / CHORALE, "mozart", seconds=2.0, seed=4, keep_prime=True)[0]
    keyed = gen.continue_midi(midi_dir / CHORALE, "mozart", seconds=2.0, seed=4, keep_prime=True, key="F#")[0]
    prime_seconds = gen.tokenizer.seconds(prime)
    new = score_notes(plain.score).window(prime_seconds, np.inf)  # the key is the continuation's
    assert keyed.key.written == detect_key(new) and keyed.key.key.tonic == 6
    assert np.array_equal(keyed.ids, transpose_melodic(plain.ids, gen.vocab, keyed.key.semitones)[0])


def test_a_piece_without_notes_has_no_key(gen: MuseGenerator) -> None:
    piece = gen.generate("bach", ["piano"], seconds=1.0, key="D", cancel=lambda: True)[0]
    assert piece.key.written is None and piece.key.semitones == 0
    assert isinstance(piece.score, symusic.Score)
