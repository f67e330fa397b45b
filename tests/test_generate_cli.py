"""``muse generate`` / ``muse continue`` as a user runs them: files written, one-line errors (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic
from matplotlib.image import imread

from muse.cli import main
from test_generate import CHORALE, tiny_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("cli_model"))


def one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_generate_writes_numbered_midi_wav_and_png(model_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(["generate", "--model", str(model_dir), "--composer", "chopin", "--instruments", "piano,strings",
               "--seconds", "3", "--temperature", "1.0", "--top-p", "0.95", "--seed", "7", "--n", "2",
               "-o", str(tmp_path / "out.mid"), "--wav", str(tmp_path / "out.wav"), "--png", str(tmp_path / "out.png")])
    assert rc == 0
    out = capsys.readouterr().out
    for i in (1, 2):
        midi = tmp_path / f"out_{i}.mid"
        assert f"wrote {midi}" in out
        assert symusic.Score(str(midi), ttype="second").end() <= 3.0 + 1e-3
        assert sf.info(str(tmp_path / f"out_{i}.wav")).duration >= 3.0
        assert imread(tmp_path / f"out_{i}.png").shape[2] in (3, 4)  # a picture: the piano roll
    # the command ends by saying where everything is
    assert out.strip().splitlines()[-3:] == [
        f"{kind + ':':5} {tmp_path / f'out_1.{ext}'}, {tmp_path / f'out_2.{ext}'}"
        for kind, ext in (("MIDI", "mid"), ("WAV", "wav"), ("PNG", "png"))]


def test_png_alone_and_a_png_that_cannot_be_written(model_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(["generate", "--model", str(model_dir), "--seconds", "1", "--seed", "3",
               "-o", str(tmp_path / "a.mid"), "--png", str(tmp_path / "pictures" / "a.png")])
    assert rc == 0
    assert capsys.readouterr().out.strip().splitlines()[-2:] == [
        f"MIDI: {tmp_path / 'a.mid'}", f"PNG:  {tmp_path / 'pictures' / 'a.png'}"]
    assert (tmp_path / "pictures" / "a.png").stat().st_size > 1000
    (tmp_path / "file").write_text("not a folder")
    rc = main(["generate", "--model", str(model_dir), "--seconds", "1", "--seed", "3",
               "-o", str(tmp_path / "b.mid"), "--png", str(tmp_path / "file" / "b.png")])
    assert rc == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar: one line, no traceback
    assert last.startswith("muse: error: ") and "b.png: cannot write PNG file" in last


def test_continue_keeps_the_prime(model_dir: Path, midi_dir: Path, tmp_path: Path, capsys) -> None:
    prime = symusic.Score(str(midi_dir / CHORALE), ttype="second")
    rc = main(["continue", str(midi_dir / CHORALE), "--model", str(model_dir), "--composer", "mozart",
               "--seconds", "2", "--keep-prime", "--seed", "1", "-o", str(tmp_path / "cont.mid"),
               "--png", str(tmp_path / "cont.png")])
    assert rc == 0
    out = symusic.Score(str(tmp_path / "cont.mid"), ttype="second")
    assert out.note_num() >= prime.note_num()
    assert out.end() == pytest.approx(prime.end() + 2.0, abs=0.3)
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"PNG:  {tmp_path / 'cont.png'}"
    # the roll marks where the prime ends: a dashed red line about prime / (prime + 2 s) across the plot
    picture = imread(tmp_path / "cont.png")
    red = np.flatnonzero(((picture[..., 0] > 0.7) & (picture[..., 1] < 0.3) & (picture[..., 2] < 0.3)).sum(0) > 20)
    assert len(red) > 0
    width = picture.shape[1]
    assert 0.3 * width < red.mean() < 0.9 * width


def test_unknown_composer_lists_the_known_ones(model_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(["generate", "--model", str(model_dir), "--composer", "salieri", "-o", str(tmp_path / "x.mid")])
    assert rc == 2
    err = one_line_error(capsys)
    assert "salieri" in err and "known composers: bach, chopin, mozart" in err
    assert not (tmp_path / "x.mid").exists()


def test_unreadable_midi_names_the_file(model_dir: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "not_music.mid"
    bad.write_text("hello")
    rc = main(["continue", str(bad), "--model", str(model_dir), "-o", str(tmp_path / "x.mid")])
    assert rc == 2
    assert "not_music.mid" in one_line_error(capsys)
    rc = main(["continue", str(tmp_path / "missing.mid"), "--model", str(model_dir), "-o", str(tmp_path / "x.mid")])
    assert rc == 2
    assert "missing.mid" in one_line_error(capsys)


def test_bad_model_folder_is_one_line(tmp_path: Path, capsys, model_dir: Path) -> None:
    rc = main(["generate", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "x.mid")])
    assert rc == 2
    assert "nope" in one_line_error(capsys)
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    rc = main(["generate", "--model", str(broken), "-o", str(tmp_path / "x.mid")])
    assert rc == 2
    assert "model.safetensors" in one_line_error(capsys)


def test_unknown_instrument_lists_the_known_ones(model_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(["generate", "--model", str(model_dir), "--instruments", "piano,kazoo", "-o", str(tmp_path / "x.mid")])
    assert rc == 2
    assert "known instruments: piano" in one_line_error(capsys)


def test_wav_says_which_renderer_and_soundfont_and_takes_another(model_dir: Path, tmp_path: Path, capsys) -> None:
    from muse.core.render import default_soundfont, fluidsynth_program

    mine = tmp_path / "mine.sf2"
    shutil.copyfile(default_soundfont(), mine)
    rc = main(["generate", "--model", str(model_dir), "--seconds", "1", "--seed", "2", "-o", str(tmp_path / "a.mid"),
               "--wav", str(tmp_path / "a.wav"), "--soundfont", str(mine)])
    assert rc == 0 and sf.info(str(tmp_path / "a.wav")).samplerate == 44100
    renderer = "FluidSynth with the soundfont" if fluidsynth_program() else "the built-in SoundFont sampler with"
    assert f"audio rendered by {renderer} `mine.sf2`" in capsys.readouterr().out
    (tmp_path / "fake.sf2").write_text("not a soundfont")
    rc = main(["generate", "--model", str(model_dir), "--seconds", "1", "--seed", "2", "-o", str(tmp_path / "b.mid"),
               "--wav", str(tmp_path / "b.wav"), "--soundfont", str(tmp_path / "fake.sf2")])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and "fake.sf2" in last and "SoundFont" in last, last
    rc = main(["generate", "--model", str(model_dir), "-o", str(tmp_path / "c.mid"), "--soundfont", str(mine)])
    assert rc == 2 and "--soundfont is the soundfont of the audio: add --wav" in one_line_error(capsys)


def test_bpm_key_and_rest_options(model_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(["generate", "--model", str(model_dir), "--composer", "bach", "--instruments", "piano,drums",
               "--seconds", "2", "--seed", "4", "--bpm", "100", "--key", "D minor", "--max-instrument-rest", "1",
               "--min-instrument-share", "0.2", "--min-note-seconds", "0.05", "-o", str(tmp_path / "k.mid"),
               "--manifest", str(tmp_path / "k.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "tempo: 100.9 BPM (the nearest tempo the model writes to 100)" in out
    line = next(x for x in out.splitlines() if x.startswith(f"wrote {tmp_path / 'k.mid'}"))
    assert "key: written in " in line and " to D " in line  # the key it was written in, and where it went
    score = symusic.Score(str(tmp_path / "k.mid"))
    assert [round(t.qpm, 1) for t in score.tempos] == [100.9]
    settings = json.loads((tmp_path / "k.json").read_text())["settings"]
    assert (settings["bpm"], settings["key"], settings["max_instrument_rest"], settings["min_instrument_share"],
            settings["min_note_seconds"]) == (100, "D minor", 1, 0.2, 0.05)
    rc = main(["generate", "--model", str(model_dir), "--from-manifest", str(tmp_path / "k.json"),
               "-o", str(tmp_path / "again.mid")])
    assert rc == 0 and "the same tokens as recorded" in capsys.readouterr().out


@pytest.mark.parametrize("option, value, message", [
    ("--bpm", "700", "bpm must be a number in [20, 605] BPM (the tempos this model can write), not 700"),
    ("--bpm", "fast", "bpm must be a number in [20, 605] BPM (the tempos this model can write), not 'fast'"),
    ("--key", "H major", "key 'H major'? name a tonic A-G, optionally with # or b, then major or minor"),
    ("--max-instrument-rest", "0.1", "max_instrument_rest must be at least 0.5 seconds, or 0 for no limit"),
    ("--min-instrument-share", "0.7", "min_instrument_share (a share of the notes; 0 = no floor) must be a number in "
                                      "[0, 0.5], not 0.7"),
])
def test_bad_requests_are_one_line(model_dir: Path, tmp_path: Path, capsys, option: str, value: str,
                                   message: str) -> None:
    for command in (["generate"], ["continue", str(Path(__file__).parent / "data" / "midi" / CHORALE)]):
        rc = main([*command, "--model", str(model_dir), option, value, "-o", str(tmp_path / "x.mid")])
        assert rc == 2
        assert message in one_line_error(capsys)
        assert not (tmp_path / "x.mid").exists()
