"""Does generated music look like the data? Simple statistics of samples beside the composer's data.

For each composer, ``--n`` pieces of ``--seconds`` seconds are generated in one batch through
``MuseGenerator`` (``muse.sampling_defaults`` unless told otherwise, ``--guidance`` W and ``--rerank`` K
passed on; the grammar forces ``end`` at the requested length) for piano (``--instruments``:
other names, or ``common``: each composer's most common instrumentation in the dataset). The
composer's data pieces with exactly that instrumentation (``--data-instruments any``: all of them)
in ``--split`` (default: all; the validation split alone is thin in the music21 corpus, 1 to 12
pieces per composer) are decoded and cut into consecutive excerpts of the same length as the
samples (a last excerpt of at least half that length is kept), so that length-dependent figures
(pitch range, held notes) compare like with like. Per excerpt (``muse.music_stats``, pitched notes
only, drums left out):

- notes/s: pitched notes per second;
- polyphony: mean number of notes sounding at once while any sounds;
- mean pitch (MIDI, each note once) and pitch range (highest - lowest, semitones);
- pitch-class histogram (12 bins, weighted by note DURATION). Two distances between the mean
  histogram of the samples and of the data excerpts, both Jensen-Shannon divergence in bits (0 =
  equal, 1 = disjoint): "pc" on absolute pitch classes (the model is trained with random
  transpositions of +-5 semitones, so the samples' keys spread more than the data's), and "degree"
  on the histograms rotated to each excerpt's estimated tonic (Krumhansl-Schmuckler), i.e. the
  shape of the scale regardless of the key;

figures are means over excerpts (each excerpt weighs the same). For the samples alone: the share
that ended with ``end`` (the rest hit the facade's token cap), and the malformed ones: ``skipped`` >
0 (tokens the decoder had to drop; 0 under the grammar) and ``closed`` > 0 (notes still sounding at
``end``, closed there: the grammar ends a piece at its length whether or not notes are held).

The second table holds the targets of issue 15 (definitions in ``muse.music_stats``):

- "notes/s" and "polyphony": mean of the samples / mean of the data excerpts, and whether that
  ratio is within +-35% (0.65-1.35);
- "held > 8 s": notes sounding longer than 8 s per piece (mean; data excerpts cut at 20 s alike);
- "pc entropy" (bits, of the duration-weighted pitch-class histogram), "velocity" (mean MIDI
  velocity), "median note" (seconds) and "repeats" (share of the piece's windows of 8 consecutive
  notes whose (pitch interval, onset-interval bucket) steps occur more than once in it): the
  samples' mean / the data excerpts' mean, and the share of samples lying within the middle 80%
  (10th-90th percentile, inclusive) of the composer's data excerpts (a sample where the figure is
  undefined, e.g. fewer than 8 notes for "repeats", counts as outside);
- "copies": samples sharing a run of 64 consecutive notes (same onset intervals in grid ticks and
  same pitches; "transposed": same pitch intervals) with any piece of the dataset's TRAINING
  split (all composers, all instruments). The training runs are hashed once (about 30 s for 30 M
  tokens), kept in memory and, with ``--json``, cached next to it as ``copy64-<key>.npz`` (the key
  covers the dataset's index; ``--copy-cache DIR`` chooses the folder, ``--no-copy`` skips the check).

The last row, "all", pools the composers: means of the ratios (and how many composers are within
+-35%), of the held notes, and the share of all samples within their composer's middle 80%.

The matrix compares every composer's generated degree histogram with every composer's data
histogram: a model that learnt the styles is closest to its own composer's data (the diagonal). A
second matrix gives the same distance between the composers' data excerpts, for scale.

    .venv/bin/python benchmarks/sample_stats.py --model runs/small --data DATA --json stats.json
    .venv/bin/python benchmarks/sample_stats.py --model M --data D --composers bach,chopin --n 3 --seconds 8
    .venv/bin/python benchmarks/sample_stats.py --model M --data D --guidance 2 --rerank 4 --json guided.json
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musetok import MidiTokenizer
from musetok.vocab import Kind

from muse import sampling_defaults as D
from muse.core.errors import USER_ERRORS, UserError
from muse.core.token_shards import TokenDataset
from muse.grammar import instrument_keys
from muse.music_stats import (
    COPY_NOTES,
    CopyIndex,
    MusicStats,
    StatsSummary,
    jensen_shannon,
    middle_share,
    music_stats,
    score_notes,
    summarize,
    token_notes,
    windows,
)

log = logging.getLogger("benchmarks.sample_stats")
DEFAULT_COMPOSERS = "bach,mozart,beethoven,chopin,haydn,schubert,schumann,debussy"
RATIO_TOLERANCE = 0.35  # notes/s and polyphony: within +-35% of the data
BANDS = ("pc_entropy", "mean_velocity", "median_duration", "repeat_share")  # middle-80% targets
BAND_LABELS = {"pc_entropy": "pc entropy (bits)", "mean_velocity": "velocity", "median_duration": "median note (s)",
               "repeat_share": "repeats"}


@dataclass(frozen=True)
class Data:
    """A built dataset and the tokenizer its ids belong to."""

    ds: TokenDataset
    tokenizer: MidiTokenizer


@dataclass(frozen=True)
class Plan:
    """What to do for one composer: the samples' ``instruments`` and the data pieces (``indices``) to compare with."""

    composer: str
    instruments: tuple[str, ...]
    indices: list[int]


