"""The vocabulary: token strings, ids, and per-id numpy arrays for vectorized use by models and samplers.

Id layout (contiguous blocks, in this order): special tokens, composers, instruments (one per
instrument key, ``drums`` last), tempos, time signatures (only if enabled), pedal on/off per melodic
key (only with ``pedal="tokens"``), waits ``wait:1..max_wait``, melodic notes
``<key>:v<velocity>:<pitch>`` for every key x velocity bin (bin 0 = ``v0`` = note-off) x pitch 0-127,
and drum hits ``drums:v<velocity>:<pitch>`` (note-on only); with ``fim_markers`` the
fill-in-the-middle markers ``FIM_MARKERS`` last, so switching them on moves no existing id (a model
or dataset built without them reads the same ids).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from enum import IntEnum
from typing import Iterable, Sequence

import numpy as np

from musetok.config import TokenizerConfig, normalize_composer
from musetok.errors import TokenizerError
from musetok.instruments import instrument_names

SPECIAL_TOKENS: tuple[str, ...] = ("pad", "start", "end", "unknown_composer")
#: Fill-in-the-middle markers (``muse.fim``): ``fim:suffix`` opens the piece's music after a gap,
#: ``fim:prefix`` opens the music before it (the model then writes the gap).
FIM_MARKERS: tuple[str, ...] = ("fim:suffix", "fim:prefix")
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TIMESIG_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)
TIMESIG_MAX_NUMERATOR = 32
STEP_ORDER_NONE = 1 << 18  # ``Vocab.step_order`` of tokens that are no event of a time step


class Kind(IntEnum):
    """What a token is; ``Vocab.kind[id]`` holds these values (int8)."""

    SPECIAL = 0
    COMPOSER = 1
    INSTRUMENT = 2
    TEMPO = 3
    TIMESIG = 4
    PEDAL = 5
    WAIT = 6
    NOTE = 7  # melodic note-on (velocity bin > 0) or note-off (velocity bin 0)
    DRUM = 8  # drum hit (note-on only)
    MARKER = 9  # fill-in-the-middle marker (only with ``fim_markers``)


def pitch_name(pitch: int) -> str:
    """Scientific pitch name with middle C (60) = C4: ``pitch_name(67) == "G4"``."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def velocity_values(bins: int) -> np.ndarray:
    """Velocity written for each bin 0..bins (bin 0 = note-off = 0), shape (bins + 1,)."""
    return np.minimum(127, np.floor(np.arange(bins + 1) * 128 / bins + 0.5)).astype(np.int16)


