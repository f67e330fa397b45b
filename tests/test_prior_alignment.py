"""Lyric alignment: window attention placed into the song's (codes x lyrics) matrix, then timings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from musetok.labels import label_row
from musetok.lyrics import LyricsProcessor, lyric_window

from jukebox.prior.alignment import align_lyrics, lyric_timings, write_timings
from jukebox.prior.checkpoint import load_official_prior
from jukebox.prior.windows import window_starts


def test_window_starts_cover_the_song() -> None:
    assert window_starts(10, 16, 8) == [0]
    assert window_starts(40, 16, 8) == [0, 8, 16, 24]
    assert window_starts(36, 16, 8) == [0, 8, 16, 20]


@torch.no_grad()
def test_alignment_places_each_windows_attention_at_its_lyric_indices(jukebox_ref: Path) -> None:
    prior = load_official_prior(jukebox_ref / "priors" / "top_1b_lyrics_tiny.pth.tar")
    c = prior.config
    proc = LyricsProcessor(c.labels.version)
    full = proc.encode("Hey Jude, don't make it bad. Take a sad song and make it better. " * 2)
    torch.manual_seed(0)
    total = 2 * c.n_ctx
    codes = torch.randint(0, c.n_bins, (total,))
    song = 5 * c.labels.sample_rate  # the song's length in samples (timing signal), longer than the codes
    matrix = align_lyrics(prior, codes, full, artist_id=1, genre_ids=[2], total_length=song)
    assert matrix.shape == (total, len(full))

    # the last window, alone, gives the rows no earlier window covers (earlier windows win overlaps)
    *earlier, start = window_starts(total, c.n_ctx, c.n_ctx // 2)
    window_samples = c.n_ctx * c.hop_length
    window = lyric_window(full, c.lyrics.n_tokens, song, start * c.hop_length, window_samples)
    row = label_row(song, start * c.hop_length, window_samples, 1, [2], 1, window.tokens)
    out = prior(codes[None, start:], prior.condition(torch.tensor([row])), return_attention=True)
    head = out.attention[0, c.lyrics.alignment_head].numpy()
    own = slice(earlier[-1] + c.n_ctx, total)
    np.testing.assert_allclose(matrix[own][:, window.indices], head[own.start - start:], atol=1e-6)
    outside = np.setdiff1d(np.arange(len(full)), window.indices)
    assert not matrix[own][:, outside].any()


def test_timings_are_monotonic_and_grouped_into_words(tmp_path: Path) -> None:
    text = "la di da"
    alignment = np.zeros((10, len(text)), dtype=np.float32)
    for i, frame in enumerate([1, 2, 0, 4, 5, 6, 3, 8]):  # the space at 2 and 'd' at 6 peak early
        alignment[frame, i] = 0.5
    timings = lyric_timings(alignment, text, seconds_per_code=0.5)
    times = [ch.time for ch in timings.characters]
    assert times == [0.5, 1.0, 1.0, 2.0, 2.5, 3.0, 3.0, 4.0]
    assert [(w.text, w.start, w.end) for w in timings.words] == [("la", 0.5, 1.5), ("di", 2.0, 3.0), ("da", 3.0, 4.5)]
    path = tmp_path / "align.json"
    write_timings(path, timings)
    data = json.loads(path.read_text())
    assert data["words"][1] == {"text": "di", "start": 2.0, "end": 3.0}
    assert data["characters"][0] == {"index": 0, "char": "l", "time": 0.5, "weight": 0.5}
    with pytest.raises(Exception, match="8 characters"):
        lyric_timings(alignment[:, :3], text, 0.5)
