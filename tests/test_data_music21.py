"""music21 corpus pieces to MIDI: instruments from part names, repeats, music21's ABC quirks."""

from __future__ import annotations

import io

import mido
import pytest

from muse.core.errors import UserError
from muse.data.music21_corpus import (
    _flat_parts,
    _to_midi,
    assign_instruments,
    close_open_repeats,
    corpus_root,
    has_repeats,
    load_score,
    piece_to_midi,
    unshare_elements,
)
from muse.data.sources import PieceSource

pytest.importorskip("music21")


def source(piece_id: str) -> PieceSource:
    path, _, tune = piece_id.partition("#")
    return PieceSource(piece_id, str(corpus_root() / path), path.split("/")[0], "music21", int(tune) if tune else None)


def midi_events(data: bytes) -> list[tuple[int, str]]:
    """(absolute tick, message) of notes, tempos and programs, sorted: equal for the same music."""
    events = []
    for track in mido.MidiFile(file=io.BytesIO(data)).tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in ("note_on", "note_off", "set_tempo", "program_change"):
                events.append((tick, str(msg.copy(time=0))))
    return sorted(events)


def programs(data: bytes) -> set[int]:
    return {int(m.split("program=")[1].split()[0]) for _, m in midi_events(data) if m.startswith("program_change")}


def test_parts_named_for_voices_or_strings_get_those_instruments() -> None:
    from music21 import instrument, note, stream

    score = stream.Score()
    for name, inst in [("Violin 1", instrument.Piano()), ("Viola", None), ("Quinto", instrument.Piano())]:
        part = stream.Part()
        part.partName = name
        if inst is not None:
            part.insert(0, inst)
        part.append(note.Note("C4"))
        score.insert(0, part)
    assign_instruments(score)
    got = [p.getInstrument().midiProgram for p in score.parts]
    assert got[:2] == [40, 41]  # violin, viola from the names
    assert got[2] in (40, 41)  # unnamed part of an all-strings score: a string instrument too


def test_chorale_is_sung_not_played_on_the_piano() -> None:
    midi = piece_to_midi(source("bach/bwv66.6.mxl"))
    assert midi.warnings == () and programs(midi.midi) == {53}  # GM "voice oohs"


def test_score_without_repeats_takes_the_fast_path_with_the_same_midi() -> None:
    score = load_score(source("bach/bwv66.6.mxl"))
    assert not has_repeats(score)
    unshare_elements(score)
    assert midi_events(_to_midi(_flat_parts(score))) == midi_events(_to_midi(load_score(source("bach/bwv66.6.mxl"))))


def test_abc_tune_with_a_shared_time_signature_converts() -> None:
    # music21's ABC reader puts one TimeSignature object in two measures; its MIDI writer refuses that.
    midi = piece_to_midi(source("oneills1850/0001-0050.abc#1"))
    assert midi.warnings == () and sum(m.startswith("note_on") for _, m in midi_events(midi.midi)) > 50


def test_badly_formed_repeats_are_played_once_with_a_warning() -> None:
    midi = piece_to_midi(source("miscFolk/americanfifeopus.abc#11"))
    assert len(midi.warnings) == 1 and "repeats not expanded" in midi.warnings[0]
    assert any(m.startswith("note_on") for _, m in midi_events(midi.midi))


def test_tune_number_out_of_range() -> None:
    with pytest.raises(UserError, match="has 2 tunes, not 7"):
        load_score(source("nottingham-dataset/reelsa-c.abc#7"))


def test_parts_repeated_without_start_repeats_play_twice_not_exponentially() -> None:
    # Aird's "Yankee Doodle" writes ten parts `... :|` with no `|:`; read literally by music21 each
    # part replays all earlier ones (293 written notes became 55,878).
    score = load_score(source("airdsAirs/book1.abc#102"))
    assert close_open_repeats(score) == 9
    written = sum(m.startswith("note_on") and "velocity=0" not in m
                  for _, m in midi_events(_to_midi(_flat_parts(load_score(source("airdsAirs/book1.abc#102"))))))
    midi = piece_to_midi(source("airdsAirs/book1.abc#102"))
    played = sum(m.startswith("note_on") and "velocity=0" not in m for _, m in midi_events(midi.midi))
    assert midi.warnings == () and played == 2 * written


def test_repeats_that_grow_a_piece_too_much_are_not_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    import muse.data.music21_corpus as m21

    monkeypatch.setattr(m21, "MAX_REPEAT_GROWTH", 1.5)
    midi = piece_to_midi(source("airdsAirs/book1.abc#10"))
    assert midi.warnings == ("repeats not expanded (they made it 2x longer)",)
