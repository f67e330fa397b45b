"""Train a critic (``muse critic train``): real held-out music against the model's own samples.

Positives are the pieces of one split of a dataset built with the model's vocabulary (by default
``valid``: music the model did not train on). Negatives are samples of the model at its default
settings (``muse.sampling_defaults``, the model's note limits), one per real piece's header
(composer and instruments), as long as the critic reads (``CriticConfig.seconds``), so both classes
share headers and length; or the MIDI files of ``--samples FOLDER`` (tokenized with the model's
vocabulary). A share ``held_out`` of each class is kept out of training; the critic's ROC AUC on
those pieces (real against generated, ``muse.metrics.roc_auc``) is printed and recorded in the
critic's ``critic.json`` and the run's ``report.json`` (with the held-out pieces: indices into
the real pieces of the split, in index order, and into ``negatives.jsonl``, and their scores).

Training items are random windows (header + a random stretch) of the training pieces, the two
classes drawn equally often, on the shared Trainer with a binary cross-entropy loss; the
evaluation loss is measured on the first window of every held-out piece. The run folder holds
``critic_run.json`` (settings; ``--resume`` refuses a difference), ``negatives.jsonl`` (the
generated samples, reused on resume), the Trainer's ``metrics.jsonl`` and ``checkpoints/``, and
the exported critic in ``critic/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from musetok import MidiTokenizer
from musetok.vocab import Kind

from muse.clock import TokenClock
from muse.core.atomic import write_json
from muse.core.checkpoint import CHECKPOINTS_DIR, latest_checkpoint, load_trained
from muse.core.config import to_dict
from muse.core.errors import USER_ERRORS, UserError
from muse.core.token_shards import TokenDataset
from muse.core.train import LossOutput, TrainConfig, Trainer
from muse.critic import CRITIC_DIR, Critic, CriticConfig, CriticNet, batch_logits, critic_ids, save_critic, window_batch
from muse.fim import with_fim_markers
from muse.metrics import roc_auc
from muse.run_folder import check_run_folder
from muse.saved_model import LoadedModel
from muse.token_tables import TokenTables
from muse.windows import header_length

log = logging.getLogger(__name__)

RUN_FILE = "critic_run.json"
NEGATIVES_FILE = "negatives.jsonl"
REPORT_FILE = "report.json"
MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi")
SAFE_OVERRIDES = ("train.steps", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints")


def default_critic_train() -> TrainConfig:
    return TrainConfig(steps=300, batch_size=16, lr=3e-4, warmup_steps=20, weight_decay=0.01, log_every=10,
                       checkpoint_every=100)


@dataclass(frozen=True)
class CriticRunConfig:
    """A critic run: the network (``critic``), the Trainer's settings, which ``split`` gives the
    real pieces (``max_pieces`` of them, 0 = all), how many samples to generate (``n_samples``,
    0 = one per real piece), the held-out share of each class and the seed."""

    critic: CriticConfig = field(default_factory=CriticConfig)
    train: TrainConfig = field(default_factory=default_critic_train)
    split: str = "valid"
    max_pieces: int = 0
    n_samples: int = 0
    held_out: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.split not in ("train", "valid"):
            raise UserError(f"--split must be train or valid, not {self.split!r}")
        if self.max_pieces < 0 or self.n_samples < 0:
            raise UserError("--max-pieces and --n-samples must be >= 0 (0: all / one per real piece)")
        if not 0 < self.held_out < 1:
            raise UserError(f"the held-out share must be in (0, 1), not {self.held_out}")


@dataclass(frozen=True)
class CriticReport:
    """What a critic run measured: held-out ROC AUC, and the pieces of each class it used."""

    critic_dir: Path
    auc: float
    train_auc: float
    real: int
    generated: int
    held_out_real: int
    held_out_generated: int

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


# ---- data ---------------------------------------------------------------------------------------


def real_pieces(data: str | Path, tokenizer: MidiTokenizer, split: str, max_pieces: int, seed: int) -> list[np.ndarray]:
    """Token ids of the pieces of ``split`` (a seeded random ``max_pieces`` of them when > 0)."""
    dataset = TokenDataset(data)
    theirs = dataset.load_tokenizer()
    if tokenizer.vocab.has_fim_markers:
        theirs = with_fim_markers(theirs)
    if theirs.vocab.fingerprint != tokenizer.vocab.fingerprint:
        raise UserError(f"{data}: the dataset's vocabulary differs from the model's; use a dataset built with "
                        "the model's tokenizer")
    indices = dataset.split_indices(split)
    if max_pieces and len(indices) > max_pieces:
        indices = np.sort(np.random.default_rng(seed).choice(indices, max_pieces, replace=False))
    pieces = [np.array(dataset.tokens(int(i)), np.int64) for i in indices]
    pieces = [p for p in pieces if 0 < tokenizer.vocab.header_length(p) < len(p) - 1]
    if len(pieces) < 2:
        raise UserError(f"{data}: the {split} split has {len(pieces)} usable pieces; the critic needs at least 2")
    return pieces


def header_request(ids: np.ndarray, tokenizer: MidiTokenizer) -> tuple[str | None, tuple[str, ...]]:
    """(composer name or None, instrument names) of a piece's header."""
    vocab = tokenizer.vocab
    head = ids[: header_length(ids, vocab)]
    kinds = np.asarray(vocab.kind)[head]
    composer = None
    for t in head[kinds == Kind.COMPOSER]:
        if int(t) != vocab.unknown_composer_id:
            composer = vocab.config.composers[int(t) - vocab.composer_base]
    instruments = tuple(vocab.instruments[int(vocab.key[t])] for t in head[kinds == Kind.INSTRUMENT])
    return composer, instruments or ("piano",)


