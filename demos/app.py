"""The musebox web demo: Compose, Continue, Edit, Style map, Audio and Feedback tabs on the generation facades.

    python demos/app.py --model runs/small          # or: muse demo --model runs/small
    app = build_app(MuseGenerator("runs/small"), audio=AudioModels.load())  # a gr.Blocks, its queue set up
    app.launch(server_name="127.0.0.1", server_port=7860, **launch_settings(DemoLimits()))

One module per tab (``demos/tabs``); a new tab is one more module and one ``with gr.Tab(...)`` line
here. The Audio tab (raw audio with ``JukeboxPipeline``) is there when ``build_app`` is given the
Jukebox models (``launch_demo`` loads the bundled small ones unless told ``--jukebox DIR``).
Generation requests wait in one queue (``limits.queue_size``) and ``limits.concurrency`` run at
once; upload previews, feedback and the style map have their own concurrency groups, so a long job
never blocks them; the Audio tab's codec and sampler have theirs too (one job each at a time).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python demos/app.py`: import from the checkout's root, not from demos/
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import gradio as gr

from demos.audio_models import AudioModels
from demos.command import DEFAULT_HOST, DEFAULT_PORT, add_audio_options
from demos.context import DemoContext
from demos.limits import DemoLimits
from demos.media import MediaFolder
from demos.page_style import PAGE_CSS
from demos.request_limits import launch_options
from demos.tabs import audio as audio_tab
from demos.tabs import compose, continuation, edit, feedback_summary, style_map
from muse.core.errors import USER_ERRORS
from muse.core.ranges import check_number
from muse.core.render import describe_renderer, planned_renderer
from muse.feedback import DEFAULT_DB, FeedbackStore
from muse.generate import BUNDLED_MODEL, MuseGenerator
from muse.saved_model import model_hash

log = logging.getLogger(__name__)

OTHER_EVENTS_CONCURRENCY = 4  # upload previews, style map: at once per event


def _composer_embeddings(generator: MuseGenerator, composer_tools):
    """The embeddings the Style map shows, or None (with the reason logged) when the model has none."""
    if composer_tools is not None:
        return composer_tools
    from muse.composers import composer_embeddings

    embeddings = composer_embeddings(generator.model)
    if len(embeddings.names) < 2:
        log.warning("the model has fewer than two composers: the Style map tab is left out")
        return None
    return embeddings


def _model_label(generator: MuseGenerator) -> str:
    path = Path(generator.loaded.path)
    return "the bundled model" if path.resolve() == BUNDLED_MODEL.resolve() else f"`{path}`"


def _audio_line(soundfont: str | Path | None) -> str:
    """The page's line on how audio is rendered (a warning when it can only be plain tones)."""
    backend, path = planned_renderer(soundfont)
    return ("\u26a0 " if backend == "tones" else "") + f"Audio: {describe_renderer(backend, path)}."


