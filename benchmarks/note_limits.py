"""Do notes end? Held-note figures of generated pieces under different note limits (``muse.note_limits``).

For each composer and each ``--limits`` setting, ``--n`` pieces of ``--seconds`` seconds are generated in
one batch (``MuseGenerator``, default sampling) and measured on their pitched notes:

- polyphony: mean number of notes sounding at once while any sounds (``muse.music_stats.polyphony``);
- max at once: the most notes of one instrument sounding at the same time (mean over pieces);
- notes/s, median note length and the longest note (seconds);
- > 8 s: notes held longer than 8 seconds, per piece;
- held at end: notes still sounding when the piece ended (closed by the decoder), per piece.

A setting is ``model`` (the model's stored limits, none for a model saved without them), ``off`` (no
limits) or ``SECONDS/NOTES[/SHORTEST]`` (``--max-note-seconds`` / ``--max-polyphony`` / ``--min-note-seconds``;
0 = no limit; without SHORTEST, the model's shortest note). With
``--data``, the same figures for the composer's real 20-s excerpts of piano pieces are printed first.

    .venv/bin/python benchmarks/note_limits.py --model /tmp/model_with_limits --limits off,model,3/6 \\
        --composers bach,chopin --n 4 --seconds 20 --data DATA
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from muse.core.errors import USER_ERRORS
from muse.music_stats import Notes, polyphony, score_notes, windows


def max_at_once(score) -> int:  # noqa: ANN001
    """The most notes of one (pitched) track sounding at the same time."""
    best = 0
    for track in score.to("second").tracks:
        if track.is_drum or not len(track.notes):
            continue
        notes = track.notes.numpy()
        start = notes["time"].astype(np.float64)
        end = start + notes["duration"].astype(np.float64)
        times = np.round(np.r_[start, end], 4)  # float seconds: a note ending as the next starts does not overlap
        step = np.r_[np.ones(len(start)), -np.ones(len(end))]
        order = np.lexsort((step, times))  # at equal times, ends before starts
        best = max(best, int(np.cumsum(step[order]).max(initial=0)))
    return best


def figures(notes: list[Notes], at_once: list[int], held_at_end: list[int], seconds: list[float]) -> dict[str, float]:
    durations = np.concatenate([n.duration for n in notes]) if notes else np.zeros(0)
    return {
        "polyphony": float(np.nanmean([polyphony(n) for n in notes])),
        "max_at_once": float(np.mean(at_once)) if at_once else float("nan"),
        "notes_per_s": float(np.mean([len(n) / s for n, s in zip(notes, seconds)])),
        "median_s": float(np.median(durations)) if len(durations) else float("nan"),
        "longest_s": float(durations.max(initial=0)),
        "over_8s": float(np.mean([(n.duration > 8).sum() for n in notes])),
        "held_at_end": float(np.mean(held_at_end)) if held_at_end else float("nan"),
    }


def data_figures(data: str, composer: str, seconds: float, max_pieces: int = 40) -> dict[str, float]:
    from muse.core.token_shards import TokenDataset

    ds = TokenDataset(data)
    tokenizer = ds.load_tokenizer()
    vocab = tokenizer.vocab
    piano = vocab.instrument_base + vocab.instruments.index("piano")
    chosen = [i for i, p in enumerate(ds.pieces) if p.composer == composer
              and list(ds.tokens(i)[1:p.header - 1]) == [piano]][:max_pieces]
    notes, lengths = [], []
    for i in chosen:
        ids = ds.tokens(i)
        for part, length in windows(score_notes(tokenizer.decode(ids).score), tokenizer.seconds(ids), seconds):
            notes.append(part)
            lengths.append(length)
    return figures(notes, [], [], lengths)


def parse_setting(text: str) -> tuple[str, dict]:
    if text == "model":
        return text, {}
    if text == "off":
        return text, {"max_note_seconds": 0, "max_polyphony": 0, "min_note_seconds": 0}
    seconds, _, rest = text.partition("/")
    notes, _, shortest = rest.partition("/")
    setting = {"max_note_seconds": float(seconds), "max_polyphony": int(notes or 0)}
    if shortest:  # else the model's shortest note
        setting["min_note_seconds"] = float(shortest)
    return text, setting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the bundled model)")
    parser.add_argument("--limits", default="off,model", help="comma-separated settings (default: off,model)")
    parser.add_argument("--composers", default="bach,chopin")
    parser.add_argument("--instruments", default="piano")
    parser.add_argument("--n", type=int, default=4, help="pieces per composer and setting, one batch (default: 4)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", help="dataset folder: also measure the composers' real piano excerpts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from muse.generate import MuseGenerator

    torch.set_num_threads(args.threads)
    try:
        gen = MuseGenerator(args.model)
        columns = ["polyphony", "max_at_once", "notes_per_s", "median_s", "longest_s", "over_8s", "held_at_end"]
        print("| composer | limits | " + " | ".join(columns) + " | wall s |")
        print("|---" * (len(columns) + 3) + "|")
        for composer in args.composers.split(","):
            if args.data:
                row = data_figures(args.data, composer, args.seconds)
                print(f"| {composer} | real excerpts | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " | |")
            for text in args.limits.split(","):
                name, kwargs = parse_setting(text)
                start = time.perf_counter()
                pieces = gen.generate(composer, args.instruments.split(","), args.seconds, seed=args.seed, n=args.n,
                                      **kwargs)
                wall = time.perf_counter() - start
                row = figures([score_notes(p.score) for p in pieces], [max_at_once(p.score) for p in pieces],
                              [p.closed for p in pieces], [p.seconds for p in pieces])
                print(f"| {composer} | {name} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + f" | {wall:.0f} |",
                      flush=True)
    except USER_ERRORS as err:
        print(f"note_limits: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