@dataclass
class ComposerResult:
    composer: str
    instruments: tuple[str, ...]
    data_pieces: int
    data: StatsSummary  # of the data excerpts
    generated: StatsSummary  # of the samples
    n: int
    ended: int
    skipped: int  # samples with skipped > 0
    closed: int  # samples with closed > 0
    closed_notes: float  # mean closed notes per sample
    tokens: int  # generated tokens in all samples (header excluded)
    gen_seconds: float  # wall-clock time of the generation
    data_excerpts: list[MusicStats]  # per data excerpt
    samples: list[MusicStats]  # per sample
    copies: list[int] | None = None  # per sample: 64-note runs found in the training split (None: not checked)
    copies_transposed: list[int] | None = None  # the same, up to transposition

    def ratio(self, name: str) -> float:
        """Mean of the samples / mean of the data excerpts of statistic ``name``."""
        g, d = getattr(self.generated, name), getattr(self.data, name)
        return g / d if d and d == d and g == g else float("nan")

    def within(self, name: str) -> bool:
        r = self.ratio(name)
        return bool(r == r and abs(r - 1) <= RATIO_TOLERANCE)

    def band(self, name: str) -> tuple[float, float, float]:
        """(share of samples within the data excerpts' 10th-90th percentile, p10, p90) of ``name``."""
        return middle_share([getattr(s, name) for s in self.samples], [getattr(s, name) for s in self.data_excerpts])


def composer_pieces(data: Data, composer: str, split: str) -> list[int]:
    return [i for i, p in enumerate(data.ds.pieces) if p.composer == composer and split in ("all", p.split)]


def instrumentation(data: Data, index: int) -> tuple[str, ...]:
    """Instrument names of piece ``index``'s header (composer, instruments..., start)."""
    vocab = data.tokenizer.vocab
    header = data.ds.tokens(index)[: data.ds.pieces[index].header]
    return tuple(vocab.tokens[int(t)] for t in header if vocab.kind[int(t)] == Kind.INSTRUMENT)


