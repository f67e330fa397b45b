"""``muse data build``: tokenize a MIDI folder or music21's corpus into token shards; ``muse data info``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="build and inspect token datasets")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    build = sub.add_parser("build", help="tokenize MIDI files or the music21 corpus into token shards",
                           description="Tokenize a folder of MIDI files (--midi-dir), the music21 package's "
                           "bundled corpus (--music21), or both into memmap token shards + a JSON index.")
    src = build.add_argument_group("sources (one or both)")
    src.add_argument("--midi-dir", type=Path, metavar="DIR", help="folder of MIDI files (searched recursively)")
    src.add_argument("--music21", action="store_true", help="music21's bundled corpus; folder names are the labels")
    lab = build.add_argument_group("labels")
    lab.add_argument("--composer-from", choices=["parent", "prefix", "csv", "none"],
                     help="composer of a MIDI file: its folder name (default), its file-name prefix "
                     "(composer-title.mid), a --metadata column, or none")
    lab.add_argument("--metadata", type=Path, metavar="CSV", help="CSV with a file path and a composer per row")
    lab.add_argument("--path-column", help="CSV column of file paths (default: path/file/filename/midi_filename)")
    lab.add_argument("--composer-column", help="CSV column of composers (default: composer/canonical_composer/...)")
    lab.add_argument("--composers", help="comma-separated labels to keep (e.g. bach,mozart)")
    lab.add_argument("--limit", type=int, metavar="N", help="at most N pieces per label (first N by id)")
    lab.add_argument("--min-pieces", type=int, default=0, metavar="N",
                     help="labels with fewer than N pieces (after deduplication) are merged into 'other' "
                     "(default 0: keep every label)")
    build.add_argument("--out", type=Path, required=True, metavar="DATA", help="output dataset folder")
    build.add_argument("--tokenizer-config", type=Path, metavar="JSON",
                       help="musetok TokenizerConfig JSON (its composer list is replaced by the labels found)")
    build.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="worker processes (default: CPU count; 0 = in this process, no timeout)")
    build.add_argument("--timeout", type=float, default=300.0, metavar="S",
                       help="seconds one piece may take before it is skipped (default 300)")
    build.add_argument("--valid-fraction", type=float, default=0.05, metavar="F",
                       help="fraction of pieces in the validation split, chosen by content hash (default 0.05)")
    build.add_argument("--cache-dir", type=Path, metavar="DIR", help="build cache (default: DATA/cache)")
    build.add_argument("--no-cache", action="store_true", help="tokenize every piece again; keep no cache")
    build.add_argument("--no-dedupe", action="store_true", help="keep pieces whose notes repeat an earlier piece")
    build.add_argument("--shard-tokens", type=int, default=1 << 27, metavar="N", help="tokens per shard file")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument("--strict", action="store_true",
                       help="fail when any MIDI file needs a repair to be read, naming them (default: keep the "
                            "repaired piece with a WARNING naming the file)")
    build.set_defaults(func=run_build)

    info = sub.add_parser("info", help="summary of a built dataset")
    info.add_argument("data", type=Path, metavar="DATA", help="dataset folder written by `muse data build`")
    info.set_defaults(func=run_info)


def run_build(args: argparse.Namespace) -> int:
    from musetok import TokenizerConfig

    from muse.data import BuildOptions, build_dataset, collect_sources, format_report

    found = collect_sources(
        midi_dir=args.midi_dir, music21=args.music21, composer_from=args.composer_from, metadata=args.metadata,
        path_column=args.path_column, composer_column=args.composer_column,
        composers=[c for c in args.composers.split(",") if c.strip()] if args.composers else None, limit=args.limit,
    )
    options = BuildOptions(
        out=args.out,
        tokenizer=TokenizerConfig.load(args.tokenizer_config) if args.tokenizer_config else TokenizerConfig(),
        workers=args.workers, timeout=args.timeout, valid_fraction=args.valid_fraction, cache=not args.no_cache,
        cache_dir=args.cache_dir, shard_tokens=args.shard_tokens, dedupe=not args.no_dedupe,
        progress=not args.no_progress, min_pieces=args.min_pieces, strict=args.strict,
    )
    print(format_report(build_dataset(found, options)))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from muse.data import describe_dataset

    print(describe_dataset(args.data))
    return 0
