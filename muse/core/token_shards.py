"""A built dataset on disk: token shards read as ``np.memmap`` plus one JSON index.

Layout of a dataset folder::

    index.json          format, dtype, vocab size, composers, shards, one record per piece
    tokens-00000.bin    raw little-endian uint16 (uint32 when the vocabulary exceeds 65,536 ids)
    tokenizer.json      the musetok vocabulary + config the ids belong to
    stats.json          summary statistics of the build; skipped.json: pieces left out and why

A piece never straddles two shards. Its record gives ``shard``, ``offset`` and ``length`` (tokens),
``header`` (tokens up to and including ``start``: composer, instrumentation, start; a random crop
for training keeps these), its ``composer`` label (``null`` for the unknown composer) and its
``split`` (``train`` or ``valid``). ``ShardWriter`` writes the files, ``TokenDataset`` reads them.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from muse.core.atomic import atomic_path, write_json
from muse.core.errors import UserError

FORMAT = "musebox-token-shards"
FORMAT_VERSION = 1
INDEX_FILE = "index.json"
TOKENIZER_FILE = "tokenizer.json"
STATS_FILE = "stats.json"
SKIPPED_FILE = "skipped.json"
JSON_INDENT = 1  # the dataset's JSON files (index, stats, skipped) are indented by one space
Split = Literal["train", "valid"]
SPLITS: tuple[Split, ...] = ("train", "valid")


@dataclass(frozen=True)
class PieceRecord:
    """Where one piece lives in the shards, and what it is."""

    id: str
    source: str
    composer: str | None
    split: Split
    shard: int
    offset: int
    length: int
    header: int
    n_notes: int
    seconds: float
    tempo: float | None


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32 (little-endian on disk whatever the machine)."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


class ShardWriter:
    """Append pieces to ``tokens-NNNNN.bin`` files of at most ``shard_tokens`` tokens (a longer piece gets its own)."""

    def __init__(self, folder: Path, dtype: np.dtype, shard_tokens: int) -> None:
        if shard_tokens < 1:
            raise UserError(f"shard size must be at least 1 token, not {shard_tokens}")
        self.folder, self.dtype, self.shard_tokens = folder, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self._file = None
        self._pending: ExitStack | None = None  # the open shard: its file inside its atomic_path

    def add(self, ids: np.ndarray) -> tuple[int, int]:
        """Write ``ids`` [n] and return (shard number, offset in tokens)."""
        if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(self.dtype).max):
            raise ValueError(f"token ids out of range for {self.dtype}")
        filled = self.shards[-1]["tokens"] if self.shards else 0
        if self._file is None or (filled and filled + len(ids) > self.shard_tokens):
            self._open_next()
        shard = self.shards[-1]
        offset = shard["tokens"]
        np.ascontiguousarray(ids, dtype=self.dtype).tofile(self._file)
        shard["tokens"] += len(ids)
        return len(self.shards) - 1, offset

    def _open_next(self) -> None:
        self._close_current()
        name = f"tokens-{len(self.shards):05d}.bin"
        self.shards.append({"file": name, "tokens": 0})
        self._pending = ExitStack()
        tmp = self._pending.enter_context(atomic_path(self.folder / name))
        self._file = self._pending.enter_context(tmp.open("wb"))

    def _close_current(self) -> None:
        if self._pending is not None:
            self._pending.close()  # closes the file, then renames it onto the shard's name
            self._pending = self._file = None

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard, delete shards of an earlier, larger build; return the shard list."""
        self._close_current()
        keep = {s["file"] for s in self.shards}
        for old in self.folder.glob("tokens-*.bin"):
            if old.name not in keep:
                old.unlink()
        return self.shards