def most_common_instruments(data: Data, composer: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The composer's most frequent instrumentation in the whole dataset (piano if the model lacks one of them)."""
    counts = collections.Counter(instrumentation(data, i) for i in composer_pieces(data, composer, "all"))
    best = counts.most_common(1)[0][0] if counts else ("piano",)
    return best if best and all(name in known for name in best) else ("piano",)


def data_stats(data: Data, indices: list[int], seconds: float) -> list[MusicStats]:
    """Statistics (``MusicStats``) of every ``seconds``-long excerpt of the pieces ``indices``."""
    out = []
    for i in indices:
        ids = data.ds.tokens(i)
        notes = score_notes(data.tokenizer.decode(ids).score)
        out += [music_stats(part, length) for part, length in windows(notes, data.tokenizer.seconds(ids), seconds)]
    return out


def plan(gen, data: Data, composer: str, args: argparse.Namespace) -> Plan:  # noqa: ANN001
    """Check that the model and the data both have ``composer`` and choose the instruments and data pieces."""
    if composer not in gen.composers:
        raise UserError(f"the model has no composer {composer!r}; it knows {', '.join(gen.composers)}")
    if args.instruments != "common":
        instruments = tuple(name.strip() for name in args.instruments.split(","))
        instrument_keys(gen.vocab, instruments)  # unknown names: a UserError listing the known ones
    else:
        instruments = most_common_instruments(data, composer, gen.instruments)
    indices = composer_pieces(data, composer, args.split)
    if args.data_instruments == "same":
        indices = [i for i in indices if set(instrumentation(data, i)) == set(instruments)]
    if not indices:
        scope = f" for {','.join(instruments)}" if args.data_instruments == "same" else ""
        raise UserError(f"{args.data}: no {args.split} pieces by {composer!r}{scope}"
                        + (" (--data-instruments any takes all of them)" if scope else ""))
    return Plan(composer, instruments, indices)


def copy_index(data: Data, args: argparse.Namespace) -> CopyIndex:
    """Hashes of every 64-note run of the dataset's training pieces: from the cache file
    ``copy64-<key>.npz`` in ``--copy-cache`` (default: the folder of ``--json``) when it exists,
    else built (and saved there). The key covers the dataset's index file, so a rebuilt dataset
    gets a new cache."""
    index_file = data.ds.folder / "index.json"
    stat = index_file.stat()
    key = hashlib.sha1(f"{index_file.resolve()}:{stat.st_mtime_ns}:{stat.st_size}:{COPY_NOTES}:v1".encode())
    folder = args.copy_cache or (args.json.parent if args.json else None)
    path = None if folder is None else folder / f"copy64-{key.hexdigest()[:12]}.npz"
    if path is not None and path.is_file():
        try:
            index = CopyIndex.load(path)
            log.info("copying: %s training runs of %d notes from %s", f"{len(index.hashes):,}", index.length, path)
            return index
        except (OSError, KeyError, ValueError) as err:
            log.warning("copying: ignoring the unreadable cache %s (%s)", path, err)
    start = time.perf_counter()
    spans: list[list[tuple[int, int]]] = [[] for _ in data.ds.index["shards"]]
    for p in data.ds.pieces:
        if p.split == "train":
            spans[p.shard].append((p.offset, p.length))
    tokens = [data.ds._shard(k) for k in range(len(spans))]  # noqa: SLF001 (whole shards, read once)
    index = CopyIndex.from_shards(tokens, spans, data.tokenizer.vocab)
    log.info("copying: hashed %s runs of %d notes of %d training pieces in %.1f s", f"{len(index.hashes):,}",
             index.length, sum(map(len, spans)), time.perf_counter() - start)
    if path is not None:
        index.save(path)
        log.info("copying: cached in %s", path)
    return index


def run_composer(gen, data: Data, job: Plan, args: argparse.Namespace,  # noqa: ANN001
                 copies: CopyIndex | None = None) -> ComposerResult:
    """Statistics of the data excerpts and of ``args.n`` samples generated in one batch."""
    composer, instruments, indices = job.composer, job.instruments, job.indices
    start = time.perf_counter()
    data_excerpts = data_stats(data, indices, args.seconds)
    excerpts = summarize(data_excerpts)
    data_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pieces = gen.generate(composer, instruments, args.seconds, temperature=args.temperature, top_p=args.top_p,
                          min_p=args.min_p, seed=args.seed, n=args.n, guidance=args.guidance, rerank=args.rerank)
    elapsed = time.perf_counter() - start
    header = len(set(instruments)) + 2  # composer, instruments, start
    samples = [music_stats(score_notes(p.score), p.seconds) for p in pieces]
    found = found_t = None
    if copies is not None:
        notes = [token_notes(p.ids, gen.vocab) for p in pieces]
        found = [copies.shares(*n) for n in notes]
        found_t = [copies.shares(*n, transpose=True) for n in notes]
    result = ComposerResult(
        composer=composer, instruments=instruments, data_pieces=len(indices), data=excerpts,
        generated=summarize(samples), n=len(pieces), ended=sum(p.ended for p in pieces),
        skipped=sum(p.skipped > 0 for p in pieces), closed=sum(p.closed > 0 for p in pieces),
        closed_notes=float(np.mean([p.closed for p in pieces])), tokens=sum(len(p.ids) - header for p in pieces),
        gen_seconds=elapsed, data_excerpts=data_excerpts, samples=samples, copies=found, copies_transposed=found_t)
    log.info("%s (%s): %d samples, %d tokens in %.1f s (%.0f tokens/s); data: %d pieces, %d excerpts in %.1f s",
             composer, ",".join(instruments), result.n, result.tokens, elapsed, result.tokens / elapsed,
             len(indices), excerpts.excerpts, data_seconds)
    return result


def fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def distances(r: ComposerResult) -> tuple[float, float]:
    """(pc, degree) Jensen-Shannon divergences of the samples' and the data's mean histograms."""
    if not r.data.pitch_classes.any() or not r.generated.pitch_classes.any():
        return float("nan"), float("nan")
    return (jensen_shannon(r.generated.pitch_classes, r.data.pitch_classes),
            jensen_shannon(r.generated.degrees, r.data.degrees))


def matrix(rows: list[StatsSummary], columns: list[StatsSummary]) -> np.ndarray:
    """[row, column] Jensen-Shannon divergence of the summaries' degree histograms (NaN where one is empty)."""
    out = np.full((len(rows), len(columns)), np.nan)
    for i, a in enumerate(rows):
        for j, b in enumerate(columns):
            if a.degrees.any() and b.degrees.any():
                out[i, j] = jensen_shannon(a.degrees, b.degrees)
    return out


def matrix_table(names: list[str], values: np.ndarray, corner: str, nearest: bool) -> list[str]:
    lines = [f"| {corner} | " + " | ".join(names) + (" | nearest |" if nearest else " |"),
             "|---" * (len(names) + 1 + nearest) + "|"]
    for i, name in enumerate(names):
        row = values[i]
        best = int(np.nanargmin(row)) if nearest and not np.isnan(row).all() else -1
        cells = [("**" + fmt(x, 3) + "**") if j == best else fmt(x, 3) for j, x in enumerate(row)]
        tail = f" | {names[best] if best >= 0 else 'n/a'} |" if nearest else " |"
        lines.append(f"| {name} | " + " | ".join(cells) + tail)
    return lines


def copied(counts: list[int] | None) -> int | None:
    """Samples with at least one shared run (None: not checked)."""
    return None if counts is None else sum(c > 0 for c in counts)


def copies_cell(r: ComposerResult) -> str:
    if r.copies is None:
        return "n/a"
    return f"{copied(r.copies)}/{r.n} ({copied(r.copies_transposed)}/{r.n})"


def overall(results: list[ComposerResult]) -> dict:
    """The "all" row: composers pooled (see the module docstring)."""
    def mean(values: list[float]) -> float:
        values = [v for v in values if v == v]
        return float(np.mean(values)) if values else float("nan")

    out: dict = {"composers": len(results), "samples": sum(r.n for r in results)}
    for name in ("notes_per_second", "polyphony"):
        out[f"{name}_ratio"] = mean([r.ratio(name) for r in results])
        out[f"{name}_within"] = sum(r.within(name) for r in results)
    out["long_notes_generated"] = mean([r.generated.long_notes for r in results])
    out["long_notes_data"] = mean([r.data.long_notes for r in results])
    for name in BANDS:
        shares = [(r.band(name)[0], r.n) for r in results]
        shares = [(s, n) for s, n in shares if s == s]
        out[f"{name}_in_band"] = float(sum(s * n for s, n in shares) / sum(n for _, n in shares)) if shares \
            else float("nan")
    checked = [r for r in results if r.copies is not None]
    out["copies"] = sum(copied(r.copies) for r in checked) if checked else None
    out["copies_transposed"] = sum(copied(r.copies_transposed) for r in checked) if checked else None
    out["copies_checked"] = sum(r.n for r in checked)
    return out


def targets_markdown(results: list[ComposerResult]) -> list[str]:
    head = ["composer", "notes/s gen / data (ratio)", "polyphony gen / data (ratio)", "held > 8 s per piece gen / data"]
    head += [f"{BAND_LABELS[b]} gen / data: in middle 80%" for b in BANDS]
    head += [f"copies {COPY_NOTES} (transposed)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]

    def ratio_cell(r: ComposerResult, name: str, digits: int) -> str:
        ok = "ok" if r.within(name) else "**out**"
        return (f"{fmt(getattr(r.generated, name), digits)} / {fmt(getattr(r.data, name), digits)} "
                f"({fmt(r.ratio(name), 2)}, {ok})")

    digits = {"pc_entropy": 2, "mean_velocity": 0, "median_duration": 2, "repeat_share": 2}
    for r in results:
        cells = [r.composer, ratio_cell(r, "notes_per_second", 1), ratio_cell(r, "polyphony", 2),
                 f"{fmt(r.generated.long_notes, 2)} / {fmt(r.data.long_notes, 2)}"]
        for b in BANDS:
            share = r.band(b)[0]
            cells.append(f"{fmt(getattr(r.generated, b), digits[b])} / {fmt(getattr(r.data, b), digits[b])}: "
                         f"{fmt(100 * share, 0)}%")
        cells.append(copies_cell(r))
        lines.append("| " + " | ".join(cells) + " |")
    o = overall(results)
    k = len(results)
    cells = ["**all**", f"ratio {fmt(o['notes_per_second_ratio'], 2)}, {o['notes_per_second_within']}/{k} ok",
             f"ratio {fmt(o['polyphony_ratio'], 2)}, {o['polyphony_within']}/{k} ok",
             f"{fmt(o['long_notes_generated'], 2)} / {fmt(o['long_notes_data'], 2)}"]
    cells += [f"{fmt(100 * o[f'{b}_in_band'], 0)}%" for b in BANDS]
    cells.append("n/a" if o["copies"] is None else
                 f"{o['copies']}/{o['copies_checked']} ({o['copies_transposed']}/{o['copies_checked']})")
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(results: list[ComposerResult], dist: np.ndarray, data_dist: np.ndarray) -> str:
    lines = ["| composer | instruments | samples (data pieces / excerpts) | pc JSD | degree JSD | notes/s gen / data "
             "| polyphony gen / data | mean pitch gen / data | pitch range gen / data | ended with `end` "
             "| skipped > 0 | closed > 0 (mean notes) |", "|---" * 12 + "|"]
    for r in results:
        pc, degree = distances(r)
        g, d = r.generated, r.data
        lines.append(
            f"| {r.composer} | {','.join(r.instruments)} | {r.n} ({r.data_pieces} / {d.excerpts}) | {fmt(pc, 3)} "
            f"| {fmt(degree, 3)} | {fmt(g.notes_per_second)} / {fmt(d.notes_per_second)} "
            f"| {fmt(g.polyphony, 2)} / {fmt(d.polyphony, 2)} | {fmt(g.mean_pitch)} / {fmt(d.mean_pitch)} "
            f"| {fmt(g.pitch_range)} / {fmt(d.pitch_range)} | {r.ended}/{r.n} | {r.skipped}/{r.n} "
            f"| {r.closed}/{r.n} ({r.closed_notes:.1f}) |")
    names = [r.composer for r in results]
    own = sum(int(np.nanargmin(dist[i])) == i for i in range(len(names)) if not np.isnan(dist[i]).all())
    lines += ["", "Degree-histogram JSD (bits), generated (rows) vs data (columns); **bold**: the nearest data "
              f"(the composer's own in {own} of {len(names)} rows).", ""]
    lines += matrix_table(names, dist, "generated \\ data", nearest=True)
    lines += ["", "For scale, the same distance between the composers' data excerpts:", ""]
    lines += matrix_table(names, data_dist, "data \\ data", nearest=False)
    lines += ["", "Targets (issue 15): ratios gen / data within +-35% (ok / **out**); the share of samples within "
              "the middle 80% (10th-90th percentile) of the composer's data excerpts; samples sharing a run of "
              f"{COPY_NOTES} notes with a training piece, at the same pitches (and transposed).", ""]
    lines += targets_markdown(results)
    return "\n".join(lines)


def no_nan(value: object) -> object:
    """``value`` with every NaN float replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [no_nan(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def to_json(results: list[ComposerResult], dist: np.ndarray, data_dist: np.ndarray, args: argparse.Namespace,
            total: float) -> dict:
    rows = []
    for r in results:
        pc, degree = distances(r)
        targets = {f"{name}_{what}": value for name in ("notes_per_second", "polyphony")
                   for what, value in (("ratio", r.ratio(name)), ("within", r.within(name)))}
        targets["long_notes_generated"], targets["long_notes_data"] = r.generated.long_notes, r.data.long_notes
        for name in BANDS:
            share, lo, hi = r.band(name)
            targets[name] = {"in_band": share, "p10": lo, "p90": hi, "generated": getattr(r.generated, name),
                             "data": getattr(r.data, name)}
        targets["copies"], targets["copies_transposed"] = copied(r.copies), copied(r.copies_transposed)
        per_sample = [{"notes_per_second": s.notes_per_second, "polyphony": s.polyphony, "long_notes": s.long_notes,
                       **{name: getattr(s, name) for name in BANDS}} for s in r.samples]
        for i, row in enumerate(per_sample):
            if r.copies is not None:
                row["copied_runs"], row["copied_runs_transposed"] = r.copies[i], r.copies_transposed[i]
        rows.append({"composer": r.composer, "instruments": list(r.instruments), "data_pieces": r.data_pieces,
                     "data": r.data.to_dict(), "generated": r.generated.to_dict(), "pc_jsd": pc, "degree_jsd": degree,
                     "samples": r.n, "ended": r.ended, "skipped": r.skipped, "closed": r.closed,
                     "closed_notes": r.closed_notes, "tokens": r.tokens, "generation_seconds": r.gen_seconds,
                     "targets": targets, "per_sample": per_sample})
    keys = ("model", "data", "split", "instruments", "data_instruments", "n", "seconds", "temperature", "top_p",
            "min_p", "seed", "guidance", "rerank", "threads")
    settings = {k: getattr(args, k) for k in keys}
    settings["command"] = args.command
    names = [r.composer for r in results]

    def values(m: np.ndarray) -> list[list[float]]:
        return [[float(x) for x in row] for row in m]

    return {"settings": settings, "composers": rows, "overall": overall(results), "degree_jsd_generated_vs_data": {
        "rows": names, "columns": names, "values": values(dist)},
        "degree_jsd_data_vs_data": {"rows": names, "columns": names, "values": values(data_dist)},
        "total_seconds": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model, run or checkpoint folder (default: the bundled model)")
    parser.add_argument("--data", required=True, help="dataset folder built by `muse data build`")
    parser.add_argument("--composers", default=DEFAULT_COMPOSERS,
                        help=f"comma-separated (default: {DEFAULT_COMPOSERS})")
    parser.add_argument("--n", type=int, default=20, help="samples per composer, one batch (default: 20)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of samples and data excerpts (default: 20)")
    parser.add_argument("--instruments", default="piano", help="comma-separated, for every composer (default: "
                        "piano); 'common': each composer's most common instrumentation in the dataset")
    parser.add_argument("--split", choices=("all", "train", "valid"), default="all",
                        help="the composer's data pieces to compare with (default: all)")
    parser.add_argument("--data-instruments", choices=("same", "any"), default="same",
                        help="same: only the data pieces of exactly the samples' instrumentation (default); "
                        "any: all of the composer's pieces")
    parser.add_argument("--temperature", type=float, default=D.TEMPERATURE)
    parser.add_argument("--top-p", type=float, default=D.TOP_P)
    parser.add_argument("--min-p", type=float, default=D.MIN_P)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance weight W (default: the facade's, 2 for a model trained "
                             "with composer dropout; 1 = plain sampling)")
    parser.add_argument("--rerank", type=int, default=1, help="candidates per sample, the composer scorer keeps the "
                        "best (default: 1, no rerank)")
    parser.add_argument("--no-copy", action="store_true", help="skip the copying check against the training split")
    parser.add_argument("--copy-cache", type=Path, help="folder for the cache of the training split's 64-note runs, "
                        "copy64-<key>.npz (default: the folder of --json; no cache without --json)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    args.command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from muse.generate import MuseGenerator

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    try:
        ds = TokenDataset(args.data)
        data = Data(ds, ds.load_tokenizer())
        gen = MuseGenerator(model=args.model)
        if args.guidance is None:  # every sample has a composer: the facade's default for one
            args.guidance = gen.default_guidance(args.composers.split(",")[0].strip() or None)
        plans = [plan(gen, data, c.strip(), args) for c in args.composers.split(",") if c.strip()]
        copies = None
        if not args.no_copy:
            if gen.vocab.config.ticks_per_beat != data.tokenizer.vocab.config.ticks_per_beat:
                log.warning("copying: not checked (the model's time grid differs from the dataset's)")
            else:
                copies = copy_index(data, args)
        with torch.no_grad():
            results = [run_composer(gen, data, p, args, copies) for p in plans]
    except USER_ERRORS as err:
        print(f"sample_stats: error: {err}", file=sys.stderr)
        return 2
    dist = matrix([r.generated for r in results], [r.data for r in results])
    data_dist = matrix([r.data for r in results], [r.data for r in results])
    total = time.perf_counter() - began
    print(f"\n$ {args.command}\n\n{gen.loaded.path}, data {args.data} ({args.split} pieces, "
          f"{args.data_instruments} instruments); {args.n} samples x {args.seconds:g} s per composer, temperature "
          f"{args.temperature:g}, top-p {args.top_p:g}, min-p {args.min_p:g}, guidance {args.guidance:g}, rerank "
          f"{args.rerank}, seed {args.seed}; {torch.get_num_threads()} thread(s), {total:.0f} s in all\n")
    print(markdown(results, dist, data_dist))
    if args.json:
        args.json.write_text(json.dumps(no_nan(to_json(results, dist, data_dist, args, total)), indent=1,
                                        allow_nan=False) + "\n")
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
