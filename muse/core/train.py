"""One Trainer for every model: AdamW, warmup + cosine, clipping, accumulation, bf16 autocast on
CUDA, DDP/FSDP under torchrun, evaluation, JSONL metrics, tqdm and exact resume.

The model-specific part is ``loss_fn(model, batch) -> LossOutput``. Data is a map-style dataset
(items collated by ``collate_fn``) or a re-iterable stream of ready batches; the order is a pure
function of the seed and the step (see ``muse.core.batching``), so a run killed and resumed from
its last checkpoint logs the same losses as an uninterrupted one.

Output folder: ``metrics.jsonl`` (one JSON object per logged step, ``{"step", "loss", "lr",
"grad_norm", "tokens", "tokens_per_s", ...}``, and per evaluation ``{"step", "eval_loss", ...}``)
and ``checkpoints/step_NNNNNNNN/`` (see ``muse.core.checkpoint``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, default_collate

from muse.core import distributed as D
from muse.core.atomic import atomic_path
from muse.core.batching import BatchOrder, StepBatchSampler, eval_batches, is_map_style, stream_batches, to_device
from muse.core.checkpoint import (
    CHECKPOINTS_DIR,
    checkpoint_step,
    latest_checkpoint,
    load_checkpoint_part,
    save_training_checkpoint,
)
from muse.core.config import to_dict
from muse.core.errors import ConfigError
from muse.core.model_folder import header
from muse.core.optim import build_optimizer, lr_at
from muse.core.rng import rng_state, seed_everything, set_rng_state

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (strict YAML via ``muse.core.config.load_config``).

    batch_size is per process and micro-batch: one optimizer step sees
    ``batch_size * grad_accum * processes`` items. Every ``*_every`` of 0 means "only at the end".
    precision auto = bf16 autocast on CUDA, fp32 on CPU. strategy auto = DDP when launched on
    several processes; fsdp shards parameters, gradients and optimizer state (torchrun only).
    """

    steps: int
    batch_size: int
    grad_accum: int = 1
    lr: float = 3e-4
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0
    log_every: int = 1
    eval_every: int = 0
    eval_batches: int = 0
    eval_batch_size: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    seed: int = 0
    shuffle: bool = True
    num_workers: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    strategy: D.Strategy = "auto"

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_every", "eval_batches", "eval_batch_size", "checkpoint_every",
                     "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("lr must be > 0, min_lr_ratio in [0, 1], weight_decay and grad_clip >= 0")


@dataclass
class LossOutput:
    """What a model's ``loss_fn(model, batch)`` returns.

    loss: scalar mean over the batch (what is back-propagated); metrics: extra scalars to log
    (averaged like the loss); n_tokens: how many tokens (or items) the loss averages over, for
    tokens/s and for weighting evaluation batches."""

    loss: Tensor
    metrics: dict[str, float | Tensor] = field(default_factory=dict)
    n_tokens: int = 0


LossFn = Callable[[nn.Module, Any], LossOutput]


