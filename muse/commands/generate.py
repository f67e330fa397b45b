"""``muse generate`` and ``muse continue``: compose, or continue a MIDI file, with a trained model."""

from __future__ import annotations

import argparse
import time

from muse.commands.sampling_options import add_note_limit_options, add_sampling_options, note_limit_options


def _sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=30.0, help="length of the new music in seconds (default: 30)")
    add_sampling_options(p)
    p.add_argument("--seed", type=int, help="random seed from 0 to 2**63 - 1 (same seed, same music)")
    add_note_limit_options(p)
    p.add_argument("--max-instrument-rest", metavar="S",
                   help="longest any chosen instrument may go without a new note, in seconds, so that every one "
                        "of them plays; 0 = no limit (default: 4)")
    p.add_argument("--min-instrument-share", metavar="F",
                   help="least share of the new notes each chosen instrument keeps, 0-0.5 (at most half of an "
                        "equal share is enforced); 0 = no floor (default: 0.08)")
    p.add_argument("--bpm", metavar="BPM", help="tempo, held throughout (a continuation's from the cut on), "
                                                "20-605; the nearest tempo the model writes (12 per octave: "
                                                "... 95, 101, 107, 113, 120 ...) (default: the model's choice)")
    p.add_argument("--key", metavar="KEY", help="key such as \"D minor\", \"F#\" or \"Bb major\": each piece is "
                                                "transposed there from the key the model wrote in (drums never "
                                                "move; a transposition keeps the mode: see --key-candidates; the "
                                                "output says which it is) (default: as written)")
    p.add_argument("--key-candidates", metavar="N",
                   help="for a --key with a mode: pieces drawn per piece, the first written in that mode kept "
                        "(1-8; default: 3)")
    p.add_argument("--guidance", type=float, default=None, metavar="W",
                   help="classifier-free guidance toward the composer, 0-10: logits = uncond + W (cond - uncond); "
                        "1 = plain sampling (default: 2 with a composer and a model trained with composer "
                        "dropout, as the bundled one; else 1)")
    p.add_argument("--rerank", type=int, default=1, metavar="K",
                   help="draw K candidates per piece and keep the best by --rerank-by, 1-16 (default: 1, no "
                        "reranking)")
    p.add_argument("--rerank-by", choices=("style", "critic", "both"), default="style",
                   help="with --rerank: style = the model's composer posterior for the composer; critic = the "
                        "--critic's score; both = log posterior + W x critic score (default: style)")
    p.add_argument("--critic", metavar="PATH", help="critic or reward model folder for --rerank-by critic/both "
                                                    "(muse critic train / muse critic reward; default: the bundled "
                                                    "critic, when installed)")
    p.add_argument("--critic-weight", type=float, default=1.0, metavar="W",
                   help="W in --rerank-by both, 0-100 (default: 1)")
    p.add_argument("--n", type=int, default=1, help="number of pieces; with more than one, -o out.mid writes "
                                                    "out_1.mid ... (default: 1)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--wav", metavar="OUT.wav", help="also render audio with a General MIDI soundfont (FluidSynth "
                                                    "when installed, else the built-in SoundFont sampler)")
    p.add_argument("--png", metavar="OUT.png", help="also draw the piano roll, as the web demo shows it")
    p.add_argument("--soundfont", metavar="SF2", help="General MIDI soundfont (.sf2) for --wav (default: "
                                                      "pretty_midi's TimGM6mb.sf2)")
    p.add_argument("--manifest", metavar="OUT.json",
                   help="also write each piece's generation manifest (model hash, settings, its own seed, "
                        "timings; numbered as -o); `muse generate --from-manifest` makes the piece again")
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def register(subparsers: argparse._SubParsersAction) -> None:
    g = subparsers.add_parser(
        "generate", help="compose new music in a composer's style",
        description="Compose music with the MuseNet-style model for a composer and a set of instruments.")
    g.add_argument("--composer", help="composer/style (an unknown name lists the known ones; default: unknown)")
    g.add_argument("--instruments", default="piano", help="comma-separated instruments (default: piano)")
    g.add_argument("--from-manifest", metavar="FILE.json",
                   help="make again exactly the piece a generation manifest records (the demo offers one per "
                        "result): its model hash, settings and seed; the composer, instrument and sampling "
                        "options here are then ignored (pass the same --model)")
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


def _settings(args: argparse.Namespace) -> dict:
    """The facade's sampling keyword arguments from the options (as a manifest records them)."""
    return dict(seconds=args.seconds, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                min_p=args.min_p, guidance=args.guidance, rerank=args.rerank, rerank_by=args.rerank_by,
                critic=args.critic, critic_weight=args.critic_weight,
                **note_limit_options(args), max_instrument_rest=_number(args.max_instrument_rest),
                min_instrument_share=_number(args.min_instrument_share), bpm=_number(args.bpm), key=args.key,
                key_candidates=_number(args.key_candidates))


def _number(text: str | None) -> float | str | None:
    """A number option as a number when it reads as one (else as given: the facade names what is allowed)."""
    try:
        number = None if text is None else float(text)
    except ValueError:
        return text
    return int(number) if number is not None and number.is_integer() else number


