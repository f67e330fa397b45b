"""The model's composers as the demo shows them: display names grouped by era, a featured short list
first, how much training data each had, and the Compose tab's example presets.

Every choice of a composer dropdown is a (shown text, label) pair: the page shows "★ J. S. Bach
(Baroque)" or "Romantic · Frédéric Chopin" while the handlers and the API keep receiving the
model's labels (``bach``, ``chopin``). The featured list is ``muse.composers.names.featured``: the
familiar names the model has, the best-trained of them when the amounts are known
(``muse.composers.training_data``: counted, or estimated from the embeddings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from muse.composers import composer_embeddings
from muse.composers.names import composer_name, featured, grouped
from muse.composers.training_data import TrainingData, training_data
from muse.generate import MuseGenerator

FEATURED_COUNT = 10  # the short list at the top of the composer dropdowns
STAR = "\u2605"


@dataclass(frozen=True)
class Preset:
    """One example of the Compose tab: its ``title`` and the values it sets."""

    title: str
    composer: str
    blend: str | None = None
    mix: float = 0.7
    instruments: tuple[str, ...] = ("piano",)
    seconds: float = 20.0
    temperature: float = 1.0
    bpm: float = 0.0  # 0: the model's tempo
    key: str | None = None  # None: as written


PRESETS: tuple[Preset, ...] = (
    Preset("Bach invention-like, 20 s piano", "bach", temperature=0.9),
    Preset("Chopin nocturne feel", "chopin", seconds=30, temperature=0.95, bpm=60, key="Eb major"),
    Preset("Mozart for strings, G major", "mozart", instruments=("strings",), key="G major"),
    Preset("Stormy Beethoven in C minor", "beethoven", key="C minor"),
    Preset("Joplin rag", "joplin", bpm=100, key="Ab major"),
    Preset("Vivaldi for strings and harp", "vivaldi", instruments=("strings", "harp")),
    Preset("Blend: 60% Bach, 40% Chopin", "bach", blend="chopin", mix=0.6),
    Preset("Blend: Haydn and Mozart, half and half", "haydn", blend="mozart", mix=0.5),
)


@dataclass(frozen=True)
class Styles:
    """The composer ``labels`` of a model, how much ``training`` data each had and the ``featured`` ones."""

    labels: tuple[str, ...]
    training: TrainingData
    featured: tuple[str, ...] = field(default=())

    def shown(self, label: str) -> str:
        """The text a dropdown shows for ``label``."""
        entry = composer_name(label)
        if label in self.featured:
            return f"{STAR} {entry.name} ({entry.era})"
        return f"{entry.era} \u00b7 {entry.name}"

    def choices(self) -> list[tuple[str, str]]:
        """(shown, label) pairs: the featured composers first, then every other one by era, chronologically."""
        rest = [e.label for group in grouped(self.labels).values() for e in group if e.label not in self.featured]
        return [(self.shown(x), x) for x in (*self.featured, *rest)]

    def about(self, label: str) -> list[str]:
        """Lines describing ``label``: display name, era and dates, training data, the label itself."""
        entry = composer_name(label)
        dates = f", {entry.years}" if entry.years else ""
        return [entry.name, f"{entry.era}{dates}", self.training.describe(label), f"label: {label}"]

    def presets(self, instruments: Sequence[str], key_names: Sequence[str], bpm_range: tuple[float, float],
                max_seconds: float) -> list[Preset]:
        """The ``PRESETS`` this model can play: composers, instruments, key and tempo it has; lengths capped at
        ``max_seconds``."""
        def playable(p: Preset) -> bool:
            return (p.composer in self.labels and (p.blend is None or p.blend in self.labels)
                    and all(i in instruments for i in p.instruments) and (p.key is None or p.key in key_names)
                    and (not p.bpm or bpm_range[0] <= p.bpm <= bpm_range[1]))

        return [replace(p, seconds=min(p.seconds, max_seconds)) for p in PRESETS if playable(p)]


def model_styles(generator: MuseGenerator, model_path: str | Path | None = None) -> Styles:
    """The ``Styles`` of ``generator``'s model (training data looked up beside ``model_path``, default: where the
    model was loaded from)."""
    labels = tuple(generator.composers)
    path = generator.loaded.path if model_path is None else model_path
    training = training_data(composer_embeddings(generator.model), path)
    return Styles(labels, training, tuple(featured(labels, training.tokens, FEATURED_COUNT)))


__all__ = ["FEATURED_COUNT", "PRESETS", "Preset", "Styles", "model_styles"]
