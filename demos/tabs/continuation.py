"""Continue tab: upload a MIDI file, see it, and let the model continue its opening in a chosen style.

The first ``prime`` seconds of the upload (as the tokenizer reads it) prime the model; each
variation shows the prime followed by the continuation, the boundary marked on its piano roll.
API: ``/load_midi`` (file, prime seconds -> preview image, summary) and ``/continue`` (file,
prime seconds, composer, blend, mix, seconds, temperature, top-p, seed, variations, longest note in
seconds, most notes at once; None: the model's limits, 0: none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import symusic

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

MIDI_TYPES = [".mid", ".midi"]


@dataclass(frozen=True)
class Upload:
    """An uploaded piece as the model reads it: its canonical ``score`` (grid ticks) and length."""

    name: str
    score: symusic.Score
    seconds: float
    n_notes: int


def read_upload(ctx: DemoContext, path: str | None) -> Upload:
    """Check and tokenize an upload; a ``UserError``/``TokenizerError`` names the file and the problem."""
    name = Path(path).name if path else "upload"
    data = ctx.limits.read_upload(path, name)
    tokenizer = ctx.generator.tokenizer
    enc = tokenizer.encode(data, name=name)
    ctx.limits.check_upload_seconds(enc.seconds, name)
    return Upload(name, tokenizer.decode(enc.ids).score, float(enc.seconds), int(enc.n_notes))


def prime_of(upload: Upload, seconds: float) -> symusic.Score:
    """The first ``seconds`` of the upload (notes sounding at the cut end there), in seconds."""
    return upload.score.to("second").clip(0.0, float(seconds), clip_end=True)


def build(ctx: DemoContext) -> ResultsPanel:
    """The Continue tab's controls and results (call inside ``gr.Tab``)."""
    gen, limits = ctx.generator, ctx.limits
    gr.Markdown("Upload a MIDI file: the model continues its opening in the style you pick.")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            upload = gr.File(label=f"MIDI file (at most {limits.max_upload_bytes / 2**20:g} MB)", file_types=MIDI_TYPES,
                             type="filepath", elem_id="continue-upload")
            prime = gr.Slider(1, limits.max_prime_seconds, value=min(10.0, limits.max_prime_seconds), step=1,
                              label="Prime: the first ... seconds of the file", elem_id="continue-prime")
        with gr.Column(scale=3):
            preview = gr.Image(type="filepath", format="png", label="Your file (the shaded part primes the model)",
                               interactive=False, elem_id="continue-preview")
            summary = gr.Markdown(elem_id="continue-summary")
    picker = composer_picker(gen.composers, default="mozart", elem_prefix="continue-")
    seconds = gr.Slider(limits.min_seconds, limits.max_continue_seconds, value=min(10.0, limits.max_continue_seconds),
                        step=1, label="Continue for (seconds)", elem_id="continue-seconds")
    with gr.Accordion("Sampling", open=False):
        sampling = sampling_controls(limits, elem_prefix="continue-", note_limits=gen.limits,
                                    guidance=gen.model.config.composer_dropout > 0)
    with gr.Row():
        run = gr.Button("Continue", variant="primary", elem_id="continue-generate")
        cancel = gr.Button("Cancel", variant="stop", elem_id="continue-cancel")
    status = gr.Markdown(elem_id="continue-status", min_height=64, padding=True)  # the progress bar shows here
    panel = ResultsPanel("continue", limits.max_variations, ctx.store)

    def load_midi(path: str | None, prime_seconds: float) -> tuple[str | None, str]:
        if not path:
            return None, ""
        with shown_errors("reading the upload"):
            piece = read_upload(ctx, path)
            cut = min(limits.check_prime_seconds(prime_seconds), piece.seconds)
            roll = ctx.media.roll(piece.score, ctx.media.new_stem("upload"), boundary=cut,
                                  title=f"{piece.name} \u00b7 {piece.seconds:.1f} s")
        if not piece.n_notes:
            return str(roll), f"**{piece.name}** has no notes: the model will start from silence."
        return str(roll), (f"**{piece.name}**: {piece.seconds:.1f} s, {piece.n_notes} notes; "
                           f"the first {cut:.0f} s prime the model.")

    def continue_(path: str | None, prime_seconds: float, composer: str, blend: str, mix: float, length: float,
                  temperature: float, top_p: float, seed: float, variations: float, max_note_seconds: float | None,
                  max_polyphony: float | None, guidance: float, rerank: float,
                  request: gr.Request, progress: gr.Progress = gr.Progress()) -> list:
        with shown_errors("continuing"):
            n = limits.check_variations(variations)
            length = limits.check_seconds(length, continuation=True)
            temperature, top_p = check_sampling(temperature, top_p)
            options = check_note_limits(max_note_seconds, max_polyphony)
            options.update(check_style(guidance, rerank, limits))
            spec, seed = composer_spec(composer, blend, mix), resolve_seed(seed)
            piece = read_upload(ctx, path)
            prime_seconds = limits.check_prime_seconds(prime_seconds)
            score = prime_of(piece, prime_seconds)
            prime_ids = np.asarray(gen.tokenizer.encode(score, composer=None, name=piece.name).ids)
            n_prime = len(prime_ids) - int(len(prime_ids) > 0 and prime_ids[-1] == gen.vocab.end_id)
            with ctx.cancels.job(session_id(request), limits.time_limit) as job:
                pieces = gen.continue_midi(score, spec, length, temperature=temperature, top_p=top_p, seed=seed, n=n,
                                           callback=progress_callback(progress, "continuing"), cancel=job,
                                           **options)
            progress(1.0, desc="rendering audio")
            settings = {"composer": spec, "upload": piece.name, "prime_seconds": prime_seconds, "seconds": length,
                        "temperature": temperature, "top_p": top_p, "n": n, **options}
            made = []
            for k, out in enumerate(pieces, start=1):
                boundary = gen.tokenizer.seconds(out.ids[:n_prime])
                stem = ctx.media.new_stem("continue")
                files = ctx.media.write(out, stem, boundary=boundary, title=f"{piece.name} \u2192 {spec} \u00b7 {k}")
                sample = Sample(id=stem, mode="continue", settings={**settings, "variation": k}, seed=out.seed,
                                model_hash=ctx.model_hash, tokens=out.ids.tolist(), prime_tokens=n_prime)
                caption = (f"**Variation {k}** \u00b7 prime {boundary:.1f} s + {out.seconds - boundary:.1f} s new "
                           f"\u00b7 seed {out.seed}")
                made.append(Variation(sample, files, caption))
        return [ctx.status(f"Done: {len(made)} continuation(s) of {piece.name}.", job), *panel.values(made)]

    preview_inputs = [upload, prime]
    upload.change(load_midi, preview_inputs, [preview, summary], api_name="load_midi", concurrency_id="preview",
                  concurrency_limit=4)
    prime.release(load_midi, preview_inputs, [preview, summary], api_visibility="private", concurrency_id="preview",
                  concurrency_limit=4)
    event = run.click(continue_, [upload, prime, *picker.inputs, seconds, *sampling.inputs], [status, *panel.outputs],
                      api_name="continue", concurrency_id="generate", show_progress_on=[status],
                      concurrency_limit=limits.concurrency)
    cancel.click(ctx.cancel_handler, None, [status], api_name="continue_cancel", cancels=[event], queue=False)
    return panel


__all__ = ["Upload", "build", "prime_of", "read_upload"]
