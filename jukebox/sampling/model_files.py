"""Where a Jukebox model's files live, and loading them (VQ-VAE codec + one prior per level).

``--checkpoints DIR`` may hold the official release laid out as it is distributed
(``DIR/5b/vqvae.pth.tar``, ``DIR/5b/prior_level_{0,1,2}.pth.tar``, ``DIR/5b_lyrics/prior_level_2.pth.tar``,
``DIR/1b_lyrics/prior_level_2.pth.tar``: the lyric models share the 5b VQ-VAE and upsamplers) or the
same names flat in ``DIR``; our own models are ``vqvae.safetensors`` and ``prior_level_{L}.safetensors``
(each with its JSON config beside it). ``small`` defaults to the bundled models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from jukebox.prior.checkpoint import load_prior
from jukebox.prior.prior import JukeboxPrior
from jukebox.vqvae.checkpoint import load_vqvae
from jukebox.vqvae.codec import BUNDLED_CHECKPOINT, Codec
from muse.core.errors import CheckpointError, UserError
from muse.core.model_folder import kinds_in, wrong_kind

log = logging.getLogger(__name__)

MODELS = ("5b", "5b_lyrics", "1b_lyrics", "small")
BUNDLED_SMALL = BUNDLED_CHECKPOINT.parent  # the bundled codec and priors
_SUFFIXES = (".pth.tar", ".safetensors")


@dataclass(frozen=True)
class ModelFiles:
    """The VQ-VAE file and one prior file per level."""

    vqvae: Path
    priors: dict[int, Path]


def _find(stem: str, folders: Sequence[Path]) -> Path:
    tried = [folder / f"{stem}{suffix}" for folder in folders for suffix in _SUFFIXES]
    for path in tried:
        if path.is_file():
            return path
    raise CheckpointError(f"{stem} not found; looked for: {', '.join(str(p) for p in tried)}")


def find_model_files(model: str, checkpoints: str | Path | None, levels: Sequence[int]) -> ModelFiles:
    """Locate the files of ``model`` (one of ``MODELS``) for ``levels`` under ``checkpoints``."""
    if model not in MODELS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if checkpoints is None:
        if model != "small":
            raise UserError(f"model {model!r} needs --checkpoints DIR holding the official release files")
        checkpoints = BUNDLED_SMALL
    root = Path(checkpoints)
    if not root.is_dir():
        raise CheckpointError(f"{root}: checkpoints directory not found")
    own = [root / model, root]
    shared = [root / model, root / "5b", root]  # the lyric models reuse the 5b VQ-VAE and upsamplers
    try:
        priors = {level: _find(f"prior_level_{level}", own if level == 2 else shared) for level in levels}
        return ModelFiles(vqvae=_find("vqvae", shared), priors=priors)
    except CheckpointError:
        others = {file: kind for file, kind in kinds_in(root).items() if kind not in ("vqvae", "prior")}
        if others:
            raise wrong_kind(root, others, ("vqvae", "prior"), "expected vqvae and prior_level_L files") from None
        raise


def load_models(files: ModelFiles, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32) -> tuple[Codec, dict[int, JukeboxPrior]]:
    """Load the codec (fp32) and the priors (``dtype``), checking that they fit together."""
    vqvae = load_vqvae(files.vqvae, device=device).model
    codec = Codec(vqvae, device)
    hops = vqvae.hop_lengths
    priors = {}
    for level, path in sorted(files.priors.items()):
        if not 0 <= level < vqvae.levels:
            raise UserError(f"level {level} does not exist: the VQ-VAE has levels 0..{vqvae.levels - 1}")
        prior = load_prior(path, device, hop_length=hops[level], dtype=dtype)
        c = prior.config
        if c.level != level or c.n_bins != vqvae.config.l_bins or c.hop_length != hops[level]:
            raise CheckpointError(
                f"{path}: a level-{c.level} prior over {c.n_bins} codes at hop {c.hop_length} does not fit level "
                f"{level} of {files.vqvae} ({vqvae.config.l_bins} codes, hop {hops[level]})"
            )
        if c.upsampler is not None and hops[level] * c.upsampler.factor != hops[level + 1]:
            raise CheckpointError(f"{path}: the upsampler's factor {c.upsampler.factor} "
                                  f"does not match the VQ-VAE hops {hops}")
        priors[level] = prior
        log.info("loaded level-%d prior from %s", level, path)
    return codec, priors
