"""Running a generation job for the page: cancellation per browser session, progress, readable errors.

- ``CancelRegistry``: each session's running job gets a ``Job`` that the engine checks before
  every token; the Cancel button sets it, so the worker thread stops within one step, and it
  stops by itself at the demo's time limit.
- ``progress_callback``: adapts the facade's ``callback(done_seconds, total_seconds)`` to
  ``gr.Progress`` (at most ten updates a second).
- ``shown_errors``: user errors (bad upload, unknown composer, over a limit) become ``gr.Error``
  with their one-line message; anything else is logged with its traceback on the server and the
  page gets one sentence, never a stack trace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr

from muse.core.errors import USER_ERRORS

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A running job's stop signal: ``job()`` is True once cancelled or past ``deadline``
    (``time.monotonic()``); the facade's ``cancel`` argument takes it as it is."""

    cancelled: threading.Event
    deadline: float

    def __call__(self) -> bool:
        return self.cancelled.is_set() or time.monotonic() > self.deadline

    @property
    def timed_out(self) -> bool:
        return not self.cancelled.is_set() and time.monotonic() > self.deadline


class CancelRegistry:
    """The running jobs by session id, so that a session's Cancel button can stop its job."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    @contextmanager
    def job(self, session: str, time_limit: float) -> Iterator[Job]:
        """A fresh ``Job`` for ``session`` that stops by itself after ``time_limit`` seconds."""
        job = Job(threading.Event(), time.monotonic() + time_limit)
        with self._lock:
            self._jobs[session] = job
        try:
            yield job
        finally:
            with self._lock:
                if self._jobs.get(session) is job:
                    del self._jobs[session]

    def cancel(self, session: str) -> bool:
        """Ask ``session``'s running job to stop; False when it has none."""
        with self._lock:
            job = self._jobs.get(session)
        if job is None:
            return False
        job.cancelled.set()
        return True

    def running(self) -> int:
        with self._lock:
            return len(self._jobs)


def progress_callback(progress: gr.Progress, desc: str, interval: float = 0.1) -> Callable[[float, float], None]:
    """``callback(done, total)`` that forwards to ``progress`` at most every ``interval`` seconds."""
    last = [0.0]

    def callback(done: float, total: float) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or done >= total:
            last[0] = now
            progress(min(done / total, 1.0) if total > 0 else 0.0, desc=f"{desc}: {done:.1f} of {total:.1f} s")

    return callback


@contextmanager
def shown_errors(what: str) -> Iterator[None]:
    """Turn exceptions inside the block into ``gr.Error`` messages fit for the page."""
    try:
        yield
    except gr.Error:
        raise
    except USER_ERRORS as err:
        raise gr.Error(str(err), print_exception=False) from None
    except Exception:
        log.exception("%s failed", what)
        raise gr.Error(f"{what} failed unexpectedly; the server log has the details.", print_exception=False) from None


def session_id(request: gr.Request | None) -> str:
    """The browser session of a request ("" outside a request, e.g. in direct calls)."""
    return (request.session_hash or "") if request is not None else ""


__all__ = ["CancelRegistry", "Job", "progress_callback", "session_id", "shown_errors"]
