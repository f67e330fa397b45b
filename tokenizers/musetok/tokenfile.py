"""Token files as written by ``muse tokenize`` and read by ``muse detokenize``: text, ids or JSON.

- ``text``: token strings separated by spaces (``bach piano start tempo:120 piano:v72:G4 ...``);
- ``ids``: integers separated by spaces (or commas);
- ``json``: an object with ``ids``, ``tokens``, the source name, and the vocabulary fingerprint, so that
  tokens made with another vocabulary are refused instead of decoded into nonsense.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np

from musetok.errors import TokenizerError
from musetok.tokenizer import Encoding, MidiTokenizer

TokenFormat = Literal["text", "ids", "json"]
TOKENS_FORMAT = "musetok-tokens"


def format_encoding(encoding: Encoding, tokenizer: MidiTokenizer, fmt: TokenFormat = "text") -> str:
    """The text of a token file (one line, or a JSON object), ending with a newline."""
    if fmt == "text":
        return " ".join(encoding.tokens) + "\n"
    if fmt == "ids":
        return " ".join(map(str, encoding.ids.tolist())) + "\n"
    if fmt == "json":
        return json.dumps({
            "format": TOKENS_FORMAT, "vocab_fingerprint": tokenizer.vocab.fingerprint,
            "vocab_size": tokenizer.vocab.size, "source": encoding.source, "n_notes": encoding.n_notes,
            "seconds": round(encoding.seconds, 3), "warnings": list(encoding.warnings),
            "ids": encoding.ids.tolist(), "tokens": encoding.tokens,
        }) + "\n"
    raise TokenizerError(f"unknown token format {fmt!r} (expected text, ids or json)")


def write_text(path: str | Path, text: str) -> None:
    """Write a token file; errors name the file."""
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise TokenizerError(f"{path}: cannot write token file: {err.strerror or err}") from None


def parse_tokens(text: str, tokenizer: MidiTokenizer, source: str = "tokens") -> np.ndarray:
    """Ids from the text of a token file in any of the three formats (detected from the content)."""
    stripped = text.strip()
    if not stripped:
        raise TokenizerError(f"{source}: no tokens")
    if stripped.startswith("{"):
        return _parse_json(stripped, tokenizer, source)
    items = stripped.replace(",", " ").split()
    if all(item.lstrip("-").isdigit() for item in items):
        ids = np.array([int(item) for item in items], np.int64)
        bad = np.flatnonzero((ids < 0) | (ids >= tokenizer.vocab.size))
        if len(bad):
            raise TokenizerError(f"{source}: id {ids[bad[0]]} at position {bad[0]} is outside the vocabulary "
                                 f"(size {tokenizer.vocab.size})")
        return ids.astype(np.int32)
    return tokenizer.ids_from_text(stripped, source)


def read_tokens(path: str | Path, tokenizer: MidiTokenizer) -> np.ndarray:
    """Ids from a token file; errors name the file."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise TokenizerError(f"{path}: cannot read token file: {getattr(err, 'strerror', None) or err}") from None
    return parse_tokens(text, tokenizer, str(path))


def _parse_json(text: str, tokenizer: MidiTokenizer, source: str) -> np.ndarray:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise TokenizerError(f"{source}: invalid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("ids"), list):
        raise TokenizerError(f"{source}: JSON token file needs an \"ids\" list")
    theirs = data.get("vocab_fingerprint")
    if theirs is not None and theirs != tokenizer.vocab.fingerprint:
        raise TokenizerError(f"{source}: tokens were made with another vocabulary (fingerprint {theirs}, "
                             f"this one {tokenizer.vocab.fingerprint}); pass the matching --vocab")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in data["ids"]):
        raise TokenizerError(f"{source}: \"ids\" must be a list of integers")
    return parse_tokens(" ".join(map(str, data["ids"])) or " ", tokenizer, source)
