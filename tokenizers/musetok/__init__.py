"""musetok: MIDI <-> MuseNet-style tokens, and Jukebox lyric/label encoders.

Lives in the repository folder ``tokenizers/`` but is imported as ``musetok`` so that
HuggingFace's ``tokenizers`` package keeps its name. Depends on numpy/mido/symusic only:
never imports torch, muse or jukebox.

The names below are loaded on first use (PEP 562), so importing a submodule that needs neither
MIDI parsing nor symusic (``musetok.errors``, ``musetok.vocab``, ``musetok.labels``) works where
symusic is not installed (e.g. ``benchmarks/gpu.py`` on a bare PyTorch machine).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see of the lazy re-exports below (`__all__` is built from _EXPORTS)
    from musetok.config import TokenizerConfig  # noqa: F401 (re-export)
    from musetok.decoder import DecodeResult  # noqa: F401 (re-export)
    from musetok.errors import TokenizerError  # noqa: F401 (re-export)
    from musetok.tokenizer import Encoding, MidiTokenizer  # noqa: F401 (re-export)
    from musetok.vocab import Kind, Vocab  # noqa: F401 (re-export)

_EXPORTS = {
    "DecodeResult": "musetok.decoder",
    "Encoding": "musetok.tokenizer",
    "Kind": "musetok.vocab",
    "MidiTokenizer": "musetok.tokenizer",
    "TokenizerConfig": "musetok.config",
    "TokenizerError": "musetok.errors",
    "Vocab": "musetok.vocab",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'musetok' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
