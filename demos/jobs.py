"""Running a generation job for the page: cancellation per browser session, progress, readable errors.

- ``CancelRegistry``: each session's running job gets a ``threading.Event`` that the engine checks
  before every token; the Cancel button sets it, so the worker thread stops within one step.
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

import gradio as gr

from muse.core.errors import USER_ERRORS

log = logging.getLogger(__name__)


class CancelRegistry:
    """The cancel events of the running jobs, by session id."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @contextmanager
    def job(self, session: str) -> Iterator[threading.Event]:
        """A fresh cancel event for ``session``'s job while it runs."""
        event = threading.Event()
        with self._lock:
            self._events[session] = event
        try:
            yield event
        finally:
            with self._lock:
                if self._events.get(session) is event:
                    del self._events[session]

    def cancel(self, session: str) -> bool:
        """Ask ``session``'s running job to stop; False when it has none."""
        with self._lock:
            event = self._events.get(session)
        if event is None:
            return False
        event.set()
        return True

    def running(self) -> int:
        with self._lock:
            return len(self._events)


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


__all__ = ["CancelRegistry", "progress_callback", "session_id", "shown_errors"]
