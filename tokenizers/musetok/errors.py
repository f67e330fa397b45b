"""Tokenizer errors."""

from __future__ import annotations


class TokenizerError(ValueError):
    """A MIDI file, token sequence or text cannot be tokenized; the message names the source and the problem."""
