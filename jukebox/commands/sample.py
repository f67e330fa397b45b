"""``jukebox sample|continue|upsample``: hierarchical sampling runs (calls jukebox.pipeline)."""

from __future__ import annotations

import argparse
from pathlib import Path

MODELS = ("1b_lyrics", "5b_lyrics", "5b", "small")


def _levels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated levels like 2,1,0, got {text!r}") from None


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions like 0.5,0.5,0.125, got {text!r}") from None
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
    parser.add_argument("--ids-dir", help="folder with the official artist/genre id files ({v2,v3}_{artist,genre}_ids.txt)")
    parser.add_argument("--artist", default="0", help="artist name (looked up in --ids-dir) or id (default: 0, unknown)")
    parser.add_argument("--genre", default="0", help="genre name (looked up in --ids-dir) or id(s) (default: 0)")
    parser.add_argument("--lyrics", help="UTF-8 text file with the lyrics")
    parser.add_argument("--seconds", type=float, default=20.0, help="song length in seconds (default: 20)")
    parser.add_argument("--out", help="output folder for the run (codes, settings, WAVs)")
    parser.add_argument("--levels", type=_levels, default=(2, 1, 0), help="levels to sample, top first (default: 2,1,0)")
    parser.add_argument("--samples", type=int, default=1, help="songs sampled together (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--temperature", type=float, default=0.98, help="top-level temperature (default: 0.98)")
    parser.add_argument("--upsample-temperature", type=float, default=0.99, help="upsampler temperature (default: 0.99)")
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most likely codes (0 = off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    parser.add_argument("--hop-fractions", type=_fractions, default=(0.5, 0.5, 0.125),
                        help="new codes per window as a fraction of the context, for levels 0,1,2 (default: 0.5,0.5,0.125)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped (other options are read from it)")


def register(subparsers: argparse._SubParsersAction) -> None:
    sample = subparsers.add_parser("sample", help="sample songs from artist, genre, lyrics (levels 2 -> 1 -> 0)")
    _add_song_args(sample)
    sample.set_defaults(func=run_sample, prompt=None, prompt_seconds=0.0)

    cont = subparsers.add_parser("continue", help="continue an audio file: its first seconds prime the song")
    cont.add_argument("input", help="audio file whose start the song continues")
    cont.add_argument("--prompt-seconds", type=float, default=10.0, help="seconds of the input used as prompt (default: 10)")
    _add_song_args(cont)
    cont.set_defaults(func=run_sample)

    up = subparsers.add_parser("upsample", help="add the lower levels to a run (e.g. one sampled with --levels 2)")
    up.add_argument("run", help="run folder written by `jukebox sample`")
    up.add_argument("--levels", type=_levels, default=(1, 0), help="levels to add (default: 1,0)")
    _add_model_args(up, required=False)
    up.set_defaults(func=run_upsample)


def _settings(args: argparse.Namespace):
    from jukebox.pipeline import LevelSampling, SampleSettings
    from muse.core.errors import UserError

    if args.model is None or args.out is None:
        raise UserError("--model and --out are required (or --resume DIR)")
    if len(args.hop_fractions) != 3:
        raise UserError("--hop-fractions needs one value per level: 0,1,2")
    lyrics = ""
    if args.lyrics:
        try:
            lyrics = Path(args.lyrics).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"{args.lyrics}: cannot read the lyrics file ({err})") from None
    temps = (args.upsample_temperature, args.upsample_temperature, args.temperature)
    sampling = tuple(
        LevelSampling(temperature=t, top_k=args.top_k, top_p=args.top_p, hop_fraction=f)
        for t, f in zip(temps, args.hop_fractions)
    )
    input_path = getattr(args, "input", None)
    try:
        return SampleSettings(
            model=args.model, checkpoints=args.checkpoints, artist=args.artist, genre=args.genre, lyrics=lyrics,
            seconds=args.seconds, levels=args.levels, n_samples=args.samples, seed=args.seed, ids_dir=args.ids_dir,
            sampling=sampling, prompt=input_path, prompt_seconds=args.prompt_seconds if input_path else 0.0,
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

    if args.resume:
        settings = read_settings(args.resume)
        pipeline = JukeboxPipeline.load(settings.model, args.checkpoints or settings.checkpoints, settings.ids_dir,
                                        settings.levels, args.device, args.dtype)
        return _report(pipeline.resume(args.resume, _progress()))
    settings = _settings(args)
    pipeline = JukeboxPipeline.load(settings.model, settings.checkpoints, settings.ids_dir, settings.levels, args.device,
                                    args.dtype)
    return _report(pipeline.sample(settings, args.out, _progress()))


def run_upsample(args: argparse.Namespace) -> int:
    from jukebox.pipeline import JukeboxPipeline, read_settings

    settings = read_settings(args.run)
    levels = tuple(sorted(set(settings.levels) | set(args.levels), reverse=True))
    pipeline = JukeboxPipeline.load(args.model or settings.model, args.checkpoints or settings.checkpoints,
                                    settings.ids_dir, levels, args.device, args.dtype)
    return _report(pipeline.upsample(args.run, args.levels, _progress()))
