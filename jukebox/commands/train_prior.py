"""``jukebox encode-dataset`` and ``jukebox train-prior``: priors trained on your own audio."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    enc = subparsers.add_parser("encode-dataset", help="encode an audio folder into codes for prior training")
    enc.add_argument("audio_dir", help="folder of audio files (sub-folders name the artist unless a <name>.json says)")
    enc.add_argument("--vqvae", help="VQ-VAE checkpoint (official vqvae.pth.tar or ours; default: the bundled codec)")
    enc.add_argument("--out", required=True, help="dataset folder to write (codes + index.json)")
    enc.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    enc.set_defaults(func=run_encode_dataset)

    train = subparsers.add_parser("train-prior", help="train a top prior or an upsampler on an encoded dataset")
    train.add_argument("--level", type=int, required=True, help="level of the codes the prior models (2 = top)")
    train.add_argument("--config", required=True, help="prior config YAML (e.g. configs/jukebox/prior_tiny.yaml)")
    train.add_argument("--data", required=True, help="dataset folder written by `jukebox encode-dataset`")
    train.add_argument("--out", required=True, help="run folder (checkpoints, metrics, exported model)")
    train.add_argument("--val-data",
                       help="held-out dataset from `jukebox encode-dataset` (loss every eval_every steps)")
    train.add_argument("--train-config", help="training YAML (muse.core.train.TrainConfig); flags below override it")
    train.add_argument("--steps", type=int, help="optimizer steps")
    train.add_argument("--batch-size", type=int, help="windows per micro-batch")
    train.add_argument("--lr", type=float, help="peak learning rate")
    train.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (0 = only at the end)")
    train.add_argument("--ids-dir", help="official artist/genre id files to label with (default: ids from the dataset)")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    train.set_defaults(func=run_train_prior)


def run_encode_dataset(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from jukebox.prior.data import encode_dataset
    from jukebox.vqvae.codec import Codec

    codec = Codec.load(args.vqvae, device=args.device)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        bar = bar or tqdm(total=total, desc="encoding", unit="file")
        bar.update(done - bar.n)

    songs = encode_dataset(args.audio_dir, codec, args.out, progress)
    if bar is not None:
        bar.close()
    seconds = sum(s.samples for s in songs) / codec.sample_rate
    print(f"wrote {len(songs)} songs ({seconds / 60:.1f} min) to {args.out}")
    return 0


def run_train_prior(args: argparse.Namespace) -> int:
    import dataclasses

    from jukebox.prior.config import PriorConfig
    from jukebox.prior.training import train_prior
    from muse.core.config import load_config
    from muse.core.errors import ConfigError
    from muse.core.train import TrainConfig

    config = load_config(PriorConfig, args.config)
    if config.level != args.level:
        raise ConfigError(f"{args.config}: describes a level-{config.level} prior, not level {args.level}")
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
                                   ("checkpoint_every", args.checkpoint_every)) if v is not None}
    if args.train_config:
        train = dataclasses.replace(load_config(TrainConfig, args.train_config), **overrides)
    else:
        if "steps" not in overrides or "batch_size" not in overrides:
            raise ConfigError("give --train-config or both --steps and --batch-size")
        train = TrainConfig(**overrides)
    result = train_prior(config, args.data, args.out, train, ids_dir=args.ids_dir, val_dir=args.val_data,
                         resume=args.resume)
    print(f"step {result.step}: loss {result.train_loss:.4f}; "
          f"model in {args.out}/prior_level_{config.level}.safetensors")
    return 0
