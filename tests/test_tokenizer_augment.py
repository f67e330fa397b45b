"""Augmentation on token ids: what each transformation changes, what it leaves alone, and determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musetok import Kind, MidiTokenizer
from musetok.augment import AugmentConfig, augment, scale_velocity, stretch_tempo, transpose

from test_tokenizer_reference import make_midi, off, on, program, tempo

TOK = MidiTokenizer()
V = TOK.vocab
MIDI = make_midi([[(0, tempo(100)), (0, program(40)), (0, on(60, 100)), (0, on(127, 50)), (96, off(60)),
                   (96, off(127)), (96, on(2, 70)), (192, off(2)), (0, on(36, 90, 9)), (48, on(38, 60, 9)),
                   (50, off(36, 9)), (60, off(38, 9)), (192, tempo(150))]])
IDS = TOK.encode(MIDI, composer="bach").ids


def notes(ids: np.ndarray) -> list[tuple]:
    score = TOK.decode(ids).score
    return sorted((t.name, n.pitch, n.time, n.duration, n.velocity) for t in score.tracks for n in t.notes)


def test_transpose_moves_melodic_notes_only() -> None:
    up = transpose(IDS, V, 3, "drop")
    assert TOK.decode(up).skipped == 0
    before, after = notes(IDS), notes(up)
    assert [n for n in after if n[0] == "drums"] == [n for n in before if n[0] == "drums"]
    moved = [(name, p + 3, *rest) for name, p, *rest in before if name != "drums" and p + 3 <= 127]
    assert [n for n in after if n[0] != "drums"] == moved  # 127 + 3 is out of range: dropped, on and off
    assert np.array_equal(TOK.token_times(up)[-1:], TOK.token_times(IDS)[-1:])  # timing untouched
    assert up.dtype == IDS.dtype


def test_transpose_can_fold_out_of_range_notes_by_octaves() -> None:
    down = transpose(IDS, V, -5, "fold")
    pitches = sorted(p for name, p, *_ in notes(down) if name != "drums")
    assert pitches == [9, 55, 122]  # 2-5 -> -3 -> 9 (up an octave); 60-5; 127-5
    assert len(down) == len(IDS)
    with pytest.raises(ValueError, match="out_of_range"):
        transpose(IDS, V, 1, "wrap")


def test_scale_velocity_changes_note_ons_and_drums_only() -> None:
    soft = scale_velocity(IDS, V, 0.5)
    assert TOK.decode(soft).skipped == 0
    pairs = list(zip(notes(IDS), notes(soft)))
    assert all(a[:4] == b[:4] for a, b in pairs)
    assert [a[4] for a, _ in pairs] == [88, 64, 72, 104, 48]
    assert [b[4] for _, b in pairs] == [48, 32, 40, 56, 24]  # halved, then re-binned (bins of 8)
    loud = notes(scale_velocity(IDS, V, 10.0))
    assert {n[4] for n in loud} == {127}
    changed = IDS != soft
    assert set(V.kind[IDS[changed]]) <= {Kind.NOTE, Kind.DRUM} and V.is_on[IDS[changed]].all()


def test_stretch_tempo_rebins_tempo_tokens() -> None:
    fast = stretch_tempo(IDS, V, 2.0)
    assert [V.tokens[i] for i in fast if V.kind[i] == Kind.TEMPO] == ["tempo:202", "tempo:302"]
    assert TOK.seconds(fast) == pytest.approx(TOK.seconds(IDS) / 2, rel=0.05)
    assert np.array_equal(fast[V.kind[IDS] != Kind.TEMPO], IDS[V.kind[IDS] != Kind.TEMPO])
    assert [V.tokens[i] for i in stretch_tempo(IDS, V, 100.0) if V.kind[i] == Kind.TEMPO] == ["tempo:605"] * 2


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_augmentation_is_deterministic_and_valid(seed: int) -> None:
    a = augment(IDS, V, seed)
    assert np.array_equal(a, augment(IDS, V, seed))
    assert np.array_equal(a, augment(IDS, V, np.random.default_rng(seed)))
    r = TOK.decode(a)
    assert (r.skipped, r.closed) == (0, 0) and r.n_notes in (4, 5)  # pitch 2 or 127 may leave the range
    header = list(IDS).index(V.start_id) + 1
    assert np.array_equal(a[:header], IDS[:header])
    identity = AugmentConfig(max_transpose=0, velocity_scale=(1.0, 1.0), tempo_scale=(1.0, 1.0))
    assert np.array_equal(augment(IDS, V, seed, identity), IDS)
