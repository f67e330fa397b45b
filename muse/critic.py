"""A critic: a small classifier on the shared core that gives a token sequence one score.

Two scorers share this network and folder format:

- the *critic* (``muse critic train``, ``muse.critic_training``) is trained to tell real music
  (held-out data) from the model's own samples; its score is the logit of "real";
- the *reward model* (``muse critic reward``, ``muse.reward``) is trained on preference pairs
  (Bradley-Terry: p(A preferred to B) = sigmoid(score A - score B)).

The network is the symbolic model's trunk (``MuseModel.hidden``: token, position, time and chord
embeddings and the sparse transformer of ``muse.core``) sized by ``CriticConfig``, with the hidden
states averaged over the window's tokens and a linear head. What it sees is made comparable
across sources (``critic_ids``): the composer token is replaced by ``unknown_composer`` (the
critic judges the music, not the label), the ``end`` token and padding are dropped, the piece is
cut to its first ``seconds`` seconds (so real pieces and samples have the same length), and the
structure embeddings (which encode the piece's total length) are off. A piece is scored in
consecutive windows of ``n_ctx`` tokens, each holding the header (at most ``max_windows`` of
them); its score is the mean of the windows' logits.

A scorer folder (the model-folder format of ``muse.core.model_folder``, kind ``critic`` or
``reward``) holds ``critic.safetensors``, ``critic.json`` (the header, ``CriticConfig``, and what
training measured, e.g. the held-out ROC AUC) and the extra ``tokenizer.json`` (the vocabulary it
reads: the generating model's); an old folder (``critic.json`` without the header) still loads.
``load_critic`` also accepts a training run folder (its ``critic/``).
The bundled model's critic, when installed, is ``muse/assets/critic`` (``default_critic_path``):
reranking by critic uses it when no other is named.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import symusic
import torch
from torch import Tensor, nn

from musetok import MidiTokenizer
from musetok.vocab import Kind

from muse.clock import Clock, TokenClock
from muse.config import MuseConfig
from muse.core.config import from_dict
from muse.core.errors import CheckpointError, ConfigError, UserError
from muse.core.model_folder import Extra, kinds_in, read_model_files, save_model_files, wrong_kind
from muse.core.transformer import TransformerConfig
from muse.model import MuseModel
from muse.token_tables import TokenTables
from muse.windows import header_length

log = logging.getLogger(__name__)

CRITIC_WEIGHTS = "critic.safetensors"
CRITIC_FILE = "critic.json"
TOKENIZER_FILE = "tokenizer.json"
CRITIC_DIR = "critic"  # a training run's exported scorer
BUNDLED_CRITIC = Path(__file__).resolve().parent / "assets" / "critic"  # the critic of the bundled model
ScorerKind = Literal["critic", "reward"]
SCORER_KINDS: tuple[ScorerKind, ...] = ("critic", "reward")
_HINT = (f"expected {CRITIC_FILE}, {CRITIC_WEIGHTS} and {TOKENIZER_FILE}; train one with `muse critic train` "
         "or `muse critic reward`")


@dataclass(frozen=True)
class CriticConfig:
    """Size of the critic network and how it reads a piece (see the module doc)."""

    width: int = 128
    depth: int = 2
    heads: int = 4
    n_ctx: int = 256
    max_windows: int = 8
    seconds: float = 20.0

    def __post_init__(self) -> None:
        for name in ("width", "depth", "heads", "n_ctx", "max_windows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"critic {name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ConfigError(f"critic width {self.width} is not divisible by heads={self.heads}")
        if not self.seconds > 0:
            raise ConfigError(f"critic seconds must be > 0, got {self.seconds}")

    def model_config(self, vocab_size: int) -> MuseConfig:
        transformer = TransformerConfig(width=self.width, depth=self.depth, heads=self.heads, n_ctx=self.n_ctx,
                                        attn_order=("dense",))
        return MuseConfig(transformer=transformer, vocab_size=vocab_size, structure_embedding=False,
                          structure_dropout=0.0)


class CriticNet(nn.Module):
    """Trunk + mean pooling + linear head: logits (B,) of windows ``ids`` (B, T) of ``lengths`` (B,) tokens."""

    def __init__(self, config: CriticConfig, tables: TokenTables) -> None:
        super().__init__()
        self.config = config
        self.trunk = MuseModel(config.model_config(tables.size), tables)
        self.head = nn.Linear(config.width, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: Tensor, clock: Clock, lengths: Tensor) -> Tensor:
        h = self.trunk.hidden(ids, clock)  # (B, T, width)
        keep = (torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]).to(h.dtype)
        pooled = (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp_min(1)
        return self.head(pooled)[:, 0]


def critic_ids(ids: np.ndarray | Sequence[int], tokenizer: MidiTokenizer, clock: TokenClock,
               seconds: float) -> np.ndarray:
    """What the critic reads of a piece (see the module doc): composer unknown, no ``end`` or
    padding, only the tokens before ``seconds`` seconds."""
    vocab = tokenizer.vocab
    ids = np.asarray(ids, np.int64)
    ids = ids[(ids != vocab.pad_id) & (ids != vocab.end_id)].copy()
    header = header_length(ids, vocab)
    head = ids[:header]
    head[np.asarray(vocab.kind)[head] == Kind.COMPOSER] = vocab.unknown_composer_id
    with torch.no_grad():
        micros = clock(torch.from_numpy(ids)[None]).micros[0].numpy()
    keep = np.arange(len(ids)) < header
    keep |= micros < seconds * 1e6
    return ids[keep]


def critic_windows(length: int, header: int, n_ctx: int, max_windows: int) -> list[np.ndarray]:
    """Rows of the consecutive windows of a piece: the header plus the next ``n_ctx - header``
    tokens each (at most ``max_windows`` windows; a header-only piece gives one window)."""
    body = n_ctx - header
    if body < 1:
        raise UserError(f"a header of {header} tokens leaves no room in the critic's context of {n_ctx}")
    n = min(max_windows, max(1, math.ceil((length - header) / body)))
    return [np.concatenate([np.arange(header), np.arange(header + k * body, min(header + (k + 1) * body, length))])
            for k in range(n)]


def window_batch(pieces: Sequence[np.ndarray], rows: Sequence[np.ndarray], clock: TokenClock, n_ctx: int,
                 pad_id: int) -> dict[str, Tensor]:
    """Windows ``rows[j]`` of ``pieces[j]`` as a padded batch: ``ids``, ``ticks``, ``micros``,
    ``chord`` (B, n_ctx) with each token's clock in its whole piece, and ``lengths`` (B,)."""
    n = len(rows)
    out = {k: torch.zeros(n, n_ctx, dtype=torch.long) for k in ("ids", "ticks", "micros", "chord")}
    out["ids"].fill_(pad_id)
    clocks: dict[int, Clock] = {}
    for j, (piece, r) in enumerate(zip(pieces, rows)):
        key = id(piece)
        if key not in clocks:
            with torch.no_grad():
                clocks[key] = clock(torch.from_numpy(np.asarray(piece, np.int64))[None])
        c, idx = clocks[key], torch.from_numpy(r)
        out["ids"][j, : len(r)] = torch.from_numpy(np.asarray(piece, np.int64))[idx]
        for name in ("ticks", "micros", "chord"):
            out[name][j, : len(r)] = getattr(c, name)[0, idx]
    out["lengths"] = torch.as_tensor([len(r) for r in rows], dtype=torch.long)
    return out


