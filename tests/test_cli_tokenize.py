"""`muse tokenize` / `muse detokenize` end to end, run as a user would (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from musetok import MidiTokenizer, TokenizerConfig


def muse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "muse", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def piece(midi_dir: Path) -> Path:
    return midi_dir / "one_track" / "POP909_008.mid"


@pytest.mark.parametrize("fmt", ["text", "ids", "json"])
def test_tokenize_then_detokenize_round_trips_a_real_piece(tmp_path: Path, piece: Path, fmt: str) -> None:
    tokens = tmp_path / f"tokens.{fmt}"
    run = muse("tokenize", str(piece), "--composer", "Chopin", "--format", fmt, "-o", str(tokens), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    run = muse("detokenize", str(tokens), "-o", "back.mid", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("wrote back.mid: 1633 notes, ")
    tok = MidiTokenizer()
    original = tok.encode(piece, composer="chopin")
    back = tok.encode(tmp_path / "back.mid", composer="chopin")
    assert back.ids.tolist() == original.ids.tolist()  # the decoded file is the piece on the grid
    if fmt == "json":
        data = json.loads(tokens.read_text())
        assert data["tokens"][:3] == ["chopin", "piano", "start"] and data["source"] == str(piece)
        assert data["vocab_fingerprint"] == tok.vocab.fingerprint and data["n_notes"] == 1633


def test_tokenize_prints_text_to_stdout(piece: Path, tmp_path: Path) -> None:
    run = muse("tokenize", str(piece), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("unknown_composer piano start tempo:") and run.stdout.endswith(" end\n")


def test_a_saved_vocabulary_is_used_for_both_directions(piece: Path, tmp_path: Path) -> None:
    MidiTokenizer(TokenizerConfig(composers=("pop",), family_mode="program")).save(tmp_path / "vocab.json")
    run = muse("tokenize", str(piece), "--vocab", "vocab.json", "--composer", "pop", "-o", "t.txt", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "t.txt").read_text().startswith("pop acoustic_grand_piano start")
    assert muse("detokenize", "t.txt", "--vocab", "vocab.json", "-o", "o.mid", cwd=tmp_path).returncode == 0
    run = muse("detokenize", "t.txt", "-o", "o.mid", cwd=tmp_path)  # default vocabulary: no such tokens
    assert run.returncode == 2 and "t.txt: unknown token 'pop' at position 0" in run.stderr


def one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    return lines[0]


def test_errors_exit_2_with_one_line(tmp_path: Path, piece: Path, midi_dir: Path) -> None:
    line = one_line_error(muse("tokenize", str(piece), "--composer", "Zappa", cwd=tmp_path))
    assert line.startswith("muse: error: unknown composer 'Zappa'; known composers: bach, beethoven, mozart")
    damaged = midi_dir / "classical" / "unknown_artist-i_o-mappari.mid"  # a zip archive named .mid
    line = one_line_error(muse("tokenize", str(damaged), cwd=tmp_path))
    assert line == (f"muse: error: {damaged}: not a MIDI file "
                    "(no MThd header; starts with b'PK\\x03\\x04\\n\\x00\\x00\\x80')")
    line = one_line_error(muse("tokenize", "missing.mid", cwd=tmp_path))
    assert line.startswith("muse: error: missing.mid: cannot read file")
    (tmp_path / "bad.txt").write_text("start piano:v72:G4 banana")
    line = one_line_error(muse("detokenize", "bad.txt", "-o", "x.mid", cwd=tmp_path))
    assert line == "muse: error: bad.txt: unknown token 'banana' at position 2"
