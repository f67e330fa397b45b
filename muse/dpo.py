"""Direct Preference Optimization (Rafailov et al., 2023) of the symbolic model on preference pairs.

For a prompt x with a chosen completion y_w and a rejected one y_l, the policy pi (the model being
tuned) and the frozen reference pi_ref (the model before tuning) give the implicit reward margin

    h = [log pi(y_w | x) - log pi(y_l | x)] - [log pi_ref(y_w | x) - log pi_ref(y_l | x)]

and DPO minimises ``-log sigmoid(beta * h)``: it raises the chosen completion's likelihood
relative to the rejected one's, measured against where the reference stood, so the model moves
toward the preferences while ``beta`` (smaller: further) bounds how far it drifts from the
reference. ``log pi(y | x)`` is the summed log-probability of every completion token, scored in
context windows (``muse.windows``: header + ``context`` prompt tokens + the completion, with the
clock of the whole piece). The reference's margins do not change during tuning, so they are
computed once, before the first step (``reference_margins``).

A batch of B pairs is 2B sequences, each cut into one or more windows: the windows of all
sequences are stacked, ``owner`` (W,) says which sequence (2i: pair i's chosen, 2i + 1: its
rejected) each window belongs to, and per-window sums are added up per sequence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from musetok import MidiTokenizer

from muse.clock import Clock, TokenClock
from muse.core.train import LossOutput
from muse.prefs import PreferencePair
from muse.token_tables import TokenTables
from muse.windows import header_length, piece_clock, scoring_windows, window_tensors


class PairDataset(Dataset):
    """Preference pairs as scored windows: item ``i`` holds the windows of pair i's chosen and
    rejected sequences (prompt + completion), ``owner`` (W,) 0/1 and ``ref_margin`` (the
    reference's log-ratio margin, 0 until ``reference_margins`` fills it in)."""

    def __init__(self, pairs: Sequence[PreferencePair], tokenizer: MidiTokenizer, n_ctx: int,
                 context: int = 256) -> None:
        self.pairs, self.n_ctx, self.context = list(pairs), n_ctx, context
        self.vocab = tokenizer.vocab
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))
        self.ref_margin = torch.zeros(len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def sequence(self, prompt: Sequence[int], completion: Sequence[int]) -> dict[str, Tensor]:
        """The windows of one sequence ``prompt + completion`` scoring the completion's tokens."""
        ids = np.asarray(list(prompt) + list(completion), np.int64)
        header = header_length(ids, self.vocab)
        windows = scoring_windows(len(ids), header, self.n_ctx, len(prompt), self.context)
        clock, total_us = piece_clock(self.clock, ids)
        return window_tensors(ids, windows, clock, total_us, self.n_ctx + 1, self.vocab.pad_id)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        pair = self.pairs[i]
        good = self.sequence(pair.prompt, pair.chosen)
        bad = self.sequence(pair.prompt, pair.rejected)
        item = {k: torch.cat([good[k], bad[k]]) for k in good}
        item["owner"] = torch.cat([torch.zeros(len(good["ids"]), dtype=torch.long),
                                   torch.ones(len(bad["ids"]), dtype=torch.long)])
        item["ref_margin"] = self.ref_margin[i].clone()
        return item


def collate_pairs(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack the windows of ``items``; ``owner`` becomes the sequence index 2i (chosen) / 2i + 1."""
    out = {k: torch.cat([item[k] for item in items]) for k in items[0] if k not in ("owner", "ref_margin")}
    out["owner"] = torch.cat([item["owner"] + 2 * i for i, item in enumerate(items)])
    out["ref_margin"] = torch.stack([item["ref_margin"] for item in items])
    return out


def sequence_logps(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Summed log-probabilities (2B,) of the scored tokens of each sequence of a collated batch."""
    ids = batch["ids"]
    clock = Clock.of_inputs(batch)
    nll = model(ids[:, :-1], clock, batch["total_us"], targets=ids[:, 1:])
    per_window = -(nll.float() * batch["mask"].float()).sum(1)
    n_sequences = 2 * batch["ref_margin"].shape[0]
    return torch.zeros(n_sequences, device=ids.device).index_add(0, batch["owner"], per_window)


def log_ratio_margins(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """``log p(chosen) - log p(rejected)`` (B,) of each pair of a collated batch under ``model``."""
    logps = sequence_logps(model, batch).view(-1, 2)
    return logps[:, 0] - logps[:, 1]


class DPOLoss:
    """``loss_fn`` for the shared Trainer: mean ``-log sigmoid(beta * h)`` over the batch's pairs;
    logs the mean margin h, the share of pairs with h > 0 (``accuracy``) and the policy's log-ratio."""

    def __init__(self, beta: float) -> None:
        self.beta = beta

    def __call__(self, model: nn.Module, batch: dict[str, Tensor]) -> LossOutput:
        policy = log_ratio_margins(model, batch)
        h = policy - batch["ref_margin"].to(policy.dtype)
        loss = -F.logsigmoid(self.beta * h).mean()
        metrics = {"margin": h.detach().mean(), "accuracy": (h.detach() > 0).float().mean(),
                   "log_ratio": policy.detach().mean()}
        return LossOutput(loss, metrics, int(batch["mask"].sum()))


@torch.no_grad()
def pair_margins(model: nn.Module, data: PairDataset, batch_size: int = 8,
                 autocast: torch.dtype | None = None) -> Tensor:
    """``log p(chosen) - log p(rejected)`` (N,) of every pair of ``data`` under ``model`` (eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    cast = torch.autocast(device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    try:
        with cast:
            for s in range(0, len(data), batch_size):
                batch = collate_pairs([data[i] for i in range(s, min(len(data), s + batch_size))])
                batch = {k: v.to(device) for k, v in batch.items()}
                out.append(log_ratio_margins(model, batch).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def reference_margins(reference: nn.Module, data: PairDataset, batch_size: int = 8,
                      autocast: torch.dtype | None = None) -> None:
    """Fill ``data.ref_margin`` with the frozen reference's log-ratio margins."""
    data.ref_margin = pair_margins(reference, data, batch_size, autocast)


__all__ = ["DPOLoss", "PairDataset", "collate_pairs", "log_ratio_margins", "pair_margins", "reference_margins",
           "sequence_logps"]
