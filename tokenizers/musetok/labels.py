"""Jukebox artist/genre labels: the official id files, name look-up, and the label row.

Id files hold one ``name;id`` per line (several names may share an id; names are lower-cased on
load; a later line for the same name wins). ``v2`` files (5b, 5b_lyrics) use normalised names
(``AC/DC`` -> ``ac_dc``) and genres are a bag of words (``Hip Hop`` -> ``hip``, ``hop``); ``v3``
files (1b_lyrics) use whole lower-cased names and one genre. Unknown names map to id 0.
Users pass the official files through a directory (``--ids-dir``, files named
``{version}_artist_ids.txt`` / ``{version}_genre_ids.txt``) or give integer ids directly.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from musetok.errors import TokenizerError
from musetok.lyrics import TextVersion

logger = logging.getLogger(__name__)

EMPTY_GENRE = -1
"""Label-row value of an unused genre slot (masked out by the model)."""


def normalize_v2(name: str) -> str:
    """v2 name normalisation: lower-case, non-alphanumerics -> ``_``, runs collapsed, ends stripped."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", name.lower())).strip("_")


def read_id_file(path: str | Path) -> dict[str, int]:
    """Parse an official ``name;id`` file into ``{lower-cased name: id}``.

    Raises TokenizerError naming the file and line for a missing file, a line without ``;`` or an
    id that is not a non-negative integer. Blank lines are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerError(f"{path}: id file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"{path}: cannot read id file ({exc})") from None
    table: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.rpartition(";")
        if not sep:
            raise TokenizerError(f"{path}:{number}: expected 'name;id', got {line!r}")
        try:
            ident = int(value.strip())
        except ValueError:
            raise TokenizerError(f"{path}:{number}: id {value.strip()!r} is not an integer") from None
        if ident < 0:
            raise TokenizerError(f"{path}:{number}: id {ident} is negative")
        table[name.lower()] = ident
    if not table:
        raise TokenizerError(f"{path}: id file has no 'name;id' lines")
    return table


@dataclass(frozen=True)
class LabelIds:
    """Artist and genre look-up for one label version (``"v2"`` or ``"v3"``)."""

    version: TextVersion
    artists: Mapping[str, int] = field(repr=False)
    genres: Mapping[str, int] = field(repr=False)

    @classmethod
    def from_files(cls, artist_file: str | Path, genre_file: str | Path, version: TextVersion) -> "LabelIds":
        """Load the two official id files of ``version``."""
        if version not in ("v2", "v3"):
            raise TokenizerError(f"unknown label version {version!r}; expected 'v2' or 'v3'")
        return cls(version, read_id_file(artist_file), read_id_file(genre_file))

    @classmethod
    def from_dir(cls, ids_dir: str | Path, version: TextVersion) -> "LabelIds":
        """Load ``{version}_artist_ids.txt`` and ``{version}_genre_ids.txt`` from ``ids_dir``."""
        ids_dir = Path(ids_dir)
        if not ids_dir.is_dir():
            raise TokenizerError(f"{ids_dir}: ids directory not found")
        return cls.from_files(ids_dir / f"{version}_artist_ids.txt", ids_dir / f"{version}_genre_ids.txt", version)

    def artist_key(self, name: str) -> str:
        """The form of an artist name used in this version's id file."""
        return normalize_v2(name) if self.version == "v2" else name.lower()

    def genre_keys(self, name: str) -> list[str]:
        """The genre words (v2 bag of words) or the single genre (v3) looked up for ``name``."""
        return normalize_v2(name).split("_") if self.version == "v2" else [name.lower()]

    def artist_id(self, name: str) -> int:
        """Id of an artist name; 0 (unknown) when the id file does not list it."""
        key = self.artist_key(name)
        if key not in self.artists:
            logger.warning("artist %r (as %r) is not in the %s artist ids; using 0 (unknown)", name, key, self.version)
        return self.artists.get(key, 0)

    def genre_ids(self, name: str) -> list[int]:
        """Ids of a genre: one per word for v2, one for v3; unknown words map to 0."""
        keys = self.genre_keys(name)
        for key in keys:
            if key not in self.genres:
                logger.warning("genre %r (as %r) is not in the %s genre ids; using 0", name, key, self.version)
        return [self.genres.get(key, 0) for key in keys]


def _as_int(value: str | int) -> int | None:
    if isinstance(value, int):
        return value
    text = value.strip()
    return int(text) if text.isdigit() else None


def resolve_artist(value: str | int, ids: LabelIds | None) -> int:
    """Artist id from a name (looked up in ``ids``) or an integer id.

    A string of digits that is not a listed name is taken as an id, so users without id files
    can pass ``--artist 145``.
    """
    if ids is not None and isinstance(value, str) and ids.artist_key(value) in ids.artists:
        return ids.artist_id(value)
    ident = _as_int(value)
    if ident is not None:
        return ident
    if ids is None:
        raise TokenizerError(f"artist {value!r} is a name but no artist id file was given; pass --ids-dir or an id")
    return ids.artist_id(value)


def resolve_genres(value: str | int | Sequence[int], ids: LabelIds | None) -> list[int]:
    """Genre ids from a name (looked up in ``ids``), an integer id, or comma-separated integer ids."""
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    if isinstance(value, int):
        return [value]
    if ids is not None and all(key in ids.genres for key in ids.genre_keys(value)):
        return ids.genre_ids(value)
    parts = [p.strip() for p in value.split(",")]
    if parts and all(p.isdigit() for p in parts):
        return [int(p) for p in parts]
    if ids is None:
        raise TokenizerError(f"genre {value!r} is a name but no genre id file was given; pass --ids-dir or ids")
    return ids.genre_ids(value)


def label_row(
    total_length: int,
    offset: int,
    sample_length: int,
    artist_id: int,
    genre_ids: Sequence[int],
    max_bow_genre_size: int,
    lyric_tokens: Sequence[int] = (),
    *,
    n_artists: int | None = None,
    n_genres: int | None = None,
) -> list[int]:
    """One Jukebox label row: ``[total_length, offset, sample_length, artist, genres..., lyrics...]``.

    Lengths are in samples; the genre slots are padded to ``max_bow_genre_size`` with -1 (empty).
    ``n_artists``/``n_genres`` (the model's embedding sizes), when given, range-check the ids.
    """
    if not genre_ids:
        raise TokenizerError("at least one genre id is needed (use 0 for unknown)")
    if len(genre_ids) > max_bow_genre_size:
        raise TokenizerError(f"{len(genre_ids)} genre words but the model takes at most {max_bow_genre_size}")
    if not 0 <= artist_id < (n_artists if n_artists is not None else artist_id + 1):
        raise TokenizerError(f"artist id {artist_id} is outside 0..{(n_artists or 1) - 1}")
    for genre in genre_ids:
        if not 0 <= genre < (n_genres if n_genres is not None else genre + 1):
            raise TokenizerError(f"genre id {genre} is outside 0..{(n_genres or 1) - 1}")
    if not 0 <= offset < total_length:
        raise TokenizerError(f"window offset {offset} is outside the song length {total_length}")
    genres = list(genre_ids) + [EMPTY_GENRE] * (max_bow_genre_size - len(genre_ids))
    return [int(total_length), int(offset), int(sample_length), int(artist_id), *map(int, genres),
            *map(int, lyric_tokens)]
