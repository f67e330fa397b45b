"""What every tab of the demo shares: the generation facade, limits, feedback store, media folder,
the per-session cancel events, the model's hash and its composers as shown (``demos.styles``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import gradio as gr
import numpy as np

from demos.jobs import CancelRegistry, Job, session_id
from demos.limits import DemoLimits
from demos.media import MediaFolder
from demos.styles import Styles, model_styles
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

    @cached_property
    def styles(self) -> Styles:
        """The model's composers with display names, eras, training data and the featured short list."""
        return model_styles(self.generator)

    def header_length(self, ids: np.ndarray) -> int:
        """Number of header tokens (composer, instruments, ``start``) at the front of ``ids`` (n,)."""
        return self.generator.vocab.header_length(ids)

    def status(self, done: str, job: Job, cut_short: bool | None = None) -> str:
        """The status line after a job: ``done``, or why its pieces were cut short (``cut_short``; default:
        whether the job was stopped)."""
        if not (job() if cut_short is None else cut_short):
            return done
        if job.cancelled.is_set():
            return ("Cancelled: the variations below hold what was composed before Cancel (no manifest: a piece "
                    "cut short cannot be made again from its settings).")
        return (f"Stopped at the time limit of {self.limits.time_limit:g} s: the variations below hold what was "
                "composed until then.")

    @staticmethod
    def cut_short(job: Job, pieces: Sequence) -> bool:
        """Whether ``job`` stopped before its ``pieces`` were complete (a piece that reached its ``end`` is)."""
        return job() and not all(getattr(piece, "ended", True) for piece in pieces)

    def cancel_handler(self, request: gr.Request) -> str:
        """Click handler of the Cancel buttons: stops this session's running job."""
        stopped = self.cancels.cancel(session_id(request))
        return "Cancelled." if stopped else "Nothing is running."


__all__ = ["DemoContext"]
