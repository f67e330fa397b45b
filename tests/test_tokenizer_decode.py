"""Decoding truncated and partly invalid sequences (generation shown while it streams)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musetok import MidiTokenizer, TokenizerConfig, TokenizerError, sequence

from test_tokenizer_reference import make_midi, off, on, tempo

TOK = MidiTokenizer()
V = TOK.vocab


def ids_of(text: str) -> np.ndarray:
    return TOK.ids_from_text(text)


def notes_of(result) -> list[tuple]:
    tracks = result.score.tracks
    return sorted((t.name, n.pitch, n.time, n.time + n.duration, n.velocity) for t in tracks for n in t.notes)


def test_a_complete_sequence_decodes_without_repairs() -> None:
    r = TOK.decode(ids_of("bach piano strings start tempo:90 piano:v72:G4 strings:v40:C3 wait:12 "
                          "piano:v0:G4 wait:12 strings:v0:C3 end"))
    assert (r.skipped, r.closed, r.n_notes, r.composer) == (0, 0, 2, "bach")
    assert notes_of(r) == [("piano", 67, 0, 12, 72), ("strings", 48, 0, 24, 40)]
    assert [t.program for t in r.score.tracks] == [0, 40]
    assert r.score.tpq == 24 and round(r.score.tempos[0].qpm) == 90


def test_unclosed_notes_are_closed_at_the_end_and_counted() -> None:
    r = TOK.decode(ids_of("start tempo:120 piano:v72:G4 wait:6 piano:v72:C4 wait:6 piano:v72:E4"))
    assert (r.skipped, r.closed) == (0, 3)
    # closed at the final time (12), a note starting there lasts one step
    assert notes_of(r) == [("piano", 60, 6, 12, 72), ("piano", 64, 12, 13, 72), ("piano", 67, 0, 12, 72)]


def test_impossible_tokens_are_skipped_and_counted() -> None:
    text = ("mozart piano start tempo:120 piano:v0:C4 piano:v72:G4 mozart wait:4 start piano:v0:G4 "
            "piano:v0:G4 unknown_composer wait:4 end piano:v72:A4 wait:3")
    r = TOK.decode(ids_of(text))
    # off C4 never sounding, header token in the body (x2), second start, second off G4, 2 tokens after end
    assert (r.skipped, r.closed, r.n_notes) == (7, 0, 1)
    assert notes_of(r) == [("piano", 67, 0, 4, 72)]


def test_ids_outside_the_vocabulary_and_pads_are_harmless() -> None:
    ids = np.r_[ids_of("start tempo:120 piano:v72:G4"), -3, V.size, V.size + 10, V.pad_id, ids_of("wait:5 piano:v0:G4")]
    r = TOK.decode(ids)
    assert (r.skipped, r.closed) == (3, 0)
    assert notes_of(r) == [("piano", 67, 0, 5, 72)]


def test_a_sequence_without_header_or_start_decodes_from_its_first_event() -> None:
    r = TOK.decode(ids_of("piano:v72:G4 wait:5 piano:v0:G4 drums:v96:C2 wait:2"))
    assert (r.skipped, r.closed, r.composer) == (0, 0, None)
    assert notes_of(r) == [("drums", 36, 5, 11, 96), ("piano", 67, 0, 5, 72)]  # drum hits last a 16th note
    assert [t.is_drum for t in r.score.tracks] == [False, True]
    assert TOK.decode(ids_of("bach piano")).n_notes == 0


def test_a_note_on_of_a_sounding_note_restrikes_it() -> None:
    r = TOK.decode(ids_of("start piano:v72:G4 wait:3 piano:v40:G4 wait:3 piano:v0:G4"))
    assert (r.skipped, r.closed) == (0, 0)
    assert notes_of(r) == [("piano", 67, 0, 3, 72), ("piano", 67, 3, 6, 40)]


def test_pedal_tokens_pair_and_repair() -> None:
    tok = MidiTokenizer(TokenizerConfig(pedal="tokens"))
    ids = tok.ids_from_text("start piano:pedal_off piano:pedal_on piano:v72:G4 wait:4 piano:pedal_on piano:v0:G4 "
                            "wait:4 piano:pedal_off wait:2 piano:pedal_on wait:2")
    r = tok.decode(ids)
    assert (r.skipped, r.closed) == (2, 1)
    pedal = [(c.time, c.value) for c in r.score.tracks[0].controls]
    assert pedal == [(0, 127), (8, 0), (10, 127), (12, 0)]


def test_every_prefix_of_an_encoding_decodes_to_the_notes_started_so_far() -> None:
    midi = make_midi([[(0, tempo(100)), (0, on(60)), (0, on(64)), (48, off(60)), (48, on(67)), (96, off(64)),
                       (144, off(67)), (144, on(72)), (192, off(72))]])
    ids = TOK.encode(midi).ids
    onsets = TOK.token_times(ids)
    for cut in range(len(ids) + 1):
        prefix = ids[:cut]
        r = TOK.decode(prefix)
        ons = V.is_on[prefix] & (V.kind[prefix] >= 7)
        offs = (V.velocity[prefix] == 0)
        assert r.skipped == 0
        assert r.n_notes == ons.sum()
        assert r.closed == (ons.sum() - offs.sum() if cut < len(ids) else 0)
        assert all(n.time in onsets for t in r.score.tracks for n in t.notes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(-2, V.size + 2), max_size=300), st.sampled_from(["int64", "int32", "uint16"]))
def test_arbitrary_id_sequences_decode_to_valid_midi(ids: list[int], dtype: str) -> None:
    array = np.array([i for i in ids if i >= 0 or dtype != "uint16"], dtype=dtype)
    r = TOK.decode(array)
    assert r.skipped >= 0 and r.closed >= 0
    assert r.skipped + r.n_notes <= len(array)  # each token is a note, a skip, or neither
    data = r.score.dumps_midi()
    again = TOK.decode(TOK.encode(data).ids)
    assert (again.skipped, again.closed) == (0, 0)
    for track in r.score.tracks:
        for n in track.notes:
            assert n.duration >= 0 and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127


def test_decode_to_file_writes_midi_and_names_an_unwritable_path(tmp_path) -> None:
    ids = ids_of("start tempo:120 piano:v72:G4 wait:5 piano:v0:G4 end")
    out = tmp_path / "out.mid"
    assert TOK.decode_to_file(ids, out).n_notes == 1
    assert TOK.encode(out).tokens[2:] == ["start", "tempo:120", "piano:v72:G4", "wait:5", "piano:v0:G4", "end"]
    with pytest.raises(TokenizerError, match="no_such_dir.*cannot write"):
        TOK.decode_to_file(ids, tmp_path / "no_such_dir" / "x.mid")


def test_token_seconds_follow_the_tempo_in_force_and_sum_to_the_duration() -> None:
    ids = ids_of("bach piano start piano:v72:G4 wait:12 tempo:90 piano:v0:G4 wait:12 end")
    bpm = V.tempo_bpm[ids[ids_of("bach piano start piano:v72:G4 wait:12 tempo:90").size - 1]]
    before = 12 * 60 / (120 * 24)  # 120 BPM until the first tempo token, 24 ticks per beat
    after = before + 12 * 60 / (bpm * 24)
    times = sequence.token_seconds(ids, V)
    assert times.shape == ids.shape and times.dtype == np.float64
    np.testing.assert_allclose(times[-4:], [before, before, before, after])
    assert times[: -4].max() == 0.0  # the header, start, the note-on and the first wait start at 0
    assert TOK.seconds(ids) == pytest.approx(after)
