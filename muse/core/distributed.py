"""Multi-process training plumbing on top of torch.distributed (launched by ``torchrun``).

``init_distributed`` joins the process group described by torchrun's environment variables
(gloo on CPU, nccl on CUDA) or reports a single process; ``wrap_model`` applies DDP or FSDP
(``torch.distributed.fsdp.fully_shard``); ``full_state`` / ``load_full_state`` move complete
(unsharded) model and optimizer state dicts through ``torch.distributed.checkpoint.state_dict``,
so checkpoints have one format whatever the strategy and world size (``full_model_state``: the
model's alone, for exporting a trained model).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from muse.core.errors import ConfigError

log = logging.getLogger(__name__)

Strategy = Literal["auto", "ddp", "fsdp"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()


def default_device(local_rank: int = 0) -> torch.device:
    """``cuda:<local_rank>`` when CUDA is available, else CPU."""
    return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")


def init_distributed(backend: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``MASTER_PORT``); a plain ``python`` run is a single process.

    Idempotent: an already initialised group is reported as is. The backend defaults to nccl
    when CUDA is available, gloo otherwise; on CUDA the process binds to ``cuda:LOCAL_RANK``."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = default_device(local_rank)
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1 or "MASTER_ADDR" not in os.environ:
        return DistInfo(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    info = DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)
    log.info("joined process group: rank %d of %d (%s, %s)", info.rank, info.world_size, backend, device)
    return info


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum ``values`` over all processes (a no-op for a single process); returns a new tensor."""
    out = values.clone()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(out)
    return out


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` in rank order (in memory; ``[obj]`` for a single process)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def layer_units(model: nn.Module) -> list[nn.Module]:
    """Default FSDP units: the outermost repeated blocks, i.e. each module held in an
    ``nn.ModuleList`` that is not inside another unit (transformer layers, a VQ-VAE's per-level
    encoders and decoders; not the resnet blocks inside those). Units never nest: ``fully_shard``
    on a module inside an already sharded one would shard its parameters twice."""
    units: list[nn.Module] = []
    seen: set[int] = set()

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if id(child) in seen:
                continue
            seen.add(id(child))
            if isinstance(module, nn.ModuleList) and not isinstance(child, nn.ModuleList):
                if any(True for _ in child.parameters()):  # a unit (what it holds is sharded with it)
                    units.append(child)
            else:
                visit(child)

    visit(model)
    return units


def wrap_model(
    model: nn.Module,
    strategy: Strategy,
    info: DistInfo,
    fsdp_units: Callable[[nn.Module], Iterable[nn.Module]] = layer_units,
) -> nn.Module:
    """Apply the training strategy; ``model`` must already be on ``info.device``.

    auto: DDP when there are several processes, the bare model otherwise. ddp:
    ``DistributedDataParallel``. fsdp: ``fully_shard`` on each unit of ``fsdp_units(model)``
    and then on the root (parameters become sharded DTensors; the module object is kept).
    Either way every process starts from rank 0's weights and buffers."""
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        if not dist.is_initialized():
            raise ConfigError("strategy 'fsdp' needs a process group: launch the training with torchrun")
        with torch.no_grad():  # as DDP does: otherwise each shard would come from its rank's own initialisation
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor, 0)
        mesh = init_device_mesh(info.device.type, (info.world_size,))
        for unit in fsdp_units(model):
            fully_shard(unit, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    if info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [info.device.index] if info.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)
    return model


def _options(**kw: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The complete (unsharded) state dict of ``model`` on CPU, with the bare module's keys,
    whether it trains plainly, under DDP or sharded by FSDP (collective: every rank must call it;
    with several processes only rank 0 receives it, the others get ``{}``)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(cpu_offload=True))


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Complete model and optimizer state dicts on CPU, keyed by parameter names (collective,
    like :func:`full_model_state`: only rank 0 receives them, others get ``{}``)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return full_model_state(model), get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def load_full_state(
    model: nn.Module, optimizer: torch.optim.Optimizer | None, model_state: dict[str, torch.Tensor],
    optim_state: dict[str, Any] | None,
) -> None:
    """Inverse of :func:`full_state` (collective). Under a process group only rank 0's dicts are
    read and broadcast; the other ranks may pass empty dicts."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    opts = _options(broadcast_from_rank0=dist.is_initialized())
    set_model_state_dict(model, model_state, options=opts)
    if optimizer is not None and optim_state is not None:
        set_optimizer_state_dict(model, optimizer, optim_state, options=opts)


__all__ = [
    "DistInfo",
    "Strategy",
    "all_gather_objects",
    "all_reduce_sum",
    "barrier",
    "default_device",
    "full_model_state",
    "full_state",
    "init_distributed",
    "layer_units",
    "load_full_state",
    "shutdown_distributed",
    "wrap_model",
]
