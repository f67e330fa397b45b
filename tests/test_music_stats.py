"""Score statistics for judging generated music: each one equals a hand computation on a small score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import symusic

from muse.music_stats import (
    CopyIndex,
    Key,
    Notes,
    entropy_bits,
    estimate_key,
    jensen_shannon,
    long_notes,
    mean_velocity,
    median_duration,
    middle_share,
    music_stats,
    onset_buckets,
    pitch_class_entropy,
    pitch_class_histogram,
    polyphony,
    repeated_pattern_share,
    score_notes,
    summarize,
    to_degrees,
    token_notes,
    windows,
)

TPQ = 24
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


def track(name: str, notes: list[tuple[int, int, int]], drum: bool = False) -> symusic.Track:
    """A track of (start tick, duration ticks, pitch) notes."""
    t = symusic.Track(name, 0, drum)
    start, duration, pitch = (np.array(x, np.int32) for x in zip(*notes))
    t.notes = symusic.Note.from_numpy(start, duration, pitch.astype(np.int8), np.full(len(notes), 80, np.int8))
    return t


def hand_score(bpm: float | None = None) -> symusic.Score:
    """C4 for beats 0-2, E4 for beats 1-3, G4 for beat 4 (piano), plus a drum hit that must not count."""
    score = symusic.Score(TPQ)
    if bpm is not None:
        score.tempos = symusic.Tempo.from_numpy(np.array([0], np.int32), np.array([round(60e6 / bpm)], np.int32))
    score.tracks.append(track("piano", [(0, 48, 60), (24, 48, 64), (96, 24, 67)]))
    score.tracks.append(track("drums", [(0, 6, 36)], drum=True))
    return score


def scale_histogram(tonic: int) -> np.ndarray:
    hist = np.zeros(12)
    hist[[(tonic + d) % 12 for d in MAJOR_SCALE]] = 1
    hist[tonic] = 3  # the tonic and the fifth sound longest
    hist[(tonic + 7) % 12] = 2
    return hist / hist.sum()


def test_notes_are_pitched_and_in_seconds_at_the_score_tempo() -> None:
    notes = score_notes(hand_score())  # no tempo: 120 BPM, a beat is 0.5 s
    np.testing.assert_allclose(notes.start, [0.0, 0.5, 2.0])
    np.testing.assert_allclose(notes.end, [1.0, 1.5, 2.5])
    assert notes.pitch.tolist() == [60, 64, 67]
    slow = score_notes(hand_score(bpm=60))  # a beat is 1 s
    np.testing.assert_allclose(slow.start, [0.0, 1.0, 4.0])
    np.testing.assert_allclose(slow.end, [2.0, 3.0, 5.0])


def test_statistics_of_the_hand_score() -> None:
    stats = music_stats(score_notes(hand_score(bpm=60)), seconds=5.0)
    assert stats.n_notes == 3
    assert stats.notes_per_second == pytest.approx(3 / 5)
    # durations 2 + 2 + 1 = 5 s sounding over the union [0, 3) + [4, 5) = 4 s
    assert stats.polyphony == pytest.approx(5 / 4)
    assert stats.mean_pitch == pytest.approx((60 + 64 + 67) / 3)
    assert stats.pitch_range == 7
    expected = np.zeros(12)
    expected[[0, 4, 7]] = [2 / 5, 2 / 5, 1 / 5]  # duration-weighted: C 2 s, E 2 s, G 1 s
    np.testing.assert_allclose(stats.pitch_classes, expected)
    assert stats.key == estimate_key(expected) and stats.key.name == "C major"
    np.testing.assert_allclose(stats.degrees, expected)  # tonic C: no rotation


def test_count_weighted_histogram_and_empty_notes() -> None:
    notes = score_notes(hand_score())
    expected = np.zeros(12)
    expected[[0, 4, 7]] = 1 / 3
    np.testing.assert_allclose(pitch_class_histogram(notes, "count"), expected)
    empty = Notes(np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
    assert pitch_class_histogram(empty).tolist() == [0.0] * 12
    stats = music_stats(empty, 4.0)
    assert stats.notes_per_second == 0 and math.isnan(stats.polyphony) and math.isnan(stats.mean_pitch)
    assert stats.key is None


def test_polyphony_of_chords_touching_and_nested_notes() -> None:
    def poly(intervals: list[tuple[float, float]]) -> float:
        start, end = (np.array(x, np.float64) for x in zip(*intervals))
        return polyphony(Notes(start, end, np.full(len(start), 60)))

    assert poly([(0, 1), (0, 1), (0, 1)]) == pytest.approx(3.0)  # a triad
    assert poly([(0, 1), (1, 2), (2, 3)]) == pytest.approx(1.0)  # a legato line: touching is not overlapping
    assert poly([(0, 4), (1, 2), (5, 6)]) == pytest.approx(6 / 5)  # nested note, then a gap
    assert poly([(3, 5), (0, 4)]) == pytest.approx(6 / 5)  # order of the input does not matter
    assert math.isnan(poly([(1, 1)]))


def test_key_estimate_finds_the_tonic_of_a_major_and_a_minor_scale() -> None:
    f_major = scale_histogram(5)
    key = estimate_key(f_major)
    assert (key.tonic, key.minor) == (5, False)
    np.testing.assert_allclose(to_degrees(f_major, key), scale_histogram(0))
    a_minor = np.zeros(12)
    a_minor[[9, 11, 0, 2, 4, 5, 8]] = 1  # harmonic minor: G#, not G
    a_minor[9], a_minor[4] = 3, 2
    key = estimate_key(a_minor)
    assert (key.tonic, key.minor, key.name) == (9, True, "A minor")
    assert estimate_key(np.zeros(12)) is None and estimate_key(np.ones(12)) is None
    np.testing.assert_array_equal(to_degrees(f_major, None), f_major)  # no key: unchanged
    assert Key(1, False, 0.5).name == "C# major"


def test_jensen_shannon_by_hand() -> None:
    p = np.array([1.0, 0.0])
    assert jensen_shannon(p, p) == 0
    assert jensen_shannon(p, np.array([0.0, 1.0])) == pytest.approx(1.0)  # disjoint
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4); KL(p|m) = log2(4/3), KL(q|m) = (log2(2/3) + log2 2) / 2
    q = np.array([2.0, 2.0])  # normalized inside
    expected = (math.log2(4 / 3) + (math.log2(2 / 3) + 1) / 2) / 2
    assert jensen_shannon(p, q) == pytest.approx(expected)
    assert jensen_shannon(q, p) == pytest.approx(expected)


def test_windows_cut_a_piece_into_equal_excerpts() -> None:
    notes = Notes(np.array([1.0, 19.0, 25.0, 44.0]), np.array([2.0, 23.0, 26.0, 45.0]), np.array([60, 62, 64, 65]))
    parts = windows(notes, total_seconds=50.0, length=20.0)
    assert [seconds for _, seconds in parts] == [20.0, 20.0, 10.0]  # the last 10 s is half a window: kept
    first, second, third = (n for n, _ in parts)
    np.testing.assert_allclose(first.start, [1.0, 19.0])
    np.testing.assert_allclose(first.end, [2.0, 20.0])  # the note over the boundary is cut there
    np.testing.assert_allclose(second.start, [5.0])
    assert third.pitch.tolist() == [65] and third.start.tolist() == [4.0]
    assert len(windows(notes, total_seconds=49.0, length=20.0)) == 2  # 9 s left: dropped


def test_summary_weighs_excerpts_equally_and_skips_silent_ones() -> None:
    a = music_stats(Notes(np.array([0.0]), np.array([1.0]), np.array([60])), 2.0)  # C, 0.5 notes/s
    b = music_stats(Notes(np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([62, 69])), 1.0)  # D + A
    silent = music_stats(Notes(np.zeros(0), np.zeros(0), np.zeros(0, np.int64)), 1.0)
    summary = summarize([a, b, silent])
    assert (summary.excerpts, summary.silent, summary.seconds) == (3, 1, 4.0)
    assert summary.notes_per_second == pytest.approx((0.5 + 2 + 0) / 3)
    assert summary.polyphony == pytest.approx((1 + 2) / 2)
    assert summary.mean_pitch == pytest.approx((60 + 65.5) / 2)
    assert summary.pitch_range == pytest.approx((0 + 7) / 2)
    expected = np.zeros(12)
    expected[[0, 2, 9]] = [1 / 2, 1 / 4, 1 / 4]
    np.testing.assert_allclose(summary.pitch_classes, expected)
    assert summary.to_dict()["pitch_classes"] == pytest.approx(expected.tolist())


def test_polyphony_equals_the_mean_count_of_sounding_notes_on_a_fine_grid() -> None:
    # Notes on a quarter-second grid: counting the sounding notes at every eighth-second midpoint is exact.
    rng = np.random.default_rng(0)
    start = rng.integers(0, 40, size=30) / 4
    end = start + rng.integers(1, 12, size=30) / 4
    t = np.arange(0, end.max(), 0.125) + 0.0625
    count = ((start[None] <= t[:, None]) & (end[None] > t[:, None])).sum(1)
    assert polyphony(Notes(start, end, np.full(30, 60))) == pytest.approx(count[count > 0].mean())


# ---- issue 15's targets: held notes, entropy, velocity, note length, repeated patterns, copying ----


def line(pitches: list[int], step: float = 0.5, length: float = 0.4, velocity: int = 64) -> Notes:
    """A melody of ``pitches``, one note every ``step`` seconds."""
    n = len(pitches)
    start = np.arange(n) * step
    return Notes(start, start + length, np.array(pitches, np.int64), np.full(n, velocity, np.int64))


def test_held_notes_velocity_and_median_length() -> None:
    notes = Notes(np.array([0.0, 1.0, 2.0, 3.0]), np.array([9.5, 2.0, 10.0, 3.5]), np.array([60, 62, 64, 65]),
                  np.array([40, 60, 80, 100]))
    stats = music_stats(notes, 20.0)
    assert long_notes(notes) == 1 and stats.long_notes == 1  # 9.5 s only: 8.0 s is not longer than 8 s
    assert long_notes(notes, seconds=0.9) == 3
    assert stats.mean_velocity == pytest.approx(70.0)
    assert stats.median_duration == pytest.approx((1.0 + 8.0) / 2)  # lengths 9.5, 1, 8, 0.5
    assert math.isnan(mean_velocity(Notes(notes.start, notes.end, notes.pitch)))  # no velocities known
    assert math.isnan(median_duration(Notes(np.zeros(0), np.zeros(0), np.zeros(0, np.int64))))
    # a window keeps the velocities of its notes and cuts the held note at its end
    part = notes.window(0.5, 4.0)
    assert part.velocity.tolist() == [60, 80, 100] and long_notes(part) == 0


def test_score_notes_read_velocities() -> None:
    assert score_notes(hand_score()).velocity.tolist() == [80, 80, 80]


def test_pitch_class_entropy_in_bits() -> None:
    assert pitch_class_entropy(line([60, 72, 48])) == pytest.approx(0.0)  # one pitch class
    assert pitch_class_entropy(line([60, 62, 64, 65])) == pytest.approx(2.0)  # four, equally long
    assert pitch_class_entropy(line(list(range(60, 72)))) == pytest.approx(math.log2(12))
    # duration weighted: C for 3 s, G for 1 s -> H(3/4, 1/4); counted: 1 bit
    notes = Notes(np.array([0.0, 3.0]), np.array([3.0, 4.0]), np.array([60, 67]))
    expected = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert pitch_class_entropy(notes) == pytest.approx(expected)
    assert music_stats(notes, 4.0).pc_entropy == pytest.approx(expected)
    assert pitch_class_entropy(notes, "count") == pytest.approx(1.0)
    assert math.isnan(entropy_bits(np.zeros(12)))


def test_onset_buckets() -> None:
    assert onset_buckets(np.array([0.0, 0.01, 0.02, 0.04, 0.08])).tolist() == [0, 0, 1, 3, 5]
    beat, half = onset_buckets(np.array([0.5, 0.25]))
    assert beat - half == 2  # a factor 2 is two buckets at any tempo


def test_repeated_pattern_share_on_a_hand_made_melody() -> None:
    motif = [60, 62, 64, 65, 67, 65, 64, 62]
    # the motif, then itself transposed up a fifth: 16 notes, 9 windows of 8 notes. The window at
    # note 0 and the one at note 8 have the same steps; the 7 windows across the seam differ
    # (the seam's step +5 / -2 ... occurs once each).
    notes = line(motif + [p + 7 for p in motif])
    assert repeated_pattern_share(notes) == pytest.approx(2 / 9)
    # same pitches, other rhythm in the second half (a different onset-interval bucket): no repeat
    second = line(motif)
    slow = Notes(np.r_[line(motif).start, 4.0 + second.start * 2], np.r_[line(motif).end, 4.0 + second.end * 2],
                 np.array(motif + motif, np.int64))
    steps_differ = repeated_pattern_share(slow)
    assert steps_differ == pytest.approx(0.0)
    # a scale never repeats a pattern; a repeated note repeats every window
    assert repeated_pattern_share(line(list(range(50, 70)))) == pytest.approx(1.0)  # all steps (+1, same bucket)
    assert repeated_pattern_share(line([60, 64, 62, 67, 65, 71, 60, 69, 72, 61])) == pytest.approx(0.0)
    assert math.isnan(repeated_pattern_share(line(motif[:7])))  # fewer than 8 notes
    # chords: pitch order within an onset, so the input order does not matter
    # two-note chords every beat, C+G then E+C alternating (listed high note first): the steps repeat
    # every 4 notes, so each of the 9 windows recurs 4 notes later or earlier
    start = np.repeat(np.arange(8.0), 2)
    chords = Notes(start, start + 0.5, np.array([67, 60, 72, 64] * 4, np.int64))
    assert repeated_pattern_share(chords) == pytest.approx(1.0)


def test_middle_share_of_values_in_the_reference_percentiles() -> None:
    reference = np.arange(0.0, 101.0)  # 10th percentile 10, 90th 90
    share, lo, hi = middle_share([5.0, 10.0, 50.0, 90.0, 95.0, float("nan")], reference)
    assert (lo, hi) == pytest.approx((10.0, 90.0))
    assert share == pytest.approx(3 / 6)  # NaN counts as outside
    assert all(math.isnan(x) for x in middle_share([1.0], []))


def test_copying_is_found_for_64_shared_notes_and_not_for_63() -> None:
    rng = np.random.default_rng(0)
    train = [(np.cumsum(rng.integers(0, 12, 300)), rng.integers(40, 90, 300)) for _ in range(3)]
    index = CopyIndex.from_pieces(train)
    onset, pitch = train[1]

    def piece(copied: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Random notes around ``copied`` notes of training piece 1 (from its note 100), moved in time."""
        head = np.cumsum(rng.integers(1, 12, 40))
        mid = head[-1] + 7 + onset[100:100 + copied] - onset[100]
        tail = (mid[-1] if copied else head[-1]) + 7 + np.cumsum(rng.integers(1, 12, 40))
        return (np.r_[head, mid, tail],
                np.r_[rng.integers(40, 90, 40), pitch[100:100 + copied] + shift, rng.integers(40, 90, 40)])

    assert index.shares(*piece(64)) >= 1
    assert index.shares(*piece(70)) >= 7
    assert index.shares(*piece(63)) == 0
    assert index.shares(*piece(64, shift=3)) == 0  # transposed: not the same pitches ...
    assert index.shares(*piece(64, shift=3), transpose=True) >= 1  # ... but the same intervals
    assert index.shares(*piece(0)) == 0
    # runs across two training pieces do not count: piece 0's end followed by piece 1's start
    seam = (np.r_[train[0][0][-32:], train[0][0][-1] + 5 + train[1][0][:32]],
            np.r_[train[0][1][-32:], train[1][1][:32]])
    assert index.shares(*seam) == 0


