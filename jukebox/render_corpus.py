"""Real audio to train and test on, offline: a tokenizer dataset's pieces rendered through FluidSynth.

No audio ships with Python packages, but MIDI does: ``muse data build --music21`` turns music21's
corpus (and any MIDI folder) into a token dataset. ``render_dataset`` decodes chosen pieces of
such a dataset back to MIDI with musetok and renders them with the General MIDI soundfont inside
``pretty_midi`` (``muse.core.render``). Layout of the output folder::

    <composer>/<piece>.wav     mono or stereo 16-bit WAV at the chosen rate, at most max_seconds (+ tail)
    <composer>/<piece>.json    sidecar: artist (the composer), genre (the piece's main instrument
                               family, e.g. "piano", "strings", "choir"), source, dataset split, seconds
    render.json                the settings and the list of files

This is exactly what ``jukebox encode-dataset`` reads (artist and genre from the sidecars). Files
already rendered are kept, so an interrupted run continues; each WAV is written under a temporary
name and renamed, so a killed run never leaves a truncated file.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import soundfile as sf

from musetok.errors import TokenizerError
from musetok.instruments import FAMILIES, PROGRAM_TO_FAMILY

from muse.core.atomic import atomic_path, write_json
from muse.core.errors import UserError
from muse.core.render import render_midi
from muse.core.token_shards import TokenDataset

log = logging.getLogger(__name__)

RENDER_FILE = "render.json"
Split = Literal["train", "valid", "all"]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class RenderReport:
    """What one ``render_dataset`` call did."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{len(self.written)} rendered, {len(self.kept)} already there, {len(self.failed)} failed; "
                f"{self.seconds / 60:.1f} minutes of audio in total")


def is_music21_source(source: str) -> bool:
    """Whether a dataset record's ``source`` path lies inside the music21 package's corpus."""
    parts = Path(source).parts
    return any(a == "music21" and b == "corpus" for a, b in zip(parts, parts[1:]))


def select_pieces(dataset: TokenDataset, *, music21_only: bool = False, composers: list[str] | None = None,
                  per_composer: int | None = None, split: Split = "all") -> list[int]:
    """Indices of the pieces to render: filtered by origin, composer and split; at most
    ``per_composer`` per composer, spread evenly over each composer's pieces in index order."""
    known = set(dataset.composers)
    for name in composers or []:
        if name not in known:
            raise UserError(f"{dataset.folder}: no composer {name!r} in this dataset "
                            f"(it has {len(known)}: {', '.join(sorted(known)[:12])}, ...)")
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(dataset.pieces):
        if music21_only and not is_music21_source(p.source):
            continue
        if composers and p.composer not in composers:
            continue
        if split != "all" and p.split != split:
            continue
        groups.setdefault(p.composer or "unknown_composer", []).append(i)
    chosen: list[int] = []
    for members in groups.values():
        if per_composer is not None and len(members) > per_composer:
            picks = np.linspace(0, len(members) - 1, per_composer).round().astype(int)
            members = [members[k] for k in sorted(set(picks.tolist()))]
        chosen.extend(members)
    if not chosen:
        origin = "music21 " if music21_only else ""
        raise UserError(f"{dataset.folder}: no {origin}pieces match (composers {composers or 'all'}, split {split})")
    return sorted(chosen)


def main_family(score) -> str:
    """Name of the instrument family playing most notes (``drums`` for channel 10), e.g. ``piano``."""
    counts: Counter[str] = Counter()
    for track in score.tracks:
        name = "drums" if track.is_drum else FAMILIES[PROGRAM_TO_FAMILY[track.program]]
        counts[name] += len(track.notes)
    return counts.most_common(1)[0][0] if counts else ""


def piece_path(out_dir: Path, composer: str | None, piece_id: str) -> Path:
    """``<out>/<composer>/<safe piece id>.wav``: ids like ``bach/bwv66.6.mxl`` become file names."""
    stem = _UNSAFE.sub("_", piece_id).strip("._") or "piece"
    return out_dir / (composer or "unknown_composer") / f"{stem}.wav"


