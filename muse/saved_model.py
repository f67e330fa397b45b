"""A saved symbolic model: one folder holding everything generation needs, in the model-folder
format of ``muse.core.model_folder`` (kind ``muse``):

    model.safetensors   the weights (float32, or float16 for the bundled model)
    config.json         the header and the ``MuseConfig`` (strict: an unknown key is an error naming
                        the file); an old folder's plain ``MuseConfig`` still loads
    tokenizer.json      extra: the musetok vocabulary + config the ids belong to
    note_limits.json    optional extra: note length and polyphony limits learnt from the training
                        data (``muse.note_limits``); a folder without it loads with no limits

``load_model`` also accepts a training run folder (its exported ``model/``, else its latest
checkpoint with the run's ``tokenizer.json``) or a checkpoint ``step_*`` folder.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from musetok import MidiTokenizer

from muse.config import MuseConfig
from muse.core.checkpoint import CHECKPOINTS_DIR, LATEST, latest_checkpoint
from muse.core.config import from_dict
from muse.core.errors import CheckpointError, ConfigError
from muse.core.model_folder import Extra, kinds_in, read_model_files, save_model_files, wrong_kind
from muse.model import MuseModel
from muse.note_limits import NOTE_LIMITS_FILE, NoteLimits, read_note_limits, write_note_limits
from muse.token_tables import TokenTables

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_DIR = "model"  # a run folder's exported model
KIND = "muse"
_HINT = f"expected {WEIGHTS_FILE}, {CONFIG_FILE} and {TOKENIZER_FILE}, or a training run folder"


@dataclass
class LoadedModel:
    """A model ready to generate (in eval mode), its tokenizer and where it came from."""

    model: MuseModel
    tokenizer: MidiTokenizer
    config: MuseConfig
    path: Path
    limits: NoteLimits | None = None  # None: a model saved without note limits


def build_model(config: MuseConfig, tokenizer: MidiTokenizer) -> MuseModel:
    """A freshly initialised model for ``tokenizer``'s vocabulary (``vocab_size`` 0 is filled in)."""
    config = config.with_vocab(tokenizer.vocab.size)
    return MuseModel(config, TokenTables.from_vocab(tokenizer.vocab))


def save_model(model: MuseModel, tokenizer: MidiTokenizer, folder: str | Path, *,
               dtype: torch.dtype | None = None, metadata: dict[str, str] | None = None,
               limits: NoteLimits | None = None) -> Path:
    """Write ``folder/{model.safetensors, config.json, tokenizer.json}`` (and ``note_limits.json``
    with ``limits``); ``dtype`` (e.g. ``torch.float16``) converts floating-point weights to shrink the file."""
    folder = Path(folder)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
             for k, v in model.state_dict().items()}
    extras = {"tokenizer": Extra(TOKENIZER_FILE, tokenizer.save)}
    if limits is not None:
        write_note_limits(limits, folder)
        extras["note_limits"] = Extra(NOTE_LIMITS_FILE)
    save_model_files(folder / WEIGHTS_FILE, folder / CONFIG_FILE, KIND, model.config, state, extras=extras,
                     metadata=metadata)
    return folder


def model_hash(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A short fingerprint (16 hex digits) of a model's weights: SHA-256 over names, dtypes,
    shapes and bytes in name order, so the same weights always give the same hash (the demo shows
    it; feedback rows and generation manifests record it)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _resolve(path: Path) -> tuple[Path, Path, Path]:
    """(weights, config, tokenizer) files of a model folder, run folder or checkpoint folder."""
    if not path.exists():
        raise CheckpointError(f"{path}: model folder not found")
    if (path / WEIGHTS_FILE).is_file() and (path / TOKENIZER_FILE).is_file():
        return path / WEIGHTS_FILE, path / CONFIG_FILE, path / TOKENIZER_FILE
    pointed = latest_checkpoint(path.parent if path.name == LATEST else path)  # checkpoints/latest or checkpoints/
    if pointed is not None and pointed != path:
        return _resolve(pointed)
    if (path / EXPORT_DIR / WEIGHTS_FILE).is_file():
        return _resolve(path / EXPORT_DIR)
    step = latest_checkpoint(path / CHECKPOINTS_DIR)
    if step is not None and (path / TOKENIZER_FILE).is_file():
        return step / WEIGHTS_FILE, step / CONFIG_FILE, path / TOKENIZER_FILE
    run = path.parent.parent  # a checkpoints/step_* folder inside a run folder
    if (path / WEIGHTS_FILE).is_file() and (run / TOKENIZER_FILE).is_file():
        return path / WEIGHTS_FILE, path / CONFIG_FILE, run / TOKENIZER_FILE
    others = kinds_in(path)
    if others:
        raise wrong_kind(path, others, KIND, _HINT)
    raise CheckpointError(f"{path}: not a muse model ({_HINT})")


def resolve_model_files(path: str | Path) -> tuple[Path, Path, Path]:
    """(weights, config, tokenizer) files ``load_model(path)`` reads; ``note_limits.json`` goes beside the config."""
    return _resolve(Path(path))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a saved model (see the module docstring for the accepted folders), in eval mode."""
    path = Path(path)
    weights, config_file, tokenizer_file = _resolve(path)
    saved = read_model_files(weights, config_file, KIND, legacy=lambda data: (KIND, data, {}),
                             hint=_HINT)
    try:
        config = from_dict(MuseConfig, saved.config, str(config_file))
    except ConfigError as err:
        raise CheckpointError(str(err)) from err
    tokenizer = MidiTokenizer.load(tokenizer_file)
    if config.vocab_size != tokenizer.vocab.size:
        raise CheckpointError(f"{path}: the model has {config.vocab_size} tokens but {tokenizer_file.name} "
                              f"has {tokenizer.vocab.size}")
    model = MuseModel(config, TokenTables.from_vocab(tokenizer.vocab))
    state = saved.load_weights()
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{weights}: does not match {config_file.name} ({str(err).splitlines()[0]})") from err
    model.to(device).eval()
    log.debug("loaded %s (%d parameters)", weights, model.num_parameters())
    return LoadedModel(model, tokenizer, config, path, read_note_limits(config_file.parent))


__all__ = ["LoadedModel", "build_model", "save_model", "load_model", "model_hash", "resolve_model_files",
           "WEIGHTS_FILE", "CONFIG_FILE", "TOKENIZER_FILE"]