def generate_like(model: LoadedModel, headers: Sequence[np.ndarray], seconds: float, seed: int,
                  batch: int = 16) -> list[np.ndarray]:
    """One sample of ``seconds`` seconds per header (its composer and instruments), at the
    model's default sampling settings; samples of equal headers are drawn together."""
    from muse.generate import MuseGenerator

    gen = MuseGenerator(model)
    groups: dict[tuple, list[int]] = {}
    for i, ids in enumerate(headers):
        groups.setdefault(header_request(ids, model.tokenizer), []).append(i)
    out: list[np.ndarray | None] = [None] * len(headers)
    done = 0
    for g, ((composer, instruments), members) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0])):
        for s in range(0, len(members), batch):
            part = members[s:s + batch]
            pieces = gen.generate(composer, list(instruments), seconds, seed=seed + 1000 * g + s, n=len(part))
            for i, piece in zip(part, pieces):
                out[i] = np.asarray(piece.ids, np.int64)
            done += len(part)
            log.info("generated %d of %d samples", done, len(headers))
    return [p for p in out if p is not None]


def midi_pieces(folder: str | Path, tokenizer: MidiTokenizer) -> list[np.ndarray]:
    """Token ids of every MIDI file under ``folder`` (unreadable ones skipped with a warning)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of MIDI samples")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    pieces = []
    for path in files:
        try:
            pieces.append(np.asarray(tokenizer.encode(path).ids, np.int64))
        except USER_ERRORS as err:
            log.warning("skipped: %s", err)
    if len(pieces) < 2:
        raise UserError(f"{folder}: {len(pieces)} readable MIDI files; the critic needs at least 2 samples")
    return pieces


def _read_ids(path: Path) -> list[np.ndarray]:
    return [np.asarray(json.loads(line), np.int64) for line in path.read_text().splitlines() if line.strip()]


def _write_ids(path: Path, pieces: Sequence[np.ndarray]) -> None:
    path.write_text("".join(json.dumps([int(t) for t in p]) + "\n" for p in pieces))


class CriticCrops(Dataset):
    """``items`` random windows of ``pieces`` (prepared by ``critic_ids``) with their ``labels``
    (1 real, 0 generated): even items real, odd items generated; item i a pure function of (seed, i)."""

    def __init__(self, pieces: Sequence[np.ndarray], labels: Sequence[int], tokenizer: MidiTokenizer, n_ctx: int,
                 items: int, seed: int) -> None:
        self.pieces, self.labels = list(pieces), np.asarray(labels, np.int64)
        self.by_label = [np.flatnonzero(self.labels == c) for c in (0, 1)]
        if not len(self.by_label[0]) or not len(self.by_label[1]):
            raise UserError("the critic needs real and generated pieces to train on")
        self.vocab, self.n_ctx, self.items, self.seed = tokenizer.vocab, n_ctx, items, seed
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([self.seed, int(i)])
        label = 1 - i % 2
        p = int(rng.choice(self.by_label[label]))
        ids = self.pieces[p]
        header = header_length(ids, self.vocab)
        body = self.n_ctx - header
        start = header + int(rng.integers(0, max(1, len(ids) - header - body + 1)))
        rows = np.concatenate([np.arange(header), np.arange(start, min(start + body, len(ids)))])
        batch = window_batch([ids], [rows], self.clock, self.n_ctx, self.vocab.pad_id)
        item = {k: v[0] for k, v in batch.items()}
        item["label"] = torch.tensor(float(label))
        return item


class FirstWindows(Dataset):
    """The first window of each of ``pieces`` with its label (the Trainer's evaluation data)."""

    def __init__(self, pieces: Sequence[np.ndarray], labels: Sequence[int], tokenizer: MidiTokenizer,
                 n_ctx: int) -> None:
        self.pieces, self.labels, self.vocab, self.n_ctx = list(pieces), list(labels), tokenizer.vocab, n_ctx
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        ids = self.pieces[i]
        header = header_length(ids, self.vocab)
        rows = np.concatenate([np.arange(header), np.arange(header, min(len(ids), self.n_ctx))])
        item = {k: v[0] for k, v in window_batch([ids], [rows], self.clock, self.n_ctx, self.vocab.pad_id).items()}
        item["label"] = torch.tensor(float(self.labels[i]))
        return item


def critic_loss(model: nn.Module, batch: dict[str, Tensor]) -> LossOutput:
    """Binary cross-entropy of the windows' logits against their labels (1 real); logs accuracy."""
    logits = batch_logits(model, batch).float()
    loss = F.binary_cross_entropy_with_logits(logits, batch["label"].float())
    accuracy = ((logits > 0).float() == batch["label"].float()).float().mean()
    return LossOutput(loss, {"accuracy": accuracy.detach()}, int(logits.shape[0]))


def split_held_out(n: int, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices of ``n`` items: a random ``share`` held out (at least 1 of 2+)."""
    order = rng.permutation(n)
    k = min(n - 1, max(1, int(round(share * n))))
    return np.sort(order[k:]), np.sort(order[:k])


# ---- the run ------------------------------------------------------------------------------------


def train_critic(model: str | Path | LoadedModel, data: str | Path, out: str | Path,
                 config: CriticRunConfig | None = None, *, samples: str | Path | None = None, resume: bool = False,
                 overrides: tuple[str, ...] = (), progress: bool = True) -> CriticReport:
    """Train a critic for ``model`` on ``data`` (real) against its samples (or ``samples``' MIDI
    files); write the run to ``out`` (see the module doc). Returns the held-out ROC AUC."""
    from muse.saved_model import load_model

    config = config or CriticRunConfig()
    out = Path(out)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    tokenizer = loaded.tokenizer
    record = {"model": str(Path(loaded.path).resolve()), "data": str(Path(data).resolve()),
              "samples": None if samples is None else str(Path(samples).resolve()), **to_dict(config)}
    check_run_folder(out, RUN_FILE, record, resume=resume, what="critic run", overrides=overrides,
                     safe=SAFE_OVERRIDES)
    real = real_pieces(data, tokenizer, config.split, config.max_pieces, config.seed)
    if samples is not None:
        fake = midi_pieces(samples, tokenizer)
    elif resume and (out / NEGATIVES_FILE).is_file():
        fake = _read_ids(out / NEGATIVES_FILE)
    else:
        n = config.n_samples or len(real)
        headers = [real[i % len(real)] for i in range(n)]
        fake = generate_like(loaded, headers, config.critic.seconds, config.seed)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_FILE, record)
    if samples is None:
        _write_ids(out / NEGATIVES_FILE, fake)

    clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))
    prepare = [critic_ids(p, tokenizer, clock, config.critic.seconds) for p in (*real, *fake)]
    labels = np.r_[np.ones(len(real), np.int64), np.zeros(len(fake), np.int64)]
    rng = np.random.default_rng(config.seed)
    train_idx, held_idx = [], []
    for c in (1, 0):
        members = np.flatnonzero(labels == c)
        tr, ho = split_held_out(len(members), config.held_out, rng)
        train_idx += members[tr].tolist()
        held_idx += members[ho].tolist()
    pick = lambda idx: ([prepare[i] for i in idx], labels[idx])  # noqa: E731
    train_pieces, train_labels = pick(train_idx)
    held_pieces, held_labels = pick(held_idx)
    cfg = config.critic
    items = max(config.train.batch_size * config.train.grad_accum, 16 * len(train_pieces))
    train_data = CriticCrops(train_pieces, train_labels, tokenizer, cfg.n_ctx, items, config.seed)
    val_data = FirstWindows(held_pieces, held_labels, tokenizer, cfg.n_ctx)
    torch.manual_seed(config.seed)
    net = CriticNet(cfg, TokenTables.from_vocab(tokenizer.vocab))
    log.info("critic: %d real and %d generated pieces (%d + %d held out), %.2fM parameters",
             len(real), len(fake), int(held_labels.sum()), int((held_labels == 0).sum()),
             sum(p.numel() for p in net.parameters()) / 1e6)
    trainer = Trainer(net, critic_loss, train_data, val_data, config.train, out, model_config=to_dict(cfg),
                      model_kind="critic", progress=progress)
    result = trainer.fit(resume=resume)
    checkpoint = result.checkpoint or latest_checkpoint(out / CHECKPOINTS_DIR)
    net.load_state_dict(load_trained(checkpoint).state_dict)
    critic = Critic(net, tokenizer, "critic")
    held_scores = critic.score_many(held_pieces)
    train_scores = critic.score_many(train_pieces)
    report = CriticReport(out / CRITIC_DIR, roc_auc(held_scores[held_labels == 1], held_scores[held_labels == 0]),
                          roc_auc(train_scores[train_labels == 1], train_scores[train_labels == 0]),
                          len(real), len(fake), int(held_labels.sum()), int((held_labels == 0).sum()))
    info = {"held_out_auc": report.auc, "train_auc": report.train_auc, "real": report.real,
            "generated": report.generated, "model": record["model"], "data": record["data"],
            "samples": record["samples"], "step": result.step}
    if trainer.dist.is_main:
        save_critic(net, tokenizer, out / CRITIC_DIR, "critic", info)
        held = {"real": [i for i in held_idx if i < len(real)], "generated": [i - len(real) for i in held_idx
                                                                              if i >= len(real)]}
        scores = {"real": held_scores[held_labels == 1].tolist(), "generated": held_scores[held_labels == 0].tolist()}
        write_json(out / REPORT_FILE, {**report.to_dict(), "held_out": held, "held_out_scores": scores})
    return report


__all__ = ["CriticReport", "CriticRunConfig", "critic_loss", "generate_like", "header_request", "midi_pieces",
           "real_pieces", "train_critic"]