def build_app(generator: MuseGenerator, composer_tools=None, feedback_store: FeedbackStore | str | Path = DEFAULT_DB,
              limits: DemoLimits | None = None, media_folder: str | Path | None = None,
              soundfont: str | Path | None = None, audio: AudioModels | None = None) -> gr.Blocks:
    """The demo page for ``generator``, its queue configured from ``limits``.

    ``composer_tools``: the ``muse.composers.ComposerEmbeddings`` the Style map shows (default: those
    of the generator's model); ``feedback_store``: a ``FeedbackStore`` or the path of its SQLite
    file; ``media_folder``: where generated files go (default: a new temporary folder); ``soundfont``:
    the General MIDI soundfont (.sf2) the audio is rendered with (default: pretty_midi's); ``audio``: the
    Jukebox models of the Audio tab (default: no Audio tab).
    """
    limits = limits or DemoLimits()
    store = feedback_store if isinstance(feedback_store, FeedbackStore) else FeedbackStore(feedback_store)
    media = MediaFolder(generator, media_folder, soundfont=soundfont)  # a bad soundfont fails here, at startup
    ctx = DemoContext(generator=generator, store=store, media=media, limits=limits,
                      model_hash=model_hash(generator.model.state_dict()))
    embeddings = _composer_embeddings(generator, composer_tools)
    # Gradio serves copies of the files handlers return from its cache: drop those older than 2 h, hourly.
    with gr.Blocks(title="musebox", analytics_enabled=False, delete_cache=(3600, 7200)) as app:
        gr.Markdown(f"# musebox\nCompose and continue music with a MuseNet-style transformer. "
                    f"Model: {_model_label(generator)} (hash `{ctx.model_hash}`).")
        gr.Markdown(limits.describe(), elem_id="limits")
        gr.Markdown(_audio_line(soundfont), elem_id="audio-renderer")
        with gr.Tabs() as tabs:
            with gr.Tab("Compose", id="compose", elem_id="tab-compose"):
                composing = compose.build(ctx)
            with gr.Tab("Continue", id="continue", elem_id="tab-continue"):
                continuation.build(ctx)
            with gr.Tab("Edit", id="edit", elem_id="tab-edit"):
                edit.build(ctx)
            if embeddings is not None:
                with gr.Tab("Style map", id="style-map", elem_id="tab-style-map") as tab:
                    style_map.build(ctx, embeddings, tab, compose=composing, tabs=tabs)
            if audio is not None:
                with gr.Tab("Audio", id="audio", elem_id="tab-audio"):
                    audio_tab.build(ctx, audio)
            with gr.Tab("Feedback", id="feedback", elem_id="tab-feedback") as tab:
                feedback_summary.build(ctx, tab)
    app.queue(max_size=limits.queue_size, default_concurrency_limit=OTHER_EVENTS_CONCURRENCY)
    app.demo_context = ctx  # for tests and tools that inspect a running app
    return app


def launch_demo(model: str | Path | None = None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                db: str | Path = DEFAULT_DB, limits: DemoLimits | None = None, device: str = "cpu",
                block: bool = True, soundfont: str | Path | None = None, jukebox: str | Path | None = None,
                jukebox_model: str = "small", audio: bool = True) -> gr.Blocks:
    """Load ``model`` (default: the bundled one) and, for the Audio tab (unless ``audio`` is False), the Jukebox
    ``jukebox_model`` from the folder ``jukebox`` (default: the bundled small models); build the app and serve
    it on ``host:port``."""
    limits = limits or DemoLimits()
    generator = MuseGenerator(model, device=device)
    models = AudioModels.load(jukebox, jukebox_model, device) if audio else None
    app = build_app(generator, feedback_store=db, limits=limits, soundfont=soundfont, audio=models)
    log.info("feedback goes to %s", app.demo_context.store.path)
    app.launch(server_name=host, server_port=port, show_error=False, prevent_thread_lock=not block, quiet=not block,
               **launch_settings(limits))
    return app


def launch_settings(limits: DemoLimits) -> dict[str, Any]:
    """The ``gr.Blocks.launch`` keyword arguments of every launch: the request limits and the page's CSS."""
    return {**launch_options(limits), "css": PAGE_CSS}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python demos/app.py", description="Serve the musebox web demo.")
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--db", default=str(DEFAULT_DB), metavar="PATH", help=f"feedback database (default: {DEFAULT_DB})")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--soundfont", metavar="SF2", help="General MIDI soundfont (.sf2) for the audio (default: "
                                                      "pretty_midi's TimGM6mb.sf2)")
    add_audio_options(p)
    return p.parse_args(argv)


def audio_options(args: argparse.Namespace) -> dict:
    """``launch_demo``'s keyword arguments for the Audio tab from the command line's options."""
    limits = DemoLimits()
    if args.jukebox_seconds is not None:
        limits = replace(limits, max_audio_seconds=check_number(args.jukebox_seconds, "--jukebox-seconds", low=0,
                                                                high=3600, low_open=True, unit="seconds"))
    return {"jukebox": args.jukebox, "jukebox_model": args.jukebox_model, "audio": not args.no_audio,
            "limits": limits}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        launch_demo(args.model, host=args.host, port=args.port, db=args.db, device=args.device,
                    soundfont=args.soundfont, **audio_options(args))
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
