"""Issue 17, item 8: every MIDI repair warns ``WARNING: <file>: <what was repaired>`` (the file cut at
an event boundary, "unexpected end of file", used to be read without a word), and ``--strict``
on ``muse tokenize``, ``muse data build`` and ``muse continue`` turns any repair into an error."""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from musetok import MidiTokenizer, TokenizerError


def muse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "muse", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def truncated_after_header(source: Path) -> bytes:
    """``source`` cut in its first note track at an event boundary, the track's length field
    matching what is left (what a writer killed mid-file leaves): a valid header, no end-of-track."""
    data = source.read_bytes()
    _, _, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    pos, tracks = 14, []
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        tracks.append(data[pos + 8:pos + 8 + length])
        pos += 8 + length
    body = tracks[-1]
    cut = body[: len(body) // 2]
    # walk the events to find the boundary before the cut (delta time, then a channel event)
    i, last, status = 0, 0, 0
    while i < len(cut):
        while cut[i] & 0x80:
            i += 1
        i += 1
        if i >= len(cut):
            break
        byte = cut[i]
        if byte == 0xFF:
            i += 2
            n = 0
            while cut[i] & 0x80:
                n = (n << 7) | (cut[i] & 0x7F)
                i += 1
            n = (n << 7) | cut[i]
            i += 1 + n
        elif byte in (0xF0, 0xF7):
            i += 1
            n = 0
            while cut[i] & 0x80:
                n = (n << 7) | (cut[i] & 0x7F)
                i += 1
            n = (n << 7) | cut[i]
            i += 1 + n
        else:
            if byte & 0x80:
                status = byte
                i += 1
            i += 1 if status >> 4 in (0xC, 0xD) else 2
        if i <= len(cut):
            last = i
    body = cut[:last]
    out = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), division)
    for t in tracks[:-1]:
        out += b"MTrk" + struct.pack(">I", len(t)) + t
    return out + b"MTrk" + struct.pack(">I", len(body)) + body


@pytest.fixture()
def damaged(tmp_path: Path, midi_dir: Path) -> Path:
    path = tmp_path / "cut short.mid"
    path.write_bytes(truncated_after_header(midi_dir / "one_track" / "POP909_008.mid"))
    return path


def test_a_file_cut_at_an_event_boundary_is_repaired_with_a_warning(damaged: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    enc = MidiTokenizer().encode(damaged)
    assert enc.n_notes > 0 and any("end-of-track" in w for w in enc.warnings)
    assert any(r.getMessage().startswith(f"{damaged}: track ") and "unexpected end of file" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(TokenizerError, match=f"^{damaged}: track .* ends without an end-of-track event"):
        MidiTokenizer().encode(damaged, strict=True)


def test_tokenize_warns_naming_the_file_and_strict_refuses(damaged: Path, tmp_path: Path) -> None:
    run = muse("tokenize", str(damaged), "-o", "tokens.txt", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"WARNING: {damaged}: track " in run.stderr and "end-of-track" in run.stderr
    run = muse("tokenize", str(damaged), "--strict", "-o", "strict.txt", cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"muse: error: {damaged}: ")
    assert not (tmp_path / "strict.txt").exists()


def test_every_repair_of_the_damaged_corpus_files_warns(midi_dir: Path, tmp_path: Path) -> None:
    """The repaired files of the corpus sample all print a WARNING naming the file (rc 0), and all fail
    with --strict (rc 2, one line)."""
    for name in ("maier-atalanta_fugiens_no1.mid", "unknown_artist-a_h-beet_53.mid"):
        path = midi_dir / "classical" / name
        if not path.is_file():
            continue
        run = muse("tokenize", str(path), "-o", "t.txt", cwd=tmp_path)
        assert run.returncode == 0 and f"WARNING: {path}: " in run.stderr, run.stderr
        run = muse("tokenize", str(path), "--strict", "-o", "t.txt", cwd=tmp_path)
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr


def test_data_build_warns_per_repaired_file_and_strict_fails_naming_it(damaged: Path, midi_dir: Path,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "midi" / "chopin"
    folder.mkdir(parents=True)
    shutil.copy(damaged, folder / damaged.name)
    shutil.copy(midi_dir / "one_track" / "POP909_010.mid", folder / "good.mid")
    common = ["data", "build", "--midi-dir", str(tmp_path / "midi"), "--workers", "0", "--no-progress", "--no-cache"]
    run = muse(*common, "--out", str(tmp_path / "data"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"WARNING: {folder / damaged.name}: track " in run.stderr
    run = muse(*common, "--strict", "--out", str(tmp_path / "strict"), cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith("muse: error: --strict: 1 MIDI file(s) needed a repair") and damaged.name in error
    assert not (tmp_path / "strict" / "index.json").exists()


def test_continue_strict_refuses_a_repaired_file(damaged: Path, tmp_path: Path) -> None:
    run = muse("continue", str(damaged), "--strict", "--seconds", "1", "-o", "out.mid", cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"muse: error: {damaged}: track ")
    assert not (tmp_path / "out.mid").exists()
