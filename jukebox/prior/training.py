"""Training a prior (top level or upsampler) on an encoded dataset with the shared ``Trainer``.

The run folder holds the Trainer's metrics and checkpoints (exact ``--resume``), the artist and
genre id files the labels were made with (``ids/``, unless official ones were given) and, at
the end, the exported model ``prior_level_{L}.safetensors`` + ``.json`` (naming ``ids/`` as its
extra) that ``jukebox sample`` loads (put it beside a VQ-VAE as ``--checkpoints``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from musetok.labels import LabelIds

from jukebox.prior.checkpoint import save_prior
from jukebox.prior.config import PriorConfig
from jukebox.prior.data import PriorWindows, load_index, write_label_ids
from jukebox.prior.prior import JukeboxPrior
from muse.core.train import LossOutput, TrainConfig, Trainer, TrainResult

log = logging.getLogger(__name__)

IDS_DIR = "ids"  # the artist/genre id files made from the data, beside the exported prior


def prior_loss(model: JukeboxPrior, batch: dict[str, torch.Tensor]) -> LossOutput:
    """Jukebox's loss (bits per token) of a batch of ``PriorWindows`` items."""
    labels = batch["labels"] if batch["labels"].numel() else None
    upper = batch["upper"] if batch["upper"].numel() else None
    out = model.loss(batch["codes"], model.condition(labels, upper))
    metrics = {"gen_loss": out.gen_loss.detach(), "prime_loss": out.prime_loss.detach()}
    return LossOutput(out.loss, metrics, n_tokens=batch["codes"].numel())


def train_prior(config: PriorConfig, data_dir: str | Path, out_dir: str | Path, train: TrainConfig, *,
                ids_dir: str | Path | None = None, val_dir: str | Path | None = None, resume: bool = False,
                progress: bool = True) -> TrainResult:
    """Train a prior on the encoded dataset in ``data_dir``; export it into ``out_dir`` at the end.
    ``val_dir`` (another encoded dataset, labelled with the same ids) gives the held-out loss
    every ``train.eval_every`` steps."""
    out = Path(out_dir)
    label_ids, own_ids = None, None
    if config.labels is not None:
        version = config.labels.version
        if ids_dir is not None:
            label_ids = LabelIds.from_dir(ids_dir, version)
        else:
            own_ids = IDS_DIR
            if resume and (out / IDS_DIR / f"{version}_artist_ids.txt").is_file():
                label_ids = LabelIds.from_dir(out / IDS_DIR, version)
            else:
                label_ids = write_label_ids(load_index(data_dir), out / IDS_DIR, version)
    data = PriorWindows(data_dir, config, label_ids)
    log.info("training the level-%d prior on %d windows of %d codes", config.level, len(data), config.n_ctx)
    torch.manual_seed(train.seed)  # the initial weights are part of the run's reproducibility
    model = JukeboxPrior(config)
    val = PriorWindows(val_dir, config, label_ids) if val_dir is not None else None
    trainer = Trainer(model, prior_loss, data, val, train, out, model_config=config, model_kind="prior",
                      progress=progress)
    result = trainer.fit(resume)
    state = trainer.export_state()  # collective: the full weights on the main process, whatever the strategy
    if trainer.dist.is_main:
        path = save_prior(model, out / f"prior_level_{config.level}.safetensors", state, ids=own_ids)
        log.info("exported %s", path)
    return result
