"""A process pool that survives bad inputs: per-task timeout, crashed workers replaced.

``multiprocessing.Pool`` cannot stop one task that hangs, and a worker killed by a segfault in a
C parser leaves it waiting forever. Here each worker takes one task at a time over its own pipe;
the parent kills a worker whose task runs past ``timeout`` seconds (or that dies) and starts a new
one, reporting that task as failed. Workers come from a ``forkserver`` (safe with the threads of
tqdm and logging; modules named in ``preload`` are imported once there), or ``spawn`` where that
is missing. A worker whose parent dies (even by SIGKILL) exits within seconds. ``workers=0`` runs
tasks in this process, without the timeout (for debugging).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskOutcome:
    """The result of task ``index``: ``value``, or ``error`` (one line) and its ``failure`` kind:
    ``error`` (the task raised), ``timeout`` (killed after ``timeout`` s) or ``crash`` (worker died)."""

    index: int
    value: Any = None
    error: str | None = None
    failure: Literal["error", "timeout", "crash"] | None = None


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _exit_with(parent: int) -> None:
    """Watchdog thread: end this worker when the process that started it is gone (killed with -9),
    instead of finishing a long conversion for nobody."""
    while True:
        time.sleep(2.0)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, owned by someone else: cannot be our parent, but keep going
            pass


def _worker_main(conn: Connection, fn: Callable[[Any], Any], init: Callable[..., None] | None, initargs: tuple,
                 parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    try:
        if init is not None:
            init(*initargs)
    except Exception as err:  # reported to the parent, which gives up: every task would fail
        conn.send(("init-error", _describe(err)))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, task = message
        try:
            reply = (index, fn(task), None)
        except Exception as err:  # any failure of one task is that task's result
            reply = (index, None, _describe(err))
        conn.send(reply)


class _Worker:
    def __init__(self, ctx: Any, fn: Callable, init: Callable | None, initargs: tuple) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, fn, init, initargs, os.getpid()), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.task: tuple[int, float] | None = None  # (index, start time)
        self.done = 0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                self.proc.kill()
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _context(preload: Sequence[str]) -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    workers: int,
    timeout: float | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    preload: Sequence[str] = (),
    max_tasks_per_worker: int = 500,
) -> Iterator[TaskOutcome]:
    """Run ``fn(task)`` for every task, yielding outcomes as they finish (in completion order).

    ``fn`` and ``initializer`` must be module-level functions (they are pickled to the workers);
    ``initializer(*initargs)`` runs once per worker before its first task. A worker is replaced
    after ``max_tasks_per_worker`` tasks to bound memory growth. An initializer failure raises
    ``RuntimeError``.
    """
    if not tasks:
        return
    if workers <= 0:
        yield from _run_inline(fn, tasks, initializer, initargs)
        return
    ctx = _context(preload)
    pending = deque(enumerate(tasks))
    pool: list[_Worker] = []
    remaining = len(pending)
    failed_starts = 0
    try:
        pool = [_Worker(ctx, fn, initializer, initargs) for _ in range(min(workers, remaining))]
        while remaining:
            for w in pool:
                if w.ready and w.task is None and pending:
                    index, task = pending.popleft()
                    w.conn.send((index, task))
                    w.task = (index, time.monotonic())
            busy_conns = [w.conn for w in pool] + [w.proc.sentinel for w in pool]
            wait(busy_conns, timeout=0.5)
            for i, w in enumerate(pool):
                outcome, replace = _poll(w, timeout)
                if outcome is not None:
                    remaining -= 1
                    yield outcome
                if replace or w.done >= max_tasks_per_worker:
                    if not w.ready:
                        failed_starts += 1
                        if failed_starts > 3:
                            raise RuntimeError(f"worker processes die on start (exit code {w.proc.exitcode})")
                    w.stop(kill=replace)
                    pool[i] = _Worker(ctx, fn, initializer, initargs)
    finally:
        for w in pool:
            w.stop(kill=True)


def _poll(w: _Worker, timeout: float | None) -> tuple[TaskOutcome | None, bool]:
    """Read what worker ``w`` has to say: (an outcome if a task ended, whether to replace the worker)."""
    if w.conn.poll():
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            message = None
        if message is not None:
            if message[0] == "ready":
                w.ready = True
                return None, False
            if message[0] == "init-error":
                raise RuntimeError(f"worker initialization failed: {message[1]}")
            index, value, error = message
            w.task = None
            w.done += 1
            return TaskOutcome(index, value, error, None if error is None else "error"), False
    if w.task is not None:
        index, start = w.task
        if not w.proc.is_alive():
            code = w.proc.exitcode
            return TaskOutcome(index, error=f"worker crashed (exit code {code})", failure="crash"), True
        if timeout is not None and time.monotonic() - start > timeout:
            return TaskOutcome(index, error=f"timed out after {timeout:g} s", failure="timeout"), True
    elif not w.proc.is_alive() and not w.conn.poll():
        return None, True
    return None, False


def _run_inline(fn: Callable, tasks: Sequence[Any], init: Callable | None, initargs: tuple) -> Iterator[TaskOutcome]:
    if init is not None:
        init(*initargs)
    for index, task in enumerate(tasks):
        try:
            yield TaskOutcome(index, fn(task))
        except Exception as err:  # same contract as the worker processes
            yield TaskOutcome(index, error=_describe(err), failure="error")
