"""Train the symbolic model on a built dataset with the shared ``Trainer`` (``muse train``).

The run folder gets ``run_config.yaml`` (the preset as used), ``tokenizer.json`` (the dataset's
vocabulary), the Trainer's ``metrics.jsonl`` and ``checkpoints/``, and at the end the exported
model in ``model/`` (``muse.saved_model``), which ``muse generate --model`` and ``muse eval`` read.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from musetok import MidiTokenizer

from muse.config import MuseRunConfig, load_run_config
from muse.core.checkpoint import CHECKPOINTS_DIR, checkpoint_step, latest_checkpoint
from muse.core.config import save_config
from muse.core.errors import UserError
from muse.core.token_shards import TokenDataset
from muse.core.train import Trainer, TrainResult
from muse.fim import with_fim_markers
from muse.note_limits import compute_note_limits
from muse.run_record import check_resumed_run, write_data_record
from muse.saved_model import EXPORT_DIR, TOKENIZER_FILE, build_model, save_model
from muse.train_data import CropDataset, contrast_loss, muse_loss
from muse.warm_start import init_from as init_weights_from

log = logging.getLogger(__name__)

RUN_CONFIG_FILE = "run_config.yaml"
INIT_FILE = "init_from.txt"  # the model a run started from (--init-from); read again by --resume
CROPS_PER_WINDOW = 64  # default epoch: 64 distinct crops per n_ctx tokens of training data


class _Stop(Exception):
    """Raised after the step ``--max-steps`` asked to stop at (its checkpoint is written)."""


class _MuseTrainer(Trainer):
    """The shared Trainer, plus a progress bar showing validation bits/token and tokens/s, and a
    stop after ``stop_at`` steps that keeps the preset's learning-rate schedule (for --resume)."""

    def __init__(self, *args: Any, progress_bar: bool = True, stop_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, progress=False, on_step=self._on_step, **kwargs)
        self._bar = None
        self._show = progress_bar
        self._postfix: dict[str, str] = {}
        self.stop_at = stop_at
        self.last_loss: float | None = None

    def evaluate(self) -> dict[str, float]:
        result = super().evaluate()
        self._postfix["val_bits"] = f"{result['eval_bits_per_token']:.3f}"  # the loss may add the contrast
        return result

    def _on_step(self, step: int, record: dict[str, Any]) -> None:
        self.last_loss = record["loss"]
        self._update_bar(step, record)
        if self.stop_at is not None and step >= self.stop_at and step < self.config.steps:
            every = self.config.checkpoint_every
            if not (every and step % every == 0):
                self.save_checkpoint()
            if self._bar is not None:
                self._bar.close()
            raise _Stop

    def _update_bar(self, step: int, record: dict[str, Any]) -> None:
        if not (self._show and self.dist.is_main):
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.config.steps, initial=step - 1, desc="train", unit="step", dynamic_ncols=True)
        self._postfix["bits"] = f"{record['loss'] / math.log(2):.3f}"
        self._postfix["lr"] = f"{record['lr']:.2e}"
        if "tokens_per_s" in record:
            self._postfix["tok/s"] = f"{record['tokens_per_s']:.0f}"
        self._bar.set_postfix(self._postfix, refresh=False)
        self._bar.update(1)
        if step >= self.config.steps:
            self._bar.close()


def _check_resume(out: Path, tokenizer: MidiTokenizer) -> None:
    saved = out / TOKENIZER_FILE
    if saved.is_file() and MidiTokenizer.load(saved).vocab.fingerprint != tokenizer.vocab.fingerprint:
        raise UserError(f"{out}: this run was trained on another vocabulary than the dataset's; "
                        "use a new --out folder")


