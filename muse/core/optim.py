"""AdamW with decoupled weight decay on matrices only, and the warmup + cosine learning rate."""

from __future__ import annotations

import math

import torch
from torch import nn


def no_decay(name: str, param: nn.Parameter, owner: nn.Module) -> bool:
    """Biases, norm gains and embeddings are not decayed.

    A parameter is exempt when it has fewer than two dimensions (biases, LayerNorm weights),
    belongs to an ``nn.Embedding``, or is a bare parameter whose own name says embedding
    (``pos_emb.pos_emb``-style learned positions); a Linear's ``weight`` is always decayed."""
    leaf = name.rsplit(".", 1)[-1]
    return param.ndim < 2 or isinstance(owner, nn.Embedding) or (leaf != "weight" and "emb" in leaf)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed matrices and the exempt rest (each shared parameter once)."""
    decay, exempt, seen = [], [], set()
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            (exempt if no_decay(full, param, module) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float], eps: float
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (call after any FSDP sharding)."""
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps)


def lr_at(step: int, lr: float, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warmup from ``lr / warmup``
    to ``lr`` over ``warmup_steps`` steps, then a cosine decay to ``lr * min_lr_ratio`` at
    ``total_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    floor = lr * min_lr_ratio
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


__all__ = ["build_optimizer", "lr_at", "no_decay", "param_groups"]
