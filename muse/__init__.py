"""MuseNet-style symbolic music generation (and the shared transformer core in ``muse.core``)."""

__version__ = "0.1.0"
