"""Audio tab (research mode): the raw-audio half, Jukebox, on the models the server was started with.

*Codec*: upload a short clip (WAV, FLAC or OGG, at most ``DemoLimits.max_clip_seconds``); the
VQ-VAE encodes it at every level and decodes each level back (``Codec.reconstruct``, resampling
with soxr as ``jukebox vqvae reconstruct`` does). The page plays the clip as the codec hears it
(mono, at its sample rate) and each level's reconstruction, with the figures of the model card's
"Codec quality" table: SI-SDR, spectral convergence and multi-resolution STFT distance.

*Sample*: artist and genre (the top prior's id files), lyrics when the top prior reads them, a
length up to ``DemoLimits.max_audio_seconds`` and a seed. Pressing *Sample* shows at once the
request's place in the audio queue and its estimated time (``demos.audio_queue``: about 12 s per
second of audio with the bundled small models on a 2-core CPU, refined by the jobs that finish); jobs run
one at a time, and each level plays as soon as it is decoded, top level first
(``JukeboxPipeline.sample_levels``). *Cancel* stops within one window and keeps the finished levels.

API: ``/audio_codec`` (file -> status, the codec's input, one audio per level, figures table),
``/audio_sample`` (artist, genre, lyrics, seconds, seed -> status, one audio per level, streamed
level by level) and ``/audio_cancel``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from demos.audio_models import AudioModels
from demos.audio_queue import SampleQueue, duration
from demos.context import DemoContext
from demos.controls import RAW_INPUTS, resolve_seed, watch_bounds
from demos.jobs import CancelRegistry, cancel_button, session_id, shown_errors
from demos.limits import DemoLimits, LimitError
from muse.core.errors import UserError

CLIP_TYPES = (".wav", ".flac", ".ogg")
DEFAULT_SECONDS = 2.0
HIGHER, LOWER = "\u2191", "\u2193"  # which way each figure is better


@dataclass(frozen=True)
class Clip:
    """An upload the codec may take: its ``path`` on the server, the ``name`` it was uploaded as, ``seconds``."""

    path: Path
    name: str
    seconds: float


@contextmanager
def named(path: Path, name: str) -> Iterator[None]:
    """Inside the block, a ``UserError`` about ``path`` (a server path) speaks of ``name`` instead."""
    try:
        yield
    except UserError as err:
        raise LimitError(str(err).replace(str(path), name)) from None


def check_clip(limits: DemoLimits, models: AudioModels, path: str | Path | None) -> Clip:
    """An uploaded clip, checked before it is decoded: a kind the codec reads, within the size and length
    limits, readable and not empty; else a one-line ``LimitError`` naming the file."""
    if not path:
        raise LimitError("upload an audio clip first (WAV, FLAC or OGG)")
    path = Path(path)
    name = path.name
    if path.suffix.lower() not in CLIP_TYPES:
        raise LimitError(f"{name}: not a WAV, FLAC or OGG file; the codec takes {', '.join(CLIP_TYPES)}")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise LimitError(f"{name}: cannot read the upload ({err.strerror or err})") from None
    if size > limits.max_upload_bytes:
        raise LimitError(f"{name}: the file has {size / 2**20:.1f} MB; uploads may have at most "
                         f"{limits.max_upload_bytes / 2**20:g} MB")
    with named(path, name):
        seconds = models.pipeline.codec.seconds(path)
    if seconds <= 0:
        raise LimitError(f"{name}: the clip is empty (no samples)")
    limits.check_clip_seconds(seconds, name)
    return Clip(path, name, seconds)


def figures_table(models: AudioModels, report) -> str:
    """The quality of each level's reconstruction (a ``ReconstructionReport``) as a Markdown table, top level
    first."""
    rows = sorted(report.levels, key=lambda lv: -lv.level)
    lines = [f"| level | SI-SDR (dB) {HIGHER} | spectral convergence {LOWER} | MR-STFT distance {LOWER} |",
             "|---|---|---|---|"]
    lines += [f"| {models.level_label(lv.level)} | {lv.si_sdr_db:.1f} | {lv.spectral_convergence:.3f} | "
              f"{lv.mr_stft_distance:.2f} |" for lv in rows]
    return "\n".join(lines)


def level_progress(progress: gr.Progress, levels: list[int], interval: float = 0.1) -> Callable[[int, int, int], None]:
    """The pipeline's ``progress(level, done, total)`` forwarded to ``progress`` at most every ``interval`` s."""
    last = [0.0]

    def callback(level: int, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or done >= total:
            last[0] = now
            step = levels.index(level) + 1 if level in levels else 0
            progress(done / total if total else 0.0,
                     desc=f"sampling level {level} ({step} of {len(levels)}): {done} of {total} codes")

    return callback


def sample_status(done: dict[int, object], levels: list[int], complete: bool, job, what: str, wall: float) -> str:
    """The status line after a sampling job: done, cancelled or stopped at the time limit, and what stays."""
    if complete:
        return f"Done: {what} in {duration(wall)}."
    finished = [lv for lv in levels if lv in done]
    kept = (f"level{'s' * (len(finished) > 1)} {', '.join(map(str, finished))} finished and kept" if finished
            else "no level finished, nothing to play")
    stopped = "Cancelled" if job.cancelled.is_set() else "Stopped at the time limit"
    return f"{stopped} after {duration(wall)}: {kept} ({what})."


def build(ctx: DemoContext, models: AudioModels) -> None:
    """The Audio tab's codec and sampling panels (call inside ``gr.Tab``)."""
    limits = ctx.limits
    codec = models.pipeline.codec
    levels = models.levels
    queue, cancels = SampleQueue(), CancelRegistry()  # the audio jobs' own, apart from the MIDI tabs'
    low, high = models.seconds_range(limits)
    bundled = ("" if models.folder is not None else
               " They show the pipeline working on a CPU; their samples are textured noise, not music "
               "(docs/MODEL_CARD.md). For music, start the server with the official checkpoints on a GPU: "
               "`muse demo --jukebox DIR --jukebox-model 5b_lyrics --device cuda`.")
    gr.Markdown(f"**Research mode.** Raw audio with Jukebox: {models.describe()}.{bundled}", elem_id="audio-about")

    gr.Markdown(f"### Codec: what each level keeps\nUpload a clip (WAV, FLAC or OGG, at most "
                f"{limits.max_clip_seconds:g} s and {limits.max_upload_bytes / 2**20:g} MB): it is mixed to mono, "
                f"resampled to {codec.sample_rate} Hz, encoded at every level and decoded back.")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            upload = gr.File(label="Audio clip", file_types=list(CLIP_TYPES), type="filepath",
                             elem_id="audio-codec-upload")
            heard = gr.Audio(label=f"Your clip as the codec hears it (mono, {codec.sample_rate} Hz)", type="filepath",
                             interactive=False, elem_id="audio-codec-input")
        with gr.Column(scale=2):
            codec_status = gr.Markdown(elem_id="audio-codec-status", min_height=32)
            codec_players = [gr.Audio(label=models.level_label(lv), type="filepath", interactive=False,
                                      elem_id=f"audio-codec-level-{lv}") for lv in levels]
            figures = gr.Markdown(elem_id="audio-codec-figures")

    def reconstruct(path: str | None, progress: gr.Progress = gr.Progress()) -> list:
        if not path:
            return ["", None, *[None] * len(levels), ""]
        with shown_errors("reconstructing the clip"):
            clip = check_clip(limits, models, path)
            ctx.media.prune()
            progress(0.0, desc=f"encoding and decoding {clip.name} at {len(levels)} levels")
            started = time.monotonic()
            with named(clip.path, clip.name):
                report = codec.reconstruct(clip.path, ctx.media.folder, stem=ctx.media.new_stem("codec"))
            wall = time.monotonic() - started
        by_level = {lv.level: str(lv.path) for lv in report.levels}
        status = f"**{clip.name}**: {report.seconds:.1f} s, reconstructed at {len(levels)} levels in {wall:.1f} s."
        return [status, str(report.model_input), *[by_level.get(lv) for lv in levels], figures_table(models, report)]

    upload.change(reconstruct, [upload], [codec_status, heard, *codec_players, figures], api_name="audio_codec",
                  concurrency_id="audio-codec", concurrency_limit=1, show_progress_on=[codec_status])

    gr.Markdown("### Sample: new audio from an artist and a genre")
    can_sample = low <= high
    with gr.Row():
        # what is typed stays (a misspelt name is refused by name, not replaced by the previous choice)
        artist = gr.Dropdown(list(models.artists.names), value=models.default_artist(), label="Artist",
                             allow_custom_value=True, elem_id="audio-artist")
        genre = gr.Dropdown(list(models.genres.names), value=models.default_genre(), label="Genre",
                            allow_custom_value=True, elem_id="audio-genre")
        seconds = gr.Slider(min(low, high), high, value=min(max(DEFAULT_SECONDS, low), high), step=0.5,
                            label="Length (seconds of audio)", elem_id="audio-seconds")
        seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", elem_id="audio-seed")
    lyrics = gr.Textbox(label="Lyrics" if models.lyrics else "Lyrics (this model's top prior takes none)",
                        lines=2, max_lines=6, interactive=models.lyrics, elem_id="audio-lyrics")
    notice = gr.Markdown(elem_id="audio-notice")  # a typed length the browser pulled into the slider's range
    watch_bounds(seconds, notice, "Length", "s")
    with gr.Row():
        run = gr.Button("Sample", variant="primary", interactive=can_sample, elem_id="audio-sample")
        cancel = gr.Button("Cancel", variant="stop", elem_id="audio-cancel")
    eta = gr.Markdown("" if can_sample else f"This top prior makes songs of at least {low:g} s and this server samples "
                      f"at most {high:g} s: start it with a larger `--jukebox-seconds`.", elem_id="audio-eta")
    status = gr.Markdown(elem_id="audio-status", min_height=64, padding=True)  # the progress bar shows here
    sample_players = [gr.Audio(label=models.level_label(lv), type="filepath", interactive=False,
                               elem_id=f"audio-sample-level-{lv}") for lv in levels]

    def announce(artist_name: str, genre_name: str, text: str, length: float, seed_value: float,
                 request: gr.Request) -> str:
        """Check the request and say where it stands in the queue, before it waits there."""
        with shown_errors("checking the request"):
            settings = models.settings(limits, artist_name, genre_name, text, length, resolve_seed(seed_value))
            return queue.join(session_id(request), settings.seconds).describe(queue.speed)

    def sample(artist_name: str, genre_name: str, text: str, length: float, seed_value: float, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> Iterator[list]:
        session = session_id(request)
        players: dict[int, str] = {}
        try:
            with shown_errors("sampling audio"):
                settings = models.settings(limits, artist_name, genre_name, text, length, resolve_seed(seed_value))
                what = (f"{settings.seconds:g} s of {settings.artist} / {settings.genre}, seed {settings.seed}")
                queue.start(session, settings.seconds)
                started, result = time.monotonic(), None
                with cancels.job(session, limits.time_limit) as job:
                    progress(0.0, desc=f"sampling level {levels[0]} (1 of {len(levels)})")
                    yield [f"Sampling {what}\u2026", *[None] * len(levels)]
                    ctx.media.prune()
                    out = ctx.media.folder / ctx.media.new_stem("audio-sample")
                    for result in models.pipeline.sample_levels(settings, out, level_progress(progress, levels), job):
                        players.update({lv: str(paths[0]) for lv, paths in result.wavs.items()})
                        latest = min(players, default=None)  # levels finish top (highest) first
                        running = "" if latest is None else f"Level {latest} of {what} is playable" + (
                            "; sampling the next level\u2026" if latest > levels[-1] else ".")
                        yield [running, *[players.get(lv) for lv in levels]]
                wall = time.monotonic() - started
                complete = result is not None and result.complete
                if complete:
                    queue.speed.record(settings.seconds, wall)
                yield [sample_status(players, levels, complete, job, what, wall), *[players.get(lv) for lv in levels]]
        finally:
            queue.leave(session)

    inputs = [artist, genre, lyrics, seconds, seed]
    event = run.click(announce, inputs, [eta], queue=False, api_visibility="private", **RAW_INPUTS).success(
        sample, inputs, [status, *sample_players], api_name="audio_sample", concurrency_id="audio-sample",
        concurrency_limit=1, show_progress_on=[status], **RAW_INPUTS)
    # Cancel answers on the request's line, not the status: a job stopped at once may write its last status
    # before Cancel's own answer reaches the page, which would then cover it
    cancel_button(cancel, [event], eta, cancels, api_name="audio_cancel",
                  stopping="Stopping: the levels finished so far stay\u2026",
                  withdrawn="Nothing was sampling; a request of yours still waiting in the queue is withdrawn.",
                  on_withdraw=queue.leave)


__all__ = ["Clip", "build", "check_clip", "figures_table", "level_progress", "named", "sample_status"]
