"""``jukebox vqvae encode|decode|reconstruct``: the VQ-VAE codec on audio files (calls jukebox.codec)."""

from __future__ import annotations

import argparse


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        help="official vqvae.pth.tar, or our .safetensors with its config beside it (default: the bundled codec)",
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


def _codec(args: argparse.Namespace):
    from jukebox.codec import Codec

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
