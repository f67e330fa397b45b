"""How much training data each composer label of a model had: counted when the data's statistics
can be found, else estimated from the model's composer embeddings.

Counted: the data build's ``stats.json`` (``muse data build``: pieces, tokens and hours per label)
found beside the model as ``data_stats.json``, or through the ``data.json`` record of the training
run the model came from (``runs/x``, ``runs/x/model``, ``runs/x/checkpoints/step_N``). It is used
only when its label list is the model's.

Estimated: a label with more data has a *shorter* embedding row in the models trained here
(Spearman -0.88 between row length and tokens over the bundled model's 46 labels), so labels are
ranked by row length, shortest first. The estimate only orders labels; it gives no counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muse.composers.embeddings import ComposerEmbeddings
from muse.core.token_shards import STATS_FILE
from muse.run_record import DATA_RECORD_FILE

log = logging.getLogger(__name__)

DATA_STATS_FILE = "data_stats.json"  # a copy of the data build's stats.json kept beside a model


@dataclass(frozen=True)
class TrainingData:
    """Per-label amounts of training data: ``tokens`` and ``pieces`` when ``counted``, else an ``order``
    estimated from the embeddings (``tokens`` then holds a relative score, larger = more data)."""

    tokens: dict[str, float]
    counted: bool
    pieces: dict[str, int] = field(default_factory=dict)

    def ranked(self) -> list[str]:
        """The labels, most training data first (ties by label)."""
        return sorted(self.tokens, key=lambda x: (-self.tokens[x], x))

    def top(self, n: int) -> list[str]:
        """The ``n`` labels with the most training data."""
        return self.ranked()[:max(0, n)]

    def describe(self, label: str) -> str:
        """"1,003 pieces, 4.30 M tokens" when counted, else "#3 of 46 by training data (estimated)"."""
        if label not in self.tokens:
            return ""
        if self.counted:
            return f"{self.pieces.get(label, 0):,} pieces, {_count(self.tokens[label])} tokens"
        return f"#{self.ranked().index(label) + 1} of {len(self.tokens)} by training data (estimated)"

    @property
    def source(self) -> str:
        """One line on where the amounts come from."""
        return ("counted (the data build's statistics)" if self.counted else
                "estimated from the model's composer embeddings (no training-data statistics beside the model)")


def _count(tokens: float) -> str:
    """"4.30 M", "590 k", "950"."""
    if tokens >= 1e6:
        return f"{tokens / 1e6:.2f} M"
    return f"{tokens / 1e3:.0f} k" if tokens >= 1e3 else f"{tokens:.0f}"


def _stats_candidates(model_path: Path) -> list[Path]:
    folders = [model_path, model_path.parent, model_path.parent.parent]
    found = [f / DATA_STATS_FILE for f in folders]
    for folder in folders:
        try:
            record = json.loads((folder / DATA_RECORD_FILE).read_text())
            found.append(Path(record["path"]) / STATS_FILE)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def counted_data(labels: Sequence[str], model_path: str | Path) -> TrainingData | None:
    """The counted amounts of ``labels`` from statistics found for the model at ``model_path`` (see
    the module doc), or None when there are none whose labels are exactly ``labels``."""
    for path in _stats_candidates(Path(model_path)):
        try:
            stats = json.loads(path.read_text())
            per_label = stats["labels"]
            if sorted(per_label) != sorted(labels) and list(stats.get("composers", ())) != list(labels):
                log.info("%s: its labels are not the model's; not used", path)
                continue
            tokens = {x: float(per_label.get(x, {}).get("tokens", 0)) for x in labels}
            pieces = {x: int(per_label.get(x, {}).get("pieces", 0)) for x in labels}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        return TrainingData(tokens, counted=True, pieces=pieces)
    return None


def estimated_data(embeddings: ComposerEmbeddings) -> TrainingData:
    """Labels ordered by their embedding rows' length, shortest (most data) first (see the module doc)."""
    lengths = np.linalg.norm(embeddings.vectors, axis=1)
    return TrainingData({n: float(-length) for n, length in zip(embeddings.names, lengths)}, counted=False)


def training_data(embeddings: ComposerEmbeddings, model_path: str | Path | None = None) -> TrainingData:
    """Counted amounts for the model at ``model_path`` when its statistics are found, else the estimate."""
    found = None if model_path is None else counted_data(embeddings.names, model_path)
    return found if found is not None else estimated_data(embeddings)


__all__ = ["DATA_STATS_FILE", "TrainingData", "counted_data", "estimated_data", "training_data"]
