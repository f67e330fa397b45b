"""Edit tab: bring your own MIDI file, then regenerate a span of it or accompany some of its tracks.

Upload a file and see its piano roll. *Regenerate a span*: type its start and end in seconds, or
bars (``5-8``: the start of bar 5 to the end of bar 8, from the file's time signatures; bars win
when both are given); the span is shaded on the preview, and every variation keeps each note
outside it as it was (``MuseGenerator.infill``). *Accompany tracks*: tick the tracks to keep (a
melody, say); the model writes the chosen instruments around them for their whole length
(``MuseGenerator.accompany``). The results are variation cards with thumbs and A/B feedback, as on
the other tabs; after regenerating a span, the player and the piano roll hold the span with
``LISTEN_CONTEXT`` seconds of music on either side, and the MIDI download the whole piece. Every cap
comes from ``DemoLimits`` (span length, accompanied length, uploads, variations).

API: ``/edit_load`` (file, mode, start, end, bars -> preview image, summary, the file's tracks as
choices), ``/edit_preview`` (file, mode, start, end, bars, tracks -> preview image, summary) and
``/edit`` (file, mode, start, end, bars, tracks, composer, blend, mix, instruments, temperature,
top-p, seed, variations, longest note in seconds, most notes at once; the last two as on the
Compose tab). Tracks are 0-based indices among the file's tracks; a session offers them after
``/edit_load`` (as the page does on upload), so call it before accompanying.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import symusic

from musetok.instruments import FAMILIES, PROGRAM_TO_FAMILY
from musetok.reader import read_midi

from demos.context import DemoContext
from demos.controls import (
    check_note_limits,
    check_sampling,
    composer_picker,
    composer_spec,
    resolve_seed,
    sampling_controls,
)
from demos.jobs import progress_callback, rendering, session_id, shown_errors
from demos.limits import LimitError
from demos.results import ResultsPanel, Variation
from muse.core.errors import USER_ERRORS
from muse.core.ranges import quote
from muse.feedback import Sample

MIDI_TYPES = [".mid", ".midi"]
INFILL, ACCOMPANY = "Regenerate a span", "Accompany tracks"
MODES = (INFILL, ACCOMPANY)
DEFAULT_SPAN = (4.0, 8.0)
DEFAULT_ACCOMPANIMENT = ("piano",)
LISTEN_CONTEXT = 8.0  # seconds before and after a regenerated span in the player and the piano roll


@dataclass(frozen=True)
class EditUpload:
    """An uploaded file as the facade reads it: its ``score`` (the file's own resolution), length on
    the tokenizer's grid and note count."""

    name: str
    score: symusic.Score
    seconds: float
    n_notes: int

    def track_choices(self) -> list[tuple[str, int]]:
        """(label, track index) of every track with notes: ``"2: Flute (120 notes)"``."""
        return [(f"{i + 1}: {track_label(t)} ({len(t.notes)} notes)", i) for i, t in enumerate(self.score.tracks)
                if len(t.notes)]

    def default_tracks(self) -> list[int]:
        """The track kept by default when accompanying: the first pitched one (often the melody)."""
        pitched = [i for i, t in enumerate(self.score.tracks) if len(t.notes) and not t.is_drum]
        return pitched[:1]


def track_label(track: symusic.Track) -> str:
    if track.is_drum:
        return "drums"
    return track.name.strip() or FAMILIES[PROGRAM_TO_FAMILY[int(track.program) % 128]]


def read_edit_upload(ctx: DemoContext, path: str | None) -> EditUpload:
    """Check and read an upload (size, readability, notes, length); a ``UserError``/``TokenizerError`` names
    the file and the problem."""
    name = Path(path).name if path else "upload"
    data = ctx.limits.read_upload(path, name)
    tokenizer = ctx.generator.tokenizer
    score = read_midi(data, tokenizer.config, name).score
    enc = tokenizer.encode(score, name=name)
    if not enc.n_notes:
        raise LimitError(f"{name}: the file has no notes: there is nothing to edit")
    ctx.limits.check_upload_seconds(enc.seconds, name)
    return EditUpload(name, score, float(enc.seconds), int(enc.n_notes))


def parse_bars(text: str | None) -> tuple[int, int] | None:
    """``"5-8"`` -> (5, 8), ``"5"`` -> (5, 5), empty -> None; else a ``LimitError``."""
    text = (text or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{1,6})(?:\s*(?:-|\u2013|to)\s*(\d{1,6}))?", text)
    if match is None:
        raise LimitError(f"bars must be FIRST-LAST, e.g. 5-8, not {quote(text)}")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if not 1 <= first <= last:
        raise LimitError(f"bars: the first bar must be at least 1 and not after the last, not {first}-{last}")
    return first, last


def check_seconds_span(upload: EditUpload, start: float | None, end: float | None) -> tuple[float, float]:
    """The typed span when it is one of the piece, else a ``LimitError`` saying what is wrong with it."""
    if start is None or end is None:
        raise LimitError("type the span's start and end in seconds (or bars, e.g. 5-8)")
    start, end = float(start), float(end)
    if start < 0:
        raise LimitError(f"the span's start must be 0 s or later, not {start:g} s")
    if end <= start:
        raise LimitError(f"the span's end ({end:g} s) must be after its start ({start:g} s)")
    if start >= upload.seconds:
        raise LimitError(f"{upload.name}: the span starts at {start:g} s, after the end of the piece "
                         f"({upload.seconds:.1f} s)")
    if end > upload.seconds + 1e-6:
        raise LimitError(f"{upload.name}: the span ends at {end:g} s, beyond the end of the piece "
                         f"({upload.seconds:.1f} s)")
    return start, end


def resolve_span(ctx: DemoContext, upload: EditUpload, start: float | None, end: float | None,
                 bars: str | None) -> tuple[float, float]:
    """(start, end) seconds on the grid of the span to regenerate (bars win over seconds), within the limits."""
    chosen = parse_bars(bars)
    if chosen is None:
        start, end = check_seconds_span(upload, start, end)
        span = ctx.generator.infill_span(upload.score, start, end, name=upload.name)
    else:
        span = ctx.generator.infill_span(upload.score, bars=chosen, name=upload.name)
    ctx.limits.check_infill_seconds(span[1] - span[0])
    return span


def kept_tracks(upload: EditUpload, chosen: Sequence[int | str] | None) -> tuple[symusic.Score, list[str]]:
    """The upload with only the ``chosen`` tracks (indices) and their labels; a ``LimitError`` when none is."""
    tracks = upload.score.tracks
    picked = set()
    for value in chosen or []:
        text = str(value).split(":", 1)[0].strip()
        if not text.isdigit() or not 0 <= int(text) < len(tracks) or not len(tracks[int(text)].notes):
            raise LimitError(f"{upload.name} has no track {quote(value)} with notes")
        picked.add(int(text))
    if not picked:
        raise LimitError("tick the tracks to keep (a melody, say): the model accompanies them")
    score = upload.score.copy()
    score.tracks = [score.tracks[i] for i in sorted(picked)]
    return score, [track_label(tracks[i]) for i in sorted(picked)]


def build(ctx: DemoContext) -> ResultsPanel:
    """The Edit tab's controls and results (call inside ``gr.Tab``)."""
    gen, limits = ctx.generator, ctx.limits
    gr.Markdown("Bring your own MIDI file: regenerate a span of it (everything else stays note for note), "
                "or keep some of its tracks (a melody) and let the model accompany them.")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            upload = gr.File(label=f"MIDI file (at most {limits.max_upload_bytes / 2**20:g} MB)", file_types=MIDI_TYPES,
                             type="filepath", elem_id="edit-upload")
            mode = gr.Radio(list(MODES), value=INFILL, label="What to do", elem_id="edit-mode")
        with gr.Column(scale=3):
            preview = gr.Image(type="filepath", format="png", label="Your file (the shaded span is regenerated)",
                               interactive=False, elem_id="edit-preview")
            summary = gr.Markdown(elem_id="edit-summary")
    with gr.Group(visible=True) as span_box:
        with gr.Row():
            start = gr.Number(value=DEFAULT_SPAN[0], minimum=0, label="Span start (seconds)", elem_id="edit-start")
            end = gr.Number(value=DEFAULT_SPAN[1], minimum=0, label="Span end (seconds)", elem_id="edit-end")
            bars = gr.Textbox(value="", label="or bars (e.g. 5-8; wins over the seconds)", max_lines=1,
                              elem_id="edit-bars")
        gr.Markdown(f"At most {limits.max_infill_seconds:g} s at once.")
    with gr.Group(visible=False) as tracks_box:
        tracks = gr.CheckboxGroup([], value=[], label="Tracks to keep (the model accompanies them)",
                                  elem_id="edit-tracks")
        gr.Markdown(f"The kept tracks may last at most {limits.max_accompany_seconds:g} s.")
    picker = composer_picker(ctx.styles.choices(), default="chopin", elem_prefix="edit-")
    instruments = gr.CheckboxGroup(list(gen.instruments), value=[], label="Instruments",
                                   info="regenerating: those the span may use (none ticked: the file's); "
                                        "accompanying: the parts to write", elem_id="edit-instruments")
    with gr.Accordion("Sampling", open=False):
        sampling = sampling_controls(limits, elem_prefix="edit-", note_limits=gen.limits)
        sampling.guidance.visible = sampling.rerank.visible = False  # infill and accompany take neither
    with gr.Row():
        run = gr.Button("Regenerate", variant="primary", elem_id="edit-generate")
        cancel = gr.Button("Cancel", variant="stop", elem_id="edit-cancel")
    status = gr.Markdown(elem_id="edit-status", min_height=64, padding=True)  # the progress bar shows here
    panel = ResultsPanel("edit", ctx)

    def draw(piece: EditUpload, chosen_mode: str, start_s, end_s, bar_text, chosen_tracks) -> tuple[str, str]:
        """The preview and its summary; a bad span is explained in the summary, not raised."""
        about = (f"**{piece.name}**: {piece.seconds:.1f} s, {piece.n_notes} notes, "
                 f"{len(piece.track_choices())} track(s).")
        stem = ctx.media.new_stem("edit-upload")
        try:
            if chosen_mode == ACCOMPANY:
                score, labels = kept_tracks(piece, chosen_tracks)
                roll = ctx.media.roll(score, stem, title=f"{piece.name} \u00b7 kept: {', '.join(labels)}")
                return str(roll), f"{about} Keeping {', '.join(labels)}; the model writes the rest."
            span = resolve_span(ctx, piece, start_s, end_s, bar_text)
        except USER_ERRORS as err:
            roll = ctx.media.roll(piece.score, stem, title=piece.name)
            return str(roll), f"{about}\n\n**Span:** {err}"
        roll = ctx.media.roll(piece.score, stem, span=span, title=f"{piece.name} \u00b7 {piece.seconds:.1f} s")
        return str(roll), f"{about} Regenerating {span[0]:.2f}\u2013{span[1]:.2f} s."

    def load(path: str | None, chosen_mode: str, start_s, end_s, bar_text) -> tuple:
        if not path:
            return None, "", gr.CheckboxGroup(choices=[], value=[])
        with shown_errors("reading the upload"):
            piece = read_edit_upload(ctx, path)
            default = piece.default_tracks()
            roll, text = draw(piece, chosen_mode, start_s, end_s, bar_text, default)
        return roll, text, gr.CheckboxGroup(choices=piece.track_choices(), value=default)

    def redraw(path: str | None, chosen_mode: str, start_s, end_s, bar_text, chosen_tracks) -> tuple:
        if not path:
            return None, ""
        with shown_errors("reading the upload"):
            return draw(read_edit_upload(ctx, path), chosen_mode, start_s, end_s, bar_text, chosen_tracks)

    def switch(chosen_mode: str, chosen: list[str]) -> tuple:
        accompany = chosen_mode == ACCOMPANY
        wanted = chosen or ([i for i in DEFAULT_ACCOMPANIMENT if i in gen.instruments] if accompany else [])
        return (gr.Group(visible=not accompany), gr.Group(visible=accompany), gr.CheckboxGroup(value=wanted),
                gr.Button(value="Accompany" if accompany else "Regenerate"))

    def edit(path: str | None, chosen_mode: str, start_s, end_s, bar_text, chosen_tracks, composer: str, blend: str,
             mix: float, chosen: list[str], temperature: float, top_p: float, seed: float, variations: float,
             max_note_seconds: float | None, max_polyphony: float | None, min_note_seconds: float | None,
             request: gr.Request,
             progress: gr.Progress = gr.Progress()) -> list:
        with shown_errors("editing"):
            if chosen_mode not in MODES:
                raise LimitError(f"choose what to do: {' or '.join(MODES)}")
            n = limits.check_variations(variations)
            temperature, top_p = check_sampling(temperature, top_p)
            options = check_note_limits(max_note_seconds, max_polyphony, min_note_seconds)
            spec, seed = composer_spec(composer, blend, mix), resolve_seed(seed)
            piece = read_edit_upload(ctx, path)
            common = dict(composer=spec, n=n, temperature=temperature, top_p=top_p, seed=seed, name=piece.name,
                          **options)
            settings = {"upload": piece.name, "composer": spec, "instruments": list(chosen or []),
                        "temperature": temperature, "top_p": top_p, "n": n, **options}
            if chosen_mode == INFILL:
                span = resolve_span(ctx, piece, start_s, end_s, bar_text)
                settings.update(mode="infill", start=span[0], end=span[1], bars=(bar_text or "").strip())
                done = f"{n} variation(s) of {piece.name} with {span[0]:.1f}\u2013{span[1]:.1f} s regenerated"
            else:
                if not chosen:
                    raise LimitError(f"choose the instruments to accompany with: {', '.join(gen.instruments)}")
                score, labels = kept_tracks(piece, chosen_tracks)
                limits.check_accompany_seconds(score.to("second").end(), piece.name)
                settings.update(mode="accompany", kept_tracks=labels)
                done = f"{n} accompaniment(s) of {', '.join(labels)} from {piece.name}"
            with ctx.cancels.job(session_id(request), limits.time_limit) as job:
                if chosen_mode == INFILL:
                    pieces = gen.infill(piece.score, span[0], span[1], instruments=chosen or None, cancel=job,
                                        callback=progress_callback(progress, "regenerating"), **common)
                else:
                    pieces = gen.accompany(score, instruments=chosen, cancel=job,
                                           callback=progress_callback(progress, "accompanying"), **common)
            made = _variations(ctx, pieces, settings, progress)
        return [ctx.status(f"Done: {done}.", job), *panel.values(made)]

    span_inputs = [upload, mode, start, end, bars]
    upload.change(load, span_inputs, [preview, summary, tracks], api_name="edit_load", concurrency_id="preview",
                  concurrency_limit=4)
    gr.on([start.submit, start.blur, end.submit, end.blur, bars.submit, bars.blur, tracks.input, mode.input], redraw,
          [*span_inputs, tracks], [preview, summary], api_name="edit_preview", concurrency_id="preview",
          concurrency_limit=4, trigger_mode="always_last")  # the preview follows the latest span
    mode.input(switch, [mode, instruments], [span_box, tracks_box, instruments, run], api_visibility="private",
               queue=False)
    chosen_sampling = [sampling.temperature, sampling.top_p, sampling.seed, sampling.variations,
                       sampling.max_note_seconds, sampling.max_polyphony, sampling.min_note_seconds]
    event = run.click(edit, [*span_inputs, tracks, *picker.inputs, instruments, *chosen_sampling],
                      [status, *panel.outputs], api_name="edit", concurrency_id="generate", show_progress_on=[status],
                      concurrency_limit=limits.concurrency)
    cancel.click(ctx.cancel_handler, None, [status], api_name="edit_cancel", cancels=[event], queue=False)
    return panel


def listening_window(piece, context: float = LISTEN_CONTEXT) -> tuple[object, float, float]:
    """``piece`` cut to its regenerated span and ``context`` seconds on either side, times shifted to
    start at 0, with the window's (start, end) in the piece's seconds (the whole piece when it is short)."""
    score = piece.score.to("second")
    lo, hi = max(0.0, piece.start - context), min(piece.end + context, float(score.end()))
    if lo <= 0.0 and hi >= score.end():
        return piece, 0.0, hi
    return dataclasses.replace(piece, score=score.clip(lo, hi, clip_end=True).shift_time(-lo)), lo, hi


def _variations(ctx: DemoContext, pieces: Sequence, settings: dict, progress: gr.Progress) -> list[Variation]:
    made = []
    infill = settings["mode"] == "infill"
    for k, piece in rendering(progress, pieces):
        stem = ctx.media.new_stem(settings["mode"])
        title = f"{settings['upload']} \u00b7 variation {k}"
        if infill:
            shown, lo, hi = listening_window(piece)
            if shown is not piece:
                title += f" \u00b7 {lo:.1f}\u2013{hi:.1f} s of the piece"
            files = ctx.media.write(shown, stem, span=(piece.start - lo, piece.end - lo), title=title)
            ctx.generator.write_midi(piece, files.midi)  # the download is the whole piece
        else:
            files = ctx.media.write(piece, stem, title=title)
        prompt = len(piece.ids) - len(piece.span_ids)
        sample = Sample(id=stem, mode=settings["mode"], settings={**settings, "variation": k}, seed=piece.seed,
                        model_hash=ctx.model_hash, tokens=piece.ids.tolist(), prime_tokens=prompt)
        what = (f"{piece.start:.1f}\u2013{piece.end:.1f} s regenerated" if infill
                else f"accompanying {', '.join(settings['kept_tracks'])}")
        caption = (f"**Variation {k}** \u00b7 {what} \u00b7 {piece.n_notes} new notes \u00b7 {piece.mode} mode "
                   f"\u00b7 seed {piece.seed}")
        made.append(Variation(sample, files, caption))
    return made


__all__ = ["EditUpload", "build", "check_seconds_span", "kept_tracks", "listening_window", "parse_bars",
           "read_edit_upload", "resolve_span"]
