"""``jukebox train-vqvae``: train a VQ-VAE on a folder of audio (calls jukebox.vqvae.training)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train-vqvae", help="train a VQ-VAE codec on a folder of audio files")
    parser.add_argument("--config", required=True,
                        help="training config (YAML), e.g. configs/jukebox/train_vqvae_small.yaml")
    parser.add_argument("--data", required=True, help="folder of audio files (searched recursively)")
    parser.add_argument("--out", required=True, help="run folder (metrics, checkpoints, final vqvae.safetensors)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--steps", type=int, help="override the config's number of optimizer steps")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from jukebox.vqvae.training import load_training_config, train_vqvae

    config = load_training_config(args.config)
    if args.steps is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=args.steps))
    result = train_vqvae(config, args.data, args.out, resume=args.resume, progress=not args.no_progress)
    print(f"step {result.step}: train loss {result.train_loss:.4f}"
          + (f", eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""))
    print(f"codec: {args.out}/vqvae.safetensors")
    return 0
