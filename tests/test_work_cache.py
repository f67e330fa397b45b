"""benchmarks/work_cache.py: a benchmark's slow steps are kept, resumed, and split between processes
that share the folder, each job computed exactly once."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from work_cache import WorkCache, path_identity  # noqa: E402


def counting_jobs(calls: list[str], n: int) -> list[tuple[str, object]]:
    def job(i: int):  # noqa: ANN202
        def fn() -> int:
            calls.append(f"job {i}")
            return i * i
        return f"job {i}", fn
    return [job(i) for i in range(n)]


def test_values_are_kept_and_read_back_instead_of_recomputed(tmp_path: Path) -> None:
    calls: list[str] = []
    assert WorkCache(tmp_path).run(counting_jobs(calls, 4)) == [0, 1, 4, 9]
    assert calls == ["job 0", "job 1", "job 2", "job 3"]
    assert WorkCache(tmp_path).run(counting_jobs(calls, 5)) == [0, 1, 4, 9, 16]  # a longer rerun resumes
    assert calls[4:] == ["job 4"]
    assert not list(tmp_path.glob("*.claim")) and not list(tmp_path.glob("*.tmp"))


def test_without_a_folder_every_job_is_computed_in_order() -> None:
    calls: list[str] = []
    assert WorkCache(None).run(counting_jobs(calls, 3)) == [0, 1, 4]
    assert calls == ["job 0", "job 1", "job 2"]


def test_a_job_claimed_by_a_live_process_is_waited_for_not_recomputed(tmp_path: Path) -> None:
    cache = WorkCache(tmp_path, poll_seconds=0.02)
    done, claim = cache._paths("job 0")
    owner = subprocess.Popen(["sleep", "30"])
    try:
        claim.write_text(str(owner.pid))
        calls: list[str] = []
        found: list = []
        waiter = threading.Thread(target=lambda: found.append(cache.run(counting_jobs(calls, 2))))
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive() and calls == ["job 1"]  # the free job is computed meanwhile
        done.write_bytes(pickle.dumps("from the other process"))
        waiter.join(timeout=10)
        assert found == [["from the other process", 1]]
    finally:
        owner.kill()
        owner.wait()


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    cache = WorkCache(tmp_path, poll_seconds=0.02)
    gone = subprocess.Popen(["true"])
    gone.wait()
    cache._paths("job 0")[1].write_text(str(gone.pid))
    calls: list[str] = []
    assert cache.run(counting_jobs(calls, 1)) == [0] and calls == ["job 0"]


def _worker(folder: str, marks: str) -> list[int]:
    def job(i: int):  # noqa: ANN202
        def fn() -> int:
            fd = os.open(Path(marks) / f"{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if computed twice
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            time.sleep(0.05)
            return 10 * i
        return f"job {i}", fn
    return WorkCache(folder, poll_seconds=0.02).run([job(i) for i in range(12)])


def test_processes_sharing_a_folder_compute_each_job_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_worker, [(str(tmp_path / "cache"), str(marks))] * 2)
    assert results == [[10 * i for i in range(12)]] * 2
    assert sorted(int(p.name) for p in marks.iterdir()) == list(range(12))


def test_path_identity_changes_when_a_file_is_rewritten(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"1234")
    before = path_identity(tmp_path)
    assert path_identity(tmp_path) == before
    (tmp_path / "weights.bin").write_bytes(b"12345")
    assert path_identity(tmp_path) != before
