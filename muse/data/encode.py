"""Tokenizing one ``PieceSource`` (runs in the build's worker processes; numpy/musetok/music21 only).

``init_worker`` builds the composer-free base tokenizer once per process; ``encode_source`` turns a
source into an ``Encoded`` (ids, counts, content digest, first tempo, repairs made) and never raises
for a bad piece: the reason goes into ``Encoded.error`` as one line without the file name (the
report names the piece).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from musetok import Kind, MidiTokenizer, TokenizerConfig, TokenizerError

from muse.data.cache import Encoded
from muse.data.sources import PieceSource

_tokenizer: MidiTokenizer | None = None


def init_worker(config: dict[str, Any], quiet: bool) -> None:
    """Build the tokenizer for this process. ``quiet`` (worker processes) silences what would
    scramble the progress bar: musetok's repair warnings (kept in ``Encoded.warnings`` instead),
    Python warnings and music21's prints to stdout/stderr."""
    global _tokenizer
    _tokenizer = MidiTokenizer(TokenizerConfig.from_dict(config))
    if quiet:
        logging.getLogger("musetok").setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker


def _reason(err: BaseException, name: str) -> str:
    """One line for the report, without a leading ``<name>: `` the report shows anyway."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text.removeprefix(f"{name}: ")


def _digest(source: PieceSource) -> str:
    """SHA-1 of what the piece is made of: the file, or the text of its tune in a multi-tune file."""
    if source.tune is not None:
        from muse.data.music21_corpus import read_text, split_abc

        _, tunes = split_abc(read_text(source.path))
        return hashlib.sha1(tunes[source.tune - 1].encode()).hexdigest()
    return hashlib.sha1(Path(source.path).read_bytes()).hexdigest()


def encode_source(source: PieceSource) -> Encoded:
    """Tokenize ``source`` with the worker's base tokenizer (composer = unknown; set at assembly)."""
    assert _tokenizer is not None, "init_worker was not called"
    start = time.process_time()
    notes: tuple[str, ...] = ()
    try:
        digest = _digest(source)
        if source.kind == "music21":
            from muse.data.music21_corpus import piece_to_midi

            try:
                converted = piece_to_midi(source)
            except Exception as err:  # music21 raises many exception types for scores it cannot read
                return Encoded(error=f"music21 cannot convert it ({type(err).__name__}: {_reason(err, source.path)})")
            encoding = _tokenizer.encode(converted.midi, name=source.id)
            notes = converted.warnings
        else:
            encoding = _tokenizer.encode(source.path, name=source.id)
    except TokenizerError as err:
        return Encoded(error=_reason(err, source.id))
    except OSError as err:
        return Encoded(error=f"cannot read it ({err.strerror or err})")
    ids = np.asarray(encoding.ids, dtype=np.int32)
    vocab = _tokenizer.vocab
    tempos = vocab.tempo_bpm[ids][vocab.kind[ids] == Kind.TEMPO]
    return Encoded(
        ids=ids,
        n_notes=int(encoding.n_notes),
        seconds=float(encoding.seconds),
        digest=digest,
        tempo=float(tempos[0]) if len(tempos) else None,
        warnings=notes + tuple(encoding.warnings),
        cpu=time.process_time() - start,
    )
