"""Running a generation job for the page: cancellation per browser session, progress, readable errors.

- ``CancelRegistry``: each session's running job gets a ``Job`` that the engine checks before
  every token; the Cancel button sets it, so the worker thread stops within one step, and it
  stops by itself at the demo's time limit. The engine then returns what it composed so far, and
  the job's own event shows it like a finished result.
- ``cancel_button``: wires a Cancel button: a running job is stopped (its event goes on to show
  the partial pieces); a request still waiting in the queue is withdrawn (Gradio cancels its event).
- ``progress_callback``: adapts the facade's ``callback(done_seconds, total_seconds)`` to
  ``gr.Progress`` (at most ten updates a second); ``rendering`` reports the files written after
  composing (audio, piano roll), variation by variation.
- ``shown_errors``: user errors (bad upload, unknown composer, over a limit) become ``gr.Error``
  with their one-line message; anything else is logged with its traceback on the server and the
  page gets one sentence, never a stack trace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import gradio as gr

from muse.core.errors import USER_ERRORS

log = logging.getLogger(__name__)

T = TypeVar("T")


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


def rendering(progress: gr.Progress, items: Sequence[T]) -> Iterator[tuple[int, T]]:
    """``enumerate(items, start=1)`` reporting on ``progress`` which variation's audio and piano roll are
    being written, before each (writing the files takes seconds per variation, after composing)."""
    n = len(items)
    for k, item in enumerate(items, start=1):
        progress((k - 1) / n, desc=f"rendering audio and piano roll: variation {k} of {n}")
        yield k, item


STOPPING = "Stopping: what was composed so far is being rendered\u2026"
WITHDRAWN = "Nothing was composing; a request of yours still waiting in the queue is withdrawn."


def stop_or_withdraw(jobs: CancelRegistry, session: str, withdrawals: int, stopping: str = STOPPING,
                     withdrawn: str = WITHDRAWN) -> tuple[str, int]:
    """What Cancel does for ``session``: stop its running job (the count of ``withdrawals`` stays), else count
    one more withdrawal of a request still waiting in the queue. Returns (the status line, the count): the
    ``stopping`` or the ``withdrawn`` line."""
    if jobs.cancel(session):
        return stopping, withdrawals
    return withdrawn, withdrawals + 1


def cancel_button(button: gr.Button, events: Sequence, status: gr.components.Component, jobs: CancelRegistry,
                  api_name: str, stopping: str = STOPPING, withdrawn: str = WITHDRAWN,
                  on_withdraw: Callable[[str], None] | None = None) -> None:
    """Wire ``button`` to stop this session's running job, which keeps what it composed so far (its event
    goes on and shows it); when none runs, a request of ``events`` still waiting in the queue is withdrawn
    (and ``on_withdraw(session)`` called). ``stopping``/``withdrawn``: the status lines of the two cases.

    The withdrawal goes through a counter in a ``gr.State`` whose change cancels ``events``: Gradio's own
    cancellation would also throw away a running job's partial result, so it is used only when none runs.
    """
    withdrawals = gr.State(0)

    def cancel(count: int, request: gr.Request) -> tuple[str, int]:
        line, after = stop_or_withdraw(jobs, session_id(request), count, stopping, withdrawn)
        if after != count and on_withdraw is not None:
            on_withdraw(session_id(request))
        return line, after

    button.click(cancel, [withdrawals], [status, withdrawals], api_name=api_name, queue=False)
    withdrawals.change(None, None, None, cancels=list(events), queue=False)


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


__all__ = ["CancelRegistry", "Job", "cancel_button", "progress_callback", "rendering", "session_id",
           "shown_errors", "stop_or_withdraw"]
