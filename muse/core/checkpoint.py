"""Checkpoint I/O: our weights as safetensors (+ JSON beside them), official pickles read safely.

- ``save_weights`` / ``load_weights``: a model's tensors as ``.safetensors`` plus an optional JSON
  config written beside it, both atomically (temporary file + rename).
- ``load_official``: an official Jukebox ``*.pth.tar`` through ``torch.load(weights_only=True)``;
  a ``module.`` prefix (DataParallel) is stripped.
- ``apply_key_map``: rename an official state dict to ours, failing with the full list of keys
  that are missing or left over.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from muse.core.errors import CheckpointError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_weights(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Save a flat dict of tensors as safetensors, atomically (shared storage is cloned)."""
    flat = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupt file is a ``CheckpointError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


@dataclass(frozen=True)
class OfficialCheckpoint:
    """An official Jukebox checkpoint: hyper-parameters, state dict (prefix stripped), step."""

    hps: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    step: int | None


def load_official(path: str | Path) -> OfficialCheckpoint:
    """Read an official ``*.pth.tar`` with ``torch.load(weights_only=True)`` (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad pickles
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(raw, dict) or "model" not in raw:
        raise CheckpointError(f"{path}: expected a dict with a 'model' state dict (official Jukebox format)")
    state = {k.removeprefix("module."): v for k, v in raw["model"].items()}
    hps = dict(raw.get("hps") or {})
    step = raw.get("step")
    return OfficialCheckpoint(hps=hps, state_dict=state, step=int(step) if step is not None else None)


def apply_key_map(
    state: dict[str, torch.Tensor],
    expected: dict[str, torch.Size] | dict[str, tuple[int, ...]],
    rename: Callable[[str], str | None],
    source: str = "checkpoint",
) -> dict[str, torch.Tensor]:
    """Rename ``state`` keys with ``rename`` (None drops a key on purpose) and check them against
    ``expected`` (our key -> shape). Any key missing, left over, or of the wrong shape is reported
    in one ``CheckpointError`` naming ``source``."""
    out: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        new = rename(key)
        if new is None:
            continue
        if new not in expected:
            unexpected.append(key)
            continue
        out[new] = value
    missing = sorted(set(expected) - set(out))
    bad_shape = [
        f"{k}: {tuple(v.shape)} != {tuple(expected[k])}" for k, v in out.items() if tuple(v.shape) != tuple(expected[k])
    ]
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:20]}{' ...' if len(missing) > 20 else ''} ({len(missing)})")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''} ({len(unexpected)})")
        if bad_shape:
            parts.append(f"shape mismatches {bad_shape[:10]}")
        raise CheckpointError(f"{source}: does not match the model: " + "; ".join(parts))
    return out
