"""One format for every saved model: safetensors weights, a config JSON with a header, named extras.

A saved model lives in a folder as a weights file (``.safetensors``) and a config JSON beside it::

    {"format": "musebox-model", "version": 1, "kind": "vqvae",
     "config": {...the model's config...}, "info": {...what training measured...},
     "extras": {"tokenizer": "tokenizer.json"}}

``kind`` names the model family (``muse``, ``critic``, ``reward``, ``vqvae``, ``prior``); ``config`` is
its config dataclass as a dict; ``extras`` names further files or folders the model needs (its
tokenizer, its artist/genre id files), relative to the folder. Each kind keeps its file names
(``model.safetensors`` + ``config.json``, ``vqvae.safetensors`` + ``vqvae.json``...), so a folder may
hold several models side by side (a Jukebox checkpoints folder holds the VQ-VAE and every prior).

Writing: the weights and the extras first, the config JSON last, each atomically
(``muse.core.atomic``): a config JSON on disk means the model beside it is whole.

Reading checks the header before anything is built: a version newer than :data:`VERSION`, or a kind
the caller cannot use, is a ``CheckpointError`` naming the file, what it holds and what is expected.
A config JSON without a header (written before this format) is an old layout, version 0; the kind's
own ``legacy`` rule reads it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from muse.core.atomic import atomic_path, write_json
from muse.core.checkpoint import load_weights, save_weights
from muse.core.config import to_dict
from muse.core.errors import CheckpointError

FORMAT = "musebox-model"
VERSION = 1
"""The newest header version this code writes and reads (0: an old layout without a header)."""

Legacy = Callable[[dict[str, Any]], "tuple[str, dict[str, Any], dict[str, Any]]"]
"""Reads an old config JSON (no header): its content -> (kind, config, info); a KeyError, TypeError
or ValueError it raises becomes a ``CheckpointError`` naming the file."""


@dataclass(frozen=True)
class Extra:
    """A named extra file of a model: ``write(tmp)`` writes it (atomically, through a temporary path);
    without ``write`` the file (or folder) must already be in the model's folder."""

    file: str
    write: Callable[[Path], None] | None = None


