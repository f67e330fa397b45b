"""Compose tab: new pieces in a composer's style (or a blend of two) for chosen instruments.

``/compose`` (API) takes composer, blend, mix, instruments, seconds, temperature, top-p, seed,
the number of variations, the note limits (longest note in seconds, most notes at once; None:
the model's, 0: none), guidance, rerank, then the requests: tempo in BPM (0 or None: the model's), key
("as written": none) and the longest rest of an instrument in seconds (0: no limit); it fills the
results panel (audio, MIDI, piano roll and a JSON manifest per variation: variation k has the seed
``seed + k - 1``, and ``muse generate --from-manifest`` makes it again; each caption gives the key).
Every value is checked by the handler (``demos.controls``): out of range, unknown or not a number,
the request fails with a message naming it, on the page and through the API alike. Composers are
shown by name, featured ones first (``demos.styles``); the examples fill in presets of ``PRESETS``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr

from demos.context import DemoContext
from demos.controls import (
    AS_WRITTEN,
    MODEL_TEMPO,
    NO_BLEND,
    RAW_INPUTS,
    ComposerPicker,
    check_instruments,
    check_note_limits,
    check_requests,
    check_sampling,
    check_style,
    composer_picker,
    composer_spec,
    request_controls,
    resolve_seed,
    sampling_controls,
    watch_bounds,
)
from demos.jobs import cancel_button, progress_callback, rendering, session_id, shown_errors
from demos.results import ResultsPanel, Variation, caption, summary
from demos.styles import Preset
from muse.feedback import Sample
from muse.manifest import make_manifest

DEFAULT_INSTRUMENTS = ("piano",)


@dataclass(frozen=True)
class ComposeTab:
    """What other tabs may set on the Compose tab (the Style map sends composers to ``picker``)."""

    panel: ResultsPanel
    picker: ComposerPicker


def build(ctx: DemoContext) -> ComposeTab:
    """The Compose tab's controls and results (call inside ``gr.Tab``)."""
    gen, limits = ctx.generator, ctx.limits
    gr.Markdown("Compose new music in the style of a composer, or a blend of two.")
    picker = composer_picker(ctx.styles.choices(), default="chopin", elem_prefix="compose-")
    default = [i for i in DEFAULT_INSTRUMENTS if i in gen.instruments]
    instruments = gr.CheckboxGroup(list(gen.instruments), value=default, label="Instruments",
                                   elem_id="compose-instruments")
    seconds = gr.Slider(limits.min_seconds, limits.max_seconds, value=min(20.0, limits.max_seconds), step=1,
                        label="Length (seconds)", elem_id="compose-seconds")
    requests = request_controls(gen, elem_prefix="compose-")
    with gr.Accordion("Sampling", open=False):
        sampling = sampling_controls(limits, elem_prefix="compose-", note_limits=gen.limits,
                                    guidance=gen.model.config.composer_dropout > 0)
    notice = gr.Markdown(elem_id="compose-notice")  # a typed value the browser pulled into a slider's range
    for slider, what, unit in ((seconds, "Length", "s"), (sampling.variations, "Variations", ""),
                               (sampling.temperature, "Temperature", ""), (sampling.top_p, "Top-p", ""),
                               (sampling.guidance, "Composer guidance", ""), (sampling.rerank, "Rerank", "")):
        watch_bounds(slider, notice, what, unit)
    presets = ctx.styles.presets(gen.instruments, gen.key_names, gen.bpm_range, limits.max_seconds)
    if presets:
        gr.Examples([_example(p) for p in presets],
                    [*picker.inputs, instruments, seconds, sampling.temperature, requests.bpm, requests.key],
                    label="Presets (they fill in the settings; press Generate)",
                    example_labels=[p.title for p in presets], examples_per_page=len(presets),
                    elem_id="compose-presets")
    with gr.Row():
        run = gr.Button("Generate", variant="primary", elem_id="compose-generate")
        cancel = gr.Button("Cancel", variant="stop", elem_id="compose-cancel")
    status = gr.Markdown(elem_id="compose-status", min_height=64, padding=True)  # the progress bar shows here
    panel = ResultsPanel("compose", ctx)

    def compose(composer: str, blend: str, mix: float, chosen: list[str], length: float, temperature: float,
                top_p: float, seed: float, variations: float, max_note_seconds: float | None,
                max_polyphony: float | None, min_note_seconds: float | None, guidance: float, rerank: float,
                bpm: float | None, key: str | None,
                max_rest: float | None, min_share: float | None, request: gr.Request,
                progress: gr.Progress = gr.Progress()) -> list:
        with shown_errors("composing"):
            n = limits.check_variations(variations)
            length = limits.check_seconds(length)
            temperature, top_p = check_sampling(temperature, top_p)
            options = check_note_limits(max_note_seconds, max_polyphony, min_note_seconds)
            options.update(check_style(guidance, rerank, limits))
            options.update(check_requests(gen, bpm, key, max_rest, min_share))
            spec, seed = composer_spec(composer, blend, mix, gen.composers), resolve_seed(seed)
            chosen = check_instruments(chosen, gen.instruments)
            call = {"composer": spec, "instruments": chosen, "seconds": length, "temperature": temperature,
                    "top_p": top_p, **options}  # the facade's keyword arguments, as the manifest records them
            started = time.monotonic()
            with ctx.cancels.job(session_id(request), limits.time_limit) as job:  # rendering too: Cancel keeps it
                pieces = gen.generate(**call, seed=seed, n=n, callback=progress_callback(progress, "composing"),
                                      cancel=job)
                timings = {"generate_seconds": time.monotonic() - started}
                cut_short = ctx.cut_short(job, pieces)
                made = _variations(ctx, pieces, call, spec, {"seed": seed, "n": n}, timings, progress, cut_short)
        done = ctx.status(f"Done: {len(made)} variation(s) of about {length:g} s.", job, cut_short)
        return [summary(done, made, [p.n_notes for p in pieces]), *panel.values(made)]

    event = run.click(compose, [*picker.inputs, instruments, seconds, *sampling.inputs, *requests.inputs],
                      [status, *panel.outputs],
                      api_name="compose", concurrency_id="generate", show_progress_on=[status],
                      concurrency_limit=limits.concurrency, **RAW_INPUTS)
    cancel_button(cancel, [event], status, ctx.cancels, api_name="compose_cancel")
    return ComposeTab(panel, picker)


