"""Bits per token of a model on a dataset split, per composer, beside the unigram baseline (``muse eval``).

Every token after a piece's first is scored exactly once (``WindowDataset``: header + consecutive
body chunks). The unigram baseline is the cross-entropy of the same tokens under the token
frequencies of the training split (add-one smoothed): a model must beat it to have learnt more than
which tokens are common.

``evaluate_midi`` measures a model on anyone's music: a folder of MIDI files is tokenized with the
model's own vocabulary (``muse.data.build`` with the model's composer list: a label the model does
not know becomes ``other`` when the model has that label, else the unknown composer), and every
piece is scored. Its unigram baseline is fit on those same pieces (the model's training data is not
at hand), a baseline that has seen the test tokens, so the gain it reports is a lower bound.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from muse.clock import Clock
from muse.core.errors import UserError
from muse.core.token_shards import Split, TokenDataset
from muse.fim import model_data_tokenizer
from muse.saved_model import LoadedModel, load_model
from muse.train_data import WindowDataset

log = logging.getLogger(__name__)
UNKNOWN_LABEL = "unknown_composer"


@dataclass(frozen=True)
class Score:
    """Bits per token of the model and of the unigram baseline over ``tokens`` scored tokens."""

    label: str
    pieces: int
    tokens: int
    bits_per_token: float
    unigram_bits_per_token: float


@dataclass(frozen=True)
class EvalReport:
    """Scores of one split: ``overall`` and one per composer label (sorted by label)."""

    split: str
    overall: Score
    composers: tuple[Score, ...]

    def table(self) -> str:
        """A plain-text table (one row per composer, then all)."""
        head = f"{'composer':<20} {'pieces':>6} {'tokens':>10} {'bits/token':>10} {'unigram':>8} {'gain':>6}"
        rows = [head, "-" * len(head)]
        for s in (*self.composers, self.overall):
            rows.append(f"{s.label:<20} {s.pieces:>6} {s.tokens:>10} {s.bits_per_token:>10.3f} "
                        f"{s.unigram_bits_per_token:>8.3f} {s.unigram_bits_per_token - s.bits_per_token:>6.2f}")
        return "\n".join(rows)


def unigram_log_probs(data: TokenDataset, pieces: np.ndarray, vocab_size: int) -> np.ndarray:
    """log2 probabilities (V,) of every id under the add-one smoothed token counts of ``pieces``."""
    counts = np.ones(vocab_size, dtype=np.float64)
    for p in pieces:
        counts += np.bincount(np.asarray(data.tokens(int(p)), dtype=np.int64), minlength=vocab_size)
    return np.log2(counts / counts.sum())


@torch.no_grad()
def evaluate(model: str | Path | LoadedModel, data: str | Path, *, split: Split = "valid", batch_size: int = 8,
             device: str | torch.device = "cpu", max_pieces: int | None = None,
             callback: Callable[[int, int], None] | None = None) -> EvalReport:
    """Score ``model`` (a folder or a loaded model) on ``split`` of the dataset folder ``data``."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device)
    dataset = TokenDataset(data)
    tokenizer = model_data_tokenizer(dataset.load_tokenizer(), loaded.tokenizer, str(data))
    pieces = dataset.split_indices(split)
    if max_pieces is not None:
        pieces = pieces[:max_pieces]
    if len(pieces) == 0:
        raise UserError(f"{data}: no pieces in the {split} split")
    unigram = unigram_log_probs(dataset, dataset.split_indices("train"), tokenizer.vocab.size)
    return _score(loaded, dataset, pieces, unigram, split, batch_size, callback)


@torch.no_grad()
def evaluate_midi(model: str | Path | LoadedModel, midi_dir: str | Path, *, composer_from: str = "parent",
                  batch_size: int = 8, device: str | torch.device = "cpu", max_pieces: int | None = None,
                  workers: int = 0, callback: Callable[[int, int], None] | None = None) -> EvalReport:
    """Score ``model`` on every MIDI file under ``midi_dir``, labelled by ``composer_from``
    (``parent`` folder name, file-name ``prefix``, or ``none``); see the module doc."""
    import tempfile

    from muse.data import BuildOptions, build_dataset, collect_sources

    loaded = model if isinstance(model, LoadedModel) else load_model(model, device)
    config = loaded.tokenizer.config
    found = collect_sources(midi_dir=midi_dir, composer_from=composer_from)
    with tempfile.TemporaryDirectory(prefix="muse-eval-") as tmp:
        options = BuildOptions(out=Path(tmp), tokenizer=config, workers=workers, valid_fraction=0.0,
                               cache=False, progress=False, composers=tuple(config.composers))
        build_dataset(found, options)
        dataset = TokenDataset(tmp)
        pieces = dataset.split_indices("train")  # valid_fraction 0: every piece
        if max_pieces is not None:
            pieces = pieces[:max_pieces]
        unigram = unigram_log_probs(dataset, pieces, loaded.tokenizer.vocab.size)
        return _score(loaded, dataset, pieces, unigram, "files", batch_size, callback)


def _score(loaded: LoadedModel, dataset: TokenDataset, pieces: np.ndarray, unigram: np.ndarray, split: str,
           batch_size: int, callback: Callable[[int, int], None] | None) -> EvalReport:
    """Bits/token of ``loaded`` and of the ``unigram`` log2 probabilities (V,) over ``pieces``."""
    tokenizer = dataset.load_tokenizer()
    windows = WindowDataset(dataset, pieces, tokenizer, loaded.config.n_ctx)
    net = loaded.model.eval()
    dev = next(net.parameters()).device
    labels = [dataset.composer(int(p)) or UNKNOWN_LABEL for p in windows.piece_of]
    sums: dict[str, list[float]] = {}
    loader = DataLoader(windows, batch_size=batch_size, shuffle=False)
    done = 0
    for batch in loader:
        batch = {k: v.to(dev) for k, v in batch.items()}
        ids, mask = batch["ids"], batch["mask"]
        clock = Clock.of_inputs(batch)
        nll = net(ids[:, :-1], clock, batch["total_us"], targets=ids[:, 1:]).double().cpu()
        uni = -torch.from_numpy(unigram)[ids[:, 1:].cpu()]
        m = mask.cpu().double()
        for row in range(ids.shape[0]):
            acc = sums.setdefault(labels[done + row], [0.0, 0.0, 0.0])
            acc[0] += float((nll[row] * m[row]).sum()) / math.log(2)
            acc[1] += float((uni[row] * m[row]).sum())
            acc[2] += float(m[row].sum())
        done += ids.shape[0]
        if callback is not None:
            callback(done, len(windows))
    piece_labels = [dataset.composer(int(p)) or UNKNOWN_LABEL for p in pieces]

    def score(label: str, acc: list[float], n_pieces: int) -> Score:
        n = max(acc[2], 1.0)
        return Score(label, n_pieces, int(acc[2]), acc[0] / n, acc[1] / n)

    per = tuple(score(k, sums[k], piece_labels.count(k)) for k in sorted(sums))
    total = [sum(v[i] for v in sums.values()) for i in range(3)]
    return EvalReport(split, score("all", total, len(pieces)), per)


__all__ = ["EvalReport", "Score", "evaluate", "evaluate_midi", "unigram_log_probs"]