def batch_logits(net: CriticNet, batch: dict[str, Tensor]) -> Tensor:
    """The net's logits (B,) for a ``window_batch``."""
    clock = Clock(batch["ticks"], batch["micros"], batch["chord"])
    return net(batch["ids"], clock, batch["lengths"])


class Critic:
    """A loaded scorer (critic or reward model): ``score_ids`` / ``score_many`` / ``score_midi``."""

    def __init__(self, net: CriticNet, tokenizer: MidiTokenizer, kind: ScorerKind = "critic",
                 info: dict[str, Any] | None = None, path: Path | None = None) -> None:
        self.net, self.tokenizer, self.kind = net.eval(), tokenizer, kind
        self.config: CriticConfig = net.config
        self.info = dict(info or {})
        self.path = path
        self.clock = TokenClock(TokenTables.from_vocab(tokenizer.vocab))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def prepare(self, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        return critic_ids(ids, self.tokenizer, self.clock, self.config.seconds)

    @torch.no_grad()
    def score_many(self, pieces: Sequence[np.ndarray | Sequence[int]], batch_size: int = 32) -> np.ndarray:
        """Scores (n,) of token sequences that start with a header: the mean logit of their windows."""
        prepared = [self.prepare(p) for p in pieces]
        jobs = []  # (piece index, rows)
        for i, ids in enumerate(prepared):
            header = header_length(ids, self.tokenizer.vocab)
            jobs += [(i, r) for r in critic_windows(len(ids), header, self.config.n_ctx, self.config.max_windows)]
        sums, counts = np.zeros(len(prepared)), np.zeros(len(prepared))
        for s in range(0, len(jobs), batch_size):
            part = jobs[s:s + batch_size]
            batch = window_batch([prepared[i] for i, _ in part], [r for _, r in part], self.clock,
                                 self.config.n_ctx, self.tokenizer.vocab.pad_id)
            logits = batch_logits(self.net, {k: v.to(self.device) for k, v in batch.items()}).float().cpu().numpy()
            for (i, _), value in zip(part, logits):
                sums[i] += value
                counts[i] += 1
        return sums / np.maximum(counts, 1)

    def score_ids(self, ids: np.ndarray | Sequence[int]) -> float:
        return float(self.score_many([ids])[0])

    def score_midi(self, midi: str | Path | bytes | symusic.Score) -> float:
        """Score of a MIDI file (tokenized with the critic's vocabulary); ``TokenizerError`` if unreadable."""
        return self.score_ids(self.tokenizer.encode(midi).ids)

    def check_vocabulary(self, tokenizer: MidiTokenizer, what: str = "the model") -> None:
        """Refuse to score ids of another vocabulary than the one the critic was trained on."""
        mine = self.tokenizer.vocab
        if tokenizer.vocab.fingerprint != mine.fingerprint:
            # a model with the fill-in-the-middle markers appends them: the ids before stay valid
            n = mine.size
            if not (tokenizer.vocab.size > n and tokenizer.vocab.tokens[:n] == mine.tokens):
                raise UserError(f"{self.path or 'critic'}: trained for another vocabulary than {what}'s "
                                f"({mine.size} vs {tokenizer.vocab.size} tokens); train a critic for this model")


def default_critic_path() -> Path | None:
    """The bundled critic folder (trained for the bundled model), or None when it is not installed."""
    return BUNDLED_CRITIC if (BUNDLED_CRITIC / CRITIC_FILE).is_file() else None


def save_critic(net: CriticNet, tokenizer: MidiTokenizer, folder: str | Path, kind: ScorerKind,
                info: dict[str, Any] | None = None) -> Path:
    """Write a scorer folder (see the module doc)."""
    folder = Path(folder)
    save_model_files(folder / CRITIC_WEIGHTS, folder / CRITIC_FILE, kind, net.config, net.state_dict(),
                     info=info or {}, extras={"tokenizer": Extra(TOKENIZER_FILE, tokenizer.save)})
    return folder


def _legacy(data: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """An old ``critic.json``: ``{"kind", "config", "info"}`` without the header."""
    return data["kind"], dict(data["config"]), dict(data.get("info") or {})


def load_critic(path: str | Path, device: str | torch.device = "cpu") -> Critic:
    """Load a scorer folder (or a run folder holding one in ``critic/``)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: critic folder not found")
    folder = path if (path / CRITIC_FILE).is_file() else path / CRITIC_DIR
    if not (folder / CRITIC_FILE).is_file():
        others = kinds_in(path)
        if others:
            raise wrong_kind(path, others, SCORER_KINDS, _HINT)
        raise CheckpointError(f"{path}: not a critic or reward model ({_HINT})")
    saved = read_model_files(folder / CRITIC_WEIGHTS, folder / CRITIC_FILE, SCORER_KINDS, legacy=_legacy, hint=_HINT)
    config = from_dict(CriticConfig, saved.config, str(saved.config_file))
    tokenizer = MidiTokenizer.load(saved.extras.get("tokenizer", folder / TOKENIZER_FILE))
    net = CriticNet(config, TokenTables.from_vocab(tokenizer.vocab))
    try:
        net.load_state_dict(saved.load_weights())
    except RuntimeError as err:
        raise CheckpointError(f"{saved.weights}: does not match {CRITIC_FILE} "
                              f"({str(err).splitlines()[0]})") from err
    return Critic(net.to(device), tokenizer, saved.kind, saved.info, folder)  # type: ignore[arg-type]


__all__ = ["BUNDLED_CRITIC", "CRITIC_DIR", "Critic", "CriticConfig", "CriticNet", "batch_logits", "critic_ids",
           "critic_windows", "default_critic_path", "load_critic", "save_critic", "window_batch"]