class _WithLoss(nn.Module):
    """Runs ``loss_fn`` inside ``forward``, so that DDP and FSDP see the whole computation and
    ``loss_fn`` may call any method of the model, not only its ``forward``."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any) -> tuple[Tensor, dict[str, float | Tensor], int]:
        out = self.loss_fn(self.model, batch)
        return out.loss, out.metrics, out.n_tokens  # a tuple: hooks look for tensors in outputs


@dataclass(frozen=True)
class TrainResult:
    step: int
    train_loss: float | None
    eval_loss: float | None
    checkpoint: Path | None


class Trainer:
    """Train ``model`` with ``loss_fn`` on ``train_data``; evaluate on ``val_data`` (optional).

    Call from a plain process or under ``torchrun`` (the process group is joined from its
    environment). ``loss_fn`` receives the model itself (never a DDP/FSDP wrapper) and may call
    any of its methods. ``model_config`` (a dataclass or dict; default: ``model.config`` when it
    is a dataclass) is saved beside the weights as ``config.json``, with the model-folder header of
    ``model_kind`` (``muse.core.model_folder``) when one is given, so a checkpoint loads like a saved
    model of that kind. ``fsdp_units`` picks the
    sub-modules sharded separately under FSDP (default: the outermost repeated blocks, ``layer_units``).
    ``on_step`` is called on every process after each optimizer step with the step and its
    logged record. ``export_state()`` gathers the trained weights for saving the model.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_data: Any,
        val_data: Any,
        config: TrainConfig,
        out_dir: str | Path,
        *,
        collate_fn: Callable[[list[Any]], Any] = default_collate,
        model_config: Any = None,
        model_kind: str | None = None,
        fsdp_units: Callable[[nn.Module], Any] = D.layer_units,
        on_step: Callable[[int, dict[str, Any]], None] | None = None,
        progress: bool = True,
    ) -> None:
        self.config, self.loss_fn, self.collate_fn = config, loss_fn, collate_fn
        self.train_data, self.val_data = train_data, val_data
        self.out_dir = Path(out_dir)
        if model_config is None and dataclasses.is_dataclass(getattr(model, "config", None)):
            model_config = model.config
        self.model_config = to_dict(model_config) if dataclasses.is_dataclass(model_config) else model_config
        if model_kind is not None and self.model_config is not None:
            self.model_config = header(model_kind, self.model_config)
        self.on_step, self.progress = on_step, progress
        self.dist = D.init_distributed()
        self.device = self.dist.device
        self.model = model.to(self.device)
        # what runs a micro-batch: loss_fn around the model, wrapped for DDP/FSDP as a whole
        self.runner = D.wrap_model(_WithLoss(self.model, loss_fn), config.strategy, self.dist, fsdp_units)
        self.optimizer = build_optimizer(self.model, config.lr, config.weight_decay, config.betas, config.eps)
        bf16 = config.precision == "bf16" or (config.precision == "auto" and self.device.type == "cuda")
        self.autocast_dtype = torch.bfloat16 if bf16 else None
        self.step = 0
        self.order = (
            BatchOrder(len(train_data), config.batch_size, config.grad_accum, self.dist.world_size,
                       self.dist.rank, config.seed, config.shuffle)
            if is_map_style(train_data) else None
        )

    # ------------------------------------------------------------------------------ public

    def fit(self, resume: bool = False) -> TrainResult:
        """Train until ``config.steps``; with ``resume``, continue from the latest checkpoint in
        ``out_dir`` (a fresh start when there is none). Returns the final step and losses."""
        cfg = self.config
        rng = self._resume() if resume else None
        if rng is None:
            seed_everything(cfg.seed + self.dist.rank)
        else:
            set_rng_state(rng, self.device)
        batches = self._train_batches()
        bar = self._progress_bar()
        train_loss = eval_loss = None
        tick, tick_tokens = time.perf_counter(), 0.0
        self.runner.train()
        while self.step < cfg.steps:
            lr = lr_at(self.step, cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            stats, names, grad_norm = self._train_step(batches)
            self.step += 1
            train_loss, tokens = stats[0], stats[1]
            tick_tokens += tokens
            record: dict[str, Any] = {"step": self.step, "loss": train_loss, "lr": lr, "grad_norm": grad_norm}
            record.update(zip(names, stats[2:]))
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                now = time.perf_counter()
                record.update(tokens=int(tokens), tokens_per_s=tick_tokens / max(now - tick, 1e-9))
                tick, tick_tokens = now, 0.0
                self._write_metrics(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.4f}", lr=f"{lr:.2e}")
            due = (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == cfg.steps
            if self.val_data is not None and due:
                eval_loss = self.evaluate()["eval_loss"]
            if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or self.step == cfg.steps:
                self.save_checkpoint()
            if self.on_step is not None:
                self.on_step(self.step, record)
        if bar is not None:
            bar.close()
        # the last step always saves, so the latest checkpoint is the final state
        return TrainResult(self.step, train_loss, eval_loss, latest_checkpoint(self.checkpoint_root))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Token-weighted mean loss (and metrics) over the validation data, all processes
        together; logged to the metrics file as ``{"step", "eval_loss", "eval_<metric>"...}``."""
        cfg = self.config
        self.runner.eval()
        sums: Tensor | None = None
        names: list[str] = []
        try:
            for batch, weight in eval_batches(self.val_data, cfg.eval_batch_size or cfg.batch_size, cfg.eval_batches,
                                              self.dist.world_size, self.dist.rank, self.collate_fn):
                with self._autocast():
                    loss, metrics, n_tokens = self.runner(to_device(batch, self.device))
                names = names or sorted(metrics)
                w = weight * (n_tokens or 1)
                row = torch.stack([loss.detach().float() * w, torch.tensor(float(w), device=self.device)]
                                  + [torch.as_tensor(metrics[k], dtype=torch.float32, device=self.device) * w
                                     for k in names])
                sums = row if sums is None else sums + row
        finally:
            self.runner.train()
        if sums is None:
            raise ConfigError("the validation data is empty")
        total = D.all_reduce_sum(sums).tolist()
        result = {"eval_loss": total[0] / total[1]} | {f"eval_{k}": v / total[1] for k, v in zip(names, total[2:])}
        self._write_metrics({"step": self.step, **result})
        log.info("step %d: eval loss %.4f", self.step, result["eval_loss"])
        return result

    def export_state(self) -> dict[str, Tensor]:
        """The trained model's complete state dict on CPU (keys of the bare model, never of a
        DDP/FSDP wrapper; FSDP's shards gathered), for exporting it. Collective: every process
        must call it; only the main process receives the weights, the others get ``{}``."""
        return D.full_model_state(self.model)

    @property
    def checkpoint_root(self) -> Path:
        return self.out_dir / CHECKPOINTS_DIR

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current step (collective; rank 0 writes). Returns its folder."""
        model_state, optim_state = D.full_state(self.model, self.optimizer)
        rng_states = D.all_gather_objects(rng_state(self.device))
        path = None
        if self.dist.is_main:
            state = {
                "rng": rng_states,
                "data": self._data_position(),
                "train_config": to_dict(self.config),
                "world_size": self.dist.world_size,
            }
            path = save_training_checkpoint(
                self.checkpoint_root, self.step, {"model": model_state, "optimizer": optim_state, "state": state},
                self.model_config, self.config.keep_checkpoints,
            )
            log.info("step %d: checkpoint %s", self.step, path)
        D.barrier()
        return path

    # ----------------------------------------------------------------------------- internals

    def _train_step(self, batches: Iterator[Any]) -> tuple[list[float], list[str], float]:
        """One optimizer step over ``grad_accum`` micro-batches; returns the all-reduced
        [mean loss, tokens, mean metrics...], metric names and the gradient norm."""
        cfg = self.config
        sums: Tensor | None = None
        names: list[str] = []
        for micro in range(cfg.grad_accum):
            batch = to_device(next(batches), self.device)
            with self._gradient_sync(micro == cfg.grad_accum - 1):
                with self._autocast():
                    loss, metrics, n_tokens = self.runner(batch)
                (loss.float() / cfg.grad_accum).backward()
            names = names or sorted(metrics)
            row = torch.stack([loss.detach().float(), torch.tensor(float(n_tokens), device=self.device)]
                              + [torch.as_tensor(metrics[k], dtype=torch.float32, device=self.device).detach()
                                 for k in names])
            sums = row if sums is None else sums + row
        assert sums is not None
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
        grad_norm = float(norm)
        if not math.isfinite(grad_norm):
            raise FloatingPointError(f"step {self.step + 1}: the gradient norm is {grad_norm} (training diverged)")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        total = D.all_reduce_sum(sums).tolist()
        n = cfg.grad_accum * self.dist.world_size
        return [total[0] / n, total[1]] + [v / n for v in total[2:]], names, grad_norm

    def _gradient_sync(self, sync: bool) -> contextlib.AbstractContextManager:
        """Skip the gradient all-reduce on all but the last micro-batch of a step."""
        if isinstance(self.runner, nn.parallel.DistributedDataParallel) and not sync:
            return self.runner.no_sync()
        if hasattr(self.runner, "set_requires_gradient_sync"):  # FSDP2
            self.runner.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _train_batches(self) -> Iterator[Any]:
        """This process's micro-batches from the current step on."""
        cfg = self.config
        if self.order is None:
            start = self.step * cfg.grad_accum * self.dist.world_size
            return stream_batches(self.train_data, self.dist.world_size, self.dist.rank, start)
        sampler = StepBatchSampler(self.order, self.step, cfg.steps)
        # A private generator: creating the loader's iterator must not consume the global RNG.
        loader = DataLoader(self.train_data, batch_sampler=sampler, collate_fn=self.collate_fn,
                            num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(cfg.seed))
        return iter(loader)

    def _data_position(self) -> dict[str, Any]:
        cfg = self.config
        position = {"step": self.step, "global_batch": cfg.batch_size * cfg.grad_accum * self.dist.world_size}
        if self.order is not None:
            position |= {"epoch": self.order.epoch_of(self.step), "n_items": self.order.n_items,
                         "items_seen": self.step * self.order.global_batch}
        else:
            position |= {"batches_seen": self.step * cfg.grad_accum * self.dist.world_size}
        return position

    def _resume(self) -> list[dict[str, Any]] | None:
        """Load the latest checkpoint, if any; returns the saved RNG states (None: fresh start)."""
        path = latest_checkpoint(self.checkpoint_root)
        if path is None:
            log.info("no checkpoint in %s: starting from step 0", self.checkpoint_root)
            return None
        state = load_checkpoint_part(path, "state")
        main = self.dist.is_main
        model_state = load_checkpoint_part(path, "model") if main else {}
        optim_state = load_checkpoint_part(path, "optimizer") if main else {}
        D.load_full_state(self.model, self.optimizer, model_state, optim_state)
        self.step = checkpoint_step(path)
        saved = state["data"]
        if saved["global_batch"] != self.config.batch_size * self.config.grad_accum * self.dist.world_size or (
            self.order is not None and saved.get("n_items") != self.order.n_items
        ):
            log.warning("%s: batch layout or data size changed since the checkpoint: the data order will differ", path)
        if main:
            self._truncate_metrics()
        log.info("resumed from %s at step %d", path, self.step)
        rng = state["rng"]
        return rng[self.dist.rank] if len(rng) == self.dist.world_size else None

    def _truncate_metrics(self) -> None:
        """Drop metrics logged after the checkpoint we resume from (they will be logged again)."""
        path = self.out_dir / METRICS_FILE
        if not path.is_file():
            return
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line).get("step", 0) <= self.step]
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))

    def _write_metrics(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _progress_bar(self) -> Any:
        if not (self.progress and self.dist.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.config.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)


__all__ = ["LossFn", "LossOutput", "METRICS_FILE", "TrainConfig", "TrainResult", "Trainer"]
