"""The dataset builder: sources -> tokens (in parallel, cached) -> deduplicated, split token shards.

``build_dataset(found, options)`` tokenizes every ``PieceSource`` with a composer-free base
tokenizer in worker processes (``muse.data.pool``: per-piece timeout, crashed workers replaced),
reusing the cache for pieces done before. It then drops failures, pieces without notes and
duplicates (same note pitches and rhythm, whatever the tempo, instruments or dynamics; the first
piece in ``piece_order`` is kept), sets each piece's composer token from the final tokenizer, whose
composer list is exactly the labels kept (sorted), and writes the dataset folder described in
``muse.core.token_shards``. A piece goes to the validation split when the first 32 bits of its content
SHA-1 fall below ``valid_fraction``: the split depends on the music, not on paths or on the order
of work. No piece ever aborts the build; every one left out is reported with its reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from musetok import MidiTokenizer, TokenizerConfig
from musetok.vocab import Kind, Vocab

from muse.core.atomic import atomic_path, write_json
from muse.core.errors import UserError
from muse.core.token_shards import (
    JSON_INDENT,
    SKIPPED_FILE,
    STATS_FILE,
    TOKENIZER_FILE,
    PieceRecord,
    ShardWriter,
    Split,
    token_dtype,
    write_index,
)
from muse.data.cache import BuildCache, Encoded, source_key
from muse.data.encode import encode_source, init_worker
from muse.data.pool import run_tasks
from muse.data.sources import PieceSource, Skip, SkipKind, SourceList, piece_order

log = logging.getLogger(__name__)
UNKNOWN = "unknown_composer"  # stats key of pieces without a label
OTHER = "other"  # label of the pieces whose own label has fewer than ``min_pieces`` pieces


@dataclass(frozen=True)
class BuildOptions:
    """How to build: output folder, tokenizer (its composer list is replaced), parallelism, split, cache."""

    out: Path
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout: float | None = 300.0  # seconds per piece before its worker is killed
    valid_fraction: float = 0.05
    cache: bool = True
    cache_dir: Path | None = None  # default: <out>/cache
    shard_tokens: int = 1 << 27
    dedupe: bool = True
    progress: bool = True
    min_pieces: int = 0  # labels with fewer kept pieces are merged into ``other`` (0 = keep every label)
    # A fixed composer list (e.g. a trained model's): the vocabulary gets exactly these composer
    # tokens; a piece whose label is not among them is labelled ``other`` when that is one, else unknown.
    composers: tuple[str, ...] | None = None
    strict: bool = False  # a MIDI file that needed a repair fails the build (listed) instead of a warning

    def check(self) -> None:
        if self.min_pieces < 0:
            raise UserError(f"--min-pieces must be 0 or more, not {self.min_pieces}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise UserError(f"validation fraction must be in [0, 1), not {self.valid_fraction}")
        if self.workers < 0:
            raise UserError(f"workers must be 0 (in-process) or more, not {self.workers}")
        if self.timeout is not None and self.timeout <= 0:
            raise UserError(f"timeout must be positive, not {self.timeout}")


@dataclass
class LabelStats:
    """Totals of one composer/style label over the pieces kept (``skipped``: pieces left out)."""

    pieces: int = 0
    train: int = 0
    valid: int = 0
    notes: int = 0
    tokens: int = 0
    hours: float = 0.0
    median_tempo: float | None = None
    skipped: int = 0
    cpu_seconds: float = 0.0  # CPU time spent converting + tokenizing the kept pieces (when first built)


@dataclass
class BuildReport:
    """What a build produced; ``to_dict`` is what ``stats.json`` holds."""

    out: Path
    pieces: int
    tokens: int
    notes: int
    hours: float
    vocab_size: int
    dtype: str
    composers: tuple[str, ...]
    labels: dict[str, LabelStats]
    merged: dict[str, int]  # label -> pieces merged into ``other`` (``min_pieces``)
    skipped: list[Skip]
    recovered: int  # pieces kept after the reader repaired their file
    encoded: int  # pieces tokenized in this run
    cached: int  # pieces taken from the cache
    elapsed: float

    def skipped_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pieces": self.pieces, "tokens": self.tokens, "notes": self.notes, "hours": round(self.hours, 3),
            "vocab_size": self.vocab_size, "dtype": self.dtype, "composers": list(self.composers),
            "skipped": self.skipped_by_kind(), "recovered": self.recovered, "encoded": self.encoded,
            "cached": self.cached, "elapsed_s": round(self.elapsed, 2),
            "labels": {k: dataclasses.asdict(v) for k, v in self.labels.items()},
            "merged_into_other": self.merged,
        }


def split_of(digest: str, valid_fraction: float) -> Split:
    """``valid`` when the first 32 bits of the hex ``digest`` fall below ``valid_fraction``."""
    return "valid" if int(digest[:8], 16) / 2**32 < valid_fraction else "train"


def note_fingerprint(ids: np.ndarray, vocab: Vocab) -> str:
    """Hash of the note pitches, note-offs, drum hits and waits of ``ids`` [n]: equal for the same
    music played at another tempo, by other instruments or with other dynamics."""
    kind, pitch = vocab.kind[ids], vocab.pitch[ids].astype(np.int64)
    code = np.select(
        [kind == Kind.NOTE, kind == Kind.DRUM, kind == Kind.WAIT],
        [pitch + 128 * (vocab.velocity[ids] == 0), 256 + pitch, 1000 + vocab.wait_ticks[ids].astype(np.int64)],
        default=-1,
    )
    return hashlib.sha1(code[code >= 0].astype("<i4").tobytes()).hexdigest()


def _remap_table(base: Vocab, final: Vocab) -> np.ndarray:
    """base id -> final id (the vocabularies differ only in their composer block)."""
    return np.array([final.id(token) for token in base.tokens], dtype=np.int64)


def _config_hash(config: TokenizerConfig) -> str:
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()


TIMEOUT_PREFIX = "timed out after "


def _cached(cache: BuildCache, key: str, timeout: float | None) -> Encoded | None:
    """The cache entry of ``key``, unless it is a timeout under a shorter limit than ``timeout``."""
    hit = cache.get(key)
    if hit is not None and hit.error is not None and hit.error.startswith(TIMEOUT_PREFIX):
        limit = float(hit.error[len(TIMEOUT_PREFIX):].split()[0])
        if timeout is None or timeout > limit:
            return None
    return hit


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while tokenizing, so the cache keeps the work done and workers stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tokenize_all(sources: list[PieceSource], base: TokenizerConfig,
                  options: BuildOptions) -> tuple[list[Encoded], dict[int, SkipKind], int]:
    """Encoded result per source (cache first, then workers); the kinds of fresh failures; cache hits."""
    cache_dir = options.cache_dir or options.out / "cache"
    cache = BuildCache(cache_dir / "pieces.sqlite" if options.cache else None)
    base_hash = _config_hash(base)
    results: list[Encoded | None] = [None] * len(sources)
    kinds: dict[int, SkipKind] = {}
    todo: list[tuple[int, str]] = []
    for i, source in enumerate(sources):
        try:
            key = source_key(source, base_hash)
        except OSError as err:
            results[i] = Encoded(error=f"cannot read it ({err.strerror or err})")
            continue
        results[i] = _cached(cache, key, options.timeout)
        if results[i] is None:
            todo.append((i, key))
        elif results[i].error is not None and results[i].error.startswith(TIMEOUT_PREFIX):
            kinds[i] = "timeout"
    cached = len(sources) - len(todo)
    log.info("%d pieces: %d from the cache, %d to tokenize (%d workers)",
             len(sources), cached, len(todo), options.workers)
    preload = ["muse.data.encode"]
    if any(sources[i].kind == "music21" for i, _ in todo):
        preload += ["music21.converter", "music21.midi.translate", "muse.data.music21_corpus"]
    tasks = [sources[i] for i, _ in todo]
    outcomes = run_tasks(encode_source, tasks, options.workers, options.timeout, init_worker,
                         (base.to_dict(), options.workers > 0), preload)
    bar = tqdm(total=len(todo), desc="tokenizing", unit="piece", disable=not options.progress or not todo,
               dynamic_ncols=True)
    try:
        with _terminate_as_interrupt(), logging_redirect_tqdm(), closing(outcomes), bar:
            for outcome in outcomes:
                i, key = todo[outcome.index]
                if outcome.failure is not None:
                    value = Encoded(error=outcome.error)
                    kinds[i] = outcome.failure
                else:
                    value = outcome.value
                if outcome.failure != "crash":  # a crash may be the machine's (memory), not the piece's
                    cache.put(key, value)
                results[i] = value
                bar.update()
    except RuntimeError as err:
        raise UserError(f"cannot start the tokenizer workers: {err}") from None
    finally:
        cache.close()
    assert all(r is not None for r in results), "a piece was neither cached nor tokenized"
    return results, kinds, cached  # type: ignore[return-value]


def build_dataset(found: SourceList, options: BuildOptions) -> BuildReport:
    """Tokenize ``found.sources`` and write the dataset folder ``options.out``; see the module doc.

    Worker processes import the caller's main module (multiprocessing's forkserver/spawn), so a
    script calling this needs the ``if __name__ == "__main__":`` guard.
    """
    start = time.monotonic()
    options.check()
    sources = sorted(found.sources, key=piece_order)
    if not sources:
        raise UserError("nothing to build: no pieces found")
    ids = [s.id for s in sources]
    if len(set(ids)) != len(ids):
        raise UserError(f"piece ids are not unique (e.g. {next(i for i in ids if ids.count(i) > 1)!r})")
    options.out.mkdir(parents=True, exist_ok=True)
    base = dataclasses.replace(options.tokenizer, composers=())
    results, kinds, cached = _tokenize_all(sources, base, options)
    base_vocab = MidiTokenizer(base).vocab
    kept, skipped = _keep(sources, results, kinds, base_vocab, options.dedupe)
    _check_repairs(kept, options.strict)
    skipped = list(found.skipped) + skipped
    for s in skipped:
        level = logging.WARNING if s.kind in ("error", "timeout", "crash", "missing") else logging.DEBUG
        log.log(level, "skipped %s: %s", s.id, s.reason)
    write_json(options.out / SKIPPED_FILE, [dataclasses.asdict(s) for s in skipped], indent=JSON_INDENT)
    if not kept:
        raise UserError(f"no piece could be used ({len(skipped)} skipped; reasons in {options.out / SKIPPED_FILE})")

    kept, merged = merge_small_labels(kept, options.min_pieces)
    if options.composers is None:
        composers = tuple(sorted({s.label for s, _ in kept if s.label}))
    else:
        composers = options.composers
        kept = [(s if s.label in composers or s.label is None else
                 dataclasses.replace(s, label=OTHER if OTHER in composers else None), enc) for s, enc in kept]
    tokenizer = MidiTokenizer(dataclasses.replace(options.tokenizer, composers=composers))
    shards, records = _write_shards(kept, base_vocab, tokenizer.vocab, options)
    with atomic_path(options.out / TOKENIZER_FILE) as tmp:
        tokenizer.save(tmp)
    report = BuildReport(
        out=options.out, pieces=len(records), tokens=sum(r.length for r in records),
        notes=sum(r.n_notes for r in records), hours=sum(r.seconds for r in records) / 3600,
        vocab_size=tokenizer.vocab.size, dtype=token_dtype(tokenizer.vocab.size).str, composers=composers,
        labels=_label_stats(records, [enc.cpu for _, enc in kept], sources, skipped, merged),
        merged=merged, skipped=skipped, recovered=sum(1 for _, enc in kept if enc.warnings),
        encoded=len(sources) - cached,
        cached=cached, elapsed=time.monotonic() - start,
    )
    write_json(options.out / STATS_FILE, report.to_dict(), indent=JSON_INDENT)
    write_index(options.out, shards, records, dtype=report.dtype, vocab_size=report.vocab_size,
                composers=list(composers), tokenizer=TOKENIZER_FILE, valid_fraction=options.valid_fraction)
    return report


def _check_repairs(kept: list[tuple[PieceSource, Encoded]], strict: bool) -> None:
    """Warn ``<file>: <what was repaired>`` for every repaired MIDI file kept; with ``strict`` any
    such repair fails the build instead (a ``UserError`` naming the files), before anything is written."""
    repaired = [(source, enc) for source, enc in kept if enc.warnings and source.kind != "music21"]
    for source, enc in kept:
        for warning in enc.warnings:
            log.warning("%s: %s", source.path if source.kind != "music21" else source.id, warning)
    if strict and repaired:
        shown = "; ".join(f"{s.path}: {e.warnings[0]}" for s, e in repaired[:5])
        more = f" (and {len(repaired) - 5} more)" if len(repaired) > 5 else ""
        raise UserError(f"--strict: {len(repaired)} MIDI file(s) needed a repair to be read: {shown}{more}")


def _keep(sources: list[PieceSource], results: list[Encoded], kinds: dict[int, SkipKind], vocab: Vocab,
          dedupe: bool) -> tuple[list[tuple[PieceSource, Encoded]], list[Skip]]:
    """Pieces that go into the dataset, and those left out: failures, pieces without notes, duplicates."""
    kept: list[tuple[PieceSource, Encoded]] = []
    skipped: list[Skip] = []
    seen: dict[str, str] = {}
    for i, (source, enc) in enumerate(zip(sources, results)):
        if enc.error is not None or enc.ids is None:
            skipped.append(Skip(source.id, enc.error or "no tokens", kinds.get(i, "error")))
            continue
        if enc.n_notes == 0:
            skipped.append(Skip(source.id, "no notes", "empty"))
            continue
        if dedupe:
            fingerprint = note_fingerprint(enc.ids, vocab)
            if fingerprint in seen:
                skipped.append(Skip(source.id, f"duplicate of {seen[fingerprint]} (same notes)", "duplicate"))
                continue
            seen[fingerprint] = source.id
        kept.append((source, enc))
    return kept, skipped


def merge_small_labels(kept: list[tuple[PieceSource, Encoded]], min_pieces: int
                       ) -> tuple[list[tuple[PieceSource, Encoded]], dict[str, int]]:
    """Relabel as ``other`` the pieces of labels with fewer than ``min_pieces`` kept pieces (so every
    composer token has enough music to learn from); also which labels were merged, with their counts.
    Unlabelled pieces stay unlabelled."""
    counts: dict[str, int] = {}
    for source, _ in kept:
        if source.label:
            counts[source.label] = counts.get(source.label, 0) + 1
    small = {label: n for label, n in counts.items() if n < min_pieces and label != OTHER}
    if not small:
        return kept, {}
    relabelled = [(dataclasses.replace(s, label=OTHER) if s.label in small else s, enc) for s, enc in kept]
    log.info("merged %d labels with fewer than %d pieces into %r (%d pieces)",
             len(small), min_pieces, OTHER, sum(small.values()))
    return relabelled, dict(sorted(small.items()))


def _write_shards(kept: list[tuple[PieceSource, Encoded]], base: Vocab, vocab: Vocab,
                  options: BuildOptions) -> tuple[list[dict[str, Any]], list[PieceRecord]]:
    """Write the pieces' ids in the final vocabulary (composer token set) to shards; their records."""
    remap = _remap_table(base, vocab)
    writer = ShardWriter(options.out, token_dtype(vocab.size), options.shard_tokens)
    records = []
    for source, enc in kept:
        ids = remap[enc.ids]
        header = vocab.header_length(ids)
        composer_at = np.flatnonzero(ids[:header] == vocab.unknown_composer_id)
        assert ids[header - 1] == vocab.start_id and len(composer_at) == 1, f"{source.id}: unexpected header"
        ids[composer_at] = vocab.composer_id(source.label)
        shard, offset = writer.add(ids)
        records.append(PieceRecord(
            id=source.id, source=source.path, composer=source.label, split=split_of(enc.digest, options.valid_fraction),
            shard=shard, offset=offset, length=len(ids), header=header, n_notes=enc.n_notes,
            seconds=round(enc.seconds, 3), tempo=None if enc.tempo is None else round(enc.tempo, 2),
        ))
    return writer.close(), records


