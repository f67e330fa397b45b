"""Continue tab: upload a MIDI file, see it, and let the model continue its opening in a chosen style.

The first ``prime`` seconds of the upload (as the tokenizer reads it) prime the model; each
variation shows the prime followed by the continuation, the boundary marked on its piano roll.
API: ``/load_midi`` (file, prime seconds -> preview image, summary) and ``/continue`` (file,
prime seconds, composer, blend, mix, seconds, temperature, top-p, seed, variations, longest note in
seconds, most notes at once (None: the model's limits, 0: none), guidance, rerank, then the
instruments of the continuation (None or none: the prime's, drums included; the page ticks the
prime's on upload), tempo in BPM, key and the longest rest of an instrument, as on Compose).

Nothing is corrected silently: a prime over the limit is shown at the limit with a note saying so
(the browser sets the slider there too), and ``/continue`` refuses it; a prime without notes is
flagged in the summary before anything is composed, and again on the result.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import gradio as gr
import symusic

from demos.context import DemoContext
from demos.continuations import continuation_variations, prime_tokens
from demos.controls import (
    RAW_INPUTS,
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
    upload_path,
    watch_bounds,
)
from demos.jobs import cancel_button, progress_callback, session_id, shown_errors
from demos.limits import LimitError
from demos.results import ResultsPanel, summary
from muse.core.errors import USER_ERRORS

MIDI_TYPES = [".mid", ".midi"]


@dataclass(frozen=True)
class Upload:
    """An uploaded piece as the model reads it: its canonical ``score`` (grid ticks) and length."""

    name: str
    score: symusic.Score
    seconds: float
    n_notes: int


def read_upload(ctx: DemoContext, path: str | dict | None) -> Upload:
    """Check and tokenize an upload (a path, or a file input's raw value); a ``UserError``/``TokenizerError``
    names the file and the problem."""
    path, name = upload_path(path)
    name = name or "upload"
    data = ctx.limits.read_upload(path, name)
    tokenizer = ctx.generator.tokenizer
    enc = tokenizer.encode(data, name=name)
    ctx.limits.check_upload_seconds(enc.seconds, name)
    return Upload(name, tokenizer.decode(enc.ids).score, float(enc.seconds), int(enc.n_notes))


def prime_of(upload: Upload, seconds: float) -> symusic.Score:
    """The first ``seconds`` of the upload (notes sounding at the cut end there), in seconds."""
    return upload.score.to("second").clip(0.0, float(seconds), clip_end=True)


def empty_prime_warning(upload: Upload, prime: symusic.Score, seconds: float) -> str:
    """The warning for a prime without notes ("" when it has some): what the model would do, and what to change."""
    if prime.note_num():
        return ""
    if not upload.n_notes:
        return (f"\u26a0 **{upload.name}** has no notes: a continuation would start from silence, as Compose "
                "does. Upload a piece with notes, or use Compose.")
    first = min(float(t.notes[0].time) for t in upload.score.to("second").tracks if len(t.notes))
    return (f"\u26a0 The first {seconds:g} s of **{upload.name}** have no notes (its first note starts at "
            f"{first:.1f} s): a continuation would start from silence. Choose a longer prime.")


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
            summary_md = gr.Markdown(elem_id="continue-summary")
    picker = composer_picker(ctx.styles.choices(), default="mozart", elem_prefix="continue-")
    seconds = gr.Slider(limits.min_seconds, limits.max_continue_seconds, value=min(10.0, limits.max_continue_seconds),
                        step=1, label="Continue for (seconds)", elem_id="continue-seconds")
    instruments = gr.CheckboxGroup(list(gen.instruments), value=[], label="Instruments of the continuation",
                                   info="ticked: the prime's (drums included) when you upload; none ticked: the "
                                        "prime's", elem_id="continue-instruments")
    requests = request_controls(gen, elem_prefix="continue-")
    with gr.Accordion("Sampling", open=False):
        sampling = sampling_controls(limits, elem_prefix="continue-", note_limits=gen.limits,
                                    guidance=gen.model.config.composer_dropout > 0)
    notice = gr.Markdown(elem_id="continue-notice")  # a typed value the browser pulled into a slider's range
    with gr.Row():
        run = gr.Button("Continue", variant="primary", elem_id="continue-generate")
        cancel = gr.Button("Cancel", variant="stop", elem_id="continue-cancel")
    status = gr.Markdown(elem_id="continue-status", min_height=64, padding=True)  # the progress bar shows here
    panel = ResultsPanel("continue", ctx)

    def load_midi(path: str | dict | None, prime_seconds: float) -> tuple[str | None, str]:
        if not upload_path(path)[0]:
            return None, ""
        with shown_errors("reading the upload"):
            piece = read_upload(ctx, path)
            try:
                prime_seconds, note = limits.check_prime_seconds(prime_seconds), ""
            except LimitError as err:  # previewed at the slider's bound, where the browser puts it, and said so
                prime_seconds = limits.max_prime_seconds if _number(prime_seconds) > 0 else float(prime.minimum)
                note = f"\u26a0 The {err}: the slider was set to {prime_seconds:g} s, and the preview shows that."
            cut = min(prime_seconds, piece.seconds)
            roll = ctx.media.roll(piece.score, ctx.media.new_stem("upload"), boundary=cut,
                                  title=f"{piece.name} \u00b7 {piece.seconds:.1f} s")
        lines = [f"**{piece.name}**: {piece.seconds:.1f} s, {piece.n_notes} notes; "
                 f"the first {cut:g} s prime the model.",
                 empty_prime_warning(piece, prime_of(piece, cut), cut), note]
        return str(roll), "\n\n".join(line for line in lines if line)

    def prime_instruments(path: str | dict | None, prime_seconds: float) -> dict:
        """The instrument boxes ticked as the prime's (what a continuation uses unless others are ticked)."""
        if not upload_path(path)[0]:
            return gr.update(value=[])
        try:
            piece = read_upload(ctx, path)
        except USER_ERRORS:
            return gr.update()  # load_midi shows the problem
        cut = _number(prime_seconds)
        cut = min(cut if cut > 0 else limits.max_prime_seconds, limits.max_prime_seconds, piece.seconds)
        return gr.update(value=gen.instruments_of(prime_of(piece, cut)))

    def continue_(path: str | None, prime_seconds: float, composer: str, blend: str, mix: float, length: float,
                  temperature: float, top_p: float, seed: float, variations: float, max_note_seconds: float | None,
                  max_polyphony: float | None, min_note_seconds: float | None, guidance: float, rerank: float,
                  chosen: list[str] | None,
                  bpm: float | None, key: str | None, max_rest: float | None, min_share: float | None,
                  request: gr.Request, progress: gr.Progress = gr.Progress()) -> list:
        with shown_errors("continuing"):
            n = limits.check_variations(variations)
            length = limits.check_seconds(length, continuation=True)
            temperature, top_p = check_sampling(temperature, top_p)
            options = check_note_limits(max_note_seconds, max_polyphony, min_note_seconds)
            options.update(check_style(guidance, rerank, limits))
            options["instruments"] = check_instruments(chosen, gen.instruments) or None  # None: the prime's
            options.update(check_requests(gen, bpm, key, max_rest, min_share))
            spec, seed = composer_spec(composer, blend, mix, gen.composers), resolve_seed(seed)
            piece = read_upload(ctx, path)
            prime_seconds = limits.check_prime_seconds(prime_seconds)
            score = prime_of(piece, prime_seconds)
            warning = empty_prime_warning(piece, score, prime_seconds)
            if warning:
                gr.Warning(warning.replace("**", "").lstrip("\u26a0 "))  # on the page before composing starts
            n_prime = prime_tokens(ctx, score, piece.name)
            call = {"composer": spec, "seconds": length, "temperature": temperature, "top_p": top_p, **options}
            settings = {"composer": spec, "upload": piece.name, "prime_seconds": prime_seconds, "seconds": length,
                        "temperature": temperature, "top_p": top_p, "n": n, **options}
            started = time.monotonic()
            with ctx.cancels.job(session_id(request), limits.time_limit) as job:  # rendering too: Cancel keeps it
                pieces = gen.continue_midi(score, **call, seed=seed, n=n,
                                           callback=progress_callback(progress, "continuing"), cancel=job)
                cut_short = ctx.cut_short(job, pieces)
                made = continuation_variations(
                    ctx, pieces, call=call, n_prime=n_prime, prime_notes=score.note_num(), settings=settings,
                    batch={"seed": seed, "n": n}, timings={"generate_seconds": time.monotonic() - started},
                    title=f"{piece.name} \u2192 {spec}", progress=progress, cut_short=cut_short)
        done = ctx.status(f"Done: {len(made.variations)} continuation(s) of {piece.name}.", job, cut_short)
        done = "\n\n".join(x for x in (done, warning) if x)
        return [summary(done, made.variations, made.new_notes), *panel.values(made.variations)]

    preview_inputs = [upload, prime]
    upload.change(load_midi, preview_inputs, [preview, summary_md], api_name="load_midi", concurrency_id="preview",
                  concurrency_limit=4, **RAW_INPUTS)
    prime.release(load_midi, preview_inputs, [preview, summary_md], api_visibility="private",
                  concurrency_id="preview", concurrency_limit=4, **RAW_INPUTS)
    for changed in (upload.change, prime.release):  # the prime's instruments, ticked
        changed(prime_instruments, preview_inputs, [instruments], api_visibility="private", concurrency_id="preview",
                concurrency_limit=4, **RAW_INPUTS)
    for slider, what, unit in ((seconds, "Continue for", "s"), (sampling.variations, "Variations", ""),
                               (sampling.temperature, "Temperature", ""), (sampling.top_p, "Top-p", ""),
                               (sampling.guidance, "Composer guidance", ""), (sampling.rerank, "Rerank", "")):
        watch_bounds(slider, notice, what, unit)
    event = run.click(continue_, [upload, prime, *picker.inputs, seconds, *sampling.inputs, instruments,
                                  *requests.inputs], [status, *panel.outputs],
                      api_name="continue", concurrency_id="generate", show_progress_on=[status],
                      concurrency_limit=limits.concurrency, **RAW_INPUTS)
    cancel_button(cancel, [event], status, ctx.cancels, api_name="continue_cancel")
    return panel


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


__all__ = ["Upload", "build", "empty_prime_warning", "prime_of", "read_upload"]
