"""benchmarks/openings.py runs (so the script never rots) on a tiny model and a three-piece dataset, and its
teacher-forced figure is the model's own probability of the token after ``start``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from muse.core.token_shards import TokenDataset
from muse.generate import MuseGenerator
from preference_models import tiny_model
from test_benchmark_editing import REPO, dataset  # noqa: F401 (the fixture)

sys.path.insert(0, str(REPO / "benchmarks"))

import openings as bench  # noqa: E402


def test_openings_prints_a_row_per_model(dataset: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    model = tiny_model(tmp_path / "model", TokenDataset(dataset).load_tokenizer())
    assert bench.main(["--model", str(model), "--data", str(dataset), "--pieces", "3", "--n", "2",
                       "--seconds", "1", "--composers", "bach"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["model", "p(first", "token)"] and len(lines) == 2
    p_first, bits_open, bits_mid, share, bpm = lines[1].split()[1:]
    assert 0 <= float(p_first) <= 1 and float(bits_open) > 0 and float(bits_mid) > 0
    assert share.endswith("%") and float(bpm) > 0


def test_the_first_token_probability_is_the_models(dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    data = TokenDataset(dataset)
    gen = MuseGenerator(tiny_model(tmp_path / "model", data.load_tokenizer()))
    p_first, _, _ = bench.teacher_forced(gen, data, 3, 8)
    expected = []
    for i in data.split_indices("valid"):
        i = int(i)
        if data.pieces[i].length <= 2 * gen.model.n_ctx:
            continue
        ids = np.asarray(data.tokens(i), np.int64)
        header = data.pieces[i].header
        with torch.no_grad():
            logits = gen.model.step(torch.as_tensor(ids[:header])[None], gen.model.new_cache(1, None))[0, -1]
        expected.append(float(torch.softmax(logits.float(), -1)[ids[header]]))
    assert expected and abs(p_first - np.mean(expected[:3])) < 1e-4
