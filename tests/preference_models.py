"""Tiny fixtures: a dataset of real pieces (six by default; the preference-loop, training, editing and crop tests
build theirs with ``tiny_dataset``) and a random model on its vocabulary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import symusic
import torch

from musetok import MidiTokenizer
from musetok.vocab import Kind

from muse.config import MuseConfig
from muse.core.transformer import TransformerConfig
from muse.data.build import BuildOptions, build_dataset
from muse.data.sources import midi_dir_sources
from muse.generate import MuseGenerator
from muse.prefs import PreferencePair
from muse.saved_model import build_model, save_model

FILES = (  # two short pieces each of three composers (real files of the classical corpus in tests/data)
    "bach-bwv001-_400_chorales-004003b.mid", "bach-bwv001-_400_chorales-003806b.mid",
    "scarlatti-k054.mid", "scarlatti-k087.mid", "mozart-contradance_n1.mid", "mozart-contradance_n2.mid",
)


def tiny_dataset(midi_dir: Path, folder: Path, files: tuple[str, ...] = FILES, valid_fraction: float = 0.5) -> Path:
    """A dataset of ``files`` of tests/data/midi/classical (composer from the file-name prefix);
    with ``FILES`` and the default split, three of them are in the valid split."""
    src = folder / "midi"
    src.mkdir(parents=True)
    for name in files:
        shutil.copy(midi_dir / "classical" / name, src / name)
    out = folder / "data"
    build_dataset(midi_dir_sources(src, composer_from="prefix"),
                  BuildOptions(out=out, workers=0, valid_fraction=valid_fraction, progress=False, cache=False))
    return out


def monotone_midis(folder: Path, n: int, seconds: float = 8.0) -> Path:
    """``n`` MIDI files unlike any real piece: one pitch (60 + i % 5) struck every eighth note at
    120 bpm for ``seconds`` seconds, always at velocity 64 (the critic's easy "generated" class)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        score = symusic.Score(480)
        track = symusic.Track("piano", 0, False)
        for k in range(int(seconds * 4)):
            track.notes.append(symusic.Note(k * 240, 200, 60 + i % 5, 64))
        score.tracks.append(track)
        score.dump_midi(str(folder / f"monotone_{i}.mid"))
    return folder


def tiny_model(folder: Path, tokenizer: MidiTokenizer, seed: int = 0) -> Path:
    """A random tiny model for ``tokenizer`` that favours waits (so time advances), saved."""
    torch.manual_seed(seed)
    config = MuseConfig(
        transformer=TransformerConfig(width=32, depth=2, heads=2, n_ctx=32,
                                      attn_order=("block_local", "block_transpose"), blocks=4),
        time_quantum=6, time_buckets=16, chord_max=4, header_conditioning=True)
    model = build_model(config, tokenizer)
    waits = np.flatnonzero(np.asarray(tokenizer.vocab.kind) == Kind.WAIT)
    with torch.no_grad():
        model.vocab.row_bias[torch.as_tensor(model.tables.row[waits])] += 3.0
    return save_model(model, tokenizer, folder)


def sample_pairs(gen: MuseGenerator, n: int, seconds: float = 1.5, seed: int = 1) -> list[PreferencePair]:
    """``n`` pairs of two samples of one prompt (bach, piano), the first of each pair "chosen"."""
    pieces = gen.generate("bach", ["piano"], seconds=seconds, seed=seed, n=2 * n)
    header = 3  # composer, piano, start
    pairs = []
    for i in range(n):
        a, b = pieces[2 * i].ids, pieces[2 * i + 1].ids
        pairs.append(PreferencePair(tuple(int(t) for t in a[:header]), tuple(int(t) for t in a[header:]),
                                    tuple(int(t) for t in b[header:]), "test"))
    return pairs
