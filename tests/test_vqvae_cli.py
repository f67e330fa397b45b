"""`jukebox vqvae encode|decode|reconstruct` end to end on real rendered audio, and the Codec facade."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import torch

from jukebox.audio import load_audio, save_audio
from jukebox.cli import main
from jukebox.vqvae.checkpoint import save_vqvae
from jukebox.vqvae.codec import Codec, EncodedAudio, code_usage
from muse.core.render import render_midi

SECONDS = 0.6


@pytest.fixture(scope="module")
def tiny_ckpt(jukebox_ref: Path) -> Path:
    return jukebox_ref / "vqvae_tiny.pth.tar"


@pytest.fixture(scope="module")
def rendered_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short piano phrase rendered through FluidSynth (built-in synth where FluidSynth is missing), 48 kHz
    stereo so that reading it also exercises resampling and mono mix-down."""
    folder = tmp_path_factory.mktemp("audio")
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for i, pitch in enumerate([60, 64, 67, 72]):
        piano.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=0.12 * i, end=0.12 * i + 0.3))
    midi.instruments.append(piano)
    midi.write(str(folder / "phrase.mid"))
    return render_midi(folder / "phrase.mid", folder / "phrase.wav", sample_rate=48000, tail=0.1).path


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_encode_then_decode_every_level(tmp_path: Path, rendered_wav: Path, tiny_ckpt: Path, capsys) -> None:
    codes_path = tmp_path / "codes.npz"
    code, out, _ = run(["vqvae", "encode", str(rendered_wav), "-o", str(codes_path), "--checkpoint", str(tiny_ckpt)],
                       capsys)
    assert code == 0 and "codes.npz" in out
    encoded = EncodedAudio.load(codes_path)
    codec = Codec.load(tiny_ckpt)
    audio = load_audio(rendered_wav, sample_rate=codec.sample_rate)
    assert encoded.length == len(audio) and encoded.sample_rate == codec.sample_rate
    expected = codec.encode(audio)
    for level, hop in enumerate(codec.model.hop_lengths):
        padded = -(-len(audio) // codec.model.hop_lengths[-1]) * codec.model.hop_lengths[-1]
        assert len(encoded.codes[level]) == padded // hop
        assert np.array_equal(encoded.codes[level], expected.codes[level])
        wav = tmp_path / f"l{level}.wav"
        code, _, _ = run(["vqvae", "decode", str(codes_path), "--level", str(level), "-o", str(wav),
                          "--checkpoint", str(tiny_ckpt)], capsys)
        assert code == 0
        decoded = load_audio(wav)
        assert len(decoded) == len(audio)
        np.testing.assert_allclose(decoded, np.clip(codec.decode(expected, level), -1, 1), atol=2.0 / 2**15)


def test_reconstruct_writes_each_level_and_prints_metrics(tmp_path: Path, rendered_wav: Path, tiny_ckpt: Path,
                                                         capsys) -> None:
    code, out, _ = run(["vqvae", "reconstruct", str(rendered_wav), "-o", str(tmp_path / "rec"),
                        "--checkpoint", str(tiny_ckpt)], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert "SI-SDR" in lines[1] and "spectral conv." in lines[1] and "MR-STFT" in lines[1]
    rows = [line.split() for line in lines[2:]]
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    for level, row in enumerate(rows):
        assert all(np.isfinite(float(v)) for v in row[1:4])
        assert Path(row[4]) == tmp_path / "rec" / f"phrase.level{level}.wav" and Path(row[4]).is_file()
    assert (tmp_path / "rec" / "phrase.input.wav").is_file()
    # the trained level-0 codec beats silence: spectral convergence well under 1
    assert float(rows[0][1]) < 1.0


def test_evaluate_averages_files_and_reports_codebook_usage(tmp_path: Path, rendered_wav: Path, tiny_ckpt: Path,
                                                           capsys) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in ("a.wav", "b.wav"):
        (folder / name).write_bytes(rendered_wav.read_bytes())
    code, out, _ = run(["vqvae", "evaluate", str(folder), "--checkpoint", str(tiny_ckpt), "--json",
                        str(tmp_path / "q.json")], capsys)
    assert code == 0 and out.startswith("2 file(s)")
    codec = Codec.load(tiny_ckpt)
    report = codec.reconstruct(rendered_wav, tmp_path / "rec")
    saved = json.loads((tmp_path / "q.json").read_text())["levels"]
    for one, both in zip(report.levels, saved):  # two copies of one file: the mean is that file's figure
        assert both["si_sdr_db"] == pytest.approx(one.si_sdr_db, rel=1e-5, abs=1e-5)
        assert both["spectral_convergence"] == pytest.approx(one.spectral_convergence, rel=1e-5)
        codes = codec.encode_file(rendered_wav).codes[one.level]
        assert both["codes_used"] == len(np.unique(codes)) and 1.0 <= both["perplexity"] <= both["codes_used"]
    assert code_usage(np.array([0, 1, 2, 3]), 8) == (4, pytest.approx(4.0))
    assert code_usage(np.array([5, 5, 5]), 8) == (1, pytest.approx(1.0))


def test_our_safetensors_checkpoint_and_config_override(tmp_path: Path, rendered_wav: Path, tiny_ckpt: Path,
                                                        capsys) -> None:
    codec = Codec.load(tiny_ckpt)
    ours = tmp_path / "model" / "codec.safetensors"
    config_json = save_vqvae(codec.model, ours)
    run(["vqvae", "encode", str(rendered_wav), "-o", str(tmp_path / "a.npz"), "--checkpoint", str(tiny_ckpt)], capsys)
    code, _, _ = run(["vqvae", "encode", str(rendered_wav), "-o", str(tmp_path / "b.npz"), "--checkpoint", str(ours)],
                     capsys)
    assert code == 0
    config_yaml = tmp_path / "elsewhere.json"
    config_json.rename(config_yaml)
    code, _, _ = run(["vqvae", "encode", str(rendered_wav), "-o", str(tmp_path / "c.npz"), "--checkpoint", str(ours),
                      "--config", str(config_yaml), "--levels", "2"], capsys)
    assert code == 0
    a, b, c = (EncodedAudio.load(tmp_path / f"{n}.npz") for n in "abc")
    for level in a.codes:
        assert np.array_equal(a.codes[level], b.codes[level])
    assert list(c.codes) == [2] and np.array_equal(c.codes[2], a.codes[2])


def test_unreadable_audio_names_the_file(tmp_path: Path, tiny_ckpt: Path, capsys) -> None:
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"\x00" * 64)
    code, out, err = run(["vqvae", "encode", str(bad), "-o", str(tmp_path / "x.npz"), "--checkpoint", str(tiny_ckpt)],
                         capsys)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "broken.flac" in err and "not a readable audio file" in err
    code, _, err = run(["vqvae", "reconstruct", str(tmp_path / "absent.wav"), "-o", str(tmp_path), "--checkpoint",
                        str(tiny_ckpt)], capsys)
    assert code == 2 and "absent.wav: audio file not found" in err


def test_bad_codes_and_levels_are_clear_errors(tmp_path: Path, rendered_wav: Path, tiny_ckpt: Path, capsys) -> None:
    ckpt = ["--checkpoint", str(tiny_ckpt)]
    codes_path = tmp_path / "codes.npz"
    run(["vqvae", "encode", str(rendered_wav), "-o", str(codes_path), "--levels", "1", *ckpt], capsys)
    code, _, err = run(["vqvae", "decode", str(codes_path), "--level", "0", "-o", str(tmp_path / "x.wav"), *ckpt],
                       capsys)
    assert code == 2 and "codes.npz: has no codes for level 0" in err
    code, _, err = run(["vqvae", "decode", str(codes_path), "--level", "5", "-o", str(tmp_path / "x.wav"), *ckpt],
                       capsys)
    assert code == 2 and "level 5 does not exist" in err
    (tmp_path / "junk.npz").write_text("junk")
    code, _, err = run(["vqvae", "decode", str(tmp_path / "junk.npz"), "--level", "0", "-o", str(tmp_path / "x.wav"),
                        *ckpt], capsys)
    assert code == 2 and "junk.npz: not a codes file" in err
    other = EncodedAudio({0: np.zeros(10, dtype=np.int64)}, 22050, 80, (8, 32, 128), 64)
    other.save(tmp_path / "other.npz")
    code, _, err = run(["vqvae", "decode", str(tmp_path / "other.npz"), "--level", "0", "-o", str(tmp_path / "x.wav"),
                        *ckpt], capsys)
    assert code == 2 and "22050 Hz" in err
    code, _, err = run(["vqvae", "encode", str(rendered_wav), "-o", str(tmp_path / "y.npz"), "--checkpoint",
                        str(tmp_path / "missing.pth.tar")], capsys)
    assert code == 2 and "missing.pth.tar: checkpoint file not found" in err


def test_codec_chunking_matches_one_shot(rendered_wav: Path, tiny_ckpt: Path) -> None:
    whole, chunked = Codec.load(tiny_ckpt, chunk_seconds=60.0), Codec.load(tiny_ckpt, chunk_seconds=0.05)
    audio = whole.read(rendered_wav)
    a, b = whole.encode(audio), chunked.encode(audio)
    for level in a.codes:
        assert np.array_equal(a.codes[level], b.codes[level])
        np.testing.assert_allclose(chunked.decode(b, level), whole.decode(a, level), atol=1e-5)


def test_codec_encodes_odd_lengths_by_padding(tiny_ckpt: Path, tmp_path: Path) -> None:
    codec = Codec.load(tiny_ckpt)
    audio = (0.3 * np.sin(np.arange(1001) * 0.05)).astype(np.float32)
    encoded = codec.encode(audio)
    top = codec.model.hop_lengths[-1]
    assert len(encoded.codes[0]) * codec.model.hop_lengths[0] == -(-1001 // top) * top
    assert codec.decode(encoded, 0).shape == (1001,)
    path = save_audio(tmp_path / "odd.ogg", audio, codec.sample_rate)
    assert codec.encode_file(path).length == pytest.approx(1001, abs=64)


@pytest.mark.slow
def test_console_script_runs(tmp_path: Path, rendered_wav: Path, tiny_ckpt: Path) -> None:
    out = tmp_path / "codes.npz"
    proc = subprocess.run([sys.executable, "-m", "jukebox", "vqvae", "encode", str(rendered_wav), "-o", str(out),
                           "--checkpoint", str(tiny_ckpt)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert torch.from_numpy(EncodedAudio.load(out).codes[0]).numel() > 0
