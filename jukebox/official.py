"""The official Jukebox release's conventions: its checkpoint files and its integer attention types.

- ``load_official``: an official ``*.pth.tar`` through ``torch.load(weights_only=True)`` (a pickle
  that would run code is refused without running any of it); a ``module.`` prefix (DataParallel)
  is stripped.
- ``apply_key_map``: rename a state dict to ours and check it against the model, failing with the
  full list of keys that are missing, left over or misshapen.
- ``ATTN_TYPES``: Jukebox numbers its attention kinds 0-7 (``attention_types`` in its checkpoints,
  the digits of its ``attn_order`` cycles); ours are the named patterns of ``muse.core.attention``.

The VQ-VAE's and the priors' own key maps are in ``jukebox.vqvae.checkpoint`` and ``jukebox.prior.checkpoint``.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from muse.core.attention import Pattern
from muse.core.errors import CheckpointError

ATTN_TYPES: dict[int, Pattern] = {
    0: "dense", 1: "block_local", 2: "block_transpose", 3: "prev_block",
    4: "summary", 5: "summary_spread", 6: "cross", 7: "prime",
}
"""Jukebox's attention type -> our pattern (1: row, 2: column, 3: previous row)."""


@dataclass(frozen=True)
class OfficialCheckpoint:
    """An official Jukebox checkpoint: hyper-parameters, state dict (prefix stripped), step."""

    hps: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    step: int | None


def load_official(path: str | Path) -> OfficialCheckpoint:
    """Read an official ``*.pth.tar`` with ``torch.load(weights_only=True)`` (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # refused by weights_only: never repeat torch's advice to unpickle it
        raise CheckpointError(unsafe_pickle_message(path, err)) from None
    except Exception as err:  # torch raises many types for bad pickles
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({type(err).__name__}: "
                              f"{_first_line(err)})") from err
    if not isinstance(raw, dict) or "model" not in raw:
        raise CheckpointError(f"{path}: expected a dict with a 'model' state dict (official Jukebox format)")
    state = {k.removeprefix("module."): v for k, v in raw["model"].items()}
    hps = dict(raw.get("hps") or {})
    step = raw.get("step")
    return OfficialCheckpoint(hps=hps, state_dict=state, step=int(step) if step is not None else None)


def unsafe_pickle_message(path: str | Path, err: BaseException) -> str:
    """Why a pickle was refused, without advising to load it unsafely: it is not a plain tensor
    checkpoint (it names Python code, e.g. ``posix.system``), and how to convert a trusted one."""
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    what = f" (it refers to {found.group(1)})" if found else ""
    return (f"{path}: not a plain tensor checkpoint: it holds Python objects other than tensors, numbers, "
            f"strings and containers{what}, so it was refused without running any of it. If you trust its "
            "source, convert it once with the code that wrote it: save only its tensors and plain values, "
            "e.g. torch.save({'model': model.state_dict(), 'hps': dict_of_numbers_and_strings, 'step': step}, "
            "'plain.pth.tar'), then pass plain.pth.tar")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else ""


def apply_key_map(
    state: dict[str, torch.Tensor],
    expected: dict[str, torch.Size] | dict[str, tuple[int, ...]],
    rename: Callable[[str], str | None],
    source: str = "checkpoint",
) -> dict[str, torch.Tensor]:
    """Rename ``state`` keys with ``rename`` (None drops a key on purpose) and check them against
    ``expected`` (our key -> shape). Any key missing, left over, or of the wrong shape is reported
    in one ``CheckpointError`` naming ``source``."""
    out: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        new = rename(key)
        if new is None:
            continue
        if new not in expected:
            unexpected.append(key)
            continue
        out[new] = value
    missing = sorted(set(expected) - set(out))
    bad_shape = [
        f"{k}: {tuple(v.shape)} != {tuple(expected[k])}" for k, v in out.items() if tuple(v.shape) != tuple(expected[k])
    ]
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:20]}{' ...' if len(missing) > 20 else ''} ({len(missing)})")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''} "
                         f"({len(unexpected)})")
        if bad_shape:
            parts.append(f"shape mismatches {bad_shape[:10]}")
        raise CheckpointError(f"{source}: does not match the model: " + "; ".join(parts))
    return out


__all__ = ["ATTN_TYPES", "OfficialCheckpoint", "apply_key_map", "load_official", "unsafe_pickle_message"]
