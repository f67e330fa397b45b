"""MidiTokenizer: the facade of musetok (MIDI <-> MuseNet-style token ids).

    tok = MidiTokenizer()                       # default TokenizerConfig
    enc = tok.encode("piece.mid", composer="bach")
    enc.ids, enc.tokens[:6]                     # int32 ids; ['bach', 'piano', 'start', 'tempo:120', ...]
    tok.decode_to_file(enc.ids, "back.mid")     # equals piece.mid quantized to the grid

The vocabulary and config are saved together as versioned JSON (``save``/``load``) beside every model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musetok import sequence
from musetok.config import TokenizerConfig
from musetok.errors import TokenizerError
from musetok.vocab import Vocab

if TYPE_CHECKING:  # the MIDI side (symusic) is imported when MIDI is read or written: loading a
    import symusic  # tokenizer for its vocabulary (training on built shards) needs only numpy

    from musetok.decoder import DecodeResult
    from musetok.quantize import Quantized

log = logging.getLogger(__name__)

VOCAB_FORMAT = "musetok-vocab"
VOCAB_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Encoding:
    """One encoded piece: ``ids`` (int32, shape (n,)), its ``tokens`` as strings (built on first use),
    the ``source`` name, ``n_notes`` (note-ons and drum hits), ``seconds`` (tempo-aware duration) and
    ``warnings`` (repairs made while reading a damaged file)."""

    ids: np.ndarray
    source: str
    n_notes: int
    seconds: float
    warnings: tuple[str, ...] = ()
    vocab: Vocab = field(repr=False, compare=False, default=None)

    @cached_property
    def tokens(self) -> list[str]:
        names = self.vocab.tokens
        return [names[i] for i in self.ids.tolist()]

    def __len__(self) -> int:
        return len(self.ids)


class MidiTokenizer:
    """Encode MIDI (path, bytes or symusic.Score) to ids and decode ids back to MIDI.

    numpy + symusic only; one instance is cheap to share (read-only after construction)."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self.vocab = Vocab(self.config)

    # ----- encoding
    def encode(self, source: "str | Path | bytes | symusic.Score", composer: str | None = None,
               name: str | None = None, strict: bool = False) -> Encoding:
        """Tokenize a piece. ``composer`` must be in the config's list (None -> unknown_composer);
        ``name`` names ``source`` in messages (default: the path). ``strict``: a file that needs any
        repair is an error (as with ``recover=False``) instead of a warning. Raises TokenizerError."""
        from musetok.encoder import encode_quantized
        from musetok.reader import read_midi

        composer_id = self.vocab.composer_id(composer)
        config = dataclasses.replace(self.config, recover=False) if strict and self.config.recover else self.config
        parsed = read_midi(source, config, name)
        q = self.quantize(parsed.score)
        ids = encode_quantized(q, self.vocab, composer_id)
        return Encoding(ids, parsed.name, q.n_notes, _seconds(q, self.vocab), parsed.warnings, self.vocab)

    def quantize(self, score: symusic.Score) -> Quantized:
        """The canonical grid form of a parsed score: what ``decode(encode(score))`` reproduces."""
        from musetok.quantize import quantize

        return quantize(score, self.vocab)

    # ----- decoding
    def decode(self, ids: "np.ndarray | list[int]") -> DecodeResult:
        """Ids -> score (tpq = ticks_per_beat); truncated or partly invalid input is repaired, see DecodeResult."""
        from musetok.decoder import decode_ids

        return decode_ids(np.asarray(ids), self.vocab)

    def decode_to_file(self, ids: "np.ndarray | list[int]", path: str | Path) -> DecodeResult:
        """Decode and write a standard MIDI file (type 1)."""
        result = self.decode(ids)
        try:
            Path(path).write_bytes(result.score.dumps_midi())
        except OSError as err:
            raise TokenizerError(f"{path}: cannot write MIDI file: {err.strerror or err}") from None
        return result

    # ----- sequence helpers (ids of shape (n,) or (batch, n))
    def text(self, ids: "np.ndarray | list[int]") -> str:
        """Space-separated token strings (``bach piano start tempo:120 piano:v72:G4 wait:12 ...``)."""
        return " ".join(self.vocab.token(int(i)) for i in np.asarray(ids).ravel())

    def ids_from_text(self, text: str, source: str = "tokens") -> np.ndarray:
        """Inverse of ``text``; an unknown token raises TokenizerError naming ``source`` and its position."""
        return self.vocab.ids(text.split(), source)

    def token_times(self, ids: np.ndarray) -> np.ndarray:
        """Grid ticks elapsed before each token (int64)."""
        return sequence.token_times(ids, self.vocab)

    def chord_index(self, ids: np.ndarray) -> np.ndarray:
        """Index of each note-on among the note-ons of its time step (0 for other tokens)."""
        return sequence.chord_index(ids, self.vocab)

    def seconds(self, ids: np.ndarray) -> float:
        """Tempo-aware duration of a sequence in seconds."""
        return sequence.seconds(ids, self.vocab)

    # ----- persistence
    def to_dict(self) -> dict:
        return {"format": VOCAB_FORMAT, "format_version": VOCAB_FORMAT_VERSION,
                "config": self.config.to_dict(), "fingerprint": self.vocab.fingerprint,
                "size": self.vocab.size, "tokens": list(self.vocab.tokens)}

    def save(self, path: str | Path) -> None:
        """Write config + full vocabulary as JSON (the token list makes the file self-describing)."""
        Path(path).write_text(json.dumps(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "MidiTokenizer":
        """Read a tokenizer saved by ``save``; the stored vocabulary must match the rebuilt one."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise TokenizerError(f"{path}: cannot read tokenizer file: {err}") from None
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise TokenizerError(f"{path}: not a musetok vocabulary file")
        if data.get("format_version", 0) > VOCAB_FORMAT_VERSION:
            raise TokenizerError(f"{path}: vocabulary format {data['format_version']} is newer than "
                                 f"this musetok ({VOCAB_FORMAT_VERSION}); upgrade musebox")
        tokenizer = cls(TokenizerConfig.from_dict(data.get("config"), str(path)))
        if list(tokenizer.vocab.tokens) != data.get("tokens"):
            raise TokenizerError(f"{path}: stored vocabulary differs from the one its config builds "
                                 f"(written by an incompatible musetok version)")
        return tokenizer


def _seconds(q: Quantized, vocab: Vocab) -> float:
    """Duration of a canonical score: from step 0 to its last event, under its tempo map."""
    last = max(int(q.offset.max(initial=0)), int(q.tempo_time.max(initial=0)),
               int(q.pedal_end.max(initial=0)), int(q.timesig_time.max(initial=0)))
    bounds = np.append(q.tempo_time, last)
    steps = np.clip(np.diff(bounds), 0, None)
    bpm = vocab.tempo_values[q.tempo_bin]
    return float(np.sum(steps * 60.0 / (bpm * vocab.config.ticks_per_beat)))
