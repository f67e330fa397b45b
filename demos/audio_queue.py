"""The Audio tab's sampling queue: a request's position and estimated time, shown before it starts.

Raw-audio sampling is slow on a CPU (``SECONDS_PER_SECOND``, measured with the bundled small models),
so the tab runs one job at a time and says, the moment Sample is pressed, how many jobs are ahead
and when this one should start and end. A request joins ``SampleQueue`` when it is made (outside
Gradio's queue, so instantly), is marked started when its job begins, and leaves when it ends, is
withdrawn, or is abandoned: a waiting entry still not started ``grace`` seconds after twice the wait
it was told is dropped (a closed browser tab leaves Gradio's queue without a word to us). Running
jobs come first, then waiting ones in the order they were made (Gradio's queue is first come, first
served).

``SampleSpeed`` starts from the measured constant and follows the speed of the jobs that finish (a
moving average of wall seconds per second of audio), so the estimates adapt to the server: another
CPU, a GPU, official checkpoints.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

SECONDS_PER_SECOND = 12.0
"""Wall seconds to sample one second of audio at all three levels with the bundled small models on the
project's 2-core CPU (two torch threads): 2 s took 20 s and 4 s took 51 s with test runs beside them,
6 s took 49 s with `jukebox sample` (docs/MODEL_CARD.md); with a training run beside it the CPU was
several times slower (issue 18 saw about 45 s). Only the first estimate uses it: the jobs that finish
replace it."""
JOB_OVERHEAD = 3.0  # seconds a job takes beyond its length's share: setting up, decoding and writing WAVs


@dataclass
class SampleSpeed:
    """Wall seconds per second of audio (``rate``), updated from finished jobs (``weight``: of the newest)."""

    rate: float = SECONDS_PER_SECOND
    overhead: float = JOB_OVERHEAD
    weight: float = 0.5
    measured: int = 0  # jobs that refined ``rate``

    def estimate(self, seconds: float) -> float:
        """Wall seconds a job making ``seconds`` of audio should take."""
        return self.overhead + self.rate * seconds

    def record(self, seconds: float, wall: float) -> None:
        """A job made ``seconds`` of audio (every level) in ``wall`` seconds."""
        if seconds > 0 and wall > 0:
            rate = max(wall - self.overhead, 0.0) / seconds
            self.rate = rate if self.measured == 0 else (1 - self.weight) * self.rate + self.weight * rate
            self.measured += 1


@dataclass(frozen=True)
class Estimate:
    """Where a request stands: ``ahead`` jobs before it (running or waiting), ``wait`` seconds until it
    starts and ``run`` seconds it should take."""

    ahead: int
    wait: float
    run: float

    def describe(self, speed: SampleSpeed) -> str:
        """One line for the page, e.g. "Position 2 in the audio queue (1 job ahead): starts in about 1 min
        40 s and takes about 27 s (12 s per second of audio, ...)"."""
        where = ("Position 1 in the audio queue: starts now" if self.ahead == 0 else
                 f"Position {self.ahead + 1} in the audio queue ({self.ahead} job{'s' * (self.ahead > 1)} "
                 f"ahead): starts in about {duration(self.wait)}")
        basis = ("as jobs on this server have run" if speed.measured else
                 "as measured with the bundled small models on a 2-core CPU")
        return f"{where} and takes about {duration(self.run)} ({speed.rate:.0f} s per second of audio, {basis})."


def duration(seconds: float) -> str:
    """``95`` -> ``"1 min 35 s"``; ``40`` -> ``"40 s"``; ``7300`` -> ``"2 h 2 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass
class _Entry:
    seconds: float
    joined: float
    started: float | None = None
    stale_at: float = float("inf")


@dataclass
class SampleQueue:
    """The sampling requests by session; one job runs at a time."""

    speed: SampleSpeed = field(default_factory=SampleSpeed)
    grace: float = 120.0
    _entries: dict[str, _Entry] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def join(self, session: str, seconds: float, now: float | None = None) -> Estimate:
        """Add ``session``'s request for ``seconds`` of audio (replacing one it had) and estimate it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._drop_stale(now)
            self._entries.pop(session, None)
            entry = self._entries[session] = _Entry(seconds, now)
            estimate = self._estimate(session, now)
            entry.stale_at = now + 2 * estimate.wait + self.grace
            return estimate

    def start(self, session: str, seconds: float, now: float | None = None) -> None:
        """``session``'s job begins (an API call that never joined is added here)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.setdefault(session, _Entry(seconds, now))
            entry.seconds, entry.started = seconds, now

    def leave(self, session: str) -> None:
        """``session``'s request ended, was withdrawn or failed."""
        with self._lock:
            self._entries.pop(session, None)

    def estimate(self, session: str, now: float | None = None) -> Estimate:
        with self._lock:
            return self._estimate(session, time.monotonic() if now is None else now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _estimate(self, session: str, now: float) -> Estimate:
        ahead, wait = 0, 0.0
        order = sorted(self._entries.items(), key=lambda item: (item[1].started is None, item[1].joined))
        for other, entry in order:
            if other == session:
                break
            ahead += 1
            cost = self.speed.estimate(entry.seconds)
            wait += max(cost - (now - entry.started), 0.0) if entry.started is not None else cost
        mine = self._entries.get(session)
        return Estimate(ahead, wait, self.speed.estimate(mine.seconds if mine is not None else 0.0))

    def _drop_stale(self, now: float) -> None:
        for session in [s for s, e in self._entries.items() if e.started is None and now > e.stale_at]:
            del self._entries[session]


__all__ = ["Estimate", "JOB_OVERHEAD", "SECONDS_PER_SECOND", "SampleQueue", "SampleSpeed", "duration"]
