"""Two optimizer steps of each real model family through its own training entry point, used by
test_ddp.py under ``torchrun`` (or plain ``python``).

    python ddp_models_script.py WORK STRATEGY [FAMILY ...]

WORK holds the prepared inputs (``midi_data/``: a built token dataset, ``audio/``: audio files,
``codes/``: a dataset from ``jukebox encode-dataset``); each family trains into
``WORK/STRATEGY/FAMILY/`` and exports its model there as a user's run would (``model/``,
``vqvae.safetensors``, ``prior_level_2.safetensors``). FAMILY: muse, vqvae, prior (default: all).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from muse.core.distributed import shutdown_distributed
from muse.core.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("muse", "vqvae", "prior")


def steps(train: TrainConfig, strategy: str) -> TrainConfig:
    """The preset's optimiser settings, cut to two steps of two items per process, no evaluation."""
    return dataclasses.replace(train, steps=2, batch_size=2, grad_accum=1, warmup_steps=1, eval_every=0,
                               eval_batches=0, checkpoint_every=0, log_every=1, strategy=strategy)


def train_muse(work: Path, out: Path, strategy: str) -> None:
    from muse.config import load_run_config
    from muse.training import train

    run = load_run_config(REPO / "configs" / "muse" / "tiny.yaml")
    run = dataclasses.replace(run, train=steps(run.train, strategy),
                              data=dataclasses.replace(run.data, crops_per_epoch=8))
    train(run, work / "midi_data", out, progress=False)


def train_vqvae(work: Path, out: Path, strategy: str) -> None:
    from jukebox.vqvae.training import load_training_config, train_vqvae

    config = load_training_config(REPO / "configs" / "jukebox" / "train_vqvae_tiny.yaml")
    config = dataclasses.replace(config, train=steps(config.train, strategy), val_fraction=0.0)
    train_vqvae(config, work / "audio", out, progress=False)


def train_prior(work: Path, out: Path, strategy: str) -> None:
    from jukebox.prior.config import PriorConfig
    from jukebox.prior.training import train_prior
    from muse.core.config import load_config

    config = load_config(PriorConfig, REPO / "configs" / "jukebox" / "prior_tiny.yaml")
    train_prior(config, work / "codes", out, steps(TrainConfig(steps=1, batch_size=1), strategy), progress=False)


def main() -> None:
    work, strategy, *families = sys.argv[1:]
    torch.set_num_threads(1)
    for family in families or FAMILIES:
        globals()[f"train_{family}"](Path(work), Path(work) / strategy / family, strategy)
    shutdown_distributed()


if __name__ == "__main__":
    main()
