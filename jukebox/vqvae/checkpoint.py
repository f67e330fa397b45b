"""VQ-VAE checkpoints: the official ``vqvae.pth.tar`` through an explicit key map, and ours.

Ours is the model-folder format of ``muse.core.model_folder`` (kind ``vqvae``): ``NAME.safetensors``
with the header and config beside it as ``NAME.json``; an old layout's plain config JSON (also
``config.json`` of a training checkpoint) or a YAML config (``NAME.yaml``, ``config.yaml``) still loads.
A folder stands for the ``vqvae.safetensors`` in it. Official files are read with ``torch.load(weights_only=True)``;
their keys are renamed one by one (:func:`official_key_map`) and any key missing, left over or of
the wrong shape is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from jukebox.official import apply_key_map, load_official
from jukebox.vqvae.config import VQVAEConfig, config_from_hps, load_vqvae_config
from jukebox.vqvae.vqvae import VQVAE
from muse.core.checkpoint import load_weights
from muse.core.config import from_dict
from muse.core.errors import CheckpointError, ConfigError
from muse.core.model_folder import kinds_in, read_model_files, save_model_files, wrong_kind

log = logging.getLogger(__name__)

KIND = "vqvae"
WEIGHTS_FILE = "vqvae.safetensors"  # in a folder (the bundled codec, a training run's export)
CONFIG_NAMES = ("{stem}.json", "{stem}.yaml", "{stem}.yml", "config.json", "config.yaml")

# Our parameter names -> the official ones. Each rule: a pattern over our key, and a function of
# its match and the config giving the official key.
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str], VQVAEConfig], str]]
_RES = {"conv1": "1", "conv2": "3"}  # official ResConv1DBlock: Sequential(ReLU, conv1, ReLU, conv2)
_RULES: list[_Rule] = [
    (
        re.compile(r"encoders\.(\d+)\.stages\.(\d+)\.downs\.(\d+)\.conv\.(weight|bias)"),
        lambda m, c: f"encoders.{m[1]}.level_blocks.{m[2]}.model.{m[3]}.0.{m[4]}",
    ),
    (
        re.compile(r"encoders\.(\d+)\.stages\.(\d+)\.downs\.(\d+)\.res\.blocks\.(\d+)\.(conv[12])\.(weight|bias)"),
        lambda m, c: f"encoders.{m[1]}.level_blocks.{m[2]}.model.{m[3]}.1.model.{m[4]}.model.{_RES[m[5]]}.{m[6]}",
    ),
    (
        re.compile(r"encoders\.(\d+)\.stages\.(\d+)\.proj\.(weight|bias)"),
        lambda m, c: f"encoders.{m[1]}.level_blocks.{m[2]}.model.{c.downs_t[int(m[2])]}.{m[3]}",
    ),
    (
        re.compile(r"decoders\.(\d+)\.stages\.(\d+)\.proj_in\.(weight|bias)"),
        lambda m, c: f"decoders.{m[1]}.level_blocks.{m[2]}.model.0.{m[3]}",
    ),
    (
        re.compile(r"decoders\.(\d+)\.stages\.(\d+)\.ups\.(\d+)\.res\.blocks\.(\d+)\.(conv[12])\.(weight|bias)"),
        lambda m, c: (
            f"decoders.{m[1]}.level_blocks.{m[2]}.model.{int(m[3]) + 1}.0.model.{m[4]}.model.{_RES[m[5]]}.{m[6]}"
        ),
    ),
    (
        re.compile(r"decoders\.(\d+)\.stages\.(\d+)\.ups\.(\d+)\.conv\.(weight|bias)"),
        lambda m, c: f"decoders.{m[1]}.level_blocks.{m[2]}.model.{int(m[3]) + 1}.1.{m[4]}",
    ),
    (re.compile(r"decoders\.(\d+)\.out\.(weight|bias)"), lambda m, c: f"decoders.{m[1]}.out.{m[2]}"),
    (re.compile(r"bottleneck\.codebooks\.(\d+)\.vectors"), lambda m, c: f"bottleneck.level_blocks.{m[1]}.k"),
]


def official_name(key: str, config: VQVAEConfig) -> str:
    """The official state-dict key of our parameter ``key``."""
    for pattern, name in _RULES:
        match = pattern.fullmatch(key)
        if match:
            return name(match, config)
    raise KeyError(f"no official name for VQ-VAE key {key!r}")


def expected_shapes(config: VQVAEConfig) -> dict[str, torch.Size]:
    """Our state-dict keys and shapes for ``config`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        return _shapes(VQVAE(config))


def official_key_map(config: VQVAEConfig, keys: list[str] | None = None) -> dict[str, str]:
    """Official key -> our key, for our state-dict ``keys`` (default: every tensor of a VQ-VAE
    built from ``config``)."""
    return {official_name(key, config): key for key in (keys if keys is not None else expected_shapes(config))}


def convert_official_state(
    state: dict[str, torch.Tensor], config: VQVAEConfig, source: str, model: VQVAE | None = None
) -> dict[str, torch.Tensor]:
    """Rename an official VQ-VAE state dict to ours (checked against ``model``, or a VQ-VAE built
    from ``config``); missing, unexpected or misshapen keys raise one ``CheckpointError``."""
    expected = _shapes(model) if model is not None else expected_shapes(config)
    key_map = official_key_map(config, list(expected))
    # An unknown key maps to "" (never one of ours), so apply_key_map reports it as unexpected.
    return apply_key_map(state, expected, lambda k: key_map.get(k, ""), source)


def _shapes(model: VQVAE) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in model.state_dict().items()}


def to_official_state(model: VQVAE) -> dict[str, torch.Tensor]:
    """Our model's tensors under the official key names (e.g. to compare with the original code)."""
    return {official_name(k, model.config): v for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class LoadedVQVAE:
    """A VQ-VAE ready for inference, with the config it was built from and the file it came from."""

    model: VQVAE
    config: VQVAEConfig
    path: Path
    official: bool


def _read_config(path: Path, weights: Path | None = None) -> VQVAEConfig:
    """A VQ-VAE config from YAML, or from a model config JSON (with or without the header)."""
    if path.suffix == ".json":
        saved = read_model_files(weights or path.with_suffix(".safetensors"), path, KIND,
                                 legacy=lambda data: (KIND, data, {}))
        return from_dict(VQVAEConfig, saved.config, str(path))
    if path.suffix in (".yaml", ".yml"):
        return load_vqvae_config(path)
    raise ConfigError(f"{path}: config must be .json, .yaml or .yml")


def find_config_beside(weights: Path) -> Path | None:
    """The config file that goes with ``weights`` (see ``CONFIG_NAMES``), if any."""
    for pattern in CONFIG_NAMES:
        candidate = weights.with_name(pattern.format(stem=weights.stem))
        if candidate.is_file():
            return candidate
    return None


def load_vqvae(
    path: str | Path, config_path: str | Path | None = None, device: str | torch.device = "cpu"
) -> LoadedVQVAE:
    """Load a VQ-VAE from an official ``*.pth.tar`` or our ``*.safetensors`` (+ config beside it).

    ``config_path`` (YAML/JSON) overrides the config found in or beside the checkpoint. The model
    is returned in eval mode on ``device``, its codebook EMA state restored from the weights.
    """
    path = _weights_in(Path(path))
    config = _read_config(Path(config_path), path) if config_path is not None else None
    if path.suffix == ".safetensors":
        if config is None:
            beside = find_config_beside(path)
            if beside is None:
                names = ", ".join(p.format(stem=path.stem) for p in CONFIG_NAMES)
                raise CheckpointError(f"{path}: no config beside the weights (looked for {names}); pass --config")
            config = _read_config(beside, path)
        state = load_weights(path)
        model = VQVAE(config)
        if any(k.endswith(".k_sum") for k in state):  # a training checkpoint: codebook EMA state saved too
            model.bottleneck.keep_ema_in_state_dict(True)
        state = apply_key_map(state, _shapes(model), lambda k: k, str(path))
        official = False
    else:
        ckpt = load_official(path)
        if config is None:
            config = config_from_hps(ckpt.hps, f"{path} (hps)")
        model = VQVAE(config)
        state = convert_official_state(ckpt.state_dict, config, str(path), model)
        official = True
    model.load_state_dict(state)
    model.to(device).eval()
    log.info("loaded VQ-VAE from %s (%s, levels %d, hops %s)", path, "official" if official else "ours",
             config.levels, config.hop_lengths)
    return LoadedVQVAE(model=model, config=config, path=path, official=official)


def _weights_in(path: Path) -> Path:
    """``path``, or for a folder the VQ-VAE in it (a folder holding another kind of model is refused)."""
    if not path.is_dir():
        return path
    if (path / WEIGHTS_FILE).is_file():
        return path / WEIGHTS_FILE
    others = kinds_in(path)
    if others:
        raise wrong_kind(path, others, KIND, f"expected {WEIGHTS_FILE} and vqvae.json, or a vqvae.pth.tar")
    raise CheckpointError(f"{path}: no {WEIGHTS_FILE} in this folder")


def save_vqvae(model: VQVAE, path: str | Path, state: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write ``model`` (or ``state``, a full state dict of it) as ``path`` (safetensors) and its
    config as JSON beside it (the model-folder format); returns the JSON path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: our VQ-VAE weights are saved as .safetensors")
    config_path = path.with_suffix(".json")
    save_model_files(path, config_path, KIND, model.config, model.state_dict() if state is None else state)
    return config_path


__all__ = [
    "LoadedVQVAE",
    "convert_official_state",
    "expected_shapes",
    "find_config_beside",
    "load_vqvae",
    "official_key_map",
    "official_name",
    "save_vqvae",
    "to_official_state",
]
