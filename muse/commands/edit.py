"""``muse infill`` and ``muse accompany``: edit a MIDI file the user brings (``muse.editing``, docs/EDITING.md)."""

from __future__ import annotations

import argparse

from muse.commands.sampling_options import add_note_limit_options, add_sampling_options, note_limit_options
from muse.core.errors import UserError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--composer", help="composer/style (an unknown name lists the known ones; default: unknown)")
    p.add_argument("--n", type=int, default=1, help="number of variations; with more than one, -o out.mid writes "
                                                    "out_1.mid ... (default: 1)")
    add_sampling_options(p)
    p.add_argument("--seed", type=int, help="random seed (same seed, same music)")
    add_note_limit_options(p)
    p.add_argument("--strict", action="store_true", help="refuse a MIDI file that needs any repair to be read")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--wav", metavar="OUT.wav", help="also render audio")
    p.add_argument("--png", metavar="OUT.png", help="also draw the piano roll")
    p.add_argument("--soundfont", metavar="SF2", help="General MIDI soundfont for --wav")
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def register(subparsers: argparse._SubParsersAction) -> None:
    i = subparsers.add_parser(
        "infill", help="regenerate a time span of a MIDI file, keeping the rest",
        description="Regenerate the notes starting between --start and --end seconds (or in --bars); every "
                    "other note is kept exactly. See docs/EDITING.md.")
    i.add_argument("midi", metavar="IN.mid", help="MIDI file to edit")
    i.add_argument("--start", type=float, help="start of the span in seconds")
    i.add_argument("--end", type=float, help="end of the span in seconds")
    i.add_argument("--bars", metavar="FIRST-LAST", help="the span as bars, 1-based and inclusive (e.g. 5-8)")
    i.add_argument("--instruments", help="comma-separated instruments the span may use (default: the file's)")
    _common(i)
    i.set_defaults(func=run_infill)

    a = subparsers.add_parser(
        "accompany", help="write other instruments around a melody, keeping it unchanged",
        description="Keep every note of the file and generate the chosen instruments around it, for its whole "
                    "length. See docs/EDITING.md.")
    a.add_argument("midi", metavar="MELODY.mid", help="MIDI file whose notes are kept")
    a.add_argument("--instruments", required=True, help="comma-separated instruments to generate")
    _common(a)
    a.set_defaults(func=run_accompany)


def _split(names: str | None) -> list[str] | None:
    return None if names is None else [x.strip() for x in names.split(",") if x.strip()]


def _bars(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.replace(" ", "").split("-")
    try:
        first, last = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        raise UserError(f"--bars must be FIRST-LAST (e.g. 5-8), not {text!r}") from None
    if not 1 <= first <= last:
        raise UserError(f"--bars must be FIRST-LAST with 1 <= FIRST <= LAST, not {text!r}")
    return first, last


def _options(args: argparse.Namespace) -> dict:
    return dict(n=args.n, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                seed=args.seed, strict=args.strict, **note_limit_options(args))


def _report(generator, pieces, args: argparse.Namespace) -> int:
    paths = generator.save(pieces, args.output, wav=args.wav, soundfont=args.soundfont, png=args.png)
    for piece, path in zip(pieces, paths):
        print(f"wrote {path}: {piece.n_notes} new notes in {piece.start:.2f}-{piece.end:.2f} s "
              f"({piece.mode} mode, seed {piece.seed})")
    return 0


def run_infill(args: argparse.Namespace) -> int:
    from muse.generate import MuseGenerator

    bars = _bars(args.bars)
    generator = MuseGenerator(args.model, device=args.device)
    pieces = generator.infill(args.midi, args.start, args.end, bars=bars, composer=args.composer,
                              instruments=_split(args.instruments), **_options(args))
    if pieces[0].mode == "continuation":
        print("mode: continuation (the model has no fill-in-the-middle markers, or nothing follows the span: "
              "the span continues the music before it; the music after it is kept)")
    return _report(generator, pieces, args)


def run_accompany(args: argparse.Namespace) -> int:
    from muse.generate import MuseGenerator

    generator = MuseGenerator(args.model, device=args.device)
    pieces = generator.accompany(args.midi, args.composer, _split(args.instruments) or [], **_options(args))
    return _report(generator, pieces, args)
