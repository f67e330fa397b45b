"""Jukebox lyric processing: transliterate, clean, map characters to ids, pick the lyric window.

Two text processors exist, matching the released models: ``v2`` (the 5b and 5b_lyrics priors,
80 ids) and ``v3`` (1b_lyrics, 79 ids, no ``+``). Id 0 is unknown/padding; the vocabulary follows
from 1 in the order ``A-Z a-z 0-9 . , : ; ! ? - + ' " ( ) [ ]`` space, tab, newline.

Cleaning: transliterate to ASCII with ``unidecode`` (so accents, dashes and CJK become ASCII),
turn backslashes into newlines, then drop every character outside the vocabulary.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal, Sequence

from musetok.errors import TokenizerError

TextVersion = Literal["v2", "v3"]

_PUNCTUATION_V2 = ".,:;!?-+'\"()[]"
_WHITESPACE = " \t\n"


def _alphabet(version: TextVersion) -> str:
    punctuation = _PUNCTUATION_V2 if version == "v2" else _PUNCTUATION_V2.replace("+", "")
    return string.ascii_uppercase + string.ascii_lowercase + string.digits + punctuation + _WHITESPACE


@dataclass(frozen=True)
class LyricsProcessor:
    """Text -> clean ASCII -> token ids for one Jukebox text version (``"v2"`` or ``"v3"``)."""

    version: TextVersion = "v2"

    def __post_init__(self) -> None:
        if self.version not in ("v2", "v3"):
            raise TokenizerError(f"unknown lyrics version {self.version!r}; expected 'v2' or 'v3'")

    @property
    def alphabet(self) -> str:
        """The characters of ids 1..n_vocab-1, in id order."""
        return _alphabet(self.version)

    @property
    def n_vocab(self) -> int:
        """Number of ids including 0 (unknown/padding): 80 for v2, 79 for v3."""
        return len(self.alphabet) + 1

    def clean(self, text: str) -> str:
        """Transliterate to ASCII, backslash -> newline, drop characters outside the vocabulary."""
        from unidecode import unidecode  # here, so that label rows build without unidecode installed

        allowed = set(self.alphabet)
        ascii_text = unidecode(text).replace("\\", "\n")
        return "".join(ch for ch in ascii_text if ch in allowed)

    def encode(self, text: str) -> list[int]:
        """Token ids of the cleaned text (every id in 1..n_vocab-1)."""
        index = {ch: i + 1 for i, ch in enumerate(self.alphabet)}
        return [index[ch] for ch in self.clean(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Characters of ``ids``; 0 (padding/unknown) decodes to nothing."""
        alphabet = self.alphabet
        out = []
        for i in ids:
            if not 0 <= int(i) < self.n_vocab:
                raise TokenizerError(f"lyric id {i} is outside 0..{self.n_vocab - 1} ({self.version})")
            if i:
                out.append(alphabet[int(i) - 1])
        return "".join(out)


@dataclass(frozen=True)
class LyricWindow:
    """The lyric tokens that condition one sample window.

    ``tokens``: ``n_tokens`` ids (0 = padding on the left when the lyrics are shorter);
    ``indices``: position of each token in the full token list (-1 for padding).
    """

    tokens: list[int]
    indices: list[int]


def lyric_window(
    full_tokens: Sequence[int], n_tokens: int, total_length: int, offset: int, duration: int
) -> LyricWindow:
    """Pick the ``n_tokens`` lyric tokens centred on the window ``[offset, offset + duration)``.

    Lengths are in samples. Lyrics are assumed spread evenly over the song: the window's middle
    maps to token ``int(len(full) * (offset + duration / 2) / total_length)``, clamped so that the
    window stays inside the lyrics; shorter lyrics are left-padded with 0.
    """
    if n_tokens <= 0 or n_tokens % 2:
        raise TokenizerError(f"n_tokens must be a positive even number, got {n_tokens}")
    if total_length <= 0:
        raise TokenizerError(f"total_length must be positive, got {total_length}")
    full = [int(t) for t in full_tokens]
    n_full = len(full)
    if n_full < n_tokens:
        pad = n_tokens - n_full
        return LyricWindow(tokens=[0] * pad + full, indices=[-1] * pad + list(range(n_full)))
    half = n_tokens // 2
    midpoint = int(n_full * (offset + duration / 2.0) / total_length)
    midpoint = min(max(midpoint, half), n_full - half)
    start = midpoint - half
    stop = midpoint + half
    return LyricWindow(tokens=full[start:stop], indices=list(range(start, stop)))
