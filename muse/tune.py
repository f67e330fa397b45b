"""Preference tuning of a saved model on the shared Trainer (``muse tune``): DPO against the frozen original.

The run folder gets:

    tune.json          what the run is: the original model, the preferences file (and its SHA-256),
                       the number of pairs and the settings; ``--resume`` refuses any difference
    tokenizer.json     the model's vocabulary (so a checkpoint folder loads as a model)
    metrics.jsonl      the Trainer's log: loss, margin (mean h), accuracy (share of pairs with h > 0)
    checkpoints/       the Trainer's atomic checkpoints (exact resume)
    model/             the tuned model, a normal model folder (``muse.saved_model``): ``muse generate
                       --model RUN``, the demo and the composer tools load it like any other

The policy trains without the model's training-time noise (dropout, structure dropout), so that at
step 0 its margins equal the reference's exactly; the exported config is the original one.
The exported weights keep the original's floating-point type (float16 for the bundled model).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from muse.core.atomic import write_json
from muse.core.checkpoint import CHECKPOINTS_DIR, latest_checkpoint, load_trained, load_weights
from muse.core.config import to_dict
from muse.core.distributed import default_device
from muse.core.errors import UserError
from muse.core.train import TrainConfig, Trainer
from muse.dpo import DPOLoss, PairDataset, collate_pairs, pair_margins, reference_margins
from muse.model import MuseModel
from muse.prefs import PreferencePair, check_vocabulary, read_prefs
from muse.run_folder import check_run_folder
from muse.saved_model import EXPORT_DIR, TOKENIZER_FILE, LoadedModel, load_model, resolve_model_files, save_model

log = logging.getLogger(__name__)

TUNE_FILE = "tune.json"
SAFE_OVERRIDES = ("config.train.steps", "config.train.log_every", "config.train.checkpoint_every",
                  "config.train.keep_checkpoints")


def default_train_config() -> TrainConfig:
    """DPO's defaults: a small learning rate, no weight decay, a short warm-up."""
    return TrainConfig(steps=200, batch_size=8, lr=1e-5, warmup_steps=10, min_lr_ratio=0.1, weight_decay=0.0,
                       log_every=10, checkpoint_every=50)


@dataclass(frozen=True)
class TuneConfig:
    """``method``: dpo. ``beta``: DPO's temperature (smaller lets the model move further from the
    original). ``context``: prompt tokens kept before a completion's first window (a long prime
    is cut to its last ``context`` tokens there). ``train``: the shared Trainer's settings."""

    method: Literal["dpo"] = "dpo"
    beta: float = 0.1
    context: int = 256
    train: TrainConfig = field(default_factory=default_train_config)

    def __post_init__(self) -> None:
        if self.method != "dpo":
            raise UserError(f"unknown tuning method {self.method!r}; available: dpo")
        if not self.beta > 0:
            raise UserError(f"--beta must be > 0, not {self.beta}")
        if self.context < 0:
            raise UserError(f"context must be >= 0, not {self.context}")


@dataclass(frozen=True)
class TuneResult:
    """Where the tuned model is, and the pairs' mean margin h and accuracy (h > 0) after tuning."""

    model_dir: Path
    step: int
    pairs: int
    margin: float
    accuracy: float


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _policy(original: LoadedModel) -> MuseModel:
    """A trainable copy of the original without training-time noise (see the module doc)."""
    c = original.config
    quiet = dataclasses.replace(c, structure_dropout=0.0, embed_dropout=0.0,
                                transformer=dataclasses.replace(c.transformer, dropout=0.0, attn_dropout=0.0))
    policy = MuseModel(quiet, original.model.tables)
    policy.load_state_dict(original.model.state_dict())
    return policy


def _float_dtype(weights: Path) -> torch.dtype:
    """The floating-point type of a weights file (what the tuned model is saved in)."""
    return next((t.dtype for t in load_weights(weights).values() if t.is_floating_point()), torch.float32)


def _record(model: str | Path, prefs: Path | None, n_pairs: int, config: TuneConfig) -> dict:
    return {"model": str(Path(model).resolve()), "prefs": None if prefs is None else str(prefs.resolve()),
            "prefs_sha256": None if prefs is None else _sha256(prefs), "pairs": n_pairs, "config": to_dict(config)}


