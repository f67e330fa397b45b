"""``muse critic``: train a critic (real vs generated) or a reward model (preference pairs); score MIDI with one."""

from __future__ import annotations

import argparse


def _network_args(p: argparse.ArgumentParser, steps: int, batch_size: int) -> None:
    p.add_argument("--seconds", type=float, default=20.0,
                   help="the scorer reads the first S seconds of a piece (default: 20)")
    p.add_argument("--width", type=int, default=128, help="network width (default: 128)")
    p.add_argument("--depth", type=int, default=2, help="transformer layers (default: 2)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default: 4)")
    p.add_argument("--n-ctx", type=int, default=256, help="tokens per window (default: 256)")
    p.add_argument("--max-windows", type=int, default=8, help="windows scored per piece (default: 8)")
    p.add_argument("--steps", type=int, default=steps, help=f"optimizer steps (default: {steps})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"items per step (default: {batch_size})")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default: 3e-4)")
    p.add_argument("--held-out", type=float, default=0.2, metavar="SHARE",
                   help="share kept out of training to measure the scorer (default: 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the samples and training (default: 0)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--override", action="append", default=[], metavar="KEY",
                   help="with --resume: accept a changed train.steps, train.log_every, train.checkpoint_every")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser(
        "critic", help="train a critic or reward model; score MIDI files",
        description="A small classifier on the shared core that scores a piece: a critic (real music vs the "
                    "model's own samples) or a reward model (preference pairs). Either reranks samples "
                    "(muse generate --rerank K --rerank-by critic --critic PATH). See docs/PREFERENCES.md.")
    sub = top.add_subparsers(dest="critic_command", metavar="ACTION", required=True)

    t = sub.add_parser(
        "train", help="train a critic: held-out data (real) against the model's samples (generated)",
        description="Train a critic for MODEL: real pieces are a split of DATA (default: valid, music the model "
                    "did not train on), generated ones the model's own samples at default settings (one per real "
                    "piece's composer and instruments), or the MIDI files of --samples. Prints and records the "
                    "held-out ROC AUC (report.json, critic/critic.json).")
    t.add_argument("--model", required=True, metavar="MODEL", help="model folder or training run folder")
    t.add_argument("--data", required=True, metavar="DATA", help="dataset built with the model's tokenizer")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder (the critic goes to RUN/critic)")
    t.add_argument("--samples", metavar="FOLDER", help="MIDI files to use as the generated class instead of sampling")
    t.add_argument("--split", choices=("valid", "train"), default="valid",
                   help="split of the real pieces (default: valid)")
    t.add_argument("--max-pieces", type=int, default=0, metavar="N", help="use N real pieces at most (default: all)")
    t.add_argument("--n-samples", type=int, default=0, metavar="N",
                   help="samples to generate (default: one per real piece)")
    _network_args(t, steps=300, batch_size=16)
    t.set_defaults(func=run_train)

    r = sub.add_parser(
        "reward", help="train a reward model on preference pairs",
        description="Train a reward model (the critic's network, Bradley-Terry loss) on PREFS (pairs, or the "
                    "events of 'muse feedback export') for MODEL's vocabulary; prints the held-out pair accuracy.")
    r.add_argument("--model", required=True, metavar="MODEL", help="the model whose samples the pairs hold")
    r.add_argument("--prefs", required=True, metavar="PREFS.jsonl", help="preference pairs")
    r.add_argument("--out", required=True, metavar="RUN", help="run folder (the reward model goes to RUN/critic)")
    _network_args(r, steps=200, batch_size=8)
    r.set_defaults(func=run_reward)

    s = sub.add_parser("score", help="score MIDI files with a critic or reward model",
                       description="Print the score of each MIDI file (or every MIDI file under a folder).")
    s.add_argument("paths", nargs="+", metavar="MIDI", help="MIDI files or folders")
    s.add_argument("--critic", required=True, metavar="PATH", help="critic or reward model folder (or its run folder)")
    s.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    s.set_defaults(func=run_score)


def _configs(args: argparse.Namespace, default_train):  # noqa: ANN001, ANN202
    import dataclasses

    from muse.core.errors import UserError
    from muse.critic import CriticConfig

    critic = CriticConfig(width=args.width, depth=args.depth, heads=args.heads, n_ctx=args.n_ctx,
                          max_windows=args.max_windows, seconds=args.seconds)
    base = default_train()
    try:
        train = dataclasses.replace(base, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                    warmup_steps=min(base.warmup_steps, args.steps // 10))
    except ValueError as err:
        raise UserError(str(err)) from err
    if args.override and not args.resume:
        raise UserError("--override only applies with --resume")
    return critic, train


def run_train(args: argparse.Namespace) -> int:
    from muse.critic_training import CriticRunConfig, default_critic_train, train_critic

    critic, train = _configs(args, default_critic_train)
    config = CriticRunConfig(critic=critic, train=train, split=args.split, max_pieces=args.max_pieces,
                             n_samples=args.n_samples, held_out=args.held_out, seed=args.seed)
    report = train_critic(args.model, args.data, args.out, config, samples=args.samples, resume=args.resume,
                          overrides=tuple(args.override), progress=not args.no_progress)
    print(f"critic: held-out ROC AUC {report.auc:.3f} ({report.held_out_real} real vs {report.held_out_generated} "
          f"generated pieces; training pieces {report.train_auc:.3f}); saved to {report.critic_dir}")
    return 0


def run_reward(args: argparse.Namespace) -> int:
    from muse.reward import RewardRunConfig, default_reward_train, train_reward

    critic, train = _configs(args, default_reward_train)
    config = RewardRunConfig(critic=critic, train=train, held_out=args.held_out, seed=args.seed)
    report = train_reward(args.model, args.prefs, args.out, config, resume=args.resume,
                          overrides=tuple(args.override), progress=not args.no_progress)
    print(f"reward model: held-out pair accuracy {report.held_out_accuracy:.3f} ({report.held_out_pairs} of "
          f"{report.pairs} pairs; training pairs {report.train_accuracy:.3f}); saved to {report.critic_dir}")
    return 0


def run_score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from muse.core.errors import USER_ERRORS, UserError
    from muse.critic import load_critic
    from muse.critic_training import MIDI_SUFFIXES

    critic = load_critic(args.critic, args.device)
    files: list[Path] = []
    for name in args.paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    if not files:
        raise UserError("no MIDI files to score")
    for path in files:
        try:
            print(f"{critic.score_midi(path):+.4f}  {path}")
        except USER_ERRORS as err:
            print(f"skipped: {err}")
    return 0
