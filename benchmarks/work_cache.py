"""Slow results kept on disk and shared by processes: a benchmark's long steps (drawing samples) resume
after a crash, and several processes given the same folder split the work instead of repeating it.

Each job has a key; its value is pickled to ``<folder>/<sha1 of key>.pkl`` (written whole, then renamed).
A process computes a job only after claiming it (``.claim``, holding its pid, linked into place); a job
claimed by another live process is left to it and waited for at the end, and a claim whose process has
died is taken over. Without a folder every job is simply computed in order.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.work_cache")


def path_identity(path: str | Path) -> str:
    """``path`` with the name, size and modification time of every file under it: a key part that
    changes when a model or critic folder is rewritten."""
    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return f"{path}[" + ",".join(f"{p.relative_to(path.parent)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                 for p in files if p.exists()) + "]"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class WorkCache:
    """Values of keyed jobs, from ``folder`` when there, else computed (see the module doc)."""

    def __init__(self, folder: str | Path | None, poll_seconds: float = 5.0) -> None:
        self.folder = None if folder is None else Path(folder)
        self.poll_seconds = poll_seconds
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def _paths(self, key: str) -> tuple[Path, Path]:
        name = hashlib.sha1(key.encode()).hexdigest()[:24]
        return self.folder / f"{name}.pkl", self.folder / f"{name}.claim"

    def _claim(self, claim: Path) -> bool:
        """Claim a job for this process; a claim left by a dead process is taken over. The claim is
        linked into place whole, so a claim that exists always names its owner."""
        mine = claim.with_suffix(f".{os.getpid()}.pid")
        mine.write_text(str(os.getpid()))
        try:
            for _ in range(2):
                try:
                    os.link(mine, claim)
                    return True
                except FileExistsError:
                    try:
                        owner = int(claim.read_text())
                    except FileNotFoundError:
                        return False  # its owner has just finished: the next pass reads the value
                    if _alive(owner):
                        return False
                    claim.unlink(missing_ok=True)
            return False
        finally:
            mine.unlink()

    def _compute(self, key: str, fn: Callable[[], Any]) -> Any:
        value = fn()
        done, claim = self._paths(key)
        tmp = done.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(value))
        os.replace(tmp, done)
        claim.unlink(missing_ok=True)
        return value

    def run(self, jobs: Sequence[tuple[str, Callable[[], Any]]]) -> list[Any]:
        """The value of every ``(key, fn)`` job, in order: read, computed here, or waited for."""
        if self.folder is None:
            return [fn() for _, fn in jobs]
        values: dict[int, Any] = {}
        pending = list(range(len(jobs)))
        while pending:
            waiting = []
            for i in pending:
                key, fn = jobs[i]
                done, claim = self._paths(key)
                if done.is_file():
                    values[i] = pickle.loads(done.read_bytes())
                elif self._claim(claim):
                    values[i] = self._compute(key, fn)
                else:
                    waiting.append(i)
            if waiting and waiting == pending:
                log.info("waiting for %d job(s) another process is computing in %s", len(waiting), self.folder)
                time.sleep(self.poll_seconds)
            pending = waiting
        return [values[i] for i in range(len(jobs))]


__all__ = ["WorkCache", "path_identity"]
