"""``jukebox data render-midi``: real audio to train on, rendered offline from a token dataset
(jukebox.render_corpus)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="make training audio")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ren = sub.add_parser(
        "render-midi",
        help="render a token dataset's pieces (e.g. music21's corpus) to WAV with FluidSynth",
        description="Decode pieces of a dataset built by `muse data build` (e.g. `muse data build --music21 "
        "--out DATA`) and render them with FluidSynth and the General MIDI soundfont inside pretty_midi. "
        "Writes <composer>/<piece>.wav with a .json sidecar (artist = composer, genre = main instrument "
        "family), the layout `jukebox encode-dataset` and `jukebox train-vqvae` read. Re-running continues.",
    )
    ren.add_argument("--dataset", required=True, help="token dataset folder written by `muse data build`")
    ren.add_argument("--out", required=True, help="audio folder to write")
    ren.add_argument("--music21", action="store_true", help="only pieces from the music21 corpus")
    ren.add_argument("--composers", help="comma-separated composer labels to render (default: all)")
    ren.add_argument("--per-composer", type=int, help="at most this many pieces per composer (spread evenly)")
    ren.add_argument("--split", choices=["train", "valid", "all"], default="all", help="dataset split (default: all)")
    ren.add_argument("--max-seconds", type=float, default=60.0, help="cut each piece here (default: 60; 0 = whole)")
    ren.add_argument("--sample-rate", type=int, default=22050, help="audio rate in Hz (default: 22050)")
    ren.add_argument("--stereo", action="store_true", help="keep FluidSynth's stereo output (default: mono)")
    ren.add_argument("--soundfont", help="a .sf2 General MIDI soundfont (default: pretty_midi's TimGM6mb.sf2)")
    ren.add_argument("--exclude", help="leave out pieces already rendered in this folder (e.g. a training set)")
    ren.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from jukebox.render_corpus import render_dataset
    from muse.core.errors import UserError

    if args.per_composer is not None and args.per_composer < 1:
        raise UserError(f"--per-composer must be at least 1 (got {args.per_composer})")
    if args.sample_rate < 8000:
        raise UserError(f"--sample-rate must be at least 8000 Hz (got {args.sample_rate})")
    composers = [c.strip() for c in args.composers.split(",") if c.strip()] if args.composers else None
    bar = tqdm(unit="piece", desc="render", leave=False)

    def on_piece(done: int, total: int, _path) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        report = render_dataset(
            args.dataset, args.out, music21_only=args.music21, composers=composers, per_composer=args.per_composer,
            split=args.split, max_seconds=args.max_seconds or None, sample_rate=args.sample_rate,
            mono=not args.stereo, soundfont=args.soundfont, exclude=args.exclude, on_piece=on_piece,
        )
    finally:
        bar.close()
    print(f"{args.out}: {report.summary()}")
    for piece, error in report.failed[:10]:
        print(f"  skipped {piece}: {error}")
    return 0
