"""``jukebox sample|continue|upsample``: hierarchical sampling runs (calls jukebox.pipeline)."""

from __future__ import annotations

import argparse
from pathlib import Path

MODELS = ("1b_lyrics", "5b_lyrics", "5b", "small")
# The options that define a run: their defaults are applied in _settings, so that a --resume can tell
# which of them the user gave (and refuse those that differ from the run's own settings).
SONG_DEFAULTS = {"artist": "0", "genre": "0", "seconds": 20.0, "levels": (2, 1, 0), "samples": 1, "seed": 0,
                 "temperature": 0.98, "upsample_temperature": 0.99, "top_k": 0, "top_p": 1.0,
                 "hop_fractions": (0.5, 0.5, 0.125), "prompt_seconds": 10.0}
MAX_SONG_SECONDS = 3600.0


def _levels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated levels like 2,1,0, got {text!r}") from None


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated fractions like 0.5,0.5,0.125, got {text!r}") from None
    return values


def _add_model_args(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--model", choices=MODELS, required=required, help="which released (or bundled small) model")
    parser.add_argument("--checkpoints", help="folder with the model files (official *.pth.tar or ours)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                        help="prior weights' precision (default: auto = bf16 on CUDA, fp32 on CPU; "
                        "int8: quantized linear weights, 2-5x faster sampling on a CPU)")


def _add_song_args(parser: argparse.ArgumentParser) -> None:
    _add_model_args(parser, required=False)
    parser.add_argument("--ids-dir",
                        help="folder with the official artist/genre id files ({v2,v3}_{artist,genre}_ids.txt)")
    parser.add_argument("--artist", help="artist name (looked up in --ids-dir) or id (default: 0, unknown)")
    parser.add_argument("--genre", help="genre name (looked up in --ids-dir) or id(s) (default: 0)")
    parser.add_argument("--lyrics", help="UTF-8 text file with the lyrics")
    parser.add_argument("--seconds", type=float, help="song length in seconds, at most 3600 (default: 20)")
    parser.add_argument("--out", help="output folder for the run (codes, settings, WAVs)")
    parser.add_argument("--levels", type=_levels, help="levels to sample, top first (default: 2,1,0)")
    parser.add_argument("--samples", type=int, help="songs sampled together, 1 to 64 (default: 1)")
    parser.add_argument("--seed", type=int, help="random seed from 0 to 2**63 - 1 (default: 0)")
    parser.add_argument("--temperature", type=float, help="top-level temperature in (0, 100] (default: 0.98)")
    parser.add_argument("--upsample-temperature", type=float, help="upsampler temperature in (0, 100] (default: 0.99)")
    parser.add_argument("--top-k", type=int, help="keep the k most likely codes (0 = off, the default)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling mass in (0, 1] (1 = off, the default)")
    parser.add_argument("--guidance", type=float, default=1.0, metavar="W",
                        help="classifier-free guidance toward the artist/genre (1 = off, the default); only for "
                             "priors trained with label dropout, which neither the official nor the bundled ones are")
    parser.add_argument("--hop-fractions", type=_fractions,
                        help="new codes per window as a fraction of the context, for levels 0,1,2 "
                             "(default: 0.5,0.5,0.125)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run in DIR where it stopped (its settings are read from it; a different "
                             "--seconds, --seed or other song option is refused, listed)")


def register(subparsers: argparse._SubParsersAction) -> None:
    sample = subparsers.add_parser("sample", help="sample songs from artist, genre, lyrics (levels 2 -> 1 -> 0)")
    _add_song_args(sample)
    sample.set_defaults(func=run_sample, prompt=None, prompt_seconds=None)

    cont = subparsers.add_parser("continue", help="continue an audio file: its first seconds prime the song")
    cont.add_argument("input", help="audio file whose start the song continues")
    cont.add_argument("--prompt-seconds", type=float, help="seconds of the input used as prompt (default: 10)")
    _add_song_args(cont)
    cont.set_defaults(func=run_sample)

    up = subparsers.add_parser("upsample", help="add the lower levels to a run (e.g. one sampled with --levels 2)")
    up.add_argument("run", help="run folder written by `jukebox sample`")
    up.add_argument("--levels", type=_levels, default=(1, 0), help="levels to add (default: 1,0)")
    _add_model_args(up, required=False)
    up.set_defaults(func=run_upsample)


def _value(args: argparse.Namespace, name: str):
    value = getattr(args, name, None)
    return SONG_DEFAULTS[name] if value is None else value


def _check_numbers(args: argparse.Namespace) -> None:
    """Every numeric song option in its range (a one-line UserError otherwise), before any work."""
    from muse.core.ranges import MAX_PIECES, check_number, check_seed

    check_number(_value(args, "seconds"), "--seconds", low=0, high=MAX_SONG_SECONDS, low_open=True, unit="seconds")
    check_number(_value(args, "samples"), "--samples", low=1, high=MAX_PIECES, integer=True)
    check_seed(_value(args, "seed"), "--seed")
    for name in ("temperature", "upsample_temperature"):
        check_number(_value(args, name), f"--{name.replace('_', '-')}", low=0, high=100, low_open=True)
    check_number(_value(args, "top_k"), "--top-k", low=0, high=10**6, integer=True)
    check_number(_value(args, "top_p"), "--top-p", low=0, high=1, low_open=True)
    _check_guidance(getattr(args, "guidance", 1.0))
    for value in _value(args, "hop_fractions"):
        check_number(value, "--hop-fractions (each)", low=0, high=1, low_open=True)
    if getattr(args, "input", None) is not None:
        check_number(_value(args, "prompt_seconds"), "--prompt-seconds", low=0, high=MAX_SONG_SECONDS, low_open=True,
                     unit="seconds")


def _check_guidance(weight: float) -> None:
    """Guidance (``muse.core.sampling.GuidedDecoder``) contrasts a label with the "unknown" label, which
    a prior only knows when it was trained with label dropout; no prior that loads here was."""
    from muse.core.errors import UserError
    from muse.core.ranges import check_number

    if check_number(weight, "--guidance", low=0, high=10) != 1.0:
        raise UserError("--guidance: the official Jukebox priors and the bundled small ones were trained without "
                        "label dropout, so they have no unconditional artist/genre distribution to guide from; "
                        "use --guidance 1")


def _check_same_run(args: argparse.Namespace, settings) -> None:
    """Refuse ``--resume DIR`` with song options that differ from the run's (listing them all)."""
    from muse.core.errors import UserError
    from muse.core.resume_check import check_same_settings

    given = {name: getattr(args, name) for name in SONG_DEFAULTS if getattr(args, name, None) is not None}
    if args.model is not None:
        given["model"] = args.model
    if args.lyrics:
        try:
            given["lyrics"] = Path(args.lyrics).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"{args.lyrics}: cannot read the lyrics file ({err})") from None
    if not given:
        return
    _check_numbers(args)
    recorded = {"model": settings.model, "artist": settings.artist, "genre": settings.genre, "lyrics": settings.lyrics,
                "seconds": settings.seconds, "levels": list(settings.levels), "samples": settings.n_samples,
                "seed": settings.seed, "temperature": settings.sampling[-1].temperature,
                "upsample_temperature": settings.sampling[0].temperature, "top_k": settings.sampling[-1].top_k,
                "top_p": settings.sampling[-1].top_p,
                "hop_fractions": [s.hop_fraction for s in settings.sampling], "prompt_seconds": settings.prompt_seconds}
    current = {name: list(v) if isinstance(v, tuple) else v for name, v in given.items()}
    check_same_settings({f"--{k.replace('_', '-')}": v for k, v in recorded.items()},
                        {f"--{k.replace('_', '-')}": v for k, v in current.items()}, where=str(args.resume),
                        hint=", i.e. pass only --resume DIR (and --device, --dtype, --checkpoints), or start a new "
                             "run in another --out folder")


