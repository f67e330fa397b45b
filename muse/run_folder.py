"""The check before a preference run (``muse critic train|reward``, ``muse tune``) writes to its folder.

A new run refuses a folder that already holds checkpoints (it would mix two runs); a ``--resume``
compares the settings the run recorded in its JSON file with the ones given now and refuses any
difference (``muse.core.resume_check``), except the ``safe`` keys named with ``--override KEY``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from muse.core.checkpoint import CHECKPOINTS_DIR
from muse.core.errors import UserError
from muse.core.resume_check import check_same_settings


def check_run_folder(out: Path, run_file: str, record: Mapping[str, Any], *, resume: bool, what: str,
                     overrides: Iterable[str] = (), safe: Iterable[str] = (), ignore: Iterable[str] = ()) -> None:
    """Refuse to start a ``what`` (e.g. "critic run") in ``out`` when it holds checkpoints (without
    ``resume``), or to resume it with settings other than those recorded in ``out/run_file``;
    top-level keys in ``ignore`` are not compared (e.g. a file path whose content hash is)."""
    if not resume:
        if (out / CHECKPOINTS_DIR).exists():
            raise UserError(f"{out}: already holds a {what}; pass --resume to continue it or choose another --out")
        return
    saved = out / run_file
    if not saved.is_file():
        if (out / CHECKPOINTS_DIR).exists():
            raise UserError(f"{out}: not a {what} (no {run_file})")
        return
    try:
        recorded = json.loads(saved.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{saved}: unreadable run settings ({err})") from None
    skip = set(ignore)
    check_same_settings({k: v for k, v in recorded.items() if k not in skip},
                        {k: v for k, v in record.items() if k not in skip}, where=str(out), overrides=overrides,
                        safe=safe)


__all__ = ["check_run_folder"]
