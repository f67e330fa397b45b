"""Tiny random Jukebox models for CPU tests: the toy codec and the three toy priors of configs/jukebox."""

from __future__ import annotations

from pathlib import Path

import torch

from jukebox.prior.checkpoint import save_prior
from jukebox.prior.config import PriorConfig
from jukebox.prior.prior import JukeboxPrior
from jukebox.vqvae.checkpoint import save_vqvae
from jukebox.vqvae.config import load_vqvae_config
from jukebox.vqvae.vqvae import VQVAE
from muse.core.config import load_config

PRESETS = Path(__file__).resolve().parents[1] / "configs" / "jukebox"
PRIORS = {2: "prior_tiny", 1: "upsampler_tiny_level_1", 0: "upsampler_tiny_level_0"}
ARTISTS = ("unknown", "alice", "bob")  # ids 0, 1, 2 in the id files ``save_tiny_jukebox`` writes with ``ids``
GENRES = ("unknown", "folk", "jazz")


def save_tiny_jukebox(root: Path, ids: bool = False) -> Path:
    """Write ``vqvae.safetensors`` and ``prior_level_{2,1,0}.safetensors`` (44.1 kHz, 64 codes, a top prior
    with lyrics) to ``root``, and with ``ids`` the v2 and v3 artist/genre id files in ``root/ids``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if ids:
        (root / "ids").mkdir(exist_ok=True)
        for version in ("v2", "v3"):  # the toy upsamplers' labels are v2, the top prior's v3
            for kind, names in (("artist", ARTISTS), ("genre", GENRES)):
                lines = [f"{name};{i}" for i, name in enumerate(names)]
                (root / "ids" / f"{version}_{kind}_ids.txt").write_text("\n".join(lines) + "\n")
    torch.manual_seed(0)
    save_vqvae(VQVAE(load_vqvae_config(PRESETS / "vqvae_tiny.yaml")), root / "vqvae.safetensors")
    for level, name in PRIORS.items():
        prior = JukeboxPrior(load_config(PriorConfig, PRESETS / f"{name}.yaml"))
        with torch.no_grad():  # a random model with some structure: larger logits than the init's
            prior.embed.weight.normal_(std=0.5)
        save_prior(prior, root / f"prior_level_{level}.safetensors", ids="ids" if ids else None)
    return root
