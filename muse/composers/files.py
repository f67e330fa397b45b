"""Writing the analysis outputs (figures, tables): atomically, with ordinary file permissions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from muse.core.atomic import atomic_path
from muse.core.errors import UserError


def write_output(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it onto ``path``
    (``atomic_path``); an ``OSError`` becomes a ``UserError`` naming ``path``."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as err:
        raise UserError(f"{path}: cannot write ({err.strerror or err})") from err
    return path


__all__ = ["write_output"]
