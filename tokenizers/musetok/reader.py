"""Reading MIDI files safely: size limit, chunk-structure check, optional recovery, then symusic.

symusic (C++) parses about 4,500 files/s and reports corrupt event data as a RuntimeError (checked
against the damaged files of the shared corpus and ~250,000 fuzzed files: no crash, no hang). The cheap
Python walk over the chunk headers here adds what it does not check or report well: empty and
non-MIDI input, RIFF-wrapped (RMID) files and foreign headers before ``MThd``, zero or SMPTE time
division, a track count that disagrees with the header, truncated chunks. With ``recover`` the
readable part of a damaged file is kept (each track parsed on its own) and every repair is reported
as a warning; every other problem is a ``TokenizerError`` naming the file.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from musetok.config import TokenizerConfig
from musetok.errors import TokenizerError

log = logging.getLogger(__name__)

_FOREIGN_HEADER_SEARCH = 4096  # bytes searched for MThd after a foreign (e.g. MacBinary) header
_END_OF_TRACK = b"\xff\x2f\x00"  # the meta event every complete track ends with


@dataclass(frozen=True)
class ParsedMidi:
    """A parsed score (ticks) with the name used in messages and the repairs made while reading it."""

    score: symusic.Score
    name: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Layout:
    division: int
    tracks: list[bytes]  # MTrk payloads, in file order


def read_midi(source: "str | Path | bytes | bytearray | symusic.Score", config: TokenizerConfig,
              name: str | None = None) -> ParsedMidi:
    """Parse a path, raw bytes or an already parsed score; raise TokenizerError naming the source."""
    if isinstance(source, symusic.Score):
        score = source if source.ttype == symusic.TimeUnit.tick else source.to("tick")
        parsed = ParsedMidi(score, name or "<score>")
    else:
        data, name = _load_bytes(source, config, name)
        parsed = _parse_bytes(data, name, config)
    _check_score(parsed.score, parsed.name, config)
    for warning in parsed.warnings:
        log.warning("%s: %s", parsed.name, warning)
    return parsed


def _load_bytes(source: "str | Path | bytes | bytearray", config: TokenizerConfig,
                name: str | None) -> tuple[bytes, str]:
    limit = config.max_file_bytes
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "<bytes>"
        if len(source) > limit:
            raise TokenizerError(f"{name}: file too large ({len(source):,} bytes; limit {limit:,})")
        return bytes(source), name
    if not isinstance(source, (str, Path)):
        raise TokenizerError(f"cannot tokenize a {type(source).__name__}: pass a path, bytes or a symusic.Score")
    path = Path(source)
    name = name or str(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise TokenizerError(f"{name}: file too large ({size:,} bytes; limit {limit:,})")
        with path.open("rb") as handle:
            return handle.read(limit + 1), name
    except OSError as err:
        raise TokenizerError(f"{name}: cannot read file: {err.strerror or err}") from None


def _parse_bytes(data: bytes, name: str, config: TokenizerConfig) -> ParsedMidi:
    warnings: list[str] = []
    data = _find_smf(data, name, config.recover, warnings)
    layout = _scan_chunks(data, name, config.recover, warnings)
    if not warnings:
        try:
            return ParsedMidi(symusic.Score.from_midi(data), name)
        except RuntimeError as err:
            if not config.recover:
                raise TokenizerError(f"{name}: corrupt MIDI data: {_clean(err)}") from None
            warnings.append(f"corrupt MIDI data ({_clean(err)})")
    elif not config.recover:  # pragma: no cover - _find_smf/_scan_chunks raise when not recovering
        raise TokenizerError(f"{name}: {warnings[0]}")
    return ParsedMidi(_salvage(layout, name, warnings), name, tuple(warnings))


def _find_smf(data: bytes, name: str, recover: bool, warnings: list[str]) -> bytes:
    """The standard MIDI file inside ``data`` (unwrapping RMID or skipping a foreign header)."""
    if not data:
        raise TokenizerError(f"{name}: empty file")
    if data.startswith(b"MThd"):
        return data
    if data.startswith(b"RIFF") and data[8:12] == b"RMID":
        at = data.find(b"data", 12)
        if at >= 0 and data[at + 8:at + 12] == b"MThd" and recover:
            (length,) = struct.unpack("<I", data[at + 4:at + 8])  # RIFF sizes are little-endian
            warnings.append("unwrapped a RIFF RMID file")
            return data[at + 8:at + 8 + length]
        problem = "without MIDI data" if at < 0 else "(set recover to read it)"
        raise TokenizerError(f"{name}: RIFF RMID file {problem}")
    at = data.find(b"MThd", 0, _FOREIGN_HEADER_SEARCH)
    if at > 0:
        if not recover:
            raise TokenizerError(f"{name}: {at} bytes of foreign header before MThd (set recover to skip them)")
        warnings.append(f"skipped a {at}-byte foreign header before MThd")
        return data[at:]
    raise TokenizerError(f"{name}: not a MIDI file (no MThd header; starts with {data[:8]!r})")


def _scan_chunks(data: bytes, name: str, recover: bool, warnings: list[str]) -> _Layout:
    """Walk the chunk headers; raise (or, with recover, warn) on structural damage."""
    if len(data) < 14:
        raise TokenizerError(f"{name}: truncated MIDI header ({len(data)} bytes)")
    header_len, fmt, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    if header_len < 6:
        raise TokenizerError(f"{name}: corrupt MIDI header (length {header_len})")
    if fmt > 2:
        raise TokenizerError(f"{name}: unknown MIDI format {fmt} (expected 0, 1 or 2)")
    if division == 0:
        raise TokenizerError(f"{name}: zero ticks per beat in the MIDI header")
    if division & 0x8000:
        raise TokenizerError(f"{name}: SMPTE time division is not supported (only ticks per beat)")
    problems: list[str] = []
    if header_len != 6:
        problems.append(f"MIDI header of {header_len} bytes instead of 6")
    tracks: list[bytes] = []
    pos = 8 + header_len
    while pos + 8 <= len(data):
        chunk_id, length = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if not (chunk_id.isalpha() and chunk_id.isascii()):
            if len(tracks) >= n_tracks:
                break  # trailing padding after the last announced track: ignored
            problems.append(f"corrupt chunk header at byte {pos} ({chunk_id!r})")
            pos = data.find(b"MTrk", pos + 1)  # resynchronise on the next track, if any
            if pos < 0:
                break
            continue
        end = pos + 8 + length
        if chunk_id == b"MTrk":
            tracks.append(data[pos + 8:end])
            if end <= len(data) and _END_OF_TRACK not in tracks[-1]:
                # cut at an event boundary (length field rewritten, or a writer killed mid-file): symusic
                # reads what is there without a word, so say that the rest of the track is missing
                problems.append(f"track {len(tracks) - 1} ends without an end-of-track event (unexpected end "
                                "of file: the rest of the track is missing)")
        if end > len(data):
            what = f"track {len(tracks) - 1}" if chunk_id == b"MTrk" else f"{chunk_id.decode()} chunk at byte {pos}"
            problems.append(f"{what} is truncated: announces {length:,} bytes, {len(data) - pos - 8:,} remain")
            break
        pos = end
    if len(tracks) != n_tracks and not problems:
        problems.append(f"header announces {n_tracks} tracks, the file holds {len(tracks)}")
    if problems and not recover:
        raise TokenizerError(f"{name}: {problems[0]}")
    warnings.extend(problems)
    return _Layout(division, tracks)


def _salvage(layout: _Layout, name: str, warnings: list[str]) -> symusic.Score:
    """Parse each track on its own and keep those that parse (tempo maps included)."""
    score = symusic.Score(layout.division)
    kept = []
    for index, payload in enumerate(layout.tracks):
        single = b"MThd" + struct.pack(">IHHH", 6, 1, 1, layout.division)
        single += b"MTrk" + struct.pack(">I", len(payload)) + payload
        try:
            part = symusic.Score.from_midi(single)
        except RuntimeError as err:
            warnings.append(f"dropped damaged track {index} ({_clean(err)})")
            continue
        kept.append(index)
        score.tracks.extend(part.tracks)
        score.tempos.extend(part.tempos)
        score.time_signatures.extend(part.time_signatures)
        score.key_signatures.extend(part.key_signatures)
    if not kept or (score.note_num() == 0 and len(kept) < len(layout.tracks)):
        raise TokenizerError(f"{name}: no readable notes ({'; '.join(warnings)})")
    for events in (score.tempos, score.time_signatures, score.key_signatures):
        events.sort()
    return score


def _check_score(score: symusic.Score, name: str, config: TokenizerConfig) -> None:
    """Reject what no grid can hold: zero resolution, absurd tempos, negative or endless times."""
    if score.tpq <= 0:
        raise TokenizerError(f"{name}: zero ticks per beat")
    tempos = score.tempos.numpy()
    if len(tempos["mspq"]):
        with np.errstate(divide="ignore"):
            bpm = 60_000_000 / tempos["mspq"].astype(np.float64)
        lo, hi = config.tempo_limits
        bad = np.flatnonzero(~((bpm >= lo) & (bpm <= hi)))
        if len(bad):
            i = bad[0]
            raise TokenizerError(f"{name}: absurd tempo {bpm[i]:.6g} BPM at tick {tempos['time'][i]} "
                                 f"(accepted {lo:g}-{hi:g} BPM)")
    if score.start() < 0:
        raise TokenizerError(f"{name}: corrupt MIDI data (negative event time)")
    beats = score.end() / score.tpq
    if beats > config.max_beats:
        raise TokenizerError(f"{name}: piece too long ({beats:,.0f} beats; limit {config.max_beats:,})")


def _clean(err: Exception) -> str:
    """symusic's message without its C++ decoration."""
    text = str(err).replace("MiniMidi: ", "").replace(": iostream error", "").strip()
    return text.replace("Invaild", "invalid")
