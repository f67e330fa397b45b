"""The results of a generation on the page: one card per variation, feedback controls, and
step-by-step composing.

A card shows the piano roll (its playhead follows the audio: ``demos.roll_player``), an audio
player, a MIDI download, the variation's JSON manifest (its model hash, settings, own seed and
timings: ``muse generate --from-manifest`` makes it again), thumbs up / down and *Continue this*
(the data and texts of a card are in ``demos.variation``).
Above the cards, the steps so far (``demos.steps``): how long and how many new variations *Continue
this* makes, *Undo* (back one step) and the piece chosen so far as MIDI. Under the cards, an A/B
choice between two variations. The history of steps lives in the session's ``gr.State``; feedback
stores the shown samples (settings, seed, model hash, tokens) in the ``FeedbackStore``. The
Compose, Continue and Edit tabs use this panel.

Through the API a card is six values: caption, piano roll, audio, MIDI, manifest and the rating
line; after the cards come A, B, the A/B status, the steps and the piece so far. API names (for
``gradio_client``): ``/{prefix}_up_{k}``, ``/{prefix}_down_{k}`` rate variation ``k`` (1-based);
``/{prefix}_prefer_a`` and ``/{prefix}_prefer_b`` take the two variation numbers;
``/{prefix}_extend_{k}`` (seconds, new variations) continues variation ``k``, ``/{prefix}_undo``
goes back one step and ``/{prefix}_step_cancel`` stops a continuation (what it composed is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr

from demos import steps
from demos.context import DemoContext
from demos.controls import RAW_INPUTS, watch_bounds
from demos.jobs import cancel_button, session_id, shown_errors
from demos.limits import LimitError
from demos.roll_player import roll_player, roll_value
from demos.steps import History
from demos.variation import Variation, caption, summary, variation_label

FEEDBACK_CONCURRENCY = "feedback"
CARD_VALUES = 6  # what the API returns per card: caption, piano roll, audio, MIDI, manifest, rating line
AFTER_CARDS = 5  # what it returns after the cards: A, B, the A/B status, the steps, the piece so far


@dataclass(frozen=True)
class Card:
    box: gr.Group
    caption: gr.Markdown
    roll: gr.HTML
    audio: gr.Audio
    midi: gr.DownloadButton
    manifest: gr.DownloadButton
    up: gr.Button
    down: gr.Button
    extend: gr.Button
    rated: gr.Markdown


class ResultsPanel:
    """The steps box, cards for up to ``ctx.limits.max_variations`` variations and the A/B choice (build
    inside a Blocks); ``prefix`` names its elements and API endpoints."""

    def __init__(self, prefix: str, ctx: DemoContext) -> None:
        self.prefix, self.ctx, self.store = prefix, ctx, ctx.store
        limits = ctx.limits
        self.state = gr.State(History())
        with gr.Group(visible=False, elem_id=f"{prefix}-steps") as self.steps_box:
            self.history = gr.Markdown(elem_id=f"{prefix}-history")
            with gr.Row(equal_height=True):
                self.step_seconds = gr.Slider(
                    limits.min_seconds, limits.max_continue_seconds, value=min(10.0, limits.max_continue_seconds),
                    step=1, label="Continue this: by (seconds)", scale=2, elem_id=f"{prefix}-step-seconds")
                self.step_variations = gr.Slider(1, limits.max_variations, value=min(2, limits.max_variations),
                                                 step=1, label="new variations", scale=2,
                                                 elem_id=f"{prefix}-step-variations")
                self.undo = gr.Button("Undo (back one step)", size="sm", elem_id=f"{prefix}-undo")
                self.piece = gr.DownloadButton("The piece so far (MIDI)", size="sm", visible=False,
                                               elem_id=f"{prefix}-piece")
                self.step_cancel = gr.Button("Cancel", size="sm", variant="stop", elem_id=f"{prefix}-step-cancel")
            self.step_status = gr.Markdown(elem_id=f"{prefix}-step-status", min_height=32)
        self.cards: list[Card] = []
        for row_start in range(0, limits.max_variations, 2):
            with gr.Row(equal_height=False):
                for i in range(row_start, min(row_start + 2, limits.max_variations)):
                    self.cards.append(self._card(i))
        with gr.Group(visible=False) as self.ab_box:
            gr.Markdown("**A/B: which of two variations do you prefer?**")
            with gr.Row():
                self.ab_a = gr.Dropdown([], label="A", elem_id=f"{prefix}-ab-a")
                self.ab_b = gr.Dropdown([], label="B", elem_id=f"{prefix}-ab-b")
                self.prefer_a = gr.Button("A is better", elem_id=f"{prefix}-prefer-a")
                self.prefer_b = gr.Button("B is better", elem_id=f"{prefix}-prefer-b")
            self.ab_status = gr.Markdown(elem_id=f"{prefix}-ab-status")
        self._wire()
        self._wire_steps()

    def _card(self, i: int) -> Card:
        p, k = self.prefix, i + 1
        with gr.Column(min_width=420):
            with gr.Group(visible=False, elem_id=f"{p}-card-{k}") as box:
                caption = gr.Markdown(elem_id=f"{p}-caption-{k}")
                roll = roll_player(f"{p}-roll-{k}", audio_id=f"{p}-audio-{k}")
                audio = gr.Audio(type="filepath", label="Listen", interactive=False, buttons=["download"],
                                 elem_id=f"{p}-audio-{k}")
                with gr.Row():
                    midi = gr.DownloadButton("Download MIDI", size="sm", elem_id=f"{p}-midi-{k}")
                    manifest = gr.DownloadButton("Manifest (JSON)", size="sm", visible=False,
                                                 elem_id=f"{p}-manifest-{k}")
                    up = gr.Button("Thumbs up", size="sm", min_width=60, elem_id=f"{p}-up-{k}")
                    down = gr.Button("Thumbs down", size="sm", min_width=60, elem_id=f"{p}-down-{k}")
                    extend = gr.Button("Continue this", size="sm", min_width=60, variant="primary",
                                       elem_id=f"{p}-extend-{k}")
                rated = gr.Markdown(elem_id=f"{p}-rated-{k}")
        return Card(box, caption, roll, audio, midi, manifest, up, down, extend, rated)

    # ---- filling the panel --------------------------------------------------------------------

    @property
    def outputs(self) -> list[gr.components.Component | gr.blocks.BlockContext]:
        """Components that ``values`` and ``show`` fill, in order."""
        outs: list = [self.state]
        for card in self.cards:
            outs += [card.box, card.caption, card.roll, card.audio, card.midi, card.manifest, card.rated, card.up,
                     card.down]
        return outs + [self.ab_box, self.ab_a, self.ab_b, self.ab_status, self.steps_box, self.history, self.piece]

    def values(self, variations: Sequence[Variation]) -> list:
        """New values for ``outputs`` after a tab's own job: its variations are the first step."""
        return self.show(steps.start(variations))

    def show(self, history: History) -> list:
        """New values for ``outputs``: one card per variation of the last step, the others hidden, and the steps."""
        variations = history.variations
        vals: list = [history]
        for i, _card in enumerate(self.cards):
            if i < len(variations):
                v = variations[i]
                manifest = v.files.manifest
                rating = history.ratings.get(v.sample.id)
                vals += [gr.Group(visible=True), v.caption, roll_value(v.files, v.boundary), str(v.files.wav),
                         gr.DownloadButton(value=str(v.files.midi)),
                         gr.DownloadButton(value=str(manifest) if manifest else None, visible=manifest is not None),
                         rating_line(rating), *thumbs(rating)]
            else:
                vals += [gr.Group(visible=False), "", None, None, gr.DownloadButton(value=None),
                         gr.DownloadButton(value=None, visible=False), "", *thumbs(None)]
        labels = [variation_label(k) for k in range(1, len(variations) + 1)]
        two = len(labels) >= 2
        vals += [gr.Group(visible=two),
                 gr.Dropdown(choices=labels, value=labels[0] if two else None),
                 gr.Dropdown(choices=labels, value=labels[1] if two else None), ""]
        parent = history.steps[-1].parent if history.steps else None
        vals += [gr.Group(visible=bool(variations)), history.describe(),
                 gr.DownloadButton(value=str(parent.files.midi) if parent else None, visible=parent is not None)]
        return vals

    # ---- step by step -------------------------------------------------------------------------

    def _wire_steps(self) -> None:
        ctx, p = self.ctx, self.prefix
        inputs, outputs = [self.state, self.step_seconds, self.step_variations], [self.step_status, *self.outputs]
        events = [card.extend.click(self._extender(i), inputs, outputs, api_name=f"{p}_extend_{i + 1}",
                                    concurrency_id="generate", concurrency_limit=ctx.limits.concurrency,
                                    show_progress_on=[self.step_status], **RAW_INPUTS)
                  for i, card in enumerate(self.cards)]
        self.undo.click(self._undo, [self.state], outputs, api_name=f"{p}_undo", concurrency_id=FEEDBACK_CONCURRENCY,
                        concurrency_limit=None, show_progress="hidden")
        cancel_button(self.step_cancel, events, self.step_status, ctx.cancels, api_name=f"{p}_step_cancel")
        watch_bounds(self.step_seconds, self.step_status, "Continue this: by", "s")
        watch_bounds(self.step_variations, self.step_status, "New variations")

    def _extender(self, index: int):
        ctx = self.ctx

        def extend(history: History, seconds: float, variations: float, request: gr.Request,
                   progress: gr.Progress = gr.Progress()) -> list:
            with shown_errors("continuing the variation"):
                with ctx.cancels.job(session_id(request), ctx.limits.time_limit) as job:
                    step, made, cut_short = steps.extend(ctx, history, index, seconds, variations, job, progress)
                done = ctx.status(f"Done: {step.label}.", job, cut_short)
            return [summary(done, made.variations, made.new_notes), *self.show(history.push(step))]

        return extend

    def _undo(self, history: History) -> list:
        with shown_errors("going back one step"):
            history = history.undo()
        return [f"Back to step {len(history.steps)}.", *self.show(history)]

    # ---- feedback -----------------------------------------------------------------------------

    def _wire(self) -> None:
        common = {"concurrency_id": FEEDBACK_CONCURRENCY, "concurrency_limit": None, "show_progress": "hidden"}
        for i, card in enumerate(self.cards):
            rated = [self.state, card.rated, card.up, card.down]  # the API returns the line only (buttons skip it)
            card.up.click(self._rater(i, 1), [self.state], rated, api_name=f"{self.prefix}_up_{i + 1}", **common)
            card.down.click(self._rater(i, -1), [self.state], rated, api_name=f"{self.prefix}_down_{i + 1}",
                            **common)
        ab = [self.state, self.ab_a, self.ab_b]
        self.prefer_a.click(self._chooser(0), ab, [self.ab_status], api_name=f"{self.prefix}_prefer_a", **common)
        self.prefer_b.click(self._chooser(1), ab, [self.ab_status], api_name=f"{self.prefix}_prefer_b", **common)

    def _rater(self, index: int, rating: int):
        store = self.store

        def rate(history: History, request: gr.Request) -> tuple:
            samples = [v.sample for v in history.variations]
            with shown_errors("saving your rating"):
                if index >= len(samples):
                    raise LimitError(f"there is no variation {index + 1} to rate yet: generate first")
                store.rate(samples[index], rating, session_id(request))  # replaces this visitor's earlier one
            before = history.ratings.get(samples[index].id)
            return history.rated(samples[index].id, rating), rating_line(rating, before, saved=True), *thumbs(rating)

        return rate

    def _chooser(self, preferred: int):
        store = self.store

        def choose(history: History, a: str | int | None, b: str | int | None, request: gr.Request) -> str:
            samples = [v.sample for v in history.variations]
            with shown_errors("saving your choice"):
                ia, ib = (_variation_index(x, len(samples)) for x in (a, b))
                if ia == ib:
                    raise LimitError("choose two different variations for A and B")
                chosen, rejected = (ia, ib) if preferred == 0 else (ib, ia)
                store.choose(samples[chosen], samples[rejected], session_id(request))
            return f"Thanks! Saved: {variation_label(chosen + 1)} over {variation_label(rejected + 1)}."

        return choose