def _settings(args: argparse.Namespace):
    from jukebox.pipeline import LevelSampling, SampleSettings
    from muse.core.errors import UserError

    if args.model is None or args.out is None:
        raise UserError("--model and --out are required (or --resume DIR)")
    if len(_value(args, "hop_fractions")) != 3:
        raise UserError("--hop-fractions needs one value per level: 0,1,2")
    _check_numbers(args)
    lyrics = ""
    if args.lyrics:
        try:
            lyrics = Path(args.lyrics).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"{args.lyrics}: cannot read the lyrics file ({err})") from None
    temps = (_value(args, "upsample_temperature"), _value(args, "upsample_temperature"), _value(args, "temperature"))
    sampling = tuple(
        LevelSampling(temperature=t, top_k=_value(args, "top_k"), top_p=_value(args, "top_p"), hop_fraction=f)
        for t, f in zip(temps, _value(args, "hop_fractions"))
    )
    input_path = getattr(args, "input", None)
    try:
        return SampleSettings(
            model=args.model, checkpoints=args.checkpoints, artist=_value(args, "artist"), genre=_value(args, "genre"),
            lyrics=lyrics, seconds=_value(args, "seconds"), levels=_value(args, "levels"),
            n_samples=_value(args, "samples"), seed=_value(args, "seed"), ids_dir=args.ids_dir,
            sampling=sampling, prompt=input_path, prompt_seconds=_value(args, "prompt_seconds") if input_path else 0.0,
        )
    except ValueError as err:
        raise UserError(str(err)) from None


def _progress():
    from tqdm import tqdm

    bars: dict[int, tqdm] = {}

    def update(level: int, done: int, total: int) -> None:
        bar = bars.get(level)
        if bar is None:
            bar = bars[level] = tqdm(total=total, desc=f"level {level}", unit="code")
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _report(result) -> int:
    for level, paths in result.wavs.items():
        for path in paths:
            print(f"level {level}: wrote {path}")
    for path in result.lyric_timings:
        print(f"lyric timings: wrote {path}")
    if not result.complete:
        print(f"stopped early; continue with: jukebox sample --resume {result.out_dir}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from jukebox.pipeline import JukeboxPipeline, read_settings
    from muse.core.ranges import check_device

    check_device(args.device)
    if args.resume:
        settings = read_settings(args.resume)
        _check_same_run(args, settings)
        pipeline = JukeboxPipeline.load(settings.model, args.checkpoints or settings.checkpoints, settings.ids_dir,
                                        settings.levels, args.device, args.dtype)
        return _report(pipeline.resume(args.resume, _progress()))
    settings = _settings(args)
    pipeline = JukeboxPipeline.load(settings.model, settings.checkpoints, settings.ids_dir, settings.levels,
                                    args.device,
                                    args.dtype)
    return _report(pipeline.sample(settings, args.out, _progress()))


def run_upsample(args: argparse.Namespace) -> int:
    from jukebox.pipeline import JukeboxPipeline, read_settings
    from muse.core.ranges import check_device

    check_device(args.device)
    settings = read_settings(args.run)
    levels = tuple(sorted(set(settings.levels) | set(args.levels), reverse=True))
    pipeline = JukeboxPipeline.load(args.model or settings.model, args.checkpoints or settings.checkpoints,
                                    settings.ids_dir, levels, args.device, args.dtype)
    return _report(pipeline.upsample(args.run, args.levels, _progress()))
