"""Start a training run from a saved model's weights (``muse train --init-from MODEL``).

The new run may only differ from the saved model in what does not change the network's
arithmetic: its vocabulary may *add* tokens after the saved one (e.g. the fill-in-the-middle
markers, ``muse.fim``), ``composer_dropout`` is a training setting, a ``copy_head`` may be added
(it starts at zero, predicting exactly what the saved model did), and the attention layout
(``transformer.attn_order``, ``blocks``, ``block_len``) only changes which positions each layer
sees, not its weights: a sparse model can be retrained with denser attention. Everything else in
the model config must be equal, or the start is refused with the differences listed.

Weights are copied by name. The factorized vocabulary (``muse.token_tables``) orders its rows by
token kind, so an added token can shift rows: the row-indexed tensors (embedding rows, row
biases, untied output rows) are gathered token by token; rows of new tokens keep their fresh
initialisation.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from musetok import MidiTokenizer

from muse.core.errors import UserError
from muse.model import MuseModel
from muse.saved_model import load_model

log = logging.getLogger(__name__)

IGNORED = ("vocab_size", "composer_dropout", "copy_head")  # may differ between the saved model and the new run
LAYOUT = ("attn_order", "blocks", "block_len")  # transformer fields that may differ (no weight depends on them)


def _comparable(config) -> dict:
    """The model config as a dict, without the fields a warm start may change."""
    d = {k: v for k, v in dataclasses.asdict(config).items() if k not in IGNORED}
    d["transformer"] = {k: v for k, v in d["transformer"].items() if k not in LAYOUT}
    return d


def _row_map(old: MidiTokenizer, new: MidiTokenizer, old_rows: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
    """``m`` (old n_rows,) int64: the new row of each old row (every old id keeps its id)."""
    n = old.vocab.size
    if new.vocab.size < n or list(new.vocab.tokens[:n]) != list(old.vocab.tokens):
        raise UserError("--init-from: the model's vocabulary is not a prefix of the dataset's "
                        f"({old.vocab.size} vs {new.vocab.size} tokens); use a model trained on this dataset")
    m = np.full(int(old_rows.max()) + 1, -1, np.int64)
    m[old_rows] = new_rows[:n]
    return m


def init_from(model: MuseModel, tokenizer: MidiTokenizer, path: str | Path) -> None:
    """Copy the weights of the saved model at ``path`` into ``model`` (in place; see the module doc)."""
    saved = load_model(path)
    ours, theirs = _comparable(model.config), _comparable(saved.config)
    diff = [f"{k}: {theirs.get(k)!r} in the model, {v!r} in the preset" for k, v in ours.items() if theirs.get(k) != v]
    if saved.config.copy_head and not model.config.copy_head:
        diff.append("copy_head: True in the model, False in the preset (its learnt head would be dropped)")
    if diff:
        raise UserError(f"--init-from {path}: the preset's model differs from the saved one: " + "; ".join(diff))
    old_rows, new_rows = saved.model.tables.row, model.tables.row
    rows = torch.as_tensor(_row_map(saved.tokenizer, tokenizer, old_rows, new_rows))
    n_old, n_new = saved.model.tables.n_rows, model.tables.n_rows
    source = saved.model.state_dict()
    state = model.state_dict()
    for key, value in state.items():
        if key not in source:  # a head the saved model lacks (copy_head): it keeps its fresh (zero) start
            continue
        got = source[key].to(value.dtype)
        if got.shape == value.shape and (n_old == n_new or got.shape[:1] != (n_old,)):
            value.copy_(got)
        elif got.shape[0] == n_old and value.shape[0] == n_new and got.shape[1:] == value.shape[1:]:
            value[rows] = got
        else:
            raise UserError(f"--init-from {path}: weight {key} has shape {tuple(got.shape)}, "
                            f"the new model {tuple(value.shape)}")
    model.load_state_dict(state)
    log.info("initialised from %s (%d new vocabulary rows left fresh)", path, n_new - n_old)
    old_t, new_t = saved.config.transformer, model.config.transformer
    if any(getattr(old_t, k) != getattr(new_t, k) for k in LAYOUT):
        log.info("attention layout changed: %s -> %s", {k: getattr(old_t, k) for k in LAYOUT},
                 {k: getattr(new_t, k) for k in LAYOUT})


__all__ = ["init_from"]
