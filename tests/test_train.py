"""Trainer: config, schedule, parameter groups, data order, accumulation, clipping, evaluation,
metrics and in-process resume (the SIGKILL resume is in test_resume.py, DDP in test_ddp.py)."""

from __future__ import annotations

import json
import math
from collections import namedtuple
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from muse.core.batching import BatchOrder, StepBatchSampler, eval_batches, stream_batches, to_device
from muse.core.config import load_config
from muse.core.errors import ConfigError, UserError
from muse.core.optim import lr_at, param_groups
from muse.core.train import LossOutput, TrainConfig, Trainer
from tiny_train_script import TinyLM, loss_fn, sequences


def read_metrics(out_dir) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def comparable(records: list[dict]) -> list[dict]:
    """Metrics without the wall-clock figures."""
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records]


def tiny(dropout: float = 0.0) -> TinyLM:
    torch.manual_seed(1234)
    return TinyLM(dropout)


def config(**overrides) -> TrainConfig:
    base = dict(steps=6, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=3, checkpoint_every=2, keep_checkpoints=2)
    return TrainConfig(**(base | overrides))


# ------------------------------------------------------------------------- config and optimizer


def test_train_config_loads_strictly_from_yaml(tmp_path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("steps: 100\nbatch_size: 8\nbetas: [0.9, 0.99]\nstrategy: fsdp\n")
    assert load_config(TrainConfig, path) == TrainConfig(steps=100, batch_size=8, betas=(0.9, 0.99), strategy="fsdp")
    path.write_text("steps: 100\nbatch_size: 8\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(TrainConfig, path)
    path.write_text("batch_size: 8\n")
    with pytest.raises(ConfigError, match="steps"):
        load_config(TrainConfig, path)
    path.write_text("steps: 100\nbatch_size: 8\nstrategy: horovod\n")
    with pytest.raises(ConfigError, match="horovod"):
        load_config(TrainConfig, path)
    with pytest.raises(ConfigError, match="grad_accum"):
        TrainConfig(steps=1, batch_size=1, grad_accum=0)


def test_warmup_then_cosine_schedule() -> None:
    lr, total, warm = 1e-3, 100, 10
    at = [lr_at(s, lr, total, warm, 0.1) for s in range(total + 1)]
    assert at[0] == pytest.approx(lr / warm) and at[warm - 1] == pytest.approx(lr)
    assert all(a < b for a, b in zip(at[:warm], at[1:warm]))  # rising during warmup
    assert at[warm] == pytest.approx(lr)
    assert all(a >= b for a, b in zip(at[warm:], at[warm + 1:]))  # then only decreasing
    assert at[warm + 45] == pytest.approx(0.1 * lr + 0.9 * lr / 2)  # half-way: midpoint of the cosine
    assert at[total] == pytest.approx(0.1 * lr)
    assert lr_at(0, lr, total, 0, 0.0) == pytest.approx(lr)


def test_no_weight_decay_on_biases_norms_and_embeddings() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.x_emb = nn.Embedding(10, 4)
            self.pos_emb = nn.Parameter(torch.zeros(8, 4))
            self.ln = nn.LayerNorm(4)
            self.proj = nn.Linear(4, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.x_emb.weight  # tied

    model = Model()
    decay, exempt = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and exempt["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model.proj.weight)}
    assert {id(p) for p in exempt["params"]} == {id(p) for p in (model.x_emb.weight, model.pos_emb, model.ln.weight,
                                                                  model.ln.bias, model.proj.bias)}
    assert len(decay["params"]) + len(exempt["params"]) == len(list(model.parameters()))  # tied weight once


# -------------------------------------------------------------------------------- data order


def test_each_epoch_reads_distinct_items_and_reshuffles() -> None:
    order = BatchOrder(n_items=50, batch_size=4, grad_accum=2, world_size=1, rank=0, seed=3, shuffle=True)
    assert order.steps_per_epoch == 6  # 50 // 8, the incomplete rest is dropped
    epoch0 = [i for s in range(6) for m in range(2) for i in order.indices(s, m)]
    epoch1 = [i for s in range(6, 12) for m in range(2) for i in order.indices(s, m)]
    assert len(set(epoch0)) == 48 and len(set(epoch1)) == 48 and epoch0 != epoch1
    plain = BatchOrder(50, 4, 2, 1, 0, seed=3, shuffle=False)
    assert plain.indices(0, 0) == [0, 1, 2, 3] and plain.indices(0, 1) == [4, 5, 6, 7]
    with pytest.raises(UserError, match="fewer than one optimizer step"):
        BatchOrder(7, 4, 2, 1, 0, 0, True)


def test_two_processes_read_what_one_process_with_the_double_batch_reads() -> None:
    one = BatchOrder(64, 8, 2, 1, 0, seed=5, shuffle=True)
    ranks = [BatchOrder(64, 4, 2, 2, r, seed=5, shuffle=True) for r in range(2)]
    for step in range(7):
        for micro in range(2):
            assert ranks[0].indices(step, micro) + ranks[1].indices(step, micro) == one.indices(step, micro)


def test_the_sampler_resumes_at_any_step() -> None:
    order = BatchOrder(40, 2, 3, 1, 0, seed=1, shuffle=True)
    full = list(StepBatchSampler(order, 0, 9))
    assert list(StepBatchSampler(order, 4, 9)) == full[4 * 3:]
    assert len(StepBatchSampler(order, 4, 9)) == 15


def test_streams_are_dealt_round_robin_from_any_position_and_cycle() -> None:
    source = [f"b{i}" for i in range(5)]
    take = lambda it, n: [next(it) for _ in range(n)]  # noqa: E731
    assert take(stream_batches(source, 2, 0), 4) == ["b0", "b2", "b4", "b1"]
    assert take(stream_batches(source, 2, 1), 4) == ["b1", "b3", "b0", "b2"]
    assert take(stream_batches(source, 1, 0, start=3), 3) == ["b3", "b4", "b0"]
    with pytest.raises(UserError, match="empty"):
        next(stream_batches([], 1, 0))


def test_every_process_gets_the_same_number_of_eval_batches() -> None:
    data = list(range(7))
    shares = [list(eval_batches(data, 2, 0, 3, r, list)) for r in range(3)]
    assert [len(s) for s in shares] == [2, 2, 2]
    real = sorted(x for s in shares for batch, w in s if w == 1.0 for x in batch)
    assert real == data  # every item once with weight 1, padding with weight 0
    assert [b for b, _ in eval_batches(data, 2, 2, 1, 0, list)] == [[0, 1], [2, 3]]  # limit


def test_to_device_walks_nested_batches() -> None:
    Pair = namedtuple("Pair", "x y")

    @dataclass
    class Batch:
        ids: torch.Tensor
        extra: dict

    batch = Batch(torch.zeros(2), {"p": Pair(torch.ones(1), [torch.ones(2)]), "name": "a"})
    moved = to_device(batch, torch.device("meta"))
    assert moved.ids.is_meta and moved.extra["p"].x.is_meta and moved.extra["p"].y[0].is_meta
    assert moved.extra["name"] == "a" and isinstance(moved.extra["p"], Pair)


# ------------------------------------------------------------------------------------ trainer


def test_training_lowers_the_loss_and_logs_jsonl(tmp_path) -> None:
    # sequences that count up: easy to learn
    data = [torch.arange(s, s + 9) % 13 for s in range(32)]
    trainer = Trainer(tiny(), loss_fn, data, data[:8], config(steps=30, lr=1e-2, eval_every=10, checkpoint_every=10),
                      tmp_path, progress=False)
    result = trainer.fit()
    records = read_metrics(tmp_path)
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in train] == list(range(1, 31))
    assert [r["step"] for r in evals] == [10, 20, 30]
    assert {"loss", "lr", "grad_norm", "tokens", "tokens_per_s", "accuracy"} <= set(train[0])
    assert train[0]["tokens"] == 4 * 8
    assert train[-1]["loss"] < 0.5 * train[0]["loss"]
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"] and "eval_accuracy" in evals[-1]
    assert result.step == 30 and result.eval_loss == evals[-1]["eval_loss"]
    assert result.checkpoint == tmp_path / "checkpoints" / "step_00000030"
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*")) == ["step_00000020", "step_00000030"]


def test_gradient_accumulation_equals_the_larger_batch(tmp_path) -> None:
    data = sequences(32, 0)
    big = Trainer(tiny(), loss_fn, data, None, config(batch_size=8), tmp_path / "big", progress=False)
    big.fit()
    small = Trainer(tiny(), loss_fn, data, None, config(batch_size=2, grad_accum=4), tmp_path / "small", progress=False)
    small.fit()
    for a, b in zip(read_metrics(tmp_path / "big"), read_metrics(tmp_path / "small")):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5)
    for p, q in zip(big.model.parameters(), small.model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_gradients_are_clipped_before_the_optimizer_step(tmp_path) -> None:
    trainer = Trainer(tiny(), loss_fn, sequences(16, 0), None, config(grad_clip=0.05, steps=3), tmp_path,
                      progress=False)
    seen = []

    def norm_at_step(optimizer, args, kwargs) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    trainer.optimizer.register_step_pre_hook(norm_at_step)
    trainer.fit()
    logged = [r["grad_norm"] for r in read_metrics(tmp_path) if "grad_norm" in r]
    assert all(n > 0.05 for n in logged)  # the logged norm is the one before clipping
    assert seen == pytest.approx([0.05] * 3, rel=1e-4)


def test_evaluation_is_a_token_weighted_mean(tmp_path) -> None:
    def value_loss(model: nn.Module, batch: torch.Tensor) -> LossOutput:
        # loss = mean of the batch's values, averaged over len(batch) "tokens"
        return LossOutput(batch.float().mean() + 0 * model.head.bias.sum(), {"max": batch.max()}, len(batch))

    val = [torch.tensor(v) for v in (1.0, 2.0, 6.0)]
    trainer = Trainer(tiny(), value_loss, val, val, config(batch_size=1, eval_batch_size=2), tmp_path, progress=False)
    result = trainer.evaluate()
    assert result["eval_loss"] == pytest.approx(3.0)  # (1 + 2 + 6) / 3, not mean(1.5, 6)
    assert result["eval_max"] == pytest.approx((2 * 2 + 6 * 1) / 3)


def test_a_diverging_run_stops_with_a_clear_error(tmp_path) -> None:
    def nan_loss(model: nn.Module, batch: torch.Tensor) -> LossOutput:
        return LossOutput(model(batch).sum() * float("nan"), n_tokens=1)

    trainer = Trainer(tiny(), nan_loss, sequences(8, 0), None, config(), tmp_path, progress=False)
    with pytest.raises(FloatingPointError, match="step 1"):
        trainer.fit()


class Interrupted(Exception):
    pass


def interrupt_at(step: int):
    def on_step(current: int, record: dict) -> None:
        if current == step:
            raise Interrupted

    return on_step


@pytest.mark.parametrize("stream", [False, True], ids=["dataset", "stream"])
def test_in_process_resume_matches_an_uninterrupted_run(tmp_path, stream: bool) -> None:
    items = sequences(24, 0)

    class Stream:
        """A re-iterable stream of ready (B, T) batches."""

        def __iter__(self):
            return (torch.stack(items[i:i + 4]) for i in range(0, 24, 4))

    data = Stream() if stream else items
    cfg = config(steps=7, grad_accum=2, checkpoint_every=3)
    Trainer(tiny(dropout=0.2), loss_fn, data, items[:8], cfg, tmp_path / "full", progress=False).fit()
    with pytest.raises(Interrupted):
        Trainer(tiny(dropout=0.2), loss_fn, data, items[:8], cfg, tmp_path / "cut", on_step=interrupt_at(5),
                progress=False).fit()
    # a fresh model object: everything must come from the checkpoint of step 3
    torch.manual_seed(999)
    resumed = Trainer(TinyLM(0.2), loss_fn, data, items[:8], cfg, tmp_path / "cut", progress=False)
    assert resumed.fit(resume=True).step == 7
    assert comparable(read_metrics(tmp_path / "cut")) == comparable(read_metrics(tmp_path / "full"))


def test_fsdp_outside_torchrun_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="torchrun"):
        Trainer(tiny(), loss_fn, sequences(16, 0), None, config(strategy="fsdp"), tmp_path, progress=False)


def test_resume_without_a_checkpoint_starts_fresh(tmp_path) -> None:
    trainer = Trainer(tiny(), loss_fn, sequences(16, 0), None, config(steps=2), tmp_path, progress=False)
    result = trainer.fit(resume=True)
    assert result.step == 2 and [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_bf16_autocast_runs_on_cpu_when_asked(tmp_path) -> None:
    trainer = Trainer(tiny(), loss_fn, sequences(16, 0), None, config(steps=2, precision="bf16"), tmp_path,
                      progress=False)
    assert trainer.autocast_dtype == torch.bfloat16
    assert math.isfinite(trainer.fit().train_loss)
    auto = Trainer(tiny(), loss_fn, sequences(16, 0), None, config(steps=1), tmp_path / "auto", progress=False)
    assert auto.autocast_dtype is None  # fp32 on CPU by default
