"""The Jukebox models the Audio tab runs, loaded once when the server starts, and the checks of a request.

``AudioModels.load()`` loads the bundled small codec and priors (``jukebox/assets/small``);
``AudioModels.load(folder, model)`` another model folder (``muse demo --jukebox DIR``): ours
(``vqvae.safetensors``, ``prior_level_{L}.safetensors``) or the official release (``--jukebox-model
5b_lyrics`` and the like, laid out as ``jukebox sample --checkpoints`` takes it, with the
artist/genre id files in an ``ids/`` folder beside the priors). A request's artist, genre, lyrics
and length are checked here against the loaded top prior; a bad one is a ``LimitError`` whose one
line the page shows (an unknown name is never turned into "unknown" silently).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from musetok.labels import LabelIds

from demos.limits import DemoLimits, LimitError
from jukebox.pipeline import JukeboxPipeline, SampleSettings
from muse.core.ranges import quote

PREFERRED_ARTIST = "bach"


@dataclass(frozen=True)
class Labels:
    """One kind of label (artist or genre) of the top prior: its ``names`` by id order, the look-up
    ``ids`` (name -> id; None without id files), ``size`` (the prior's number of ids) and ``keys``, the
    id-file entries a name is looked up as (``musetok.labels.LabelIds.artist_key`` / ``genre_keys``:
    v2 names are normalised, a v2 genre is a bag of words)."""

    kind: str
    names: tuple[str, ...]
    ids: dict[str, int] | None
    size: int
    keys: Callable[[str], list[str]] = lambda name: [name.lower()]

    def check(self, value: object) -> str:
        """``value`` as the pipeline takes it: a name whose every key is listed (as its keys, ``_`` between
        them), or an id in range, else a ``LimitError`` suggesting the closest names."""
        text = str(value if value is not None else "").strip()
        if not text:
            raise LimitError(f"choose an {self.kind}" if self.kind == "artist" else f"choose a {self.kind}")
        keys = self.keys(text)
        if self.ids is not None and keys and all(key in self.ids for key in keys):
            return "_".join(keys)  # the id-file form, which the pipeline looks up unchanged
        if text.isdigit():
            if int(text) < self.size:
                return str(int(text))
            raise LimitError(f"{self.kind} id {text} is outside 0..{self.size - 1}")
        if self.ids is None:
            raise LimitError(f"unknown {self.kind} {quote(text)}: this model has no {self.kind} id file; give an "
                             f"id from 0 to {self.size - 1}")
        unknown = next((key for key in keys if key not in self.ids), text.lower())
        close = difflib.get_close_matches(unknown, self.names, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else "pick one from the list"
        raise LimitError(f"unknown {self.kind} {quote(text)}: {hint}")


def labels_of(kind: str, ids: LabelIds | None, size: int) -> Labels:
    """The ``kind`` (``artist`` or ``genre``) labels of a top prior with ``size`` ids, named by ``ids``."""
    if ids is None:
        return Labels(kind, (), None, size)
    table = dict(ids.artists if kind == "artist" else ids.genres)
    names = tuple(name for name, _ in sorted(table.items(), key=lambda item: (item[1], item[0])) if table[name] < size)
    keys = (lambda name: [ids.artist_key(name)]) if kind == "artist" else ids.genre_keys
    return Labels(kind, names, table, size, keys)


@dataclass(frozen=True)
class AudioModels:
    """The loaded ``pipeline``, its ``name`` (``small``, ``5b_lyrics``, ...) and ``folder`` (None: the
    bundled one), and what its top prior takes: ``artists``, ``genres``, ``lyrics`` (whether it reads
    them) and ``min_seconds`` (the shortest song its timing signal covers)."""

    pipeline: JukeboxPipeline
    name: str
    folder: Path | None
    artists: Labels
    genres: Labels
    lyrics: bool
    min_seconds: float

    @classmethod
    def load(cls, folder: str | Path | None = None, model: str = "small", device: str = "cpu") -> AudioModels:
        """Load ``model`` from ``folder`` (default: the bundled small models) on ``device``."""
        pipeline = JukeboxPipeline.load(model, folder, device=device)
        top = pipeline.priors[pipeline.codec.levels - 1].config
        ids = pipeline.label_ids()
        n_artists = top.labels.n_artists if top.labels is not None else 1
        n_genres = top.labels.n_genres if top.labels is not None else 1
        timing = top.labels is not None and top.labels.timing
        return cls(pipeline, model, Path(folder) if folder is not None else None,
                   labels_of("artist", ids, n_artists), labels_of("genre", ids, n_genres),
                   lyrics=top.lyrics is not None, min_seconds=top.labels.min_duration if timing else 0.0)

    @property
    def levels(self) -> list[int]:
        """The codec's levels, top (coarsest) first: the order they are sampled in."""
        return list(range(self.pipeline.codec.levels - 1, -1, -1))

    def describe(self) -> str:
        """Which models the tab runs, for the page."""
        if self.folder is None:
            return "the bundled small codec and priors (`jukebox/assets/small`)"
        return f"`{self.name}` from `{self.folder}`"

    def level_label(self, level: int) -> str:
        """``"Level 2 (top, 172 codes/s)"``."""
        codec = self.pipeline.codec
        rate = codec.sample_rate / codec.model.hop_lengths[level]
        where = "top" if level == codec.levels - 1 else "finest" if level == 0 else "middle"
        return f"Level {level} ({where}, {rate:.0f} codes/s)"

    def seconds_range(self, limits: DemoLimits) -> tuple[float, float]:
        """The shortest and longest sample a request may ask for (the shortest may exceed the longest when the
        top prior only makes songs longer than the demo allows: then the tab cannot sample)."""
        return max(limits.min_audio_seconds, self.min_seconds), limits.max_audio_seconds

    def default_artist(self) -> str:
        named = [n for n in self.artists.names if self.artists.ids and self.artists.ids[n] > 0]
        return PREFERRED_ARTIST if PREFERRED_ARTIST in named else (named[0] if named else "0")

    def default_genre(self) -> str:
        named = [n for n in self.genres.names if self.genres.ids and self.genres.ids[n] > 0]
        return named[0] if named else "0"

    def settings(self, limits: DemoLimits, artist: object, genre: object, lyrics: object, seconds: object,
                 seed: int) -> SampleSettings:
        """The pipeline's settings for one request (one sample, every level), each part checked."""
        low, high = self.seconds_range(limits)
        if low > high:
            raise LimitError(f"this top prior makes songs of at least {low:g} s, and this server samples at most "
                             f"{high:g} s (start it with a larger --jukebox-seconds)")
        text = "" if lyrics is None else str(lyrics)
        if len(text) > limits.max_text_chars:
            raise LimitError(f"lyrics may have at most {limits.max_text_chars} characters, not {len(text)}")
        if text.strip() and not self.lyrics:
            raise LimitError("this model's top prior takes no lyrics (the bundled small one has none): "
                             "leave the lyrics empty")
        return SampleSettings(model=self.name, checkpoints=str(self.folder) if self.folder is not None else None,
                              artist=self.artists.check(artist), genre=self.genres.check(genre), lyrics=text,
                              seconds=limits.check_audio_seconds(seconds, self.min_seconds), seed=seed,
                              ids_dir=str(self.pipeline.ids_dir) if self.pipeline.ids_dir is not None else None)


__all__ = ["AudioModels", "Labels", "labels_of"]
