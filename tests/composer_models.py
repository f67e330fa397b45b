"""Tiny models for the composer tests: random ones, and one trained a few steps to tell two composers apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from musetok import MidiTokenizer, TokenizerConfig
from musetok.vocab import Kind

from muse.config import MuseConfig, load_run_config
from muse.core.transformer import TransformerConfig
from muse.model import MuseModel
from muse.saved_model import LoadedModel, build_model, save_model

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "muse" / "tiny.yaml"

# The Bach chorales here are piano scores and these Paganini caprices are for strings, so a few
# steps on the openings of four pieces each teach a tiny model which composer is which.
TRAIN_FILES = (
    "bach-bwv001-_400_chorales-003706b.mid", "bach-bwv001-_400_chorales-003806b.mid",
    "bach-bwv001-_400_chorales-003907b.mid", "bach-bwv001-_400_chorales-003907bv.mid",
    "paganini-capriccio_n02.mid", "paganini-capriccio_n05.mid", "paganini-capriccio_n07.mid",
    "paganini-capriccio_n08.mid",
)
HELD_OUT = {
    "bach-bwv001-_400_chorales-004003b.mid": "bach", "bach-bwv001-_400_chorales-004006b.mid": "bach",
    "paganini-capriccio_n10.mid": "paganini", "paganini-capriccio_n12.mid": "paganini",
}


def tiny_config() -> MuseConfig:
    return load_run_config(TINY).model


def random_model(composers: tuple[str, ...] | None = None, seed: int = 0) -> tuple[MuseModel, MidiTokenizer]:
    """A randomly initialised tiny model (eval mode) and its tokenizer (default: every composer)."""
    tokenizer = MidiTokenizer(TokenizerConfig() if composers is None else TokenizerConfig(composers=composers))
    torch.manual_seed(seed)
    return build_model(tiny_config(), tokenizer).eval(), tokenizer


def loaded(model: MuseModel, tokenizer: MidiTokenizer) -> LoadedModel:
    """An in-memory model as the facades take it."""
    return LoadedModel(model, tokenizer, model.config, Path("<memory>"))


def saved_random_model(folder: Path, composers: tuple[str, ...] | None = None) -> Path:
    model, tokenizer = random_model(composers)
    return save_model(model, tokenizer, folder)


def wait_loving_model(folder: Path, composers: tuple[str, ...], n_ctx: int, fim_markers: bool,
                      wait_bias: float) -> Path:
    """A random tiny model (header conditioning on; FIM markers if asked) whose waits get
    ``wait_bias`` extra logit, so that its samples move on in time, saved to ``folder``."""
    tokenizer = MidiTokenizer(TokenizerConfig(composers=composers, fim_markers=fim_markers))
    torch.manual_seed(0)
    config = MuseConfig(
        transformer=TransformerConfig(width=32, depth=2, heads=2, n_ctx=n_ctx,
                                      attn_order=("block_local", "block_transpose"), blocks=4),
        time_quantum=6, time_buckets=16, chord_max=4, header_conditioning=True)
    model = build_model(config, tokenizer)
    waits = np.flatnonzero(np.asarray(tokenizer.vocab.kind) == Kind.WAIT)
    with torch.no_grad():
        model.vocab.row_bias[torch.as_tensor(model.tables.row[waits])] += wait_bias
    return save_model(model, tokenizer, folder)


def fit_two_composers(midi_dir: Path, steps: int = 60, tokens: int = 16, lr: float = 1e-2) -> LoadedModel:
    """A tiny model trained ``steps`` full-batch AdamW steps on the first ``tokens`` + 1 tokens of
    ``TRAIN_FILES`` (header with the true composer, then the opening) - about two seconds."""
    model, tokenizer = random_model(("bach", "paganini"))
    rows = [tokenizer.encode(midi_dir / "classical" / name, composer=name.split("-")[0]).ids[: tokens + 1]
            for name in TRAIN_FILES]
    batch = torch.as_tensor(np.stack(rows).astype(np.int64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        loss = model(batch[:, :-1], targets=batch[:, 1:]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loaded(model.eval(), tokenizer)