def _check_outputs(args: argparse.Namespace) -> None:
    """Options about the files to write, checked before minutes of generation rather than after."""
    from muse.core.errors import UserError
    from muse.core.render import check_soundfont

    if args.soundfont is not None:
        if args.wav is None:
            raise UserError("--soundfont is the soundfont of the audio: add --wav OUT.wav")
        check_soundfont(args.soundfont)


def _run(args: argparse.Namespace) -> dict:
    """What is given for this run alone (not recorded as settings): seed, number of pieces, progress bar."""
    return dict(seed=args.seed, n=args.n, callback=_progress(args.seconds))


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
        print(f"wrote {path}: {piece.n_notes} notes, {piece.seconds:.1f} s (seed {piece.seed}); "
              f"key: {piece.key.describe()}")
    if args.bpm is not None and pieces:
        from muse.tempo import last_bpm

        print(f"tempo: {last_bpm(generator.vocab, pieces[0].ids):.1f} BPM (the nearest tempo the model writes to "
              f"{args.bpm})")
    if args.wav is not None:
        from muse.core.render import describe_renderer, planned_renderer

        print(f"audio rendered by {describe_renderer(*planned_renderer(args.soundfont))}")
    for kind, where in (("MIDI", args.output), ("WAV", args.wav), ("PNG", args.png)):  # where to find them
        if where is not None:
            print(f"{kind + ':':5} {', '.join(str(p.resolve()) for p in numbered_paths(where, len(pieces)))}")
    return 0


def _write_manifests(generator, pieces, args: argparse.Namespace, mode: str, settings: dict, seconds: float,
                     prime=None) -> None:  # noqa: ANN001
    """``--manifest``: one manifest per piece, numbered as the MIDI files are."""
    from muse.generate import numbered_paths
    from muse.manifest import make_manifest, write_manifest
    from muse.saved_model import model_hash

    digest = model_hash(generator.model.state_dict())
    batch = {"seed": pieces[0].seed if pieces else args.seed, "n": len(pieces)}
    for k, (piece, path) in enumerate(zip(pieces, numbered_paths(args.manifest, len(pieces))), start=1):
        manifest = make_manifest(generator, piece, mode, settings, prime=prime, variation=k, batch=batch,
                                 timings={"generate_seconds": seconds}, model_digest=digest)
        write_manifest(manifest, path)
    print(f"{'JSON:':5} {', '.join(str(p.resolve()) for p in numbered_paths(args.manifest, len(pieces)))}")


def run_generate(args: argparse.Namespace) -> int:
    from muse.generate import MuseGenerator

    _check_outputs(args)
    if args.from_manifest:
        return run_manifest(args)
    generator = MuseGenerator(args.model, device=args.device)
    settings = dict(composer=args.composer, instruments=_split(args.instruments) or [], **_settings(args))
    started = time.monotonic()
    pieces = generator.generate(**settings, **_run(args))
    code = _report(generator, pieces, args)
    if args.manifest is not None:
        _write_manifests(generator, pieces, args, "compose", settings, time.monotonic() - started)
    return code


def run_continue(args: argparse.Namespace) -> int:
    from muse.generate import MuseGenerator

    _check_outputs(args)
    generator = MuseGenerator(args.model, device=args.device)
    settings = dict(composer=args.composer, instruments=_split(args.instruments), keep_prime=args.keep_prime,
                    strict=args.strict, **_settings(args))
    started = time.monotonic()
    pieces = generator.continue_midi(args.midi, **settings, **_run(args))
    elapsed = time.monotonic() - started
    prime = generator.tokenizer.encode(args.midi, strict=args.strict).ids
    boundary = None  # with the prime kept, the piano roll marks where the continuation starts
    if args.keep_prime and args.png:
        boundary = generator.tokenizer.seconds(prime)
    code = _report(generator, pieces, args, boundary)
    if args.manifest is not None:  # the manifest holds the prime's tokens, so it replays without the file
        prime = prime[:-1] if len(prime) and prime[-1] == generator.vocab.end_id else prime
        _write_manifests(generator, pieces, args, "continue", settings, elapsed, prime=prime)
    return code


def run_manifest(args: argparse.Namespace) -> int:
    """``muse generate --from-manifest FILE``: the manifest's piece, made again with its seed and settings."""
    from muse.generate import MuseGenerator
    from muse.manifest import read_manifest, replay

    manifest = read_manifest(args.from_manifest)
    generator = MuseGenerator(args.model, device=args.device)
    started = time.monotonic()
    piece, same = replay(generator, manifest, name=args.from_manifest,
                         callback=_progress(float(manifest.settings.get("seconds", 0.0))))
    elapsed = time.monotonic() - started
    print(f"{manifest.mode} variation {manifest.variation} of {args.from_manifest} (seed {manifest.seed}): "
          + ("the same tokens as recorded" if same else "DIFFERENT tokens from those recorded"))
    code = _report(generator, [piece], args)
    if args.manifest is not None:
        _write_manifests(generator, [piece], args, manifest.mode, manifest.settings, elapsed, prime=manifest.prime)
    return code if same else 1