def tune(model: str | Path, prefs: str | Path | list[PreferencePair], out: str | Path, config: TuneConfig | None = None,
         *, resume: bool = False, overrides: tuple[str, ...] = (), progress: bool = True) -> TuneResult:
    """Tune the saved ``model`` on ``prefs`` (a preferences file, or pairs) and write the run to ``out``
    (see the module doc); ``resume`` continues the run in ``out`` from its latest checkpoint."""
    config = config or TuneConfig()
    out = Path(out)
    device = default_device()
    original = load_model(model, device)
    prefs_path = None if isinstance(prefs, list) else Path(prefs)
    pairs = prefs if prefs_path is None else read_prefs(prefs_path)
    if not pairs:
        raise UserError("no preference pairs to tune on")
    check_vocabulary(pairs, original.tokenizer.vocab, str(prefs_path or "the preference pairs"))
    train_cfg = config.train
    if train_cfg.batch_size * train_cfg.grad_accum > len(pairs):
        log.warning("%d pairs: batch size %d lowered to %d", len(pairs), train_cfg.batch_size, len(pairs))
        train_cfg = dataclasses.replace(train_cfg, batch_size=len(pairs), grad_accum=1)
        config = dataclasses.replace(config, train=train_cfg)
    if len(pairs) < 16:
        log.warning("%d preference pairs: expect the tuned model to follow them only loosely", len(pairs))
    record = _record(model, prefs_path, len(pairs), config)
    check_run_folder(out, TUNE_FILE, record, resume=resume, what="tuning run", overrides=overrides,
                     safe=SAFE_OVERRIDES, ignore=("prefs",))  # a moved file: its hash decides
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / TUNE_FILE, record)
    original.tokenizer.save(out / TOKENIZER_FILE)

    bf16 = train_cfg.precision == "bf16" or (train_cfg.precision == "auto" and device.type == "cuda")
    autocast = torch.bfloat16 if bf16 else None
    data = PairDataset(pairs, original.tokenizer, original.config.n_ctx, config.context)
    reference_margins(original.model, data, train_cfg.batch_size, autocast)
    log.info("tuning on %d pairs (%s, beta %g); the original prefers the chosen sample in %.0f%% of them",
             len(pairs), config.method, config.beta, 100 * float((data.ref_margin > 0).float().mean()))
    policy = _policy(original)
    trainer = Trainer(policy, DPOLoss(config.beta), data, None, train_cfg, out, collate_fn=collate_pairs,
                      model_config=original.config, model_kind="muse",
                      progress=progress)
    result = trainer.fit(resume=resume)
    checkpoint = result.checkpoint or latest_checkpoint(out / CHECKPOINTS_DIR)
    if checkpoint is None:
        raise UserError(f"{out}: the run left no checkpoint")
    tuned = MuseModel(original.config, original.model.tables)
    tuned.load_state_dict(load_trained(checkpoint).state_dict)
    tuned.to(device)
    margins = pair_margins(tuned, data, train_cfg.batch_size, autocast) - data.ref_margin
    weights, _, _ = resolve_model_files(model)
    export = out / EXPORT_DIR
    if trainer.dist.is_main:
        save_model(tuned, original.tokenizer, export, dtype=_float_dtype(weights), limits=original.limits,
                   metadata={"tuned_from": str(Path(model).resolve()), "method": config.method,
                             "pairs": str(len(pairs)), "beta": str(config.beta)})
        log.info("tuned model saved to %s", export)
    return TuneResult(export, result.step, len(pairs), float(margins.mean()), float((margins > 0).float().mean()))


def tune_config(steps: int, batch_size: int, lr: float, beta: float, *, seed: int = 0, context: int = 256,
                warmup_steps: int | None = None, checkpoint_every: int | None = None,
                log_every: int | None = None) -> TuneConfig:
    """A ``TuneConfig`` from the CLI's options (the rest keep ``default_train_config``'s values)."""
    base = default_train_config()
    try:
        train = dataclasses.replace(
            base, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
            warmup_steps=min(base.warmup_steps, steps // 10) if warmup_steps is None else warmup_steps,
            checkpoint_every=checkpoint_every if checkpoint_every is not None else base.checkpoint_every,
            log_every=log_every if log_every is not None else base.log_every)
    except ValueError as err:
        raise UserError(str(err)) from err
    return TuneConfig(beta=beta, context=context, train=train)


__all__ = ["TUNE_FILE", "TuneConfig", "TuneResult", "default_train_config", "tune", "tune_config"]
