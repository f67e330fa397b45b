"""Checkpoint I/O: weights as safetensors, and the atomic training checkpoints.

- ``save_weights`` / ``load_weights``: a flat dict of tensors as ``.safetensors``, written
  atomically (``muse.core.atomic``); a saved model (weights + config JSON) is
  ``muse.core.model_folder``. Official Jukebox pickles are read in ``jukebox.official``.
- Training checkpoints: one folder per step under ``<out_dir>/checkpoints/`` holding
  ``model.safetensors`` (+ ``config.json``) and the training state (optimizer, RNG, data position)
  as further ``<part>.safetensors`` + ``<part>.json`` pairs, no pickles. A folder is written under a temporary
  name and renamed into place; the ``latest`` pointer file is then replaced atomically, and only
  the newest ``keep`` folders are kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from muse.core.atomic import atomic_path, write_json
from muse.core.errors import CheckpointError

log = logging.getLogger(__name__)


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


# ------------------------------------------------------------------------ nested state <-> files

_TENSOR, _TUPLE, _ITEMS = "__tensor__", "__tuple__", "__items__"


def flatten_state(state: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested state (dicts, lists, tuples, numbers, strings, None, tensors) into a
    JSON-able skeleton and a flat dict of named tensors, so it can be stored without pickle.

    Tensors become ``{"__tensor__": name}`` (a flat dict of tensors keeps its keys as names),
    tuples ``{"__tuple__": [...]}`` and dicts with non-string keys ``{"__items__": [[k, v], ...]}``;
    :func:`unflatten_state` inverts it."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(obj: Any, path: str) -> Any:
        if isinstance(obj, torch.Tensor):
            tensors[path] = obj
            return {_TENSOR: path}
        if isinstance(obj, tuple):
            return {_TUPLE: [walk(v, _join(path, i)) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [walk(v, _join(path, i)) for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in obj):
                return {k: walk(v, _join(path, k)) for k, v in obj.items()}
            return {_ITEMS: [[k, walk(v, _join(path, k))] for k, v in obj.items()]}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise TypeError(f"cannot store a {type(obj).__name__} at '{path}' in a checkpoint")

    return walk(state, ""), tensors


def _join(path: str, key: Any) -> str:
    return f"{path}/{key}" if path else str(key)


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if set(skeleton) == {_TENSOR}:
            return tensors[skeleton[_TENSOR]]
        if set(skeleton) == {_TUPLE}:
            return tuple(unflatten_state(v, tensors) for v in skeleton[_TUPLE])
        if set(skeleton) == {_ITEMS}:
            return {k: unflatten_state(v, tensors) for k, v in skeleton[_ITEMS]}
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    return skeleton


# ------------------------------------------------------------------------- training checkpoints

CHECKPOINTS_DIR = "checkpoints"
LATEST = "latest"
META_FILE = "checkpoint.json"
CONFIG_FILE = "config.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")
TRASH_PREFIX = ".trash."  # a pruned folder is renamed to .trash.<name>.<random> before it is deleted


def is_complete(path: str | Path) -> bool:
    """Whether ``path`` is a whole checkpoint folder: its ``checkpoint.json`` is readable, every part
    it lists has both its ``.safetensors`` and ``.json`` file, and ``config.json`` is there when it
    says one was written (a half-deleted folder is not complete)."""
    path = Path(path)
    try:
        meta = json.loads((path / META_FILE).read_text())
        parts = list(meta["parts"])
        int(meta["step"])
        files = [CONFIG_FILE] if meta.get("config", False) else []  # older folders do not say
    except (OSError, ValueError, KeyError, TypeError):
        return False
    files += [f"{name}{ext}" for name in parts for ext in (".safetensors", ".json")]
    return all((path / file).is_file() for file in files)


def step_dirs(root: str | Path) -> list[Path]:
    """The complete checkpoint folders ``step_NNNNNNNN`` under ``root``, oldest first (partial
    folders, e.g. one half-deleted by a process killed while pruning, are left out)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := _STEP_DIR.match(p.name)) and is_complete(p)
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: str | Path) -> Path | None:
    """The folder the ``latest`` pointer under ``root`` names, or None when there is none yet.

    When the pointer is missing or names a folder that is not complete (see :func:`is_complete`),
    the newest complete ``step_*`` folder is used instead (with a warning): a partial folder is
    never returned. A pointer with no complete folder at all is a ``CheckpointError``."""
    root = Path(root)
    pointer = root / LATEST
    complete = step_dirs(root)
    if not pointer.is_file():
        if complete:
            log.warning("%s: no 'latest' pointer; using the newest complete checkpoint %s", root, complete[-1].name)
            return complete[-1]
        return None
    path = root / pointer.read_text().strip()
    if is_complete(path):
        return path
    if complete:
        log.warning("%s: points to %s, which is not a complete checkpoint; using %s", pointer, path.name,
                    complete[-1].name)
        return complete[-1]
    raise CheckpointError(f"{pointer}: points to {path.name}, which is not a complete checkpoint, "
                          "and there is no other complete checkpoint")


