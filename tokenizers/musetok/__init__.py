"""musetok: MIDI <-> MuseNet-style tokens, and Jukebox lyric/label encoders.

Lives in the repository folder ``tokenizers/`` but is imported as ``musetok`` so that
HuggingFace's ``tokenizers`` package keeps its name. Depends on numpy/mido/symusic only:
never imports torch, muse or jukebox.
"""

from musetok.config import TokenizerConfig
from musetok.decoder import DecodeResult
from musetok.errors import TokenizerError
from musetok.tokenizer import Encoding, MidiTokenizer
from musetok.vocab import Kind, Vocab

__all__ = ["DecodeResult", "Encoding", "Kind", "MidiTokenizer", "TokenizerConfig", "TokenizerError", "Vocab"]
