"""Training data for priors: audio encoded to codes once, then windows of codes with their labels.

``encode_dataset`` walks an audio folder, encodes every file at every level with the VQ-VAE
(``<name>.npz``, as ``jukebox vqvae encode`` writes them) and records each song's metadata in
``index.json``: artist (a ``<name>.json`` sidecar's ``artist``, else the folder the file is in,
e.g. the composer), genre (sidecar, else empty) and lyrics (sidecar, else ``<name>.txt``, else
empty). It skips songs already encoded, so an interrupted run continues.

``PriorWindows`` serves training windows of one level: ``n_ctx`` codes, the window's label row
(song length, offset, artist, genres, lyric window) and, for upsamplers, the level above's codes.
``write_label_ids`` gives a dataset's artists and genres ids (0 stays "unknown") in the official
``name;id`` format, so a model trained here is used with ``--ids-dir`` like the released ones.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from musetok.labels import LabelIds, read_id_file, resolve_artist, resolve_genres
from musetok.lyrics import LyricsProcessor

from jukebox.prior.config import PriorConfig
from jukebox.prior.windows import hop_codes, upper_window, window_labels, window_starts
from jukebox.vqvae.codec import Codec, EncodedAudio
from muse.core.atomic import write_json
from muse.core.errors import UserError

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


@dataclass(frozen=True)
class SongEntry:
    """One encoded song: its codes file (relative to the dataset folder), labels and length."""

    codes: str
    artist: str
    genre: str
    lyrics: str
    samples: int


def _metadata(audio: Path, root: Path) -> tuple[str, str, str]:
    sidecar = audio.with_suffix(".json")
    meta: dict = {}
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{sidecar}: cannot read song metadata ({err})") from None
        if not isinstance(meta, dict):
            raise UserError(f"{sidecar}: expected an object with artist/genre/lyrics")
    folder = audio.parent.relative_to(root)
    artist = str(meta.get("artist", folder.name if folder.parts else "unknown"))
    lyrics_file = audio.with_suffix(".txt")
    lyrics = meta.get("lyrics")
    if lyrics is None:
        lyrics = lyrics_file.read_text(encoding="utf-8") if lyrics_file.is_file() else ""
    return artist, str(meta.get("genre", "")), str(lyrics)


def load_index(codes_dir: str | Path) -> list[SongEntry]:
    """The songs of an encoded dataset."""
    path = Path(codes_dir) / INDEX_FILE
    try:
        data = json.loads(path.read_text())
        return [SongEntry(**item) for item in data["songs"]]
    except FileNotFoundError:
        raise UserError(f"{codes_dir}: not an encoded dataset ({INDEX_FILE} not found; "
                        "run `jukebox encode-dataset`)") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserError(f"{path}: unreadable dataset index ({err})") from None


def encode_dataset(audio_dir: str | Path, codec: Codec, out_dir: str | Path,
                   progress: Callable[[int, int], None] | None = None) -> list[SongEntry]:
    """Encode every audio file under ``audio_dir`` into ``out_dir``; returns the songs."""
    root, out = Path(audio_dir), Path(out_dir)
    if not root.is_dir():
        raise UserError(f"{root}: audio folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    index = {e.codes: e for e in load_index(out)} if (out / INDEX_FILE).is_file() else {}
    order = []
    for i, audio in enumerate(files):
        rel = audio.relative_to(root).with_suffix(".npz").as_posix()
        order.append(rel)
        if rel not in index or not (out / rel).is_file():
            encoded = codec.encode_file(audio)
            encoded.save(out / rel)
            index[rel] = SongEntry(rel, *_metadata(audio, root), samples=encoded.length)
            write_json(out / INDEX_FILE, {"songs": [asdict(e) for e in index.values()]})
        if progress is not None:
            progress(i + 1, len(files))
    songs = [index[rel] for rel in order]  # songs whose audio is gone drop out of the index
    write_json(out / INDEX_FILE, {"songs": [asdict(s) for s in songs]})
    return songs


def write_label_ids(songs: list[SongEntry], out_dir: str | Path, version: str) -> LabelIds:
    """Give the dataset's artists and genres ids 1.. (0 = unknown) and write them as
    ``{version}_artist_ids.txt`` / ``{version}_genre_ids.txt`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    empty = LabelIds(version, {}, {})
    artists = sorted({empty.artist_key(s.artist) for s in songs} - {"", "unknown"})
    genres = sorted({g for s in songs if s.genre for g in empty.genre_keys(s.genre)} - {"", "unknown"})
    for kind, names in (("artist", artists), ("genre", genres)):
        lines = ["unknown;0"] + [f"{name};{i}" for i, name in enumerate(names, start=1)]
        (out / f"{version}_{kind}_ids.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return LabelIds(version, read_id_file(out / f"{version}_artist_ids.txt"),
                    read_id_file(out / f"{version}_genre_ids.txt"))


class PriorWindows(Dataset):
    """Training windows of one level: dicts of ``codes`` (n_ctx,), ``labels`` (label row, or (0,)
    without labels) and ``upper`` (n_ctx // factor codes of the level above, or (0,))."""

    def __init__(self, codes_dir: str | Path, config: PriorConfig, label_ids: LabelIds | None = None,
                 hop_fraction: float = 0.5) -> None:
        self.config = c = config
        self.root = Path(codes_dir)
        self.label_ids = label_ids
        self.songs = load_index(self.root)
        hop = hop_codes(c, hop_fraction)
        self.windows: list[tuple[int, int]] = []
        self._codes: list[np.ndarray] = []
        self._upper: list[np.ndarray | None] = []
        self._tokens: list[list[int]] = []
        self._labels: list[tuple[int, list[int]]] = []
        lyrics = LyricsProcessor(c.labels.version) if c.labels is not None else None
        if c.labels is not None and label_ids is None:
            raise UserError("a prior with labels needs the dataset's artist/genre ids (write_label_ids or --ids-dir)")
        skipped = 0
        for i, song in enumerate(self.songs):
            encoded = EncodedAudio.load(self.root / song.codes)
            if encoded.hop_lengths[c.level] != c.hop_length:
                raise UserError(f"{song.codes}: codes at hop {encoded.hop_lengths[c.level]}, "
                                f"the prior expects {c.hop_length}")
            codes = encoded.codes[c.level]
            if len(codes) < c.n_ctx or not self._fits(song.samples):
                skipped += 1
                codes = codes[:0]
            self._codes.append(codes.astype(np.int32))  # int32 halves the memory of a large dataset
            self._upper.append(encoded.codes[c.level + 1].astype(np.int32) if c.upsampler is not None else None)
            self._tokens.append(lyrics.encode(song.lyrics) if lyrics is not None and c.lyrics is not None else [])
            if c.labels is not None:
                genres = resolve_genres(song.genre, label_ids) if song.genre.strip() else [0]
                self._labels.append((resolve_artist(song.artist, label_ids), genres[: c.labels.max_bow_genre_size]))
            if len(codes):
                self.windows += [(i, s) for s in window_starts(len(codes), c.n_ctx, hop)]
        if skipped:
            log.warning("%d of %d songs are shorter than one window or outside the timing range: skipped",
                        skipped, len(self.songs))
        if not self.windows:
            raise UserError(f"{self.root}: no song is long enough for one window of {c.n_ctx} level-{c.level} codes "
                            f"({c.n_ctx * c.hop_length} samples)")

    def _fits(self, samples: int) -> bool:
        labels = self.config.labels
        if labels is None or not labels.timing:
            return True
        return labels.min_duration * labels.sample_rate <= samples < labels.max_duration * labels.sample_rate

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        c = self.config
        song_index, start = self.windows[index]
        song = self.songs[song_index]
        codes = torch.from_numpy(self._codes[song_index][start:start + c.n_ctx].astype(np.int64))
        labels = upper = torch.zeros(0, dtype=torch.long)
        if c.labels is not None:
            artist, genres = self._labels[song_index]
            labels = window_labels(c, song.samples, start, artist, genres, self._tokens[song_index])[0]
        if c.upsampler is not None:
            upper_codes = torch.from_numpy(self._upper[song_index].astype(np.int64))[None]
            upper = upper_window(c, upper_codes, start)[0]
        return {"codes": codes, "labels": labels, "upper": upper}
