"""``jukebox vqvae encode|decode|reconstruct``: the VQ-VAE codec on audio files (calls jukebox.vqvae.codec)."""

from __future__ import annotations

import argparse


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        help="official vqvae.pth.tar, our .safetensors with its config beside it, or a folder holding "
             "vqvae.safetensors (default: the bundled codec)",
    )
    parser.add_argument("--config", help="VQ-VAE config (YAML/JSON) overriding the one in or beside the checkpoint")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument(
        "--chunk-seconds", type=float, default=10.0, help="audio processed at a time; bounds memory (default: 10)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("vqvae", help="encode audio to codes, decode codes, measure reconstructions")
    sub = parser.add_subparsers(dest="vqvae_command", metavar="ACTION", required=True)

    enc = sub.add_parser("encode", help="audio file -> codes (.npz) of every level")
    enc.add_argument("input", help="audio file (wav, flac, ogg, mp3, ...)")
    enc.add_argument("-o", "--output", required=True, help="codes file to write (.npz)")
    enc.add_argument("--levels", type=int, nargs="+", help="levels to encode (default: all)")
    _add_model_args(enc)
    enc.set_defaults(func=run_encode)

    dec = sub.add_parser("decode", help="codes (.npz) of one level -> audio file")
    dec.add_argument("codes", help="codes file written by `jukebox vqvae encode`")
    dec.add_argument("--level", type=int, required=True, help="which level's codes to decode")
    dec.add_argument("-o", "--output", required=True, help="audio file to write (.wav, .flac, .ogg, .mp3)")
    _add_model_args(dec)
    dec.set_defaults(func=run_decode)

    rec = sub.add_parser("reconstruct", help="encode + decode every level; write WAVs and print quality metrics")
    rec.add_argument("input", help="audio file")
    rec.add_argument("-o", "--output", required=True, help="folder for <name>.level<L>.wav")
    rec.add_argument("--levels", type=int, nargs="+", help="levels to reconstruct (default: all)")
    _add_model_args(rec)
    rec.set_defaults(func=run_reconstruct)

    ev = sub.add_parser("evaluate", help="mean quality per level and codebook usage over a folder of audio")
    ev.add_argument("input", help="audio file or folder (searched recursively)")
    ev.add_argument("--levels", type=int, nargs="+", help="levels to measure (default: all)")
    ev.add_argument("--json", help="also write the figures to this JSON file")
    _add_model_args(ev)
    ev.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jukebox.vqvae.training import list_audio

    files = list_audio(args.input) if Path(args.input).is_dir() else [Path(args.input)]
    results = _codec(args).evaluate(files, args.levels)
    print(f"{len(files)} file(s) from {args.input}")
    print(f"{'level':>5}  {'spectral conv.':>14}  {'MR-STFT dist.':>13}  {'SI-SDR (dB)':>11}  {'codes used':>12}  "
          "perplexity")
    for q in results:
        print(f"{q.level:>5}  {q.spectral_convergence:>14.4f}  {q.mr_stft_distance:>13.4f}  {q.si_sdr_db:>11.2f}  "
              f"{q.codes_used:>5} / {q.l_bins:<4}  {q.perplexity:.1f}")
    if args.json:
        from dataclasses import asdict

        from muse.core.atomic import write_json

        write_json(args.json, {"input": str(args.input), "files": len(files), "levels": [asdict(q) for q in results]})
    return 0


def _codec(args: argparse.Namespace):
    from jukebox.vqvae.codec import Codec

    return Codec.load(args.checkpoint, args.config, args.device, args.chunk_seconds)


def run_encode(args: argparse.Namespace) -> int:
    codec = _codec(args)
    encoded = codec.encode_file(args.input, args.levels)
    path = encoded.save(args.output)
    shapes = ", ".join(f"level {lv}: {len(c)}" for lv, c in encoded.codes.items())
    print(f"wrote {path} ({encoded.length / encoded.sample_rate:.2f} s; codes {shapes})")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    path = _codec(args).decode_file(args.codes, args.level, args.output)
    print(f"wrote {path}")
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    report = _codec(args).reconstruct(args.input, args.output, args.levels)
    print(f"{report.input_path} ({report.seconds:.2f} s)")
    print(f"{'level':>5}  {'spectral conv.':>14}  {'MR-STFT dist.':>13}  {'SI-SDR (dB)':>11}  file")
    for lv in report.levels:
        print(
            f"{lv.level:>5}  {lv.spectral_convergence:>14.4f}  {lv.mr_stft_distance:>13.4f}  "
            f"{lv.si_sdr_db:>11.2f}  {lv.path}"
        )
    return 0
