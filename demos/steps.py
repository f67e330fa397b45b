"""Step-by-step composing: extend one variation with new ones, keep the steps, go back one.

As in MuseNet's own app, a result is not a dead end: *Continue this* on a card continues that
variation's whole piece (its MIDI, as downloaded) with ``continue_midi`` and the settings that
made it (composer or blend, instruments, sampling, note limits, guidance, rerank, tempo; not the key,
which the piece so far has already and which could move it), drawing N new variations, each "the
piece so far + the new seconds". The steps live in a ``History`` in the
session's ``gr.State``: a tab's own job starts a new history, each continuation adds a step, and
undo goes back one. Every card's MIDI is its whole piece; the history also offers the piece
chosen so far (the variation the current step continued).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import gradio as gr
import symusic

from demos.context import DemoContext
from demos.continuations import Continued, continuation_variations, prime_tokens
from demos.controls import MAX_SHOWN_SEED
from demos.jobs import Job, progress_callback
from demos.limits import LimitError
from demos.variation import Variation, variation_label
from muse.manifest import settings_for

EDIT_MODES = ("infill", "accompany")  # an edit's instruments are those it added, not the whole piece's
KEEPS_PRIME = ("key",)  # settings left out of a continuation: the piece so far must stay note for note


@dataclass(frozen=True)
class Step:
    """One step: what made it (``label``), the ``variations`` it showed and the one it continued
    (``parent``; None for the tab's own job)."""

    label: str
    variations: tuple[Variation, ...]
    parent: Variation | None = None


@dataclass(frozen=True)
class History:
    """The steps of one result panel in one browser session, oldest first, and the session's ``ratings``
    of their variations (sample id -> 1 or -1, as stored: one per sample, the last one given)."""

    steps: tuple[Step, ...] = ()
    ratings: Mapping[str, int] = field(default_factory=dict)

    @property
    def variations(self) -> tuple[Variation, ...]:
        """The variations shown now: the last step's."""
        return self.steps[-1].variations if self.steps else ()

    def push(self, step: Step) -> History:
        return replace(self, steps=(*self.steps, step))

    def undo(self) -> History:
        """The history one step back, else a ``LimitError`` (a tab's own job is the first step)."""
        if len(self.steps) < 2:
            raise LimitError("nothing to undo: this is the first step (Continue this on a card adds one)")
        return replace(self, steps=self.steps[:-1])

    def rated(self, sample_id: str, rating: int) -> History:
        return replace(self, ratings={**self.ratings, sample_id: rating})

    def describe(self) -> str:
        """The steps as a numbered Markdown list, the current one marked."""
        if not self.steps:
            return ""
        lines = [f"{i}. {step.label}" for i, step in enumerate(self.steps, start=1)]
        lines[-1] += " \u2190 *shown below*"
        return "**Steps** (*Undo* goes back one):\n\n" + "\n".join(lines)


def start(variations: Sequence[Variation]) -> History:
    """A new history whose first step is a tab's own job (empty when it made nothing)."""
    return History((Step(first_label(variations), tuple(variations)),)) if variations else History()


def first_label(variations: Sequence[Variation]) -> str:
    """What a tab's own job did, from its samples' settings."""
    sample = variations[0].sample
    settings, n = sample.settings, len(variations)
    if sample.mode == "compose":
        return (f"Composed in the style of {settings.get('composer')} for {', '.join(settings.get('instruments', []))}:"
                f" {n} variation(s) of about {settings.get('seconds', 0):g} s")
    if sample.mode == "continue":
        return (f"Continued the first {settings.get('prime_seconds', 0):g} s of {settings.get('upload')}: "
                f"{n} variation(s)")
    return f"Edited {settings.get('upload')} ({sample.mode}): {n} variation(s)"


def continuation_call(variation: Variation, seconds: float) -> dict:
    """``continue_midi``'s keyword arguments to extend ``variation`` by ``seconds``: the settings that made it
    which ``continue_midi`` takes (composer, instruments, sampling, note limits, guidance, rerank, tempo, ...),
    but no ``key``: the piece so far has it already, and a key request may move the kept prime."""
    sample = variation.sample
    call = {k: v for k, v in sample.settings.items() if k in settings_for("continue") and k not in KEEPS_PRIME}
    if sample.mode in EDIT_MODES or not call.get("instruments"):
        call.pop("instruments", None)  # then the piece's own instruments
    return {**call, "seconds": float(seconds)}


def extend(ctx: DemoContext, history: History, index: int, seconds: float, variations: float, job: Job,
           progress: gr.Progress) -> tuple[Step, Continued, bool]:
    """Continue variation ``index`` (0-based) of ``history``'s last step by ``seconds`` into ``variations`` new
    ones, stopping when ``job`` says so. Returns the new step, its cards and whether they were cut short."""
    limits, gen = ctx.limits, ctx.generator
    if not 0 <= index < len(history.variations):
        raise LimitError(f"there is no variation {index + 1} to continue yet: generate first")
    n = limits.check_variations(variations)
    seconds = limits.check_seconds(seconds, continuation=True)
    parent = history.variations[index]
    try:
        midi = parent.files.midi.read_bytes()
    except OSError:
        raise LimitError("this variation's files are gone (the demo keeps them for a while): generate again") from None
    score = symusic.Score.from_midi(midi)
    so_far = float(score.to("second").end())
    if so_far + seconds > limits.max_upload_seconds:
        raise LimitError(f"the piece would last {(so_far + seconds) / 60:.1f} minutes; pieces composed step by step "
                         f"may last at most {limits.max_upload_seconds / 60:g} minutes")
    call = continuation_call(parent, seconds)
    seed = secrets.randbelow(MAX_SHOWN_SEED + 1)
    number, label = len(history.steps), variation_label(index + 1)
    started = time.monotonic()
    pieces = gen.continue_midi(midi, **call, seed=seed, n=n, callback=progress_callback(progress, "continuing"),
                               cancel=job)
    cut_short = ctx.cut_short(job, pieces)
    made = continuation_variations(
        ctx, pieces, call=call, n_prime=prime_tokens(ctx, midi, "the piece so far", pieces),
        prime_notes=score.note_num(), settings={**call, "n": n, "step": number + 1, "continues": parent.sample.id},
        batch={"seed": seed, "n": n}, timings={"generate_seconds": time.monotonic() - started},
        title=f"step {number + 1} \u00b7 {call.get('composer')}", progress=progress, cut_short=cut_short,
        stem="step", before="so far")
    step = Step(f"{label} of step {number} continued by {seconds:g} s: {n} variation(s)", tuple(made.variations),
                parent)
    return step, made, cut_short


__all__ = ["History", "Step", "continuation_call", "extend", "first_label", "start"]
