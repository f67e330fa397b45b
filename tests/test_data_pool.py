"""The builder's process pool: every task gets an outcome, whatever the task does to its worker."""

from __future__ import annotations

import os
import signal
import time

import pytest

from muse.data.pool import run_tasks

_STATE: dict[str, int] = {}


def _init(offset: int) -> None:
    _STATE["offset"] = offset


def _task(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad\nsecond line")
    if x == 5:
        time.sleep(60)
    if x == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 10 + _STATE["offset"]


def _bad_init() -> None:
    raise OSError("no tokenizer here")


def test_errors_timeouts_and_crashes_become_outcomes() -> None:
    start = time.monotonic()
    outcomes = {o.index: o for o in run_tasks(_task, list(range(9)), workers=2, timeout=2.0,
                                               initializer=_init, initargs=(1,), max_tasks_per_worker=3)}
    assert time.monotonic() - start < 30
    assert sorted(outcomes) == list(range(9))
    assert {i: o.value for i, o in outcomes.items() if o.error is None} == {0: 1, 1: 11, 2: 21, 4: 41, 6: 61, 8: 81}
    assert (outcomes[3].error, outcomes[3].failure) == ("ValueError: three is bad", "error")
    assert outcomes[5].error == "timed out after 2 s" and outcomes[5].failure == "timeout"
    assert outcomes[7].error.startswith("worker crashed") and outcomes[7].failure == "crash"
    assert all(outcomes[i].failure is None for i in (0, 1, 2, 4, 6, 8))


def test_inline_mode_runs_in_this_process() -> None:
    outcomes = list(run_tasks(_task, [0, 3, 4], workers=0, initializer=_init, initargs=(2,)))
    assert [(o.value, o.error, o.failure) for o in outcomes] == [
        (2, None, None), (None, "ValueError: three is bad", "error"), (42, None, None)]


def test_failing_initializer_stops_the_run() -> None:
    with pytest.raises(RuntimeError, match="no tokenizer here"):
        list(run_tasks(_task, [0, 1], workers=1, initializer=_bad_init))


def _sleep_after_writing_pid(path: str) -> None:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_workers_exit_when_the_build_process_is_killed(tmp_path) -> None:
    import subprocess
    import sys

    pid_file = tmp_path / "worker.pid"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from test_data_pool import _sleep_after_writing_pid as f\n"
            "from muse.data.pool import run_tasks\n"
            "list(run_tasks(f, [sys.argv[2]], workers=1))\n")
    parent = subprocess.Popen([sys.executable, "-c", code, os.path.dirname(__file__), str(pid_file)])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        assert _running(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(worker)
