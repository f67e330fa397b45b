"""Issue 17, items 5 and 6 for ``jukebox sample``: a ``--resume`` with a new ``--seconds`` or ``--seed``
is refused listing the differences, and a damaged codes file in the run folder is named and only
its last window is sampled again (the result is still identical to an uninterrupted run)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from jukebox.cli import main as jukebox_main
from jukebox.pipeline import JukeboxPipeline, load_codes
from test_prior_pipeline import SECONDS, checkpoints, pipeline, settings  # noqa: F401 - fixtures


def counting_progress(windows: list[int], cancel: threading.Event | None = None, stop_after: int = 0):
    def progress(level: int, done: int, total: int) -> None:
        windows.append(level)
        if cancel is not None and level == 0 and windows.count(0) == stop_after:
            cancel.set()

    return progress


def test_a_damaged_codes_file_is_named_and_only_its_window_is_sampled_again(
        pipeline: JukeboxPipeline, checkpoints: Path, tmp_path: Path, caplog) -> None:  # noqa: F811
    full_windows: list[int] = []
    full = pipeline.sample(settings(checkpoints), tmp_path / "full", counting_progress(full_windows))
    cancel = threading.Event()
    out = tmp_path / "cut"
    first = pipeline.sample(settings(checkpoints), out, counting_progress([], cancel, stop_after=3), cancel)
    assert not first.complete and (out / "codes_level0.prev.npy").is_file()
    path = out / "codes_level0.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # truncated: numpy cannot read it
    caplog.set_level(logging.WARNING)
    resumed_windows: list[int] = []
    resumed = pipeline.resume(out, counting_progress(resumed_windows))
    assert resumed.complete
    for level in (2, 1, 0):
        assert np.array_equal(resumed.codes[level], full.codes[level])
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"{path}: damaged codes file") for m in messages), messages
    assert any("the window written last is sampled again" in m for m in messages), messages
    # 3 level-0 windows were saved, the last one was damaged: all but 2 are sampled on resume
    assert resumed_windows.count(0) == full_windows.count(0) - 2
    assert resumed_windows.count(2) == resumed_windows.count(1) == 0  # the finished levels are untouched


def test_a_damaged_file_without_a_previous_save_restarts_that_level_only(
        pipeline: JukeboxPipeline, checkpoints: Path, tmp_path: Path, caplog) -> None:  # noqa: F811
    full = pipeline.sample(settings(checkpoints), tmp_path / "full")
    out = tmp_path / "cut"
    cancel = threading.Event()
    pipeline.sample(settings(checkpoints), out, counting_progress([], cancel, stop_after=2), cancel)
    (out / "codes_level0.prev.npy").unlink()
    np.save(out / "codes_level0.npy", np.full((2, 3), 10**6))  # readable, but not codes of this level
    caplog.set_level(logging.WARNING)
    windows: list[int] = []
    resumed = pipeline.resume(out, counting_progress(windows))
    assert np.array_equal(resumed.codes[0], full.codes[0])
    assert windows.count(2) == windows.count(1) == 0
    assert any("codes outside" in r.getMessage() and "codes_level0.npy" in r.getMessage() for r in caplog.records)


def test_load_codes_checks_shape_and_values(tmp_path: Path) -> None:
    path = tmp_path / "codes_level1.npy"
    assert load_codes(path, 2, 10, 8, 1) is None  # nothing saved yet
    np.save(path, np.zeros((3, 4), np.int64))
    assert load_codes(path, 2, 10, 8, 1) is None  # one row per sample expected
    np.save(path, np.zeros((2, 11), np.int64))
    assert load_codes(path, 2, 10, 8, 1) is None  # longer than the level
    np.save(path, np.ones((2, 4), np.int64))
    assert load_codes(path, 2, 10, 8, 1).shape == (2, 4)


def test_resume_with_a_new_seconds_or_seed_is_refused(checkpoints: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    out = tmp_path / "run"
    args = ["sample", "--model", "small", "--checkpoints", str(checkpoints), "--seconds", str(SECONDS), "--seed", "7",
            "--levels", "2", "--hop-fractions", "0.5,0.5,0.5", "--out", str(out)]
    assert jukebox_main(args) == 0
    capsys.readouterr()
    for extra, difference in ((["--seconds", "0.1"], f"--seconds: {SECONDS} -> 0.1"),
                              (["--seed", "8"], "--seed: 7 -> 8"),
                              (["--samples", "2", "--seed", "9"], "--samples: 1 -> 2; --seed: 7 -> 9")):
        assert jukebox_main(["sample", "--resume", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and difference in err, err
    # the run's own values, and options that do not change the music, are accepted
    assert jukebox_main(["sample", "--resume", str(out), "--seed", "7", "--seconds", str(SECONDS),
                         "--device", "cpu"]) == 0
    assert jukebox_main(["sample", "--resume", str(out)]) == 0


@pytest.mark.parametrize("value", ["inf", "1e308", "-1"])
def test_resume_refuses_out_of_range_numbers_too(checkpoints: Path, tmp_path: Path, capsys, value: str) -> None:  # noqa: F811
    out = tmp_path / "run"
    assert jukebox_main(["sample", "--model", "small", "--checkpoints", str(checkpoints), "--seconds", str(SECONDS),
                         "--levels", "2", "--hop-fractions", "0.5,0.5,0.5", "--out", str(out)]) == 0
    capsys.readouterr()
    assert jukebox_main(["sample", "--resume", str(out), f"--seconds={value}"]) == 2
    assert "--seconds must be a number in (0, 3600]" in capsys.readouterr().err
