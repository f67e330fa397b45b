"""Windows over a song's codes: where each window starts and what it is conditioned on.

A level's codes are sampled (or analysed) ``n_ctx`` codes at a time. Each window has its own label
row: the song length, the window's offset and length in samples, artist, genres and the lyric
tokens around the window's middle (``musetok.lyrics.lyric_window``); an upsampler window is also
conditioned on the level above's codes for the same stretch of time.
"""

from __future__ import annotations

from typing import Sequence

import torch

from musetok.labels import label_row
from musetok.lyrics import LyricWindow, lyric_window

from jukebox.prior.config import PriorConfig


def hop_codes(config: PriorConfig, hop_fraction: float) -> int:
    """Codes between the starts of consecutive windows: ``hop_fraction`` of ``n_ctx`` (at least one),
    rounded down to whole upper-level codes in an upsampler (its windows start on them)."""
    if not 0 < hop_fraction <= 1:
        raise ValueError(f"hop_fraction must be in (0, 1], got {hop_fraction}")
    hop = max(1, int(hop_fraction * config.n_ctx))
    if config.upsampler is not None:
        hop = max(config.upsampler.factor, hop // config.upsampler.factor * config.upsampler.factor)
    return hop


def window_starts(total: int, n_ctx: int, hop: int) -> list[int]:
    """Start of each window of ``n_ctx`` codes stepping by ``hop``; the last one ends at ``total``."""
    if hop < 1:
        raise ValueError(f"window hop must be >= 1, got {hop}")
    if total <= n_ctx:
        return [0]
    return list(range(0, total - n_ctx, hop)) + [total - n_ctx]


def window_lyrics(
    config: PriorConfig, song_samples: int, start: int, lyric_tokens: Sequence[int]
) -> LyricWindow | None:
    """The lyric tokens conditioning the window at code ``start`` (None for a prior without lyrics)."""
    if config.lyrics is None:
        return None
    return lyric_window(
        lyric_tokens, config.lyrics.n_tokens, song_samples, start * config.hop_length, config.n_ctx * config.hop_length
    )


def window_labels(
    config: PriorConfig,
    song_samples: int,
    start: int,
    artist_id: int,
    genre_ids: Sequence[int],
    lyric_tokens: Sequence[int] = (),
    batch: int = 1,
) -> torch.Tensor:
    """Label rows (batch, 4 + max_bow_genre_size + n_tokens) int64 of the window at code ``start``."""
    if config.labels is None:
        raise ValueError("this prior takes no labels")
    lyrics = window_lyrics(config, song_samples, start, lyric_tokens)
    row = label_row(
        song_samples, start * config.hop_length, config.n_ctx * config.hop_length, artist_id, genre_ids,
        config.labels.max_bow_genre_size, lyrics.tokens if lyrics is not None else (),
        n_artists=config.labels.n_artists, n_genres=config.labels.n_genres,
    )
    return torch.tensor([row] * batch, dtype=torch.long)


def upper_window(config: PriorConfig, upper_codes: torch.Tensor, start: int) -> torch.Tensor:
    """The level above's codes (B, n_ctx // factor) under the window at code ``start``, zero-padded
    past the end of the song."""
    assert config.upsampler is not None
    factor = config.upsampler.factor
    if start % factor:
        raise ValueError(f"an upsampler window must start at a multiple of {factor}, got {start}")
    width = config.n_ctx // factor
    part = upper_codes[:, start // factor:start // factor + width]
    return torch.nn.functional.pad(part, (0, width - part.shape[1]))
