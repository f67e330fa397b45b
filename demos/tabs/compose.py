"""Compose tab: new pieces in a composer's style (or a blend of two) for chosen instruments.

``/compose`` (API) takes composer, blend, mix, instruments, seconds, temperature, top-p, seed,
the number of variations and the note limits (longest note in seconds, most notes at once; None:
the model's, 0: none); it fills the results panel (audio, MIDI, piano roll per variation).
"""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

from demos.context import DemoContext
from demos.controls import (
    check_note_limits,
    check_style,
    check_sampling,
    composer_picker,
    composer_spec,
    resolve_seed,
    sampling_controls,
)
from demos.feedback import Sample
from demos.jobs import progress_callback, session_id, shown_errors
from demos.results import ResultsPanel, Variation

DEFAULT_INSTRUMENTS = ("piano",)


def build(ctx: DemoContext) -> ResultsPanel:
    """The Compose tab's controls and results (call inside ``gr.Tab``)."""
    gen, limits = ctx.generator, ctx.limits
    gr.Markdown("Compose new music in the style of a composer, or a blend of two.")
    picker = composer_picker(gen.composers, default="chopin", elem_prefix="compose-")
    default = [i for i in DEFAULT_INSTRUMENTS if i in gen.instruments]
    instruments = gr.CheckboxGroup(list(gen.instruments), value=default, label="Instruments",
                                   elem_id="compose-instruments")
    seconds = gr.Slider(limits.min_seconds, limits.max_seconds, value=min(20.0, limits.max_seconds), step=1,
                        label="Length (seconds)", elem_id="compose-seconds")
    with gr.Accordion("Sampling", open=False):
        sampling = sampling_controls(limits, elem_prefix="compose-", note_limits=gen.limits,
                                    guidance=gen.model.config.composer_dropout > 0)
    with gr.Row():
        run = gr.Button("Generate", variant="primary", elem_id="compose-generate")
        cancel = gr.Button("Cancel", variant="stop", elem_id="compose-cancel")
    status = gr.Markdown(elem_id="compose-status", min_height=64, padding=True)  # the progress bar shows here
    panel = ResultsPanel("compose", limits.max_variations, ctx.store)

    def compose(composer: str, blend: str, mix: float, chosen: list[str], length: float, temperature: float,
                top_p: float, seed: float, variations: float, max_note_seconds: float | None,
                max_polyphony: float | None, guidance: float, rerank: float,
                request: gr.Request, progress: gr.Progress = gr.Progress()) -> list:
        with shown_errors("composing"):
            n = limits.check_variations(variations)
            length = limits.check_seconds(length)
            temperature, top_p = check_sampling(temperature, top_p)
            options = check_note_limits(max_note_seconds, max_polyphony)
            options.update(check_style(guidance, rerank, limits))
            spec, seed = composer_spec(composer, blend, mix), resolve_seed(seed)
            with ctx.cancels.job(session_id(request), limits.time_limit) as job:
                pieces = gen.generate(spec, chosen or [], length, temperature=temperature, top_p=top_p, seed=seed,
                                      n=n, callback=progress_callback(progress, "composing"), cancel=job,
                                      **options)
            settings = {"composer": spec, "instruments": list(chosen), "seconds": length,
                        "temperature": temperature, "top_p": top_p, "n": n, **options}
            progress(1.0, desc="rendering audio")
            made = _variations(ctx, pieces, settings, spec)
        return [ctx.status(f"Done: {len(made)} variation(s) of about {length:g} s.", job), *panel.values(made)]

    event = run.click(compose, [*picker.inputs, instruments, seconds, *sampling.inputs], [status, *panel.outputs],
                      api_name="compose", concurrency_id="generate", show_progress_on=[status],
                      concurrency_limit=limits.concurrency)
    cancel.click(ctx.cancel_handler, None, [status], api_name="compose_cancel", cancels=[event], queue=False)
    return panel


def _variations(ctx: DemoContext, pieces: Sequence, settings: dict, spec: str) -> list[Variation]:
    made = []
    for k, piece in enumerate(pieces, start=1):
        stem = ctx.media.new_stem("compose")
        files = ctx.media.write(piece, stem, title=f"{spec} \u00b7 variation {k}")
        sample = Sample(id=stem, mode="compose", settings={**settings, "variation": k}, seed=piece.seed,
                        model_hash=ctx.model_hash, tokens=piece.ids.tolist(), prime_tokens=ctx.header_length(piece.ids))
        caption = (f"**Variation {k}** \u00b7 {piece.seconds:.1f} s \u00b7 {piece.n_notes} notes "
                   f"\u00b7 seed {piece.seed}" + ("" if piece.ended else " \u00b7 *stopped early*"))
        made.append(Variation(sample, files, caption))
    return made


__all__ = ["build"]