def write_index(folder: Path, shards: list[dict[str, Any]], pieces: list[PieceRecord], **meta: Any) -> None:
    """Write ``index.json`` (last: its presence means the dataset is complete)."""
    index = {"format": FORMAT, "version": FORMAT_VERSION, **meta, "shards": shards,
             "pieces": [asdict(p) for p in pieces]}
    write_json(folder / INDEX_FILE, index, indent=JSON_INDENT)


class TokenDataset:
    """Read a dataset built by ``muse data build``.

    >>> ds = TokenDataset("data/music21")
    >>> len(ds), ds.composers[:2], ds.split_indices("valid")[:3]
    >>> ids = ds.tokens(0)          # np.ndarray [length] (uint16/uint32 view of the memmap)
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / INDEX_FILE
        if not path.is_file():
            raise UserError(f"{self.folder}: not a built dataset (no {INDEX_FILE}; run `muse data build`)")
        try:
            index = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{path}: unreadable dataset index ({err})") from None
        if index.get("format") != FORMAT or index.get("version") != FORMAT_VERSION:
            raise UserError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} index")
        self.index = index
        self.dtype = np.dtype(index["dtype"])
        self.vocab_size: int = index["vocab_size"]
        self.composers: tuple[str, ...] = tuple(index["composers"])
        self.pieces = [PieceRecord(**p) for p in index["pieces"]]
        self.lengths = np.array([p.length for p in self.pieces], dtype=np.int64)
        self._shards: list[np.memmap | None] = [None] * len(index["shards"])

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def tokenizer_path(self) -> Path:
        return self.folder / TOKENIZER_FILE

    def load_tokenizer(self) -> Any:
        """The ``musetok.MidiTokenizer`` whose vocabulary the ids use."""
        from musetok import MidiTokenizer

        return MidiTokenizer.load(self.tokenizer_path)

    def split_indices(self, split: Split) -> np.ndarray:
        """Indices [k] (int64) of the pieces in ``split`` ("train" or "valid"), in index order."""
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; use one of {list(SPLITS)}")
        return np.array([i for i, p in enumerate(self.pieces) if p.split == split], dtype=np.int64)

    def composer(self, i: int) -> str | None:
        """The composer/style label of piece ``i`` (None: unknown composer)."""
        return self.pieces[i].composer

    def tokens(self, i: int) -> np.ndarray:
        """Token ids [length] of piece ``i``: a read-only view of its shard (copy it to modify)."""
        p = self.pieces[i]
        return self._shard(p.shard)[p.offset : p.offset + p.length]

    def _shard(self, k: int) -> np.memmap:
        shard = self._shards[k]
        if shard is None:
            info = self.index["shards"][k]
            path = self.folder / info["file"]
            expected = info["tokens"] * self.dtype.itemsize
            if not path.is_file() or path.stat().st_size != expected:
                raise UserError(f"{path}: missing or not {expected} bytes; rebuild the dataset")
            shard = np.memmap(path, dtype=self.dtype, mode="r", shape=(info["tokens"],))
            self._shards[k] = shard
        return shard


def describe_dataset(folder: str | Path) -> str:
    """A few lines for people: size, splits, tokens per composer of the dataset in ``folder``."""
    ds = TokenDataset(folder)
    per: dict[str, list[int]] = {}
    for p, n in zip(ds.pieces, ds.lengths.tolist()):
        entry = per.setdefault(p.composer or "unknown_composer", [0, 0])
        entry[0] += 1
        entry[1] += n
    lines = [
        f"{ds.folder}: {len(ds)} pieces, {int(ds.lengths.sum()):,} tokens ({ds.dtype.name}, vocabulary "
        f"{ds.vocab_size}), {len(ds.index['shards'])} shard(s)",
        "splits: " + ", ".join(f"{s} {len(ds.split_indices(s))}" for s in SPLITS),
    ]
    width = max(len(k) for k in per)
    lines += [f"  {k.ljust(width)}  {n:6d} pieces  {t:>12,} tokens" for k, (n, t) in sorted(per.items())]
    return "\n".join(lines)
