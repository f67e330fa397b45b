"""What a ``muse train`` run folder records about itself, and the check that a ``--resume`` is the same run.

- ``run_config.yaml`` (written by ``muse.training``): the preset as used (model, data, train).
- ``data.json``: the dataset the run trains on, as a content fingerprint (the pieces' records
  and the vocabulary), so that the same data moved to another folder still matches.

``check_resumed_run`` compares both with the settings of the new invocation and refuses any
difference (``muse.core.resume_check``), except the keys of ``SAFE_OVERRIDES`` named with
``--override KEY``. ``train.steps`` is the useful one: more steps continue the run and extend its
learning-rate schedule (the cosine decay is recomputed over the new total from the resumed step
on, so the rate rises a little at that step instead of ending at its minimum).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from muse.core.atomic import write_json
from muse.core.config import to_dict
from muse.core.errors import UserError
from muse.core.resume_check import check_same_settings
from muse.core.token_shards import TokenDataset

DATA_RECORD_FILE = "data.json"
RUN_CONFIG_FILE = "run_config.yaml"
# Settings a resumed run may change with --override KEY: how long it runs and how it reports, never
# what it learns from or how (model, data, seed, batch, optimizer).
SAFE_OVERRIDES = ("train.steps", "train.log_every", "train.eval_every", "train.eval_batches",
                  "train.checkpoint_every", "train.keep_checkpoints", "train.num_workers")


def data_fingerprint(dataset: TokenDataset) -> str:
    """A hash of the dataset's contents (piece records and vocabulary), not of its path."""
    h = hashlib.sha256(json.dumps(dataset.index.get("pieces", []), sort_keys=True).encode())
    h.update(json.dumps([dataset.index.get("vocab_size"), dataset.index.get("composers")]).encode())
    return h.hexdigest()[:16]


def data_record(data: str | Path, dataset: TokenDataset) -> dict[str, Any]:
    return {"path": str(data), "fingerprint": data_fingerprint(dataset), "pieces": len(dataset.pieces),
            "tokens": int(dataset.lengths.sum())}


def write_data_record(out: Path, data: str | Path, dataset: TokenDataset) -> None:
    write_json(out / DATA_RECORD_FILE, data_record(data, dataset))


def check_resumed_run(out: Path, run: Any, data: str | Path, dataset: TokenDataset,
                      overrides: Sequence[str] = ()) -> None:
    """Refuse to resume ``out`` with another preset, model, seed or dataset than it was started with
    (one ``UserError`` listing every difference), except ``overrides`` of ``SAFE_OVERRIDES``."""
    recorded: dict[str, Any] = {}
    config_file = out / RUN_CONFIG_FILE
    if config_file.is_file():
        try:
            recorded = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UserError(f"{config_file}: unreadable run settings ({err})") from None
    current = to_dict(run)
    record_file = out / DATA_RECORD_FILE
    if record_file.is_file():
        try:
            saved = json.loads(record_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{record_file}: unreadable data record ({err})") from None
        recorded["dataset"] = {"fingerprint": f"{saved.get('path')} ({saved.get('fingerprint')})"}
        current["dataset"] = {"fingerprint": f"{data} ({data_fingerprint(dataset)})"}
        if saved.get("fingerprint") == data_fingerprint(dataset):
            current["dataset"] = recorded["dataset"]  # same contents: a moved folder is fine
    check_same_settings(recorded, current, where=str(out), overrides=overrides, safe=SAFE_OVERRIDES,
                        hint=", or choose a new --out folder for a new run")


__all__ = ["DATA_RECORD_FILE", "SAFE_OVERRIDES", "check_resumed_run", "data_fingerprint", "write_data_record"]
