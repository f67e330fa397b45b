"""benchmarks/repeats.py: its recurrences and loops on hand-made sequences, and a run on a tiny model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from muse.core.token_shards import TokenDataset
from preference_models import tiny_model
from test_benchmark_editing import REPO, dataset  # noqa: F401 (the fixture)

sys.path.insert(0, str(REPO / "benchmarks"))

import repeats as bench  # noqa: E402


def test_recurrences_name_the_token_after_the_last_occurrence() -> None:
    ids = np.array([1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3, 5])
    assert bench.recurrences(ids, 3) == [(6, 9), (10, 7)]  # 1 2 3 recurs at 6 (then 9) and at 10 (then 7)
    assert bench.recurrences(ids, 3, start=7) == [(10, 7)]
    assert bench.recurrences(ids, 4) == []


def test_longest_loop_counts_tokens_past_the_first_period() -> None:
    trill = np.array([5, 1, 2] + [3, 4] * 10 + [6])
    assert bench.longest_loop(trill) == 18  # 20 trill tokens, of which 18 repeat the token 2 before
    assert bench.longest_loop(np.arange(30)) == 0


def test_repeats_prints_a_row_per_model(dataset: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    model = tiny_model(tmp_path / "model", TokenDataset(dataset).load_tokenizer())
    assert bench.main(["--model", str(model), "--data", str(dataset), "--pieces", "3", "--n", "1",
                       "--seconds", "1", "--composers", "bach", "--match", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split()[:3] == ["model", "real:", "recur"]
    fields = lines[1].split()
    assert fields[1].endswith("%") and 0 <= float(fields[3]) <= 1 and fields[-1] == "tokens"
