"""The results of a generation on the page: one card per variation, with feedback controls.

A card shows the piano roll, an audio player, a MIDI download, the variation's JSON manifest (its
model hash, settings, own seed and timings: ``muse generate --from-manifest`` makes it again) and
thumbs up / down (the data and texts of a card are in ``demos.variation``). Under the cards, an
A/B choice between two variations. The samples of the last generation live in the
session's ``gr.State``; feedback stores them (settings, seed, model hash, tokens) in the
``FeedbackStore``. Both the Compose and the Continue tab use this panel.

Through the API a card is six values: caption, piano roll, audio, MIDI, manifest and the rating
line. API names (for ``gradio_client``): ``/{prefix}_up_{k}``, ``/{prefix}_down_{k}`` rate variation
``k`` (1-based); ``/{prefix}_prefer_a`` and ``/{prefix}_prefer_b`` take the two variation numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr

from demos.jobs import session_id, shown_errors
from demos.limits import LimitError
from demos.variation import Variation, caption, summary, variation_label
from muse.feedback import FeedbackStore

FEEDBACK_CONCURRENCY = "feedback"
CARD_VALUES = 6  # what the API returns per card: caption, piano roll, audio, MIDI, manifest, rating line


@dataclass(frozen=True)
class Card:
    box: gr.Group
    caption: gr.Markdown
    roll: gr.Image
    audio: gr.Audio
    midi: gr.DownloadButton
    manifest: gr.DownloadButton
    up: gr.Button
    down: gr.Button
    rated: gr.Markdown


class ResultsPanel:
    """Cards for up to ``max_variations`` variations plus the A/B choice (build inside a Blocks)."""

    def __init__(self, prefix: str, max_variations: int, store: FeedbackStore) -> None:
        self.prefix, self.store = prefix, store
        self.state = gr.State([])
        self.cards: list[Card] = []
        for row_start in range(0, max_variations, 2):
            with gr.Row(equal_height=False):
                for i in range(row_start, min(row_start + 2, max_variations)):
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

    def _card(self, i: int) -> Card:
        p, k = self.prefix, i + 1
        with gr.Column(min_width=420):
            with gr.Group(visible=False, elem_id=f"{p}-card-{k}") as box:
                caption = gr.Markdown(elem_id=f"{p}-caption-{k}")
                roll = gr.Image(type="filepath", format="png", label="Piano roll", show_label=False,
                                interactive=False, buttons=["download", "fullscreen"], elem_id=f"{p}-roll-{k}")
                audio = gr.Audio(type="filepath", label="Listen", interactive=False, buttons=["download"],
                                 elem_id=f"{p}-audio-{k}")
                with gr.Row():
                    midi = gr.DownloadButton("Download MIDI", size="sm", elem_id=f"{p}-midi-{k}")
                    manifest = gr.DownloadButton("Manifest (JSON)", size="sm", visible=False,
                                                 elem_id=f"{p}-manifest-{k}")
                    up = gr.Button("Thumbs up", size="sm", min_width=60, elem_id=f"{p}-up-{k}")
                    down = gr.Button("Thumbs down", size="sm", min_width=60, elem_id=f"{p}-down-{k}")
                rated = gr.Markdown(elem_id=f"{p}-rated-{k}")
        return Card(box, caption, roll, audio, midi, manifest, up, down, rated)

    # ---- filling the panel --------------------------------------------------------------------

    @property
    def outputs(self) -> list[gr.components.Component | gr.blocks.BlockContext]:
        """Components that ``values`` fills, in order."""
        outs: list = [self.state]
        for card in self.cards:
            outs += [card.box, card.caption, card.roll, card.audio, card.midi, card.manifest, card.rated]
        return outs + [self.ab_box, self.ab_a, self.ab_b, self.ab_status]

    def values(self, variations: Sequence[Variation]) -> list:
        """New values for ``outputs``: one card per variation, the others hidden."""
        vals: list = [[v.sample for v in variations]]
        for i, _card in enumerate(self.cards):
            if i < len(variations):
                v = variations[i]
                manifest = v.files.manifest
                vals += [gr.Group(visible=True), v.caption, str(v.files.roll), str(v.files.wav),
                         gr.DownloadButton(value=str(v.files.midi)),
                         gr.DownloadButton(value=str(manifest) if manifest else None, visible=manifest is not None),
                         ""]
            else:
                vals += [gr.Group(visible=False), "", None, None, gr.DownloadButton(value=None),
                         gr.DownloadButton(value=None, visible=False), ""]
        labels = [variation_label(k) for k in range(1, len(variations) + 1)]
        two = len(labels) >= 2
        vals += [gr.Group(visible=two),
                 gr.Dropdown(choices=labels, value=labels[0] if two else None),
                 gr.Dropdown(choices=labels, value=labels[1] if two else None), ""]
        return vals

    # ---- feedback -----------------------------------------------------------------------------

    def _wire(self) -> None:
        common = {"concurrency_id": FEEDBACK_CONCURRENCY, "concurrency_limit": None, "show_progress": "hidden"}
        for i, card in enumerate(self.cards):
            card.up.click(self._rater(i, 1), [self.state], [card.rated], api_name=f"{self.prefix}_up_{i + 1}", **common)
            card.down.click(self._rater(i, -1), [self.state], [card.rated], api_name=f"{self.prefix}_down_{i + 1}",
                            **common)
        ab = [self.state, self.ab_a, self.ab_b]
        self.prefer_a.click(self._chooser(0), ab, [self.ab_status], api_name=f"{self.prefix}_prefer_a", **common)
        self.prefer_b.click(self._chooser(1), ab, [self.ab_status], api_name=f"{self.prefix}_prefer_b", **common)

    def _rater(self, index: int, rating: int):
        store = self.store

        def rate(samples: list, request: gr.Request) -> str:
            with shown_errors("saving your rating"):
                if index >= len(samples or []):
                    raise LimitError(f"there is no variation {index + 1} to rate yet: generate first")
                store.rate(samples[index], rating, session_id(request))
            return "Thanks! Saved your thumbs up." if rating > 0 else "Thanks! Saved your thumbs down."

        return rate

    def _chooser(self, preferred: int):
        store = self.store

        def choose(samples: list, a: str | int | None, b: str | int | None, request: gr.Request) -> str:
            with shown_errors("saving your choice"):
                ia, ib = (_variation_index(x, len(samples or [])) for x in (a, b))
                if ia == ib:
                    raise LimitError("choose two different variations for A and B")
                chosen, rejected = (ia, ib) if preferred == 0 else (ib, ia)
                store.choose(samples[chosen], samples[rejected], session_id(request))
            return f"Thanks! Saved: {variation_label(chosen + 1)} over {variation_label(rejected + 1)}."

        return choose


def _variation_index(choice: str | int | None, n: int) -> int:
    """0-based index of ``"Variation k"`` (or the number k) among ``n`` variations."""
    text = str(choice or "").strip()
    number = text.rsplit(" ", 1)[-1]
    if not number.isdigit() or not 1 <= int(number) <= n:
        raise LimitError(f"pick variations to compare (1 to {n}); got {choice!r}" if n else "generate variations first")
    return int(number) - 1


__all__ = ["CARD_VALUES", "Card", "ResultsPanel", "Variation", "caption", "summary", "variation_label"]