THUMBS = {1: "thumbs up", -1: "thumbs down"}


def rating_line(rating: int | None, before: int | None = None, *, saved: bool = False) -> str:
    """A card's line on the visitor's ``rating`` of it ("" when none); ``saved``: it was just given (``before``:
    the visitor's rating until then)."""
    if rating is None:
        return ""
    if saved and before is not None and before != rating:
        return f"Thanks! Changed your rating to **{THUMBS[rating]}**."
    changes = f"(*{THUMBS[-rating].capitalize()}* changes it)"
    return f"Thanks! Saved your **{THUMBS[rating]}** {changes}." if saved else \
        f"Your rating: **{THUMBS[rating]}** {changes}."


def thumbs(rating: int | None) -> tuple[gr.Button, gr.Button]:
    """The two rating buttons showing ``rating`` (the chosen one highlighted and ticked)."""
    return tuple(gr.Button(value=("\u2713 " if rating == r else "") + THUMBS[r].capitalize(),
                           variant="primary" if rating == r else "secondary") for r in (1, -1))


def _variation_index(choice: str | int | None, n: int) -> int:
    """0-based index of ``"Variation k"`` (or the number k) among ``n`` variations."""
    text = str(choice or "").strip()
    number = text.rsplit(" ", 1)[-1]
    if not number.isdigit() or not 1 <= int(number) <= n:
        raise LimitError(f"pick variations to compare (1 to {n}); got {choice!r}" if n else "generate variations first")
    return int(number) - 1


__all__ = ["AFTER_CARDS", "CARD_VALUES", "Card", "ResultsPanel", "Variation", "caption", "rating_line", "summary",
           "thumbs", "variation_label"]