def _example(p: Preset) -> list:
    """The values ``p`` sets: composer, blend, mix, instruments, seconds, temperature, tempo, key."""
    return [p.composer, p.blend or NO_BLEND, p.mix, list(p.instruments), p.seconds, p.temperature,
            p.bpm or MODEL_TEMPO, p.key or AS_WRITTEN]


def _variations(ctx: DemoContext, pieces: Sequence, call: dict, spec: str, batch: dict, timings: dict,
                progress: gr.Progress, cut_short: bool) -> list[Variation]:
    made = []
    for k, piece in rendering(progress, pieces):
        stem = ctx.media.new_stem("compose")
        files = ctx.media.write(piece, stem, title=f"{spec} \u00b7 variation {k}")
        if not cut_short:  # a piece cut short cannot be made again from its settings
            files = ctx.media.with_manifest(files, make_manifest(
                ctx.generator, piece, "compose", call, variation=k, batch=batch, model_digest=ctx.model_hash,
                timings={**timings, "render_seconds": files.render_seconds}), stem)
        sample = Sample(id=stem, mode="compose", settings={**call, "n": batch["n"], "variation": k}, seed=piece.seed,
                        model_hash=ctx.model_hash, tokens=piece.ids.tolist(), prime_tokens=ctx.header_length(piece.ids))
        length = f"{piece.seconds:.1f} s \u00b7 key: {piece.key.describe()}"
        made.append(Variation(sample, files, caption(k, piece, length)))
    return made


__all__ = ["ComposeTab", "build"]