def velocity_bin(velocity: np.ndarray | int, bins: int) -> np.ndarray:
    """Bin (1..bins) of MIDI velocities 1..127: ``round(v * bins / 128)``, halves rounded up."""
    v = np.asarray(velocity, dtype=np.int64)
    return np.clip((2 * v * bins + 128) // 256, 1, bins)


def _tempo_steps(config: TokenizerConfig) -> tuple[int, int]:
    """Lowest and highest step k of the tempo bins ``120 * 2 ** (k / tempo_per_octave)`` inside the range."""
    lo, hi = config.tempo_range
    k_lo = math.ceil(config.tempo_per_octave * math.log2(lo / 120) - 1e-9)
    k_hi = math.floor(config.tempo_per_octave * math.log2(hi / 120) + 1e-9)
    return k_lo, k_hi


def tempo_values(config: TokenizerConfig) -> np.ndarray:
    """BPM of each tempo bin: ``120 * 2 ** (k / tempo_per_octave)`` over the range (so 60/120/240 exist)."""
    k_lo, k_hi = _tempo_steps(config)
    return 120.0 * 2.0 ** (np.arange(k_lo, k_hi + 1) / config.tempo_per_octave)


def tempo_bin(bpm: np.ndarray | float, config: TokenizerConfig) -> np.ndarray:
    """Index of the nearest tempo bin on a log scale (halves round up), clipped to the range."""
    k_lo, k_hi = _tempo_steps(config)
    pos = np.log2(np.asarray(bpm, dtype=np.float64) / 120.0) * config.tempo_per_octave
    return (np.clip(np.floor(pos + 0.5), k_lo, k_hi) - k_lo).astype(np.int64)


def _tempo_names(values: np.ndarray) -> list[str]:
    """``tempo:<bpm>`` with as few decimals as keep the names distinct."""
    for decimals in range(4):
        names = [f"tempo:{bpm:.{decimals}f}" for bpm in values]
        if len(set(names)) == len(names):
            return names
    raise TokenizerError("invalid tokenizer config: tempo bins too close to name")


class Vocab:
    """Token strings <-> ids, plus arrays describing every id (each of shape (size,)).

    Arrays: ``kind`` (Kind values), ``key`` alias ``family`` (instrument key index: a family, or a GM
    program in ``program`` mode, ``drum_key`` for drums; -1 if none), ``velocity`` (bin:
    0 = note-off, 1..velocity_bins; -1 if none), ``pitch`` (0-127 or -1), ``wait_ticks`` (grid ticks
    a wait advances, else 0), ``tempo_bpm`` (BPM of tempo tokens, else 0), ``is_on`` (note-on, drum hit
    or pedal-on).
    """

    # First id of each block (set in __init__).
    composer_base: int
    instrument_base: int
    tempo_base: int
    timesig_base: int
    pedal_base: int
    wait_base: int
    note_base: int
    drum_base: int
    marker_base: int  # == size when the vocabulary has no markers

    def __init__(self, config: TokenizerConfig) -> None:
        self.config = config
        self.instruments = instrument_names(config.family_mode)
        self.n_melodic = len(self.instruments) - 1
        self.drum_key = self.n_melodic
        self.velocity_values = velocity_values(config.velocity_bins)
        self.tempo_values = tempo_values(config)
        names: list[str] = []
        blocks: dict[str, int] = {}

        def block(name: str, tokens: Iterable[str]) -> None:
            blocks[name] = len(names)
            names.extend(tokens)

        block("special", SPECIAL_TOKENS)
        block("composer", config.composers)
        block("instrument", self.instruments)
        block("tempo", _tempo_names(self.tempo_values))
        timesigs = [(n, d) for n in range(1, TIMESIG_MAX_NUMERATOR + 1) for d in TIMESIG_DENOMINATORS]
        block("timesig", (f"timesig:{n}/{d}" for n, d in timesigs) if config.time_signatures else ())
        pedal_keys = self.instruments[:-1] if config.pedal == "tokens" else ()
        block("pedal", (f"{k}:{s}" for k in pedal_keys for s in ("pedal_on", "pedal_off")))
        block("wait", (f"wait:{n}" for n in range(1, config.max_wait + 1)))
        pitches = [pitch_name(p) for p in range(128)]
        vels = [f"v{v}" for v in self.velocity_values]
        block("note", (f"{k}:{v}:{p}" for k in self.instruments[:-1] for v in vels for p in pitches))
        block("drum", (f"drums:{v}:{p}" for v in vels[1:] for p in pitches))
        block("marker", FIM_MARKERS if config.fim_markers else ())
        self.tokens: tuple[str, ...] = tuple(names)
        self._ids = {token: i for i, token in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens):
            dup = sorted(t for t, n in Counter(self.tokens).items() if n > 1)
            raise TokenizerError(f"invalid tokenizer config: duplicate tokens {dup[:5]} (rename the composers)")
        for name, start in blocks.items():
            setattr(self, f"{name}_base", start)
        self._fill_arrays(len(timesigs) if config.time_signatures else 0, len(pedal_keys))
        self.fingerprint = hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()[:16]

    def _fill_arrays(self, n_timesig: int, n_pedal_keys: int) -> None:
        n, cfg = len(self.tokens), self.config
        self.kind = np.zeros(n, np.int8)
        self.key = np.full(n, -1, np.int16)
        self.velocity = np.full(n, -1, np.int16)
        self.pitch = np.full(n, -1, np.int16)
        self.wait_ticks = np.zeros(n, np.int32)
        self.tempo_bpm = np.zeros(n, np.float64)
        self.is_on = np.zeros(n, bool)
        self.kind[self.composer_base:self.instrument_base] = Kind.COMPOSER
        inst = slice(self.instrument_base, self.tempo_base)
        self.kind[inst], self.key[inst] = Kind.INSTRUMENT, np.arange(len(self.instruments))
        tempo = slice(self.tempo_base, self.timesig_base)
        self.kind[tempo], self.tempo_bpm[tempo] = Kind.TEMPO, self.tempo_values
        self.kind[self.timesig_base:self.timesig_base + n_timesig] = Kind.TIMESIG
        pedal = slice(self.pedal_base, self.wait_base)
        self.kind[pedal] = Kind.PEDAL
        self.key[pedal] = np.repeat(np.arange(n_pedal_keys), 2)
        self.is_on[pedal] = np.tile([True, False], n_pedal_keys)
        wait = slice(self.wait_base, self.note_base)
        self.kind[wait], self.wait_ticks[wait] = Kind.WAIT, np.arange(1, cfg.max_wait + 1)
        v = cfg.velocity_bins
        note = slice(self.note_base, self.drum_base)
        self.kind[note] = Kind.NOTE
        self.key[note] = np.repeat(np.arange(self.n_melodic), (v + 1) * 128)
        self.velocity[note] = np.tile(np.repeat(np.arange(v + 1), 128), self.n_melodic)
        self.pitch[note] = np.tile(np.arange(128), self.n_melodic * (v + 1))
        self.is_on[note] = self.velocity[note] > 0
        drum = slice(self.drum_base, self.marker_base)
        self.kind[drum], self.key[drum], self.is_on[drum] = Kind.DRUM, self.drum_key, True
        self.kind[self.marker_base:n] = Kind.MARKER
        self.velocity[drum] = np.repeat(np.arange(1, v + 1), 128)
        self.pitch[drum] = np.tile(np.arange(128), v)
        self.step_order = self._step_order()
        for array in (self.kind, self.key, self.velocity, self.pitch, self.wait_ticks, self.tempo_bpm, self.is_on,
                      self.step_order):
            array.flags.writeable = False
        self.family = self.key  # the name used in TOKENIZER_API.md (a GM program index in "program" mode)

    def _step_order(self) -> np.ndarray:
        """Each token's place among the events of one time step, int64 (n,): ``class << 15 | sub`` with the
        classes tempo, time signature, note-off, pedal-off, pedal-on, note-on (drum hits too) and ``sub``
        = instrument key * 128 + pitch for notes, the pedal key for pedals; ``STEP_ORDER_NONE`` for tokens
        that are no event of a step (header, waits, start, end, markers)."""
        order = np.full(len(self.tokens), STEP_ORDER_NONE, np.int64)
        voice = self.key.astype(np.int64) * 128 + self.pitch
        classes = (  # in the encoder's order within a step
            (self.kind == Kind.TEMPO, 0),
            (self.kind == Kind.TIMESIG, 0),
            ((self.kind == Kind.NOTE) & ~self.is_on, voice),
            ((self.kind == Kind.PEDAL) & ~self.is_on, self.key),
            ((self.kind == Kind.PEDAL) & self.is_on, self.key),
            (((self.kind == Kind.NOTE) & self.is_on) | (self.kind == Kind.DRUM), voice),
        )
        for c, (mask, sub) in enumerate(classes):
            order[mask] = (c << 15) | np.broadcast_to(np.asarray(sub, np.int64), order.shape)[mask]
        return order

    # ----- sizes and special ids
    @property
    def size(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    pad_id, start_id, end_id, unknown_composer_id = 0, 1, 2, 3

    @property
    def id_dtype(self) -> type:
        """Smallest unsigned dtype holding every id (uint16 for the default vocabulary)."""
        return np.uint16 if self.size <= 2**16 else np.uint32

    def header_length(self, ids: Sequence[int] | np.ndarray) -> int:
        """Length of the header at the front of ``ids`` (composer, instruments, ``start``): up to
        and including the first ``start`` token; 0 when there is none (a fragment without header)."""
        starts = np.flatnonzero(np.asarray(ids) == self.start_id)
        return int(starts[0]) + 1 if len(starts) else 0

    # ----- lookups
    def id(self, token: str) -> int:
        """Id of a token string; unknown strings raise TokenizerError."""
        try:
            return self._ids[token]
        except KeyError:
            raise TokenizerError(f"unknown token {token!r}") from None

    def ids(self, tokens: Sequence[str], source: str = "tokens") -> np.ndarray:
        """Ids of token strings (int32); the error names ``source`` and the position of a bad token."""
        try:
            return np.fromiter((self._ids[t] for t in tokens), np.int32, len(tokens))
        except KeyError:
            pos, bad = next((i, t) for i, t in enumerate(tokens) if t not in self._ids)
            raise TokenizerError(f"{source}: unknown token {bad!r} at position {pos}") from None

    def token(self, id_: int) -> str:
        """Token string of an id; ids outside the vocabulary render as ``<?id>``."""
        return self.tokens[id_] if 0 <= id_ < len(self.tokens) else f"<?{id_}>"

    @property
    def has_fim_markers(self) -> bool:
        """Whether the vocabulary ends with the fill-in-the-middle markers."""
        return self.marker_base < self.size

    def marker_id(self, name: str) -> int:
        """Id of a fill-in-the-middle marker (``"fim:suffix"``...); a ``TokenizerError`` without markers."""
        if not self.has_fim_markers:
            raise TokenizerError("this vocabulary has no fill-in-the-middle markers (tokenizer config fim_markers)")
        return self.id(name)

    def composer_id(self, name: str | None) -> int:
        """Id of a composer label (``None`` -> unknown_composer); an unknown name lists the known ones."""
        if name is None:
            return self.unknown_composer_id
        norm = normalize_composer(name)
        if norm in self.config.composers:
            return self.composer_base + self.config.composers.index(norm)
        known = ", ".join(self.config.composers) or "(none)"
        raise TokenizerError(f"unknown composer {name!r}; known composers: {known}")

    # ----- id arithmetic used by the encoder (vectorized)
    def note_ids(self, key: np.ndarray, vbin: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        """Ids of melodic note tokens (vbin 0 = note-off)."""
        return self.note_base + (key.astype(np.int64) * (self.config.velocity_bins + 1) + vbin) * 128 + pitch

    def drum_ids(self, vbin: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        """Ids of drum hit tokens (vbin 1..velocity_bins)."""
        return self.drum_base + (vbin.astype(np.int64) - 1) * 128 + pitch

    def timesig_ids(self, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        """Ids of time-signature tokens; -1 where the signature is not representable."""
        num = np.asarray(numerator, np.int64)
        den = np.asarray(denominator, np.int64)
        log2 = np.log2(np.maximum(den, 1)).round().astype(np.int64)
        ok = (num >= 1) & (num <= TIMESIG_MAX_NUMERATOR) & (den >= 1) & (2**log2 == den)
        ok &= log2 < len(TIMESIG_DENOMINATORS)
        return np.where(ok, self.timesig_base + (num - 1) * len(TIMESIG_DENOMINATORS) + log2, -1)

    def timesig_of(self, id_: int) -> tuple[int, int]:
        """(numerator, denominator) of a time-signature token id."""
        n, d = divmod(id_ - self.timesig_base, len(TIMESIG_DENOMINATORS))
        return n + 1, TIMESIG_DENOMINATORS[d]

    def pedal_ids(self, key: np.ndarray, on: np.ndarray) -> np.ndarray:
        """Ids of pedal tokens (only with ``pedal="tokens"``)."""
        return self.pedal_base + key.astype(np.int64) * 2 + np.where(on, 0, 1)
