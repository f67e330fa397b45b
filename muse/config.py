"""Configs of the symbolic model: the network (``MuseConfig``) and a training preset (``MuseRunConfig``).

A preset YAML (``configs/muse/*.yaml``) has three sections: ``model`` (``MuseConfig``: the shared
core's ``TransformerConfig`` plus MuseNet's embeddings), ``train`` (the shared Trainer's
``TrainConfig``) and ``data`` (augmentation and cropping). ``model.vocab_size`` may be 0 in a
preset: it is then taken from the dataset's tokenizer when training starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from musetok.augment import AugmentConfig

from muse.core.config import load_config
from muse.core.errors import ConfigError
from muse.core.train import TrainConfig
from muse.core.transformer import TransformerConfig

STRUCTURE_PARTS = 128  # MuseNet: the piece is divided into 128 parts, and a countdown 127 -> 0


@dataclass(frozen=True)
class MuseConfig:
    """The MuseNet-style decoder: core transformer + token/position embeddings + switchable extras.

    - ``time_embedding``: elapsed musical time since the piece's start, in buckets of
      ``time_quantum`` grid ticks, wrapping every ``time_buckets`` buckets (so notes sounding
      together share it and its phase follows the bar when the wrap is a whole number of bars).
    - ``chord_embedding``: index of a note among the notes at the same time step (capped).
    - ``structure_embedding``: the token's position in the piece in 128 parts (by elapsed
      seconds / total seconds) and a countdown of the seconds left, in ``countdown_seconds``
      units, capped at 127. Rows are dropped to a learned "unknown" with ``structure_dropout``
      in training, so a model can also generate without a target length.
    - ``header_conditioning``: the header's composer and instrumentation added to every
      position's input embedding (``muse.conditioning``), so the conditioning reaches every token
      directly whatever the attention pattern.
    - ``composer_dropout``: the share of training crops whose composer token was replaced by
      ``unknown_composer`` (copied from the preset's ``data.composer_dropout`` when training
      starts). A model with 0 never learnt the unconditional distribution, so sampling refuses
      classifier-free guidance with it.
    - ``copy_head``: a learnt bonus for the token that followed the current passage the last time
      it occurred in the window (``muse.copy_head``), so the model can repeat what it played.
    """

    transformer: TransformerConfig
    vocab_size: int = 0
    time_embedding: bool = True
    time_quantum: int = 1
    time_buckets: int = 192
    chord_embedding: bool = True
    chord_max: int = 16
    structure_embedding: bool = True
    countdown_seconds: float = 0.5
    structure_dropout: float = 0.1
    header_conditioning: bool = False
    composer_dropout: float = 0.0
    copy_head: bool = False
    embed_dropout: float = 0.0
    tie_embeddings: bool = True
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.vocab_size < 0:
            raise ValueError(f"vocab_size must be >= 0 (0 = from the tokenizer), got {self.vocab_size}")
        if self.time_quantum < 1 or self.time_buckets < 1 or self.chord_max < 1:
            raise ValueError("time_quantum, time_buckets and chord_max must be >= 1")
        if self.countdown_seconds <= 0:
            raise ValueError(f"countdown_seconds must be > 0, got {self.countdown_seconds}")
        if not 0.0 <= self.structure_dropout < 1.0:
            raise ValueError(f"structure_dropout must be in [0, 1), got {self.structure_dropout}")
        if not 0.0 <= self.composer_dropout < 1.0:
            raise ValueError(f"composer_dropout must be in [0, 1), got {self.composer_dropout}")

    @property
    def n_ctx(self) -> int:
        return self.transformer.n_ctx

    def with_vocab(self, vocab_size: int, source: str = "tokenizer") -> MuseConfig:
        """This config with ``vocab_size`` filled in; a preset that names another size is an error."""
        if self.vocab_size not in (0, vocab_size):
            raise ConfigError(
                f"model.vocab_size is {self.vocab_size} but the {source} has {vocab_size} tokens; "
                "set vocab_size: 0 to take it from the tokenizer"
            )
        return dataclasses.replace(self, vocab_size=vocab_size)


@dataclass(frozen=True)
class MuseDataConfig:
    """How pieces become training examples: random crops of ``n_ctx + 1`` tokens keeping the header."""

    augment: AugmentConfig = field(default_factory=AugmentConfig)  # musetok.augment ranges
    augment_training: bool = True
    crops_per_epoch: int = 0  # distinct crops before they repeat; 0 = 64 per n_ctx tokens of data
    min_piece_tokens: int = 16  # shorter pieces are skipped
    composer_dropout: float = 0.0  # probability a crop's composer becomes unknown_composer (guidance)
    val_crops: int = 256  # crops of the validation split evaluated (fixed seed, no augmentation)
    fim_rate: float = 0.0  # share of crops laid out for fill-in-the-middle (muse.fim); 0 = off
    # Share of the other crops that start at the piece's first token: a uniform crop of a long piece almost
    # never does, so a model would not learn how pieces open (the tempo token after ``start``, say), which is
    # where every generated piece starts. 0 = uniform crops only.
    opening_rate: float = 0.0
    # Composer contrast (``muse.train_data``): a crop with a named composer is, with this probability, scored
    # a second time with another of the split's composers in its header (each equally likely), and
    # ``contrast_weight`` times softplus(log p(crop | other) - log p(crop | own)) joins the loss, so the
    # composer token must account for the music (what the composer scorer, guidance and rerank rely on).
    # 0 = off.
    contrast_rate: float = 0.0
    contrast_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.crops_per_epoch < 0 or self.min_piece_tokens < 2 or self.val_crops < 1:
            raise ValueError("data: crops_per_epoch >= 0, min_piece_tokens >= 2, val_crops >= 1")
        if not 0.0 <= self.composer_dropout < 1.0:
            raise ValueError(f"data: composer_dropout must be in [0, 1), got {self.composer_dropout}")
        if not 0.0 <= self.fim_rate < 1.0:
            raise ValueError(f"data: fim_rate must be in [0, 1), got {self.fim_rate}")
        if not 0.0 <= self.opening_rate <= 1.0:
            raise ValueError(f"data: opening_rate must be in [0, 1], got {self.opening_rate}")
        if not 0.0 <= self.contrast_rate <= 1.0 or self.contrast_weight < 0:
            raise ValueError(f"data: contrast_rate must be in [0, 1] and contrast_weight >= 0, got "
                             f"{self.contrast_rate} and {self.contrast_weight}")


@dataclass(frozen=True)
class MuseRunConfig:
    """A training preset: ``model``, ``train`` and ``data`` sections of ``configs/muse/*.yaml``."""

    model: MuseConfig
    train: TrainConfig
    data: MuseDataConfig = field(default_factory=MuseDataConfig)


def load_run_config(path: str | Path) -> MuseRunConfig:
    """Load a preset strictly (unknown or missing keys name the file and the key)."""
    return load_config(MuseRunConfig, path)


__all__ = ["MuseConfig", "AugmentConfig", "MuseDataConfig", "MuseRunConfig", "load_run_config", "STRUCTURE_PARTS"]
