"""``muse demo``: serve the web demo (compose, continue, edit, style map, audio, feedback) in the browser.

The demos package registers this command with the ``muse`` program (``muse.cli`` loads this module
by name when the package is installed), so the library never imports the UI. Nothing heavy is
imported here: ``muse --help`` stays instant.
"""

from __future__ import annotations

import argparse

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860  # the demo's address (demos.app takes them from here)
JUKEBOX_MODELS = ("small", "5b", "5b_lyrics", "1b_lyrics")  # jukebox.sampling.model_files.MODELS (tested)


def add_audio_options(p: argparse.ArgumentParser) -> None:
    """The Audio tab's options (raw audio with Jukebox), shared by ``muse demo`` and ``python demos/app.py``."""
    group = p.add_argument_group("Audio tab (raw audio, research mode)")
    group.add_argument("--jukebox", metavar="DIR",
                       help="Jukebox model folder: ours (vqvae.safetensors, prior_level_{0,1,2}.safetensors, with "
                            "their artist/genre id files) or the official release (with --jukebox-model; its id files "
                            "in an ids/ folder beside the priors) (default: the bundled small models)")
    group.add_argument("--jukebox-model", default="small", choices=JUKEBOX_MODELS,
                       help="which model --jukebox holds (default: small)")
    group.add_argument("--jukebox-seconds", type=float, metavar="S",
                       help="longest audio the Audio tab samples (default: 4; about 12 s of a 2-core CPU per second "
                            "with the bundled models)")
    group.add_argument("--no-audio", action="store_true", help="leave the Audio tab out")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="serve the web demo (compose, continue, edit, style map, audio, feedback)",
        description="Start the Gradio web demo on the model and open it at http://HOST:PORT. Listener ratings "
                    "and A/B choices go to an SQLite database (--db); export them with `muse feedback export`.")
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST}; "
                                                        "0.0.0.0 serves other machines)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--db", metavar="PATH", help="feedback database (default: ~/.musebox/feedback.sqlite)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--soundfont", metavar="SF2", help="General MIDI soundfont (.sf2) for the audio (default: "
                                                      "pretty_midi's TimGM6mb.sf2; rendered by FluidSynth when "
                                                      "installed, else by the built-in SoundFont sampler)")
    add_audio_options(p)
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from demos.app import audio_options, launch_demo

    database = {"db": args.db} if args.db else {}  # else the demo's default feedback database
    launch_demo(args.model, host=args.host, port=args.port, device=args.device, soundfont=args.soundfont, **database,
                **audio_options(args))
    return 0
