"""Feedback tab: what listeners said so far, how many preference pairs it makes, and their export.

The pairs are those ``muse feedback export --pairs`` writes (``muse.prefs``: every A/B choice, and
every sample rated up against every sample of the same prompt rated down); the *Export* button
writes them to a ``prefs.jsonl`` to download, ready for ``muse tune``. The counts are read again
whenever the tab is opened (a rating given on another tab shows at once) and never name the
server's files. API names (for ``gradio_client``): ``/feedback_counts`` (the summary line) and
``/feedback_export`` (the file and a status line).
"""

from __future__ import annotations

import gradio as gr

from demos.context import DemoContext
from demos.jobs import shown_errors


def summary_text(ctx: DemoContext) -> str:
    """Ratings, A/B choices and samples stored, and the preference pairs they make."""
    counts = ctx.store.counts()
    pairs = ctx.store.preference_pairs()
    return (f"**{counts['ratings']}** ratings and **{counts['choices']}** A/B choices on **{counts['samples']}** "
            f"samples are stored in this server's feedback database. They make **{len(pairs.pairs)}** preference pairs "
            f"({pairs.from_choices} from A/B choices, {pairs.from_ratings} from thumbs).")


def export_pairs(ctx: DemoContext) -> tuple[str | None, str]:
    """Write the preference pairs to a new ``prefs-*.jsonl`` in the media folder: (its path or None, status)."""
    path = ctx.media.folder / f"{ctx.media.new_stem('prefs')}.jsonl"
    summary = ctx.store.export_pairs(path)
    if not summary.pairs:
        path.unlink(missing_ok=True)
        return None, ("No preference pairs yet: choose between two variations (A/B), or rate one variation of a "
                      "prompt up and another of the same prompt down.")
    return str(path), f"Exported {summary.describe()}."


def build(ctx: DemoContext, tab: gr.Tab) -> None:
    """The Feedback tab (call inside ``gr.Tab``, which is ``tab``)."""
    gr.Markdown("Rate any variation with *Thumbs up* / *Thumbs down* and compare two variations with the A/B choice "
                "under the results of Compose, Continue and Edit. Each rating is stored with the generation "
                "settings, the seed, the model's hash and the tokens. The preference pairs they make tune the model "
                "(docs/PREFERENCES.md):\n\n"
                "```bash\nmuse feedback export --pairs -o prefs.jsonl --db FEEDBACK.sqlite   # the demo's --db\n"
                "muse tune --model MODEL --prefs prefs.jsonl --out runs/dpo\n```")
    counts = gr.Markdown(summary_text(ctx), elem_id="feedback-counts")
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm", elem_id="feedback-refresh")
        export = gr.Button("Export preference pairs", size="sm", elem_id="feedback-export")
    exported = gr.File(label="prefs.jsonl", interactive=False, visible=True, elem_id="feedback-file")
    status = gr.Markdown(elem_id="feedback-export-status")

    def refreshed() -> str:
        with shown_errors("reading the feedback database"):
            return summary_text(ctx)

    def exporting() -> tuple[str | None, str, str]:
        with shown_errors("exporting the preference pairs"):
            path, line = export_pairs(ctx)
            return path, line, summary_text(ctx)

    common = {"concurrency_id": "feedback", "concurrency_limit": None, "show_progress": "hidden"}
    refresh.click(refreshed, None, [counts], api_name="feedback_counts", **common)
    tab.select(refreshed, None, [counts], api_visibility="private", **common)  # fresh counts on opening the tab
    export.click(exporting, None, [exported, status, counts], api_name="feedback_export", **common)


__all__ = ["build", "export_pairs", "summary_text"]
