"""musetok: MIDI <-> MuseNet-style tokens, and Jukebox lyric/label encoders.

Lives in the repository folder ``tokenizers/`` but is imported as ``musetok`` so that
HuggingFace's ``tokenizers`` package keeps its name. Depends on numpy/mido/symusic only:
never imports torch, muse or jukebox.
"""

from musetok.errors import TokenizerError

__all__ = ["TokenizerError"]
