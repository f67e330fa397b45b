"""Issue 17, item 3: out-of-range numbers never crash. Each numeric option of ``muse generate``,
``muse continue`` and ``jukebox sample`` given nan, inf, 1e308, 10^20, or zero / a negative where
those are not allowed exits with code 2 and one line saying what is allowed (no traceback); a CUDA
device on a machine without one likewise; temperature 0 is refused with a hint; a piece without
notes is still written as a MIDI file every reader opens."""

from __future__ import annotations

import pytest

from jukebox.cli import main as jukebox_main
from muse.cli import main as muse_main
from muse.core.errors import UserError
from muse.core.ranges import check_device, check_number, check_seed, quote

BAD_FLOATS = ["nan", "inf", "-inf", "1e308", "-1"]
BAD_INTS = [str(10**20), "-1", "1e308"]
GENERATE = {  # option -> values outside its documented range
    "--seconds": BAD_FLOATS + ["0", "1e9"],
    "--temperature": BAD_FLOATS + ["0"],
    "--top-p": BAD_FLOATS + ["0", "1.5"],
    "--min-p": BAD_FLOATS + ["1"],
    "--top-k": BAD_INTS,
    "--seed": BAD_INTS,
    "--n": BAD_INTS + ["0"],
    "--bpm": BAD_FLOATS + ["0", "19", "700"],
    "--max-instrument-rest": ["nan", "inf", "-inf", "-1", "0.1"],  # 1e308: longer than any piece, no limit
    "--min-instrument-share": BAD_FLOATS + ["0.51", "1"],
    "--key-candidates": BAD_INTS + ["0", "9"],
}


def run(main, argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse's own errors (a value that is no number at all)
        rc = exit_.code
    return rc, capsys.readouterr().err


def assert_one_line_error(rc: int, err: str, prog: str) -> None:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("WARNING")]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith(prog) and ": error: " in lines[0], err
    assert "Traceback" not in err and len(lines[0]) < 400


@pytest.mark.parametrize("option", list(GENERATE))
def test_generate_refuses_out_of_range_numbers(option: str, tmp_path, capsys) -> None:
    for value in GENERATE[option]:
        rc, err = run(muse_main, ["generate", "--composer", "chopin", "--seconds", "1", f"{option}={value}",
                                  "-o", str(tmp_path / "x.mid")], capsys)
        assert_one_line_error(rc, err, "muse")
        assert not (tmp_path / "x.mid").exists()


def test_the_issue_examples_are_one_line_errors(tmp_path, capsys, midi_dir) -> None:
    out = str(tmp_path / "x.mid")
    cases = [
        (["generate", "--seed", "100000000000000000000", "-o", out], "seed must be a whole number from 0"),
        (["generate", "--seconds", "inf", "-o", out], "the length to generate must be a number in (0, 3600]"),
        (["generate", "--seconds", "1e9", "-o", out], "the length to generate must be a number in (0, 3600]"),
        (["generate", "--composer", "bach:1e308,chopin:1e308", "--seconds", "1", "-o", out], "weight of 'bach'"),
        (["generate", "--device", "cuda:7", "-o", out], "cuda:7"),
        (["generate", "--temperature", "0", "-o", out], "temperature 0 (greedy decoding) is not supported"),
        (["continue", str(midi_dir / "one_track" / "POP909_008.mid"), "--seconds", "nan", "-o", out],
         "the length to generate must be"),
    ]
    for argv, message in cases:
        rc, err = run(muse_main, argv, capsys)
        assert_one_line_error(rc, err, "muse")
        assert message in err, err


def test_jukebox_sample_refuses_out_of_range_numbers(tmp_path, capsys) -> None:
    options = {"--seconds": BAD_FLOATS + ["0"], "--temperature": BAD_FLOATS + ["0"],
               "--upsample-temperature": ["nan", "inf", "0"], "--top-p": ["nan", "0", "2"], "--top-k": BAD_INTS,
               "--seed": BAD_INTS, "--samples": BAD_INTS + ["0"], "--hop-fractions": ["nan,0.5,0.5", "0.5,inf,0.5"]}
    for option, values in options.items():
        for value in values:
            rc, err = run(jukebox_main,
                          ["sample", "--model", "small", "--out", str(tmp_path / "run"), f"{option}={value}"],
                          capsys)
            assert_one_line_error(rc, err, "jukebox")
    rc, err = run(jukebox_main, ["sample", "--model", "small", "--out", str(tmp_path / "run"), "--device", "cuda:7"],
                  capsys)
    assert_one_line_error(rc, err, "jukebox")
    assert not (tmp_path / "run").exists()


def test_range_checks_say_what_is_allowed_and_quote_little() -> None:
    with pytest.raises(UserError, match=r"^--seconds must be a number in \(0, 3600\] seconds, not inf$"):
        check_number(float("inf"), "--seconds", low=0, high=3600, low_open=True, unit="seconds")
    with pytest.raises(UserError, match="from 0 to 9223372036854775807"):
        check_seed(10**30)
    assert check_seed(2**63 - 1) == 2**63 - 1 and check_seed(None) is None
    assert len(quote("x" * 10**6)) < 120 and "1,000,000 characters" in quote("x" * 10**6)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device"):
            check_device("cuda:7")
    assert str(check_device("cpu")) == "cpu"


def test_a_piece_without_notes_is_written_as_a_readable_midi_file(tmp_path) -> None:
    import mido
    import pretty_midi
    import symusic

    from muse.generate import MuseGenerator, Piece

    gen = MuseGenerator()
    empty = Piece(ids=None, score=symusic.Score(480), seconds=0.0, n_notes=0, ended=True, skipped=0, closed=0, seed=0)
    path = gen.write_midi(empty, tmp_path / "empty.mid")
    pretty_midi.PrettyMIDI(str(path))
    mido.MidiFile(str(path))
    assert symusic.Score(str(path)).note_num() == 0
