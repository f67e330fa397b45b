"""``muse train`` and ``muse eval``: train the symbolic model on a built dataset; score it per composer."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser(
        "train", help="train a model on a built dataset",
        description="Train the MuseNet-style model with a preset (configs/muse/*.yaml) on a dataset built by "
                    "'muse data build'. The run folder gets metrics.jsonl, checkpoints/ and, at the end, the "
                    "model in model/ (for 'muse generate --model').")
    t.add_argument("--config", required=True, metavar="PRESET.yaml", help="preset, e.g. configs/muse/small.yaml")
    t.add_argument("--data", required=True, metavar="DATA", help="dataset folder (muse data build)")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder to write (e.g. runs/small)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint (with the run's own preset and data: "
                        "a difference is refused, listed)")
    t.add_argument("--override", action="append", default=[], metavar="KEY",
                   help="with --resume: accept a changed setting KEY; only train.steps (more steps extend the "
                        "learning-rate schedule), train.log_every, train.eval_every, train.eval_batches, "
                        "train.checkpoint_every, train.keep_checkpoints, train.num_workers")
    t.add_argument("--max-steps", type=int, metavar="N",
                   help="stop after step N (checkpointed; the preset's schedule is kept for --resume)")
    t.add_argument("--init-from", metavar="MODEL",
                   help="start from this saved model's weights (same architecture; the dataset's vocabulary may "
                        "add tokens after the model's, e.g. the fill-in-the-middle markers)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "eval", help="bits/token of a model per composer, and the unigram baseline",
        description="Score every token of a dataset split (or of a folder of MIDI files) with a model; print "
                    "bits/token per composer beside the unigram baseline (token frequencies of the training "
                    "split, or of the files themselves with --midi).")
    e.add_argument("--model", required=True, metavar="MODEL", help="model folder or training run folder")
    source = e.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="DATA", help="dataset folder (built with the model's tokenizer)")
    source.add_argument("--midi", metavar="FOLDER",
                        help="folder of MIDI files, tokenized with the model's vocabulary; the unigram baseline "
                             "is then fit on these files themselves")
    e.add_argument("--composer-from", choices=("parent", "prefix", "none"), default="parent",
                   help="with --midi: a file's composer is its folder name (default), its file-name prefix "
                        "(composer-title.mid) or unknown")
    e.add_argument("--split", choices=("valid", "train"), default="valid", help="split to score (default: valid)")
    e.add_argument("--batch-size", type=int, default=8, help="windows per batch (default: 8)")
    e.add_argument("--max-pieces", type=int, metavar="N", help="score only the first N pieces of the split")
    e.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    e.set_defaults(func=run_eval)


def run_train(args: argparse.Namespace) -> int:
    from muse.training import train

    if args.override and not args.resume:
        from muse.core.errors import UserError

        raise UserError("--override only applies with --resume")
    result = train(args.config, args.data, args.out, resume=args.resume, max_steps=args.max_steps,
                   progress=not args.no_progress, overrides=tuple(args.override),
                   init_from=args.init_from)
    bits = "" if result.eval_loss is None else f", validation {result.eval_loss / 0.6931471805599453:.3f} bits/token"
    print(f"step {result.step}{bits}; run folder {args.out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from muse.evaluate import evaluate, evaluate_midi

    if args.midi is not None:
        report = evaluate_midi(args.model, args.midi, composer_from=args.composer_from, batch_size=args.batch_size,
                               device=args.device, max_pieces=args.max_pieces)
    else:
        report = evaluate(args.model, args.data, split=args.split, batch_size=args.batch_size, device=args.device,
                          max_pieces=args.max_pieces)
    print(report.table())
    return 0