def _label_stats(records: list[PieceRecord], cpu: list[float], sources: list[PieceSource],
                 skipped: list[Skip], merged: dict[str, int]) -> dict[str, LabelStats]:
    stats: dict[str, LabelStats] = {}
    tempos: dict[str, list[float]] = {}
    for r, seconds in zip(records, cpu):
        key = r.composer or UNKNOWN
        st = stats.setdefault(key, LabelStats())
        st.pieces += 1
        st.cpu_seconds += seconds
        st.train += r.split == "train"
        st.valid += r.split == "valid"
        st.notes += r.n_notes
        st.tokens += r.length
        st.hours += r.seconds / 3600
        if r.tempo is not None:
            tempos.setdefault(key, []).append(r.tempo)
    label_of = {s.id: (OTHER if s.label in merged else s.label) or UNKNOWN for s in sources}
    for s in skipped:
        key = label_of.get(s.id)
        if key is not None:
            stats.setdefault(key, LabelStats()).skipped += 1
    for key, st in stats.items():
        st.hours = round(st.hours, 3)
        st.cpu_seconds = round(st.cpu_seconds, 2)
        st.median_tempo = round(statistics.median(tempos[key]), 1) if tempos.get(key) else None
    return dict(sorted(stats.items()))


def format_report(report: BuildReport) -> str:
    """A table of the build for people: one row per label, totals, skipped pieces by reason."""
    rows = [("label", "pieces", "train", "valid", "notes", "tokens", "hours", "tempo", "skipped")]
    for name, st in report.labels.items():
        tempo = "-" if st.median_tempo is None else f"{st.median_tempo:g}"
        rows.append((name, str(st.pieces), str(st.train), str(st.valid), f"{st.notes:,}", f"{st.tokens:,}",
                     f"{st.hours:.2f}", tempo, str(st.skipped)))
    rows.append(("total", str(report.pieces), str(sum(s.train for s in report.labels.values())),
                 str(sum(s.valid for s in report.labels.values())), f"{report.notes:,}", f"{report.tokens:,}",
                 f"{report.hours:.2f}", "", str(len(report.skipped))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    skipped = ", ".join(f"{n} {kind}" for kind, n in report.skipped_by_kind().items()) or "none"
    lines += [
        f"skipped: {skipped} (list in {report.out / SKIPPED_FILE}); kept after repairs: {report.recovered}",
        *([f"merged into {OTHER!r}: {len(report.merged)} labels with fewer pieces than --min-pieces "
           f"({sum(report.merged.values())} pieces)"] if report.merged else []),
        f"vocabulary {report.vocab_size} ids ({report.dtype}), {len(report.composers)} composers; "
        f"{report.encoded} pieces tokenized, {report.cached} from the cache, {report.elapsed:.1f} s",
    ]
    return "\n".join(lines)
