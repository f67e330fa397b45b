"""Does generated music look like the data? Simple statistics of samples beside the composer's data.

For each composer, ``--n`` pieces of ``--seconds`` seconds are generated in one batch through
``MuseGenerator`` (temperature 1, top-p 0.95 unless told otherwise; the grammar forces ``end`` at the
requested length) with the composer's most common instrumentation in the dataset (``--instruments``
overrides it). The composer's data pieces with that instrumentation (``--data-instruments any``: all
of them) in ``--split`` (default: all; the validation split alone is thin in the music21 corpus, 1 to
12 pieces per composer) are decoded and cut into consecutive excerpts of the same length as the
samples (a last excerpt of at least half that length is kept), so that length-dependent figures (pitch
range) compare like with like. Per excerpt (``muse.music_stats``, pitched notes only, drums left out):

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

The matrix compares every composer's generated degree histogram with every composer's data
histogram: a model that learnt the styles is closest to its own composer's data (the diagonal). A
second matrix gives the same distance between the composers' data excerpts, for scale.

    .venv/bin/python benchmarks/sample_stats.py --model runs/small --data /work/data/bundle --json stats.json
    .venv/bin/python benchmarks/sample_stats.py --model M --data D --composers bach,chopin --n 3 --seconds 8
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from musetok import MidiTokenizer
from musetok.vocab import Kind

from muse.core.errors import USER_ERRORS, UserError
from muse.core.token_shards import TokenDataset
from muse.grammar import instrument_keys
from muse.music_stats import MusicStats, StatsSummary, jensen_shannon, music_stats, score_notes, summarize, windows

log = logging.getLogger("benchmarks.sample_stats")
DEFAULT_COMPOSERS = "bach,mozart,chopin,scarlatti,essen_folksong"


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
    if args.instruments:
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


def run_composer(gen, data: Data, job: Plan, args: argparse.Namespace) -> ComposerResult:  # noqa: ANN001
    """Statistics of the data excerpts and of ``args.n`` samples generated in one batch."""
    composer, instruments, indices = job.composer, job.instruments, job.indices
    start = time.perf_counter()
    excerpts = summarize(data_stats(data, indices, args.seconds))
    data_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pieces = gen.generate(composer, instruments, args.seconds, temperature=args.temperature, top_p=args.top_p,
                          seed=args.seed, n=args.n)
    elapsed = time.perf_counter() - start
    header = len(set(instruments)) + 2  # composer, instruments, start
    generated = summarize([music_stats(score_notes(p.score), p.seconds) for p in pieces])
    result = ComposerResult(
        composer=composer, instruments=instruments, data_pieces=len(indices), data=excerpts, generated=generated,
        n=len(pieces), ended=sum(p.ended for p in pieces), skipped=sum(p.skipped > 0 for p in pieces),
        closed=sum(p.closed > 0 for p in pieces), closed_notes=float(np.mean([p.closed for p in pieces])),
        tokens=sum(len(p.ids) - header for p in pieces), gen_seconds=elapsed)
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
        rows.append({"composer": r.composer, "instruments": list(r.instruments), "data_pieces": r.data_pieces,
                     "data": r.data.to_dict(), "generated": r.generated.to_dict(), "pc_jsd": pc, "degree_jsd": degree,
                     "samples": r.n, "ended": r.ended, "skipped": r.skipped, "closed": r.closed,
                     "closed_notes": r.closed_notes, "tokens": r.tokens, "generation_seconds": r.gen_seconds})
    keys = ("model", "data", "split", "data_instruments", "n", "seconds", "temperature", "top_p", "seed", "threads")
    settings = {k: getattr(args, k) for k in keys}
    names = [r.composer for r in results]

    def values(m: np.ndarray) -> list[list[float]]:
        return [[float(x) for x in row] for row in m]

    return {"settings": settings, "composers": rows, "degree_jsd_generated_vs_data": {
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
    parser.add_argument("--instruments", help="comma-separated, for every composer (default: each composer's "
                        "most common instrumentation in the dataset)")
    parser.add_argument("--split", choices=("all", "train", "valid"), default="all",
                        help="the composer's data pieces to compare with (default: all)")
    parser.add_argument("--data-instruments", choices=("same", "any"), default="same",
                        help="same: only the data pieces of exactly the samples' instrumentation (default); "
                        "any: all of the composer's pieces")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from muse.generate import MuseGenerator

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    try:
        ds = TokenDataset(args.data)
        data = Data(ds, ds.load_tokenizer())
        gen = MuseGenerator(model=args.model)
        plans = [plan(gen, data, c.strip(), args) for c in args.composers.split(",") if c.strip()]
        with torch.no_grad():
            results = [run_composer(gen, data, p, args) for p in plans]
    except USER_ERRORS as err:
        print(f"sample_stats: error: {err}", file=sys.stderr)
        return 2
    dist = matrix([r.generated for r in results], [r.data for r in results])
    data_dist = matrix([r.data for r in results], [r.data for r in results])
    total = time.perf_counter() - began
    print(f"\n{gen.loaded.path}, data {args.data} ({args.split} pieces, {args.data_instruments} instruments); "
          f"{args.n} samples x {args.seconds:g} s per composer, temperature {args.temperature:g}, top-p "
          f"{args.top_p:g}, seed {args.seed}; {torch.get_num_threads()} thread(s), {total:.0f} s in all\n")
    print(markdown(results, dist, data_dist))
    if args.json:
        args.json.write_text(json.dumps(no_nan(to_json(results, dist, data_dist, args, total)), indent=1,
                                        allow_nan=False) + "\n")
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
