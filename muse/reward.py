"""A reward model trained on preference pairs (``muse critic reward``), usable by ``--rerank-by critic``.

It has the critic's network and folder format (``muse.critic``, kind ``reward``) and is trained
with the Bradley-Terry likelihood: for a pair, ``p(chosen preferred) = sigmoid(r(chosen) -
r(rejected))`` where ``r`` of a sequence (prompt + completion) is the mean logit of its windows,
exactly as ``Critic.score_many`` scores it afterwards. A share ``held_out`` of the pairs is kept
out of training; the run reports the share of those where the reward model ranks the chosen
sample higher (ties count one half). The run folder mirrors the critic's: ``reward_run.json``,
the Trainer's ``metrics.jsonl`` and ``checkpoints/``, the scorer in ``critic/`` and ``report.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from muse.clock import TokenClock
from muse.core.atomic import write_json
from muse.core.checkpoint import CHECKPOINTS_DIR, latest_checkpoint, load_trained
from muse.core.config import to_dict
from muse.core.errors import UserError
from muse.core.train import LossOutput, TrainConfig, Trainer
from muse.critic import (
    CRITIC_DIR,
    Critic,
    CriticConfig,
    CriticNet,
    batch_logits,
    critic_ids,
    critic_windows,
    save_critic,
    window_batch,
)
from muse.critic_training import SAFE_OVERRIDES, split_held_out
from muse.prefs import PreferencePair, check_vocabulary, read_prefs
from muse.run_folder import check_run_folder
from muse.saved_model import LoadedModel, load_model
from muse.token_tables import TokenTables
from muse.windows import header_length

log = logging.getLogger(__name__)

RUN_FILE = "reward_run.json"
REPORT_FILE = "report.json"


def default_reward_train() -> TrainConfig:
    return TrainConfig(steps=200, batch_size=8, lr=3e-4, warmup_steps=10, weight_decay=0.01, log_every=10,
                       checkpoint_every=100)


@dataclass(frozen=True)
class RewardRunConfig:
    """A reward run: the network (``critic``), the Trainer's settings, the share of the pairs held
    out to measure it and the seed of that split and of the initial weights."""

    critic: CriticConfig = field(default_factory=CriticConfig)
    train: TrainConfig = field(default_factory=default_reward_train)
    held_out: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.held_out < 1:
            raise UserError(f"the held-out share must be in (0, 1), not {self.held_out}")


@dataclass(frozen=True)
class RewardReport:
    """Where the reward model is, the pair counts, and its pair accuracy on held-out and training pairs."""

    critic_dir: Path
    pairs: int
    held_out_pairs: int
    held_out_accuracy: float
    train_accuracy: float


class PairWindows(Dataset):
    """Item i: the windows of pair i's chosen and rejected sequences (prepared by ``critic_ids``),
    ``owner`` 0 (chosen) / 1 (rejected) per window."""

    def __init__(self, sequences: Sequence[tuple[np.ndarray, np.ndarray]], critic: Critic) -> None:
        self.sequences, self.critic = list(sequences), critic

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        c = self.critic
        pieces, rows, owner = [], [], []
        for k, ids in enumerate(self.sequences[i]):
            header = header_length(ids, c.tokenizer.vocab)
            for r in critic_windows(len(ids), header, c.config.n_ctx, c.config.max_windows):
                pieces.append(ids)
                rows.append(r)
                owner.append(k)
        item = window_batch(pieces, rows, c.clock, c.config.n_ctx, c.tokenizer.vocab.pad_id)
        item["owner"] = torch.as_tensor(owner, dtype=torch.long)
        return item


def collate_windows(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    out = {k: torch.cat([item[k] for item in items]) for k in items[0] if k != "owner"}
    out["owner"] = torch.cat([item["owner"] + 2 * i for i, item in enumerate(items)])
    out["pairs"] = torch.tensor(len(items))
    return out


def bradley_terry_loss(model: nn.Module, batch: dict[str, Tensor]) -> LossOutput:
    """``-log sigmoid(r(chosen) - r(rejected))`` averaged over the batch's pairs; logs accuracy."""
    logits = batch_logits(model, batch).float()
    n = 2 * int(batch["pairs"])
    sums = torch.zeros(n, device=logits.device).index_add(0, batch["owner"], logits)
    counts = torch.zeros(n, device=logits.device).index_add(0, batch["owner"], torch.ones_like(logits))
    r = (sums / counts.clamp_min(1)).view(-1, 2)
    diff = r[:, 0] - r[:, 1]
    loss = -F.logsigmoid(diff).mean()
    return LossOutput(loss, {"accuracy": (diff.detach() > 0).float().mean()}, n // 2)


def pair_accuracy(critic: Critic, sequences: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of pairs whose chosen sequence the scorer ranks higher (ties count 1/2)."""
    if not sequences:
        return float("nan")
    scores = critic.score_many([s for pair in sequences for s in pair]).reshape(-1, 2)
    return float(np.mean((scores[:, 0] > scores[:, 1]) + 0.5 * (scores[:, 0] == scores[:, 1])))


def train_reward(model: str | Path | LoadedModel, prefs: str | Path | list[PreferencePair], out: str | Path,
                 config: RewardRunConfig | None = None, *, resume: bool = False, overrides: tuple[str, ...] = (),
                 progress: bool = True) -> RewardReport:
    """Train a reward model on ``prefs`` (a preferences file, or pairs) for the vocabulary of
    ``model`` (a folder or a loaded model); write the run to ``out`` (see the module doc)."""
    config = config or RewardRunConfig()
    out = Path(out)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    tokenizer = loaded.tokenizer
    prefs_path = None if isinstance(prefs, list) else Path(prefs)
    pairs = prefs if prefs_path is None else read_prefs(prefs_path)
    if len(pairs) < 2:
        raise UserError(f"{prefs_path or 'the preferences'}: {len(pairs)} pair(s); a reward model needs at least 2")
    check_vocabulary(pairs, tokenizer.vocab, str(prefs_path or "the preference pairs"))
    record = {"model": str(Path(loaded.path).resolve()), "pairs": len(pairs), **to_dict(config)}
    check_run_folder(out, RUN_FILE, record, resume=resume, what="reward run", overrides=overrides,
                     safe=SAFE_OVERRIDES)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_FILE, record)

    cfg = config.critic
    clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))
    prep = lambda ids: critic_ids(ids, tokenizer, clock, cfg.seconds)  # noqa: E731
    sequences = [(prep(p.prompt + p.chosen), prep(p.prompt + p.rejected)) for p in pairs]
    train_idx, held_idx = split_held_out(len(sequences), config.held_out, np.random.default_rng(config.seed))
    train_seqs = [sequences[i] for i in train_idx]
    held_seqs = [sequences[i] for i in held_idx]
    torch.manual_seed(config.seed)
    net = CriticNet(cfg, TokenTables.from_vocab(tokenizer.vocab))
    scorer = Critic(net, tokenizer, "reward")
    train_cfg = config.train
    if train_cfg.batch_size * train_cfg.grad_accum > len(train_seqs):
        train_cfg = dataclasses.replace(train_cfg, batch_size=len(train_seqs), grad_accum=1)
    trainer = Trainer(net, bradley_terry_loss, PairWindows(train_seqs, scorer), PairWindows(held_seqs, scorer),
                      train_cfg, out, collate_fn=collate_windows, model_config=to_dict(cfg), model_kind="reward",
                      progress=progress)
    result = trainer.fit(resume=resume)
    net.load_state_dict(load_trained(result.checkpoint or latest_checkpoint(out / CHECKPOINTS_DIR)).state_dict)
    net.eval()
    report = RewardReport(out / CRITIC_DIR, len(pairs), len(held_seqs), pair_accuracy(scorer, held_seqs),
                          pair_accuracy(scorer, train_seqs))
    info = {"pairs": len(pairs), "held_out_pairs": len(held_seqs), "held_out_accuracy": report.held_out_accuracy,
            "train_accuracy": report.train_accuracy, "model": record["model"], "step": result.step}
    if trainer.dist.is_main:
        save_critic(net, tokenizer, out / CRITIC_DIR, "reward", info)
        write_json(out / REPORT_FILE, {**info, "critic_dir": str(out / CRITIC_DIR)})
    return report


__all__ = ["RewardReport", "RewardRunConfig", "bradley_terry_loss", "pair_accuracy", "train_reward"]
