"""SoundFont 2 (.sf2) files read with numpy alone: presets, their zones, and the 16-bit samples.

A SoundFont is a RIFF file (``sfbk``) of three lists: ``INFO`` (names), ``sdta`` (the ``smpl``
chunk: every sample as 16-bit mono PCM, one after the other) and ``pdta`` (the "hydra": nine
tables of fixed-size records). A *preset* (bank, program) is a list of zones, each pointing at an
*instrument*; an instrument is a list of zones, each pointing at a *sample*. A zone holds
*generators* (id -> value): key and velocity ranges, tuning, loop mode, envelope times, ...

The rules this module keeps (SoundFont 2.04, sections 7 and 9.4):

- A zone list may start with a *global* zone (its last generator is not the instrument / sample
  link): its generators are the defaults of the other zones of that list.
- Instrument generators *set* values (default -> global zone -> local zone); preset generators
  *add* to them (ranges intersect instead; the address offsets, root key, sample modes,
  exclusive class and forced key/velocity are instrument-only and ignored at preset level).
- Address offsets are counted in samples from the sample header's start/end/loop points, the
  coarse ones in units of 32768 samples.

``SoundFont.voices(bank, program, key, velocity)`` is what a synthesizer needs: every zone that
sounds for that note, its generators combined, with its sample header. Files are read once and
kept (``load_soundfont``); the sample data is memory-mapped, not copied.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muse.core.errors import UserError

# Generator ids (SoundFont 2.04, section 8.1.2) used by the sampler.
START_OFFSET, END_OFFSET, LOOP_START_OFFSET, LOOP_END_OFFSET = 0, 1, 2, 3
START_COARSE, END_COARSE, LOOP_START_COARSE, LOOP_END_COARSE = 4, 12, 45, 50
FILTER_FC, MOD_ENV_TO_FILTER_FC, PAN = 8, 11, 17
DELAY_MOD, ATTACK_MOD, HOLD_MOD, DECAY_MOD, SUSTAIN_MOD, RELEASE_MOD = 25, 26, 27, 28, 29, 30
KEY_TO_MOD_HOLD, KEY_TO_MOD_DECAY = 31, 32
DELAY_VOL, ATTACK_VOL, HOLD_VOL, DECAY_VOL, SUSTAIN_VOL, RELEASE_VOL = 33, 34, 35, 36, 37, 38
KEY_TO_HOLD, KEY_TO_DECAY = 39, 40
INSTRUMENT, KEY_RANGE, VEL_RANGE = 41, 43, 44
KEYNUM, VELOCITY, ATTENUATION = 46, 47, 48
COARSE_TUNE, FINE_TUNE, SAMPLE_ID, SAMPLE_MODES, SCALE_TUNING, EXCLUSIVE_CLASS, ROOT_KEY = 51, 52, 53, 54, 56, 57, 58

DEFAULTS = {**{g: -12000 for g in (DELAY_VOL, ATTACK_VOL, HOLD_VOL, DECAY_VOL, RELEASE_VOL, DELAY_MOD, ATTACK_MOD,
                                    HOLD_MOD, DECAY_MOD, RELEASE_MOD)},
            FILTER_FC: 13500, SCALE_TUNING: 100, ROOT_KEY: -1, KEYNUM: -1, VELOCITY: -1}  # the rest: 0
_RANGES = (KEY_RANGE, VEL_RANGE)
_INSTRUMENT_ONLY = {START_OFFSET, END_OFFSET, LOOP_START_OFFSET, LOOP_END_OFFSET, START_COARSE, END_COARSE,
                    LOOP_START_COARSE, LOOP_END_COARSE, KEYNUM, VELOCITY, SAMPLE_MODES, EXCLUSIVE_CLASS, ROOT_KEY}
DRUM_BANK = 128

# pdta record layouts (little-endian): name of the table -> struct format
_RECORDS = {"phdr": "<20sHHHIII", "pbag": "<HH", "pgen": "<Hh", "inst": "<20sH", "ibag": "<HH", "igen": "<Hh",
            "shdr": "<20sIIIIIBbHH"}


@dataclass(frozen=True)
class SampleHeader:
    """One sample of the ``smpl`` chunk: points in samples from the chunk's start, its rate, root key
    (``original_pitch``) and tuning correction in cents."""

    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: int
    original_pitch: int
    pitch_correction: int


@dataclass(frozen=True)
class Zone:
    """Generators (id -> value; key/velocity ranges as ``(low, high)``) and what the zone links to
    (an instrument index for a preset zone, a sample index for an instrument zone, None: global)."""

    gens: dict[int, int | tuple[int, int]]
    link: int | None

    def covers(self, key: int, velocity: int) -> bool:
        lo, hi = self.gens.get(KEY_RANGE, (0, 127))
        vlo, vhi = self.gens.get(VEL_RANGE, (0, 127))
        return lo <= key <= hi and vlo <= velocity <= vhi


@dataclass(frozen=True)
class Voice:
    """A zone that sounds for one note: the combined generators (``gen``) and its sample."""

    gens: dict[int, int]
    sample: SampleHeader

    def gen(self, gid: int) -> int:
        return self.gens.get(gid, DEFAULTS.get(gid, 0))


class SoundFont:
    """A parsed .sf2 file: ``presets[(bank, program)]`` (zones), ``instruments`` (zones),
    ``samples`` (headers) and ``data`` (int16 (n,), memory-mapped)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        chunks = _read_chunks(self.path)
        if "smpl" not in chunks:
            raise UserError(f"{self.path}: the SoundFont has no sample data (smpl chunk)")
        offset, size = chunks["smpl"]
        self.data = np.memmap(self.path, dtype="<i2", mode="r", offset=offset, shape=(size // 2,))
        with self.path.open("rb") as fh:
            tables = {name: _records(fh, chunks, name) for name in _RECORDS}
        self.samples = [SampleHeader(_name(r[0]), *r[1:8]) for r in tables["shdr"][:-1]]
        self.instruments = [_zones(tables["ibag"], tables["igen"], r[1], nxt[1], SAMPLE_ID)
                            for r, nxt in zip(tables["inst"], tables["inst"][1:])]
        self.presets: dict[tuple[int, int], list[Zone]] = {}
        self.names: dict[tuple[int, int], str] = {}
        for r, nxt in zip(tables["phdr"], tables["phdr"][1:]):
            key = (int(r[2]), int(r[1]))  # (bank, program)
            self.presets.setdefault(key, _zones(tables["pbag"], tables["pgen"], r[3], nxt[3], INSTRUMENT))
            self.names.setdefault(key, _name(r[0]))

    def preset_for(self, program: int, drum: bool = False) -> tuple[int, int] | None:
        """The (bank, program) that plays General MIDI ``program`` (a drum kit: bank 128), or None.

        Melodic: bank 0, else the lowest bank with that program, else the piano (0, 0). Drums: the
        kit numbered ``program`` in bank 128, else the standard kit (128, 0)."""
        if drum:
            candidates = [(DRUM_BANK, program), (DRUM_BANK, 0)]
        else:
            candidates = [(0, program), *sorted(k for k in self.presets if k[1] == program and k[0] != DRUM_BANK),
                          (0, 0)]
        return next((c for c in candidates if c in self.presets), None)

    def voices(self, preset: tuple[int, int], key: int, velocity: int) -> Iterator[Voice]:
        """Every sample zone of ``preset`` sounding at ``key`` / ``velocity``, generators combined."""
        pglobal, pzones = _split_global(self.presets.get(preset, []))
        for pzone in pzones:
            if not pzone.covers(key, velocity) or not 0 <= pzone.link < len(self.instruments):
                continue
            added = {**pglobal, **pzone.gens}
            iglobal, izones = _split_global(self.instruments[pzone.link])
            for izone in izones:
                if not izone.covers(key, velocity) or not 0 <= izone.link < len(self.samples):
                    continue
                gens = {g: v for g, v in {**iglobal, **izone.gens}.items() if g not in _RANGES}
                for g, v in added.items():
                    if g not in _RANGES and g not in _INSTRUMENT_ONLY and g != INSTRUMENT:
                        gens[g] = gens.get(g, DEFAULTS.get(g, 0)) + v
                yield Voice(gens, self.samples[izone.link])


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, size: int) -> SoundFont:
    return SoundFont(path)


def load_soundfont(path: str | Path) -> SoundFont:
    """The parsed SoundFont at ``path`` (kept while the file is unchanged); a damaged or foreign
    file is a ``UserError`` naming it."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError as err:
        raise UserError(f"{path}: cannot read the soundfont ({err.strerror or err})") from err
    return _cached(str(path), stat.st_mtime_ns, stat.st_size)


# ---- parsing --------------------------------------------------------------------------------------


def _read_chunks(path: Path) -> dict[str, tuple[int, int]]:
    """Offset and size of every chunk inside the RIFF lists (``smpl``, ``phdr``, ...)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise UserError(f"{path}: not a SoundFont 2 file (.sf2)")
            end = 8 + struct.unpack("<I", head[4:8])[0]
            chunks: dict[str, tuple[int, int]] = {}
            pos = 12
            while pos + 12 <= end:
                fh.seek(pos)
                tag, size, kind = struct.unpack("<4sI4s", fh.read(12))
                if tag == b"LIST":
                    sub, stop = pos + 12, min(pos + 8 + size, end)
                    while sub + 8 <= stop:
                        fh.seek(sub)
                        ctag, csize = struct.unpack("<4sI", fh.read(8))
                        chunks[ctag.decode("latin-1")] = (sub + 8, min(csize, stop - sub - 8))
                        sub += 8 + csize + (csize & 1)
                pos += 8 + size + (size & 1)
    except (OSError, struct.error) as err:
        raise UserError(f"{path}: cannot read the soundfont ({err})") from err
    return chunks


def _records(fh, chunks: dict[str, tuple[int, int]], name: str) -> list[tuple]:
    if name not in chunks:
        raise UserError(f"{fh.name}: the SoundFont has no {name} table")
    offset, size = chunks[name]
    fmt = struct.Struct(_RECORDS[name])
    fh.seek(offset)
    raw = fh.read(size - size % fmt.size)
    rows = list(fmt.iter_unpack(raw))
    if len(rows) < 2 and name in ("phdr", "inst", "shdr"):  # at least one record and the terminal one
        raise UserError(f"{fh.name}: the SoundFont's {name} table is empty")
    return rows


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _zones(bags: list[tuple], gens: list[tuple], first: int, stop: int, link_gen: int) -> list[Zone]:
    """The zones of bag records ``first`` to ``stop`` (exclusive), each with its generators."""
    zones = []
    for b in range(first, min(stop, len(bags) - 1)):
        values: dict[int, int | tuple[int, int]] = {}
        link = None
        for gid, amount in gens[bags[b][0]:bags[b + 1][0]]:
            if gid in _RANGES:
                raw = amount & 0xFFFF
                values[gid] = (raw & 0xFF, raw >> 8)
            elif gid == link_gen:
                link = amount & 0xFFFF
            else:
                values[gid] = amount
        zones.append(Zone(values, link))
    return zones


def _split_global(zones: list[Zone]) -> tuple[dict, list[Zone]]:
    """The global zone's generators (those of a first zone without a link) and the other zones."""
    if zones and zones[0].link is None:
        return ({g: v for g, v in zones[0].gens.items() if g not in _RANGES},
                [z for z in zones[1:] if z.link is not None])
    return {}, [z for z in zones if z.link is not None]


__all__ = ["SampleHeader", "SoundFont", "Voice", "Zone", "load_soundfont", "DRUM_BANK"]
