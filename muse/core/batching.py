"""Deterministic, resumable batch order for training and evaluation.

Which items a process reads at optimizer step ``s`` is a pure function of (seed, ``s``), so a
resumed run reads exactly what an uninterrupted one would, and ``W`` processes with micro-batch
``b`` read, between them, exactly what one process with micro-batch ``W*b`` reads:

- map-style data (``len`` + ``__getitem__``): each epoch is a permutation seeded by
  ``seed + epoch``; step ``s`` takes the next ``batch * accum * world`` items, micro-batch ``j``
  of rank ``r`` being the slice at ``(j * world + r) * batch``; an incomplete last batch of an
  epoch is dropped.
- any other iterable is a stream of ready batches, read again from the start when exhausted,
  dealt round-robin to the processes (batch ``i`` goes to rank ``i % world``); step ``s`` starts
  at batch ``s * accum * world``. The iterable must give the same batches each pass.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import Sampler

from muse.core.errors import UserError


def is_map_style(data: Any) -> bool:
    """True for indexable data with a length (a torch ``Dataset``, a list...), not for streams."""
    return (hasattr(data, "__len__") and hasattr(data, "__getitem__")
            and not isinstance(data, torch.utils.data.IterableDataset))


class BatchOrder:
    """The items each micro-batch of each process reads (map-style data)."""

    def __init__(self, n_items: int, batch_size: int, grad_accum: int, world_size: int, rank: int, seed: int,
                 shuffle: bool) -> None:
        self.n_items, self.batch_size, self.grad_accum = n_items, batch_size, grad_accum
        self.world_size, self.rank, self.seed, self.shuffle = world_size, rank, seed, shuffle
        self.global_batch = batch_size * grad_accum * world_size
        self.steps_per_epoch = n_items // self.global_batch
        if self.steps_per_epoch < 1:
            raise UserError(
                f"the training data has {n_items} items, fewer than one optimizer step needs "
                f"(batch_size {batch_size} x grad_accum {grad_accum} x {world_size} processes)"
            )
        self._perm: tuple[int, torch.Tensor] | None = None

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def permutation(self, epoch: int) -> torch.Tensor:
        """The order of the items in ``epoch``: ``(n_items,)``."""
        if self._perm is None or self._perm[0] != epoch:
            if self.shuffle:
                perm = torch.randperm(self.n_items, generator=torch.Generator().manual_seed(self.seed + epoch))
            else:
                perm = torch.arange(self.n_items)
            self._perm = (epoch, perm)
        return self._perm[1]

    def indices(self, step: int, micro: int) -> list[int]:
        """Item indices of micro-batch ``micro`` of this process at optimizer step ``step``."""
        epoch, k = divmod(step, self.steps_per_epoch)
        start = k * self.global_batch + (micro * self.world_size + self.rank) * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size].tolist()


class StepBatchSampler(Sampler[list[int]]):
    """``batch_sampler`` for a DataLoader: this process's micro-batches for steps ``[start, end)``."""

    def __init__(self, order: BatchOrder, start_step: int, end_step: int) -> None:
        self.order, self.start_step, self.end_step = order, start_step, end_step

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.end_step):
            for micro in range(self.order.grad_accum):
                yield self.order.indices(step, micro)

    def __len__(self) -> int:
        return (self.end_step - self.start_step) * self.order.grad_accum


def stream_batches(source: Iterable[Any], world_size: int, rank: int, start: int = 0) -> Iterator[Any]:
    """This process's share of a stream of ready batches, from global batch ``start`` on, cycling."""
    drawn = 0
    while True:
        before = drawn
        for batch in source:
            if drawn >= start and drawn % world_size == rank:
                yield batch
            drawn += 1
        if drawn == before:
            raise UserError("the training data stream is empty")


def eval_batches(
    data: Any, batch_size: int, limit: int, world_size: int, rank: int, collate: Any
) -> Iterator[tuple[Any, float]]:
    """This process's evaluation batches with their weight, in order: batch ``i`` goes to rank
    ``i % world``; every process yields the same number of batches (a collective such as an FSDP
    forward must run on all of them), the short ones repeating a batch with weight 0.

    Map-style data is cut into consecutive batches of ``batch_size`` (the last may be smaller);
    a stream's batches are used as they are. ``limit`` caps the number of batches (0 = all)."""
    if is_map_style(data):
        n = len(data)
        thunks: Iterable[Any] = [
            functools.partial(lambda s: collate([data[i] for i in range(s, min(n, s + batch_size))]), s)
            for s in range(0, n, batch_size)
        ]
    else:
        thunks = (functools.partial(lambda b: b, b) for b in data)
    if limit > 0:
        thunks = itertools.islice(thunks, limit)
    mine = count = 0
    first = pad = None
    for i, thunk in enumerate(thunks):
        count += 1
        first = thunk if first is None else first
        if i % world_size == rank:
            pad = thunk()
            mine += 1
            yield pad, 1.0
    for _ in range(mine, -(-count // world_size)):
        if pad is None:
            assert first is not None
            pad = first()
        yield pad, 0.0


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in ``batch`` (tensors, mappings, lists, tuples, dataclasses) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(batch, **{f.name: to_device(getattr(batch, f.name), device)
                                             for f in dataclasses.fields(batch) if f.init})
    return batch


__all__ = ["BatchOrder", "StepBatchSampler", "eval_batches", "is_map_style", "stream_batches", "to_device"]