def test_copy_index_from_token_shards_equals_the_one_from_notes(tmp_path) -> None:  # noqa: ANN001
    from musetok import MidiTokenizer

    vocab = MidiTokenizer().vocab
    rng = np.random.default_rng(1)

    def tokens(n: int) -> np.ndarray:
        """n notes: note-on, a wait, note-off of a random piano pitch."""
        pitch = rng.integers(30, 100, n)
        ons = vocab.note_ids(np.zeros(n, np.int64), np.full(n, 4), pitch)
        offs = vocab.note_ids(np.zeros(n, np.int64), np.zeros(n, np.int64), pitch)
        waits = vocab.wait_base + rng.integers(0, 10, n)
        return np.stack([ons, waits, offs], 1).ravel()

    a, b, c = tokens(100), tokens(80), tokens(90)
    shard = np.r_[a, b, c]
    spans = [(0, len(a)), (len(a) + len(b), len(c))]  # a and c: b is left out (another split)
    index = CopyIndex.from_shards([shard], [spans], vocab)
    expected = CopyIndex.from_pieces([token_notes(a, vocab), token_notes(c, vocab)])
    np.testing.assert_array_equal(index.hashes, expected.hashes)
    np.testing.assert_array_equal(index.transposed, expected.transposed)
    assert len(index.hashes) == (100 - 63) + (90 - 63)
    assert index.shares(*token_notes(c, vocab)) == 90 - 63
    assert index.shares(*token_notes(b, vocab)) == 0
    index.save(tmp_path / "copy.npz")
    loaded = CopyIndex.load(tmp_path / "copy.npz")
    np.testing.assert_array_equal(loaded.hashes, index.hashes)
    assert loaded.length == 64