def train(config: str | Path | MuseRunConfig, data: str | Path, out: str | Path, *, resume: bool = False,
          max_steps: int | None = None, progress: bool = True, overrides: tuple[str, ...] = (),
          init_from: str | Path | None = None) -> TrainResult:
    """Train a model with the preset ``config`` on the dataset folder ``data``; write the run to ``out``.

    ``max_steps`` stops once that many steps are done (a checkpoint is written; the preset's
    learning-rate schedule is kept, so ``resume`` later continues the same run). ``resume``
    continues from the latest checkpoint in ``out`` exactly (same data order and RNG); other
    settings or data than the run's are refused unless named in ``overrides`` (``muse.run_record``).
    ``init_from`` starts a new run from a saved model's weights (``muse.warm_start``); the run
    records it, and a resume before the first checkpoint starts from it again.
    """
    run = config if isinstance(config, MuseRunConfig) else load_run_config(config)
    if max_steps is not None and max_steps < 1:
        raise UserError(f"--max-steps must be at least 1, not {max_steps}")
    dataset = TokenDataset(data)
    tokenizer = dataset.load_tokenizer()
    if run.data.fim_rate > 0:  # the marker block goes after every id: the dataset's shards stay valid
        tokenizer = with_fim_markers(tokenizer)
    out = Path(out)
    if not resume and (out / CHECKPOINTS_DIR).exists():
        raise UserError(f"{out}: already holds a training run; pass --resume to continue it or choose another --out")
    _check_resume(out, tokenizer)
    if init_from is not None and resume:
        raise UserError("--init-from starts a new run; --resume continues from the run's own checkpoint")
    if resume and (out / INIT_FILE).is_file():
        init_from = (out / INIT_FILE).read_text().strip()
    torch.manual_seed(run.train.seed)  # the initial weights are part of the run's reproducibility
    model = build_model(dataclasses.replace(run.model, composer_dropout=run.data.composer_dropout), tokenizer)
    run = dataclasses.replace(run, model=model.config)
    fresh = not (resume and latest_checkpoint(out / CHECKPOINTS_DIR) is not None)
    if init_from is not None and fresh:
        init_weights_from(model, tokenizer, init_from)
    if resume and (out / CHECKPOINTS_DIR).exists():
        check_resumed_run(out, run, data, dataset, overrides)  # same run, or a --override of a safe setting
    n_ctx, tc = model.config.n_ctx, run.train
    train_pieces = dataset.split_indices("train")
    if len(train_pieces) == 0:
        raise UserError(f"{data}: the dataset has no training pieces")
    # Independent of the number of steps, so that --max-steps and --resume keep the data order.
    global_batch = tc.batch_size * tc.grad_accum * int(os.environ.get("WORLD_SIZE", "1"))
    items = run.data.crops_per_epoch or max(
        global_batch, CROPS_PER_WINDOW * math.ceil(int(dataset.lengths[train_pieces].sum()) / n_ctx))
    augment = run.data.augment if run.data.augment_training else None
    train_data = CropDataset(dataset, train_pieces, tokenizer, n_ctx, items=items, seed=tc.seed,
                             augment_config=augment, min_tokens=run.data.min_piece_tokens,
                             composer_dropout=run.data.composer_dropout, fim_rate=run.data.fim_rate,
                             opening_rate=run.data.opening_rate, contrast_rate=run.data.contrast_rate)
    valid_pieces = dataset.split_indices("valid")
    val_data = None
    if len(valid_pieces):
        val_data = CropDataset(dataset, valid_pieces, tokenizer, n_ctx, items=run.data.val_crops,
                               seed=tc.seed + 7919, augment_config=None, min_tokens=2,
                               contrast_rate=run.data.contrast_rate)  # drawn after the crop: same crops
    else:
        log.warning("%s: no validation pieces: validation bits/token will not be measured", data)
    if int(os.environ.get("RANK", "0")) == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_config(run, out / RUN_CONFIG_FILE)
        write_data_record(out, data, dataset)
        tokenizer.save(out / TOKENIZER_FILE)
        if init_from is not None:
            (out / INIT_FILE).write_text(f"{Path(init_from).resolve()}\n")
    log.info("training a %.1fM-parameter model on %d pieces (%d tokens) for %d steps",
             model.num_parameters() / 1e6, len(train_pieces), int(dataset.lengths[train_pieces].sum()), tc.steps)
    done = latest_checkpoint(out / CHECKPOINTS_DIR) if resume else None
    if done is not None and max_steps is not None and checkpoint_step(done) >= max_steps:
        log.info("%s: already at step %d >= --max-steps %d", out, checkpoint_step(done), max_steps)
        return TrainResult(checkpoint_step(done), None, None, done)
    loss_fn = muse_loss
    if run.data.contrast_rate > 0:
        loss_fn = functools.partial(contrast_loss, weight=run.data.contrast_weight)
    trainer = _MuseTrainer(model, loss_fn, train_data, val_data, tc, out, model_config=model.config,
                           model_kind="muse", progress_bar=progress, stop_at=max_steps)
    try:
        result = trainer.fit(resume=resume)
    except _Stop:
        result = TrainResult(trainer.step, trainer.last_loss, None, latest_checkpoint(trainer.checkpoint_root))
        log.info("stopped after step %d of %d (--max-steps); continue with --resume", trainer.step, tc.steps)
    state = trainer.export_state()  # collective: the full weights on the main process, whatever the strategy
    if trainer.dist.is_main:
        final = build_model(run.model, tokenizer)
        final.load_state_dict(state)
        save_model(final, tokenizer, out / EXPORT_DIR, limits=compute_note_limits(dataset))  # muse.note_limits
        log.info("model saved to %s", out / EXPORT_DIR)
    return result


__all__ = ["train", "RUN_CONFIG_FILE"]
