"""Lyric alignment from a lyric-conditioned prior's attention (Jukebox's alignment layer/head).

1. ``align_lyrics``: slide windows over a song's top-level codes, condition each on its label row
   and lyric window, read the alignment layer's attention (code queries over lyric keys) for the
   alignment head, and place it into a (codes x full lyrics) matrix through the window's token
   indices; where windows overlap the earlier window wins (as in Jukebox).
2. ``lyric_timings``: per-character times (the code frame where the character's attention peaks,
   made non-decreasing since lyrics are sung in order) and per-word start/end, written as JSON by
   ``write_timings``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from jukebox.prior.prior import JukeboxPrior
from jukebox.prior.windows import hop_codes, window_labels, window_lyrics, window_starts
from muse.core.atomic import write_json
from muse.core.errors import UserError


@torch.no_grad()
def align_lyrics(
    prior: JukeboxPrior,
    codes: torch.Tensor,
    lyric_tokens: Sequence[int],
    artist_id: int,
    genre_ids: Sequence[int],
    *,
    total_length: int | None = None,
    hop_fraction: float = 0.5,
) -> np.ndarray:
    """Attention of every code over every lyric token of a song.

    codes: (T,) top-level codes of the whole song; lyric_tokens: the full lyric token list
    (``LyricsProcessor.encode``); total_length: song length in samples (default T * hop_length).
    Returns a float32 array (T, len(lyric_tokens)) of the alignment head's attention weights.
    """
    c = prior.config
    if c.lyrics is None or c.lyrics.alignment_layer is None or c.lyrics.alignment_head is None:
        raise UserError("this prior has no lyric alignment layer/head (use a lyric-conditioned top prior)")
    if codes.ndim != 1:
        raise UserError(f"codes must be one song's (T,) codes, got shape {tuple(codes.shape)}")
    if not 0 < hop_fraction <= 1:
        raise UserError(f"hop_fraction must be in (0, 1], got {hop_fraction}")
    T, n_full = codes.shape[0], len(lyric_tokens)
    padded = torch.cat([codes, codes.new_zeros(max(0, c.n_ctx - T))])
    total_length = total_length if total_length is not None else T * c.hop_length
    device = next(prior.parameters()).device
    alignment = np.zeros((max(T, c.n_ctx), n_full + 1), dtype=np.float32)  # last column: padding
    hop = hop_codes(c, hop_fraction)
    for start in reversed(window_starts(padded.shape[0], c.n_ctx, hop)):
        window = window_lyrics(c, total_length, start, lyric_tokens)
        labels = window_labels(c, total_length, start, artist_id, genre_ids, lyric_tokens).to(device)
        cond = prior.condition(labels)
        out = prior(padded[None, start:start + c.n_ctx].to(device), cond, return_attention=True)
        weights = out.attention[0, c.lyrics.alignment_head].float().cpu().numpy()  # (n_ctx, n_tokens)
        alignment[start:start + c.n_ctx, window.indices] = weights  # index -1 -> padding column
    return alignment[:T, :-1]


@dataclass(frozen=True)
class CharacterTiming:
    index: int
    char: str
    time: float
    weight: float


@dataclass(frozen=True)
class WordTiming:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class LyricTimings:
    """Per-character and per-word times in seconds from the start of the song."""

    seconds_per_code: float
    characters: list[CharacterTiming]
    words: list[WordTiming]


def lyric_timings(alignment: np.ndarray, text: str, seconds_per_code: float) -> LyricTimings:
    """Times of the characters of ``text`` (the cleaned lyrics, one character per lyric token).

    alignment: (T, len(text)) attention of codes over characters. A character's time is the frame
    where its attention peaks, raised to the previous character's time when earlier (lyrics are
    sung in order); ``weight`` is that peak attention (0: the character was never attended to).
    A word starts at its first character and ends one code after its last.
    """
    if alignment.ndim != 2 or alignment.shape[1] != len(text):
        raise UserError(f"alignment has {alignment.shape[-1]} lyric columns but the text has {len(text)} characters")
    if alignment.shape[1] == 0:
        return LyricTimings(seconds_per_code, [], [])
    peak = alignment.argmax(axis=0)
    frames = np.maximum.accumulate(peak)
    weights = alignment.max(axis=0)
    chars = [
        CharacterTiming(i, ch, float(frames[i] * seconds_per_code), float(weights[i])) for i, ch in enumerate(text)
    ]
    words = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < len(text) and not text[j].isspace():
            j += 1
        words.append(WordTiming(text[i:j], chars[i].time, chars[j - 1].time + seconds_per_code))
        i = j
    return LyricTimings(seconds_per_code, chars, words)


def write_timings(path: str | Path, timings: LyricTimings) -> None:
    """Write the timings as JSON (atomically)."""
    write_json(path, asdict(timings))
