"""Feedback tab: what listeners said so far, and how to export it for preference tuning."""

from __future__ import annotations

import gradio as gr

from demos.context import DemoContext
from demos.jobs import shown_errors


def summary_text(ctx: DemoContext) -> str:
    counts = ctx.store.counts()
    return (f"**{counts['ratings']}** ratings and **{counts['choices']}** A/B choices on **{counts['samples']}** "
            f"samples are stored in `{ctx.store.path}`.")


def build(ctx: DemoContext) -> None:
    """The Feedback tab (call inside ``gr.Tab``)."""
    gr.Markdown("Rate any variation with *Thumbs up* / *Thumbs down* and compare two variations with the A/B choice "
                "under the results of Compose and Continue. Each rating is stored with the generation settings, "
                "the seed, the model's hash and the tokens, ready for preference tuning:\n\n"
                "```bash\nmuse feedback export -o prefs.jsonl --db " + str(ctx.store.path) + "\n```")
    counts = gr.Markdown(summary_text(ctx), elem_id="feedback-counts")
    refresh = gr.Button("Refresh", size="sm", elem_id="feedback-refresh")

    def refreshed() -> str:
        with shown_errors("reading the feedback database"):
            return summary_text(ctx)

    refresh.click(refreshed, None, [counts], api_name="feedback_counts", concurrency_id="feedback",
                  concurrency_limit=None, show_progress="hidden")


__all__ = ["build", "summary_text"]
