"""What every tab of the demo shares: the generation facade, limits, feedback store, media folder,
the per-session cancel events and the model's hash."""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import numpy as np

from demos.jobs import CancelRegistry, Job, session_id
from demos.limits import DemoLimits
from demos.media import MediaFolder
from muse.feedback import FeedbackStore
from muse.generate import MuseGenerator


@dataclass
class DemoContext:
    generator: MuseGenerator
    store: FeedbackStore
    media: MediaFolder
    limits: DemoLimits
    model_hash: str
    cancels: CancelRegistry = field(default_factory=CancelRegistry)

    def header_length(self, ids: np.ndarray) -> int:
        """Number of header tokens (composer, instruments, ``start``) at the front of ``ids`` (n,)."""
        return self.generator.vocab.header_length(ids)

    def status(self, done: str, job: Job) -> str:
        """The status line after a job: ``done``, or why it stopped early."""
        if job.timed_out:
            return f"Stopped at the time limit of {self.limits.time_limit:g} s: the variations are cut short."
        return done

    def cancel_handler(self, request: gr.Request) -> str:
        """Click handler of the Cancel buttons: stops this session's running job."""
        stopped = self.cancels.cancel(session_id(request))
        return "Cancelled." if stopped else "Nothing is running."


__all__ = ["DemoContext"]