@dataclass(frozen=True)
class SavedModel:
    """What a model's config JSON says: its kind, header version, config and info, and where its
    files are (the weights are read by :meth:`load_weights`)."""

    kind: str
    version: int
    config: dict[str, Any]
    weights: Path
    config_file: Path
    info: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Path] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.config_file.parent

    def load_weights(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The model's tensors on ``device`` (a missing or corrupt file is a ``CheckpointError``)."""
        return load_weights(self.weights, device)


def header(kind: str, config: Any, info: Mapping[str, Any] | None = None,
           extras: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config JSON of a ``kind`` model (``config``: a dataclass or a dict)."""
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "kind": kind,
                           "config": to_dict(config) if dataclasses.is_dataclass(config) else dict(config)}
    if info:
        doc["info"] = dict(info)
    if extras:
        doc["extras"] = dict(extras)
    return doc


def save_model_files(weights: str | Path, config_file: str | Path, kind: str, config: Any,
                     tensors: Mapping[str, torch.Tensor], *, info: Mapping[str, Any] | None = None,
                     extras: Mapping[str, Extra] | None = None,
                     metadata: Mapping[str, str] | None = None) -> SavedModel:
    """Write a ``kind`` model: ``tensors`` as ``weights`` (with ``metadata`` and the kind in the
    safetensors header), each extra into the folder of ``config_file``, then ``config_file`` (see the
    module doc); returns what a read gives back."""
    weights, config_file = Path(weights), Path(config_file)
    folder = config_file.parent
    save_weights(dict(tensors), weights, metadata={"kind": kind, **(metadata or {})})
    for name, extra in (extras or {}).items():
        target = folder / extra.file
        if extra.write is not None:
            with atomic_path(target) as tmp:
                extra.write(tmp)
        elif not target.exists():
            raise CheckpointError(f"{target}: the {kind} model's {name} is missing")
    doc = header(kind, config, info, {name: extra.file for name, extra in (extras or {}).items()})
    write_json(config_file, doc)
    return _saved(doc, weights, config_file, VERSION)


def read_header(config_file: str | Path) -> dict[str, Any] | None:
    """The header of ``config_file`` when it is a model config JSON of this format, else None
    (also for an unreadable file: the caller's own checks say what is wrong with it)."""
    try:
        data = json.loads(Path(config_file).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def read_model_files(weights: str | Path, config_file: str | Path, expected: str | Sequence[str], *,
                     legacy: Legacy | None = None, hint: str | None = None) -> SavedModel:
    """Read and check the config JSON of a model whose kind must be one of ``expected``.

    A header version above :data:`VERSION` or another kind is a ``CheckpointError`` naming the file,
    what it holds and what is expected (``hint``: e.g. "expected <the files>"); a JSON without a header
    is read by ``legacy`` (refused when there is none); a listed extra that is missing is an error too."""
    weights, config_file = Path(weights), Path(config_file)
    kinds = (expected,) if isinstance(expected, str) else tuple(expected)
    try:
        data = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{config_file}: model config not found (it goes beside {weights.name})") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{config_file}: unreadable model config ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{config_file}: expected a JSON object, found {type(data).__name__}")
    if "format" not in data:
        if legacy is None:
            raise CheckpointError(f"{config_file}: no {FORMAT} header; expected a {_names(kinds)} model")
        try:
            kind, config, info = legacy(data)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{config_file}: unreadable model config (old layout; {err!r})") from None
        saved = SavedModel(kind, 0, config, weights, config_file, info)
    else:
        if data["format"] != FORMAT:
            raise CheckpointError(f"{config_file}: format {data['format']!r}, expected {FORMAT!r}")
        version = data.get("version")
        if not isinstance(version, int) or version < 1:
            raise CheckpointError(f"{config_file}: invalid {FORMAT} version {version!r}")
        if version > VERSION:
            raise CheckpointError(f"{config_file}: a {data.get('kind', 'unknown')} model saved in {FORMAT} "
                                  f"version {version}; this musebox reads versions up to {VERSION} (upgrade musebox)")
        if not isinstance(data.get("config"), dict) or not isinstance(data.get("kind"), str):
            raise CheckpointError(f"{config_file}: the header lacks its 'kind' or 'config'")
        saved = _saved(data, weights, config_file, version)
    if saved.kind not in kinds:
        raise wrong_kind(config_file.parent, {config_file.name: saved.kind}, kinds, hint)
    for name, path in saved.extras.items():
        if not path.exists():
            raise CheckpointError(f"{path}: the {saved.kind} model's {name} is missing")
    return saved


def _saved(doc: Mapping[str, Any], weights: Path, config_file: Path, version: int) -> SavedModel:
    extras = {name: config_file.parent / file for name, file in dict(doc.get("extras") or {}).items()}
    return SavedModel(doc["kind"], version, dict(doc["config"]), weights, config_file, dict(doc.get("info") or {}),
                      extras)


def kinds_in(folder: str | Path) -> dict[str, str]:
    """Config file name -> kind of every model saved in ``folder`` in this format (old layouts are not
    recognised), e.g. to say what a folder holds when it is not what a command expects."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found = {}
    for file in sorted(folder.glob("*.json")):
        doc = read_header(file)
        if doc is not None and isinstance(doc.get("kind"), str):
            found[file.name] = doc["kind"]
    return found


def wrong_kind(folder: str | Path, found: Mapping[str, str], expected: str | Sequence[str],
               hint: str | None = None) -> CheckpointError:
    """The one-line error for a folder holding ``found`` (config file -> kind) models where a model
    of one of the ``expected`` kinds is needed (``hint``: what that looks like)."""
    kinds = (expected,) if isinstance(expected, str) else tuple(expected)
    held = ", ".join(f"a {kind} model ({file})" for file, kind in found.items())
    return CheckpointError(f"{folder}: holds {held}, not a {_names(kinds)} model" + (f" ({hint})" if hint else ""))


def _names(kinds: Sequence[str]) -> str:
    return " or ".join(kinds)


__all__ = ["FORMAT", "VERSION", "Extra", "Legacy", "SavedModel", "header", "kinds_in", "read_header",
           "read_model_files", "save_model_files", "wrong_kind"]
