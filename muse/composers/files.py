"""Writing the analysis outputs (figures, tables): atomically, with ordinary file permissions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from muse.core.checkpoint import atomic_path
from muse.core.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it onto ``path``. The
    file gets the permissions of a plain ``open`` (0666 less the umask), not the temporary file's
    0600; an ``OSError`` becomes a ``UserError`` naming ``path``."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
    except OSError as err:
        raise UserError(f"{path}: cannot write ({err.strerror or err})") from err
    return path


__all__ = ["write_output"]
