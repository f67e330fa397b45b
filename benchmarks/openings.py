"""How does a model open a piece? Every generated piece starts at a piece's beginning, so the model must know
how real pieces begin.

For each ``--model``: (1) on the first window of each of ``--pieces`` held-out pieces of ``--data`` (the
validation split), the probability the model gives, teacher-forced, to the first token after ``start`` (in
every training piece a tempo token) and the mean bits/token of the first ``--tokens`` body tokens, beside
the same for a window that starts mid-piece (the piece's middle; what uniform training crops mostly are); (2)
of ``--n`` pieces of ``--seconds`` s per composer of ``--composers`` at the default settings (seed
``--seed``), the share that open with a tempo token (else the clock runs at 120 BPM) and their tempos.

    .venv/bin/python benchmarks/openings.py --model runs/stage5/model --model muse/assets/model --data DATA
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from musetok.vocab import Kind

from muse.clock import Clock
from muse.core.errors import USER_ERRORS
from muse.core.token_shards import TokenDataset
from muse.fim import model_data_tokenizer
from muse.generate import MuseGenerator
from muse.tempo import last_bpm
from muse.train_data import WindowDataset


def teacher_forced(gen: MuseGenerator, data: TokenDataset, pieces: int, tokens: int) -> tuple[float, float, float]:
    """Mean p(first body token), bits/token of the first ``tokens`` body tokens of an opening window and of a
    mid-piece window, over the first ``pieces`` validation pieces longer than two windows."""
    model, n_ctx = gen.model.float(), gen.model.n_ctx
    chosen = [int(i) for i in data.split_indices("valid") if data.pieces[int(i)].length > 2 * n_ctx][:pieces]
    windows = WindowDataset(data, chosen, gen.tokenizer, n_ctx)
    firsts: dict[int, list[int]] = {}  # piece -> the indices of its windows, in order
    for j, (piece, _k) in enumerate(windows.windows):
        firsts.setdefault(piece, []).append(j)
    p_first, bits_open, bits_mid = [], [], []
    with torch.no_grad():
        for piece, js in firsts.items():
            header = data.pieces[piece].header
            for j, out in ((js[0], bits_open), (js[len(js) // 2], bits_mid)):
                item = windows[j]
                ids = item["ids"][None]
                clock = Clock.of_inputs(item)
                nll = model(ids[:, :-1], clock, item["total_us"][None], targets=ids[:, 1:])[0]
                out.append(float(nll[header:header + tokens].mean()) / np.log(2))
                if out is bits_open:
                    p_first.append(float(torch.exp(-nll[header - 1])))
    return float(np.mean(p_first)), float(np.mean(bits_open)), float(np.mean(bits_mid))


def generated_openings(gen: MuseGenerator, args: argparse.Namespace) -> tuple[float, list[float]]:
    """Share of generated pieces whose first body token is a tempo token, and the tempos of all (120: none)."""
    opened, tempos = 0, []
    for composer in args.composers.split(","):
        for piece in gen.generate(composer, ["piano"], args.seconds, seed=args.seed, n=args.n):
            header = gen.vocab.header_length(piece.ids)
            opened += int(gen.vocab.kind[piece.ids[header]] == Kind.TEMPO)
            tempos.append(last_bpm(gen.vocab, piece.ids[:header + 1]) or 120.0)
    return opened / len(tempos), tempos


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, help="model folder (repeat to compare)")
    p.add_argument("--data", required=True, help="dataset built with the models' tokenizer")
    p.add_argument("--pieces", type=int, default=40, help="held-out pieces (default: 40)")
    p.add_argument("--tokens", type=int, default=64, help="body tokens scored per window (default: 64)")
    p.add_argument("--composers", default="bach,mozart,beethoven,chopin", help="composers generated for")
    p.add_argument("--n", type=int, default=5, help="pieces per composer (default: 5)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each piece (default: 10)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        data = TokenDataset(args.data)
        print(f"{'model':<32} {'p(first token)':>14} {'bits opening':>12} {'bits middle':>11} "
              f"{'open w/ tempo':>13} {'median BPM':>10}")
        for path in args.model:
            gen = MuseGenerator(path)
            model_data_tokenizer(data.load_tokenizer(), gen.tokenizer, args.data)
            p_first, opening, middle = teacher_forced(gen, data, args.pieces, args.tokens)
            share, tempos = generated_openings(gen, args)
            print(f"{path[-32:]:<32} {p_first:>14.4f} {opening:>12.3f} {middle:>11.3f} {share:>13.0%} "
                  f"{np.median(tempos):>10.0f}", flush=True)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