def _remove(path: Path) -> None:
    """Delete a checkpoint folder so that no partial ``step_*`` folder can be left: rename it to a
    hidden trash name first (atomic), then delete that."""
    trash = path.parent / f"{TRASH_PREFIX}{path.name}.{os.urandom(4).hex()}"
    try:
        os.replace(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder, its ``checkpoints/`` folder or a ``step_*`` folder."""
    path = Path(path)
    for root in (path / CHECKPOINTS_DIR, path):
        found = latest_checkpoint(root)
        if found is not None:
            return found
    if is_complete(path):
        return path
    if (path / META_FILE).is_file():
        raise CheckpointError(f"{path}: not a complete checkpoint (a part is missing)")
    raise CheckpointError(f"{path}: no checkpoint found "
                          "(expected a run folder, a checkpoints folder or a step_* folder)")


def save_training_checkpoint(
    root: str | Path,
    step: int,
    parts: dict[str, Any],
    config: dict[str, Any] | None = None,
    keep: int = 3,
) -> Path:
    """Write ``root/step_NNNNNNNN/`` atomically, point ``root/latest`` at it, keep the newest ``keep``
    (``keep <= 0`` keeps all).

    Each part (e.g. ``model``: a flat state dict; ``optimizer``, ``state``: nested) is stored as
    ``<name>.safetensors`` (its tensors; a flat state dict keeps its keys, so ``model.safetensors``
    loads with :func:`load_weights`) and ``<name>.json`` (the rest); ``config`` as ``config.json``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=root))
    try:
        for name, part in parts.items():
            skeleton, tensors = flatten_state(part)
            save_weights(tensors, tmp / f"{name}.safetensors")
            write_json(tmp / f"{name}.json", skeleton)
        if config is not None:
            write_json(tmp / CONFIG_FILE, config)
        write_json(tmp / META_FILE, {"step": step, "parts": sorted(parts), "config": config is not None})
        if final.exists():  # re-saving a step: move the old folder aside first
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=root))
            os.replace(final, trash / final.name)
            shutil.rmtree(trash)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    with atomic_path(root / LATEST) as pointer:
        pointer.write_text(final.name + "\n")
    for old in step_dirs(root)[:-keep] if keep > 0 else []:
        if old != final:
            _remove(old)
    # leftovers of a process killed while saving or pruning
    for stale in [*root.glob(".step_*"), *root.glob(f"{TRASH_PREFIX}*")]:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def checkpoint_step(path: str | Path) -> int:
    """The training step a checkpoint folder was written at."""
    path = Path(path)
    try:
        return int(json.loads((path / META_FILE).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: unreadable checkpoint metadata ({err})") from err


def load_checkpoint_part(path: str | Path, name: str, device: str | torch.device = "cpu") -> Any:
    """One part written by :func:`save_training_checkpoint`, tensors on ``device``."""
    path = Path(path)
    try:
        skeleton = json.loads((path / f"{name}.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: checkpoint part '{name}' is missing or unreadable ({err})") from err
    return unflatten_state(skeleton, load_weights(path / f"{name}.safetensors", device))


def load_checkpoint_config(path: str | Path) -> dict[str, Any] | None:
    """The model config saved beside a checkpoint's weights (without its model-folder header, when
    it has one), or None when there is none."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{file}: unreadable model config ({err})") from err
    from muse.core.model_folder import FORMAT  # (model_folder imports this module)

    return data["config"] if isinstance(data, dict) and data.get("format") == FORMAT else data


@dataclass(frozen=True)
class TrainedWeights:
    """A trained model from a checkpoint: its state dict, saved config (or None) and step."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any] | None
    step: int


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> TrainedWeights:
    """Weights + config of a run folder, ``checkpoints/`` folder or ``step_*`` folder (the latest
    one for the first two); ``model.load_state_dict(result.state_dict)`` restores the model."""
    folder = resolve_checkpoint(path)
    return TrainedWeights(folder, load_weights(folder / "model.safetensors", device), load_checkpoint_config(folder),
                          checkpoint_step(folder))
