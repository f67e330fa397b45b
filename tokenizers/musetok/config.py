"""TokenizerConfig: every choice that shapes the token language, as a frozen dataclass with a JSON round trip.

The vocabulary is a pure function of this config, so a model only needs the config (saved beside it as
JSON by ``MidiTokenizer.save``) to read and write its tokens.

Time grid: ``ticks_per_beat = 24`` by default. It is the smallest resolution that holds both binary and
ternary subdivisions down to 32nd notes (3 ticks), 16th-note triplets (4 ticks) and 32nd-note triplets
(2 ticks); at 120 BPM one tick is 21 ms, about the threshold below which listeners stop hearing
onset asynchrony, so expressive (unquantized) performances keep their feel while near-simultaneous chord
notes share one time step. 48 adds 64th notes at the cost of more distinct waits and longer sequences.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from musetok.errors import TokenizerError

#: Composer/style labels of the default vocabulary: the largest composers of the shared classical corpus
#: and the music21 corpus (English spellings; a dataset maps its own spellings onto these).
DEFAULT_COMPOSERS: tuple[str, ...] = (
    "bach", "beethoven", "mozart", "chopin", "haydn", "handel", "scarlatti", "vivaldi", "schubert",
    "brahms", "mendelssohn", "schumann", "liszt", "debussy", "ravel", "rachmaninoff", "tchaikovsky",
    "dvorak", "grieg", "clementi", "czerny", "satie", "scriabin", "bartok", "stravinsky", "shostakovich",
    "joplin", "gershwin", "paganini", "palestrina", "monteverdi", "josquin", "corelli", "cpebach",
    "trecento", "ciconia", "verdi", "weber", "schoenberg", "webern", "folk",
)

FamilyMode = Literal["family", "program"]
PedalMode = Literal["extend", "tokens", "ignore"]
_NAME = re.compile(r"^[a-z0-9_]+$")


def normalize_composer(name: str) -> str:
    """Canonical spelling of a composer label: lower case, runs of spaces/dashes/dots as one ``_``."""
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


@dataclass(frozen=True)
class TokenizerConfig:
    """Choices of the token language (all times in grid ticks of ``ticks_per_beat`` per quarter note)."""

    version: int = 1  # token-language version written with the vocabulary
    composers: tuple[str, ...] = DEFAULT_COMPOSERS
    family_mode: FamilyMode = "family"  # "program" keeps exact GM programs
    ticks_per_beat: int = 24
    max_wait: int = 96  # longest single wait token; longer gaps become several waits
    velocity_bins: int = 16
    tempo_per_octave: int = 12  # BPM bins per doubling of tempo, anchored at 120 BPM (60, 90, 120, 180 ...)
    tempo_range: tuple[float, float] = (20.0, 640.0)  # bins cover this; faster/slower tempos are clipped
    tempo_limits: tuple[float, float] = (1.0, 10_000.0)  # input tempos outside are rejected as absurd
    time_signatures: bool = False
    pedal: PedalMode = "extend"  # sustain pedal: lengthen held notes, emit pedal tokens, or drop
    max_file_bytes: int = 16 * 2**20
    max_beats: int = 100_000  # longest accepted piece (guards against corrupt delta times)
    recover: bool = True  # unwrap RMID/foreign headers and keep the intact tracks of damaged files
    fim_markers: bool = False  # append the fill-in-the-middle marker block at the END of the vocabulary

    def __post_init__(self) -> None:
        object.__setattr__(self, "composers", tuple(normalize_composer(c) for c in self.composers))
        object.__setattr__(self, "tempo_range", tuple(float(x) for x in self.tempo_range))
        object.__setattr__(self, "tempo_limits", tuple(float(x) for x in self.tempo_limits))
        problems = list(self._problems())
        if problems:
            raise TokenizerError(f"invalid tokenizer config: {'; '.join(problems)}")

    def _problems(self):
        if self.version != 1:
            yield f"version {self.version} is not supported (this musetok writes version 1)"
        if self.family_mode not in ("family", "program"):
            yield f"family_mode must be 'family' or 'program', not {self.family_mode!r}"
        if self.pedal not in ("extend", "tokens", "ignore"):
            yield f"pedal must be 'extend', 'tokens' or 'ignore', not {self.pedal!r}"
        for name in ("ticks_per_beat", "max_wait", "velocity_bins", "max_file_bytes", "max_beats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                yield f"{name} must be a positive integer, not {value!r}"
        if isinstance(self.max_beats, int) and isinstance(self.ticks_per_beat, int) \
                and self.max_beats * self.ticks_per_beat >= 2**31:
            yield "max_beats * ticks_per_beat must stay below 2**31 grid steps"
        if not 1 <= self.velocity_bins <= 64:  # more bins than that would share velocity values
            yield f"velocity_bins must be in 1..64, not {self.velocity_bins}"
        if not isinstance(self.tempo_per_octave, int) or not 1 <= self.tempo_per_octave <= 96:
            yield f"tempo_per_octave must be an integer in 1..96, not {self.tempo_per_octave!r}"
        lo, hi = self.tempo_range
        if not 0 < lo <= 120 <= hi:
            yield f"tempo_range must be (low, high) with 0 < low <= 120 <= high, not {self.tempo_range}"
        if not 0 < self.tempo_limits[0] < self.tempo_limits[1]:
            yield f"tempo_limits must be (low, high) with 0 < low < high, not {self.tempo_limits}"
        bad = [c for c in self.composers if not _NAME.match(c)]
        if bad:
            yield f"composer names must be letters, digits and '_': {bad}"
        if len(set(self.composers)) != len(self.composers):
            yield "composer names must be unique"
        if not isinstance(self.fim_markers, bool):
            yield f"fim_markers must be true or false, not {self.fim_markers!r}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists). ``fim_markers`` is written only when on, so a
        vocabulary without markers is saved exactly as before the switch existed."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not self.fim_markers:
            del out["fim_markers"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "tokenizer config") -> "TokenizerConfig":
        """Strict inverse of ``to_dict``: an unknown key is an error naming ``source`` and the key."""
        if not isinstance(data, dict):
            raise TokenizerError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TokenizerError(f"{source}: unknown tokenizer config key(s) {unknown}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**values)
        except TokenizerError as err:
            raise TokenizerError(f"{source}: {err}") from None

    def save(self, path: str | Path) -> None:
        """Write the config as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TokenizerConfig":
        """Read a config written by ``save``."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise TokenizerError(f"{path}: cannot read tokenizer config: {err}") from None
        return cls.from_dict(data, str(path))
