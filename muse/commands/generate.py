"""``muse generate`` and ``muse continue``: compose, or continue a MIDI file, with a trained model."""

from __future__ import annotations

import argparse


def _sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=30.0, help="length of the new music in seconds (default: 30)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature in (0, 100]; lower is safer (default: 1.0)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass, 1 = off (default: 0.95)")
    p.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens, 0 = off (default: 0)")
    p.add_argument("--min-p", type=float, default=0.0, help="min-p filter, 0 = off (default: 0)")
    p.add_argument("--seed", type=int, help="random seed from 0 to 2**63 - 1 (same seed, same music)")
    p.add_argument("--max-note-seconds", metavar="S",
                   help="longest a note may sound, for every instrument; 0 = no limit (default: the model's "
                        "limits learnt from its training data, none for a model saved without them)")
    p.add_argument("--max-polyphony", metavar="N",
                   help="most notes of one instrument sounding at once; 0 = no limit (default: the model's)")
    p.add_argument("--guidance", type=float, default=1.0, metavar="W",
                   help="classifier-free guidance toward the composer, 0-10: logits = uncond + W (cond - uncond); "
                        "1 = plain sampling (default: 1; needs a model trained with composer dropout)")
    p.add_argument("--rerank", type=int, default=1, metavar="K",
                   help="draw K candidates per piece and keep the one the model's composer posterior ranks "
                        "highest for the composer, 1-16 (default: 1, no reranking)")
    p.add_argument("--n", type=int, default=1, help="number of pieces; with more than one, -o out.mid writes "
                                                    "out_1.mid ... (default: 1)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--wav", metavar="OUT.wav", help="also render audio (FluidSynth, else a built-in synth)")
    p.add_argument("--png", metavar="OUT.png", help="also draw the piano roll, as the web demo shows it")
    p.add_argument("--soundfont", metavar="SF2", help="General MIDI soundfont for --wav (default: pretty_midi's)")
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def register(subparsers: argparse._SubParsersAction) -> None:
    g = subparsers.add_parser(
        "generate", help="compose new music in a composer's style",
        description="Compose music with the MuseNet-style model for a composer and a set of instruments.")
    g.add_argument("--composer", help="composer/style (an unknown name lists the known ones; default: unknown)")
    g.add_argument("--instruments", default="piano", help="comma-separated instruments (default: piano)")
    _sampling_args(g)
    g.set_defaults(func=run_generate)

    c = subparsers.add_parser(
        "continue", help="continue a MIDI file in a composer's style",
        description="Prime the model with a MIDI file (its last context-length of tokens) and continue it.")
    c.add_argument("midi", metavar="IN.mid", help="MIDI file to continue")
    c.add_argument("--composer", help="composer/style of the continuation (default: unknown)")
    c.add_argument("--instruments", help="comma-separated instruments of the continuation (default: the file's)")
    c.add_argument("--keep-prime", action="store_true", help="write the prime followed by the continuation "
                                                             "(default: the continuation alone)")
    c.add_argument("--strict", action="store_true", help="refuse a MIDI file that needs any repair to be read "
                                                         "(default: repair it with a WARNING naming the file)")
    _sampling_args(c)
    c.set_defaults(func=run_continue)


def _split(names: str | None) -> list[str] | None:
    return None if names is None else [x.strip() for x in names.split(",") if x.strip()]


def _sampling(args: argparse.Namespace) -> dict:
    from muse.note_limits import check_override

    return dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                seed=args.seed, n=args.n, callback=_progress(args.seconds), guidance=args.guidance,
                rerank=args.rerank,
                max_note_seconds=check_override(args.max_note_seconds, "--max-note-seconds"),
                max_polyphony=check_override(args.max_polyphony, "--max-polyphony", integer=True))


def _progress(total: float):
    """A progress bar in seconds of music, driven by the generator's callback (shown from the first step)."""
    bars = []

    def update(done: float, _total: float) -> None:
        if not bars:
            from tqdm.auto import tqdm

            bars.append(tqdm(total=round(_total, 1), desc="generate", unit="s", leave=False, dynamic_ncols=True,
                             bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"))
        bar = bars[0]
        bar.update(round(done, 1) - bar.n)
        if done >= _total:
            bar.close()

    return update


def _report(generator, pieces, args: argparse.Namespace, boundary: float | None = None) -> int:
    from muse.generate import numbered_paths

    paths = generator.save(pieces, args.output, wav=args.wav, soundfont=args.soundfont, png=args.png,
                           boundary=boundary)
    for piece, path in zip(pieces, paths):
        print(f"wrote {path}: {piece.n_notes} notes, {piece.seconds:.1f} s (seed {piece.seed})")
    for kind, where in (("MIDI", args.output), ("WAV", args.wav), ("PNG", args.png)):  # where to find them
        if where is not None:
            print(f"{kind + ':':5} {', '.join(str(p.resolve()) for p in numbered_paths(where, len(pieces)))}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from muse.generate import MuseGenerator

    generator = MuseGenerator(args.model, device=args.device)
    pieces = generator.generate(args.composer, _split(args.instruments) or [], args.seconds, **_sampling(args))
    return _report(generator, pieces, args)


def run_continue(args: argparse.Namespace) -> int:
    from muse.generate import MuseGenerator

    generator = MuseGenerator(args.model, device=args.device)
    pieces = generator.continue_midi(args.midi, args.composer, args.seconds, instruments=_split(args.instruments),
                                     keep_prime=args.keep_prime, strict=args.strict, **_sampling(args))
    boundary = None  # with the prime kept, the piano roll marks where the continuation starts
    if args.keep_prime and args.png:
        boundary = generator.tokenizer.seconds(generator.tokenizer.encode(args.midi).ids)
    return _report(generator, pieces, args, boundary)
