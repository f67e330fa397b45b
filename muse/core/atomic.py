"""Atomic file writes: a reader (or a rerun after a crash) sees the old file or the new one, never half of one.

Every writer goes through :func:`atomic_path`: the content is written to a hidden temporary file in the
same folder (so the final rename never crosses a file system) and ``os.replace`` moves it onto the target
only once the writer has returned. A process killed midway leaves the target as it was (and at worst a
stray ``.<name>.*.tmp`` beside it). The file ends with the permissions of a plain ``open`` (0666 less the
umask), not the 0600 of ``tempfile.mkstemp``.

Standard library only, in ``muse.core``: every layer above musetok (which writes no file it must keep whole)
uses it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (its folder is created); when the block ends without an
    exception the temporary file is renamed onto ``path``, otherwise it is deleted and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_json(path: str | Path, data: Any, indent: int = 2) -> None:
    """Write ``data`` as JSON (``indent`` spaces, keys in their order, a final newline) atomically."""
    write_text(path, json.dumps(data, indent=indent) + "\n")


__all__ = ["atomic_path", "write_json", "write_text"]