def render_dataset(
    dataset_dir: str | Path,
    out_dir: str | Path,
    *,
    music21_only: bool = False,
    composers: list[str] | None = None,
    per_composer: int | None = None,
    split: Split = "all",
    max_seconds: float | None = 60.0,
    sample_rate: int = 22050,
    mono: bool = True,
    soundfont: str | Path | None = None,
    exclude: str | Path | None = None,
    on_piece: Callable[[int, int, Path], None] | None = None,
) -> RenderReport:
    """Render the selected pieces of the token dataset in ``dataset_dir`` into ``out_dir`` (see the module
    docstring). Pieces already rendered in the folder ``exclude`` are left out (a held-out set that
    shares nothing with a training folder)."""
    dataset = TokenDataset(dataset_dir)
    tokenizer = dataset.load_tokenizer()
    indices = select_pieces(dataset, music21_only=music21_only, composers=composers,
                            per_composer=per_composer, split=split)
    out_dir = Path(out_dir)
    if exclude is not None:
        indices = [i for i in indices
                   if not piece_path(Path(exclude), dataset.pieces[i].composer, dataset.pieces[i].id).is_file()]
    out_dir.mkdir(parents=True, exist_ok=True)
    report = RenderReport()
    for n, i in enumerate(indices):
        record = dataset.pieces[i]
        wav = piece_path(out_dir, record.composer, record.id)
        if wav.is_file() and wav.with_suffix(".json").is_file():
            report.kept.append(wav)
            report.seconds += sf.info(str(wav)).duration
        else:
            try:
                report.seconds += _render_piece(tokenizer, dataset.tokens(i), record, wav, max_seconds=max_seconds,
                                                sample_rate=sample_rate, mono=mono, soundfont=soundfont)
                report.written.append(wav)
            except TokenizerError as err:
                log.warning("%s: skipped (%s)", record.id, err)
                report.failed.append((record.id, str(err)))
                continue
        if on_piece is not None:
            on_piece(n + 1, len(indices), wav)
    write_json(out_dir / RENDER_FILE, {
        "dataset": str(Path(dataset_dir).resolve()), "music21_only": music21_only, "composers": composers,
        "per_composer": per_composer, "split": split, "max_seconds": max_seconds, "sample_rate": sample_rate,
        "mono": mono, "soundfont": str(soundfont) if soundfont else None,
        "exclude": str(exclude) if exclude else None,
        "files": sorted(str(p.relative_to(out_dir)) for p in report.written + report.kept),
        "failed": [{"id": i, "error": e} for i, e in report.failed], "seconds": round(report.seconds, 2),
    })
    return report


def _render_piece(tokenizer, ids: np.ndarray, record, wav: Path, *, max_seconds: float | None,
                  sample_rate: int, mono: bool, soundfont: str | Path | None) -> float:
    """Decode one piece, render it under a temporary name, mix down, then move it into place."""
    score = tokenizer.decode(np.asarray(ids)).score
    if not score.note_num():
        raise TokenizerError(f"{record.id}: no notes to render")
    wav.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jukebox-render-") as scratch:
        result = render_midi(score, Path(scratch) / "piece.wav", soundfont=soundfont, sample_rate=sample_rate,
                             max_seconds=max_seconds)
        audio, rate = sf.read(str(result.path), dtype="float32", always_2d=True)
    # the audio goes under a hidden temporary name (not an audio suffix: never picked up as training audio)
    # and takes its final name after its labels are written
    with atomic_path(wav) as part:
        sf.write(str(part), audio.mean(axis=1) if mono else audio, rate, format="WAV", subtype="PCM_16")
        write_json(wav.with_suffix(".json"), {
            "artist": record.composer or "unknown", "genre": main_family(score), "lyrics": "",
            "source": record.source, "id": record.id, "split": record.split, "seconds": round(result.seconds, 3),
            "backend": result.backend,
        })
    return result.seconds

