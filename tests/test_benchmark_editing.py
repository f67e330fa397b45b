"""benchmarks/editing.py runs (so the script never rots): its quick mode on a tiny FIM model writes every
figure of issue 19, and the editing guarantees hold (nothing outside the gap changes, the gap has its exact
length, no generated note outlives it, the melody is kept)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import symusic

from preference_models import tiny_dataset
from test_editing import tiny_model_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import editing as bench  # noqa: E402

PIECES = ("bach-bwv001-_400_chorales-003706b.mid", "bach-bwv001-_400_chorales-019705b.mid",
          "maier-atalanta_fugiens_no2.mid")  # piano pieces of the validation split


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(midi_dir, tmp_path_factory.mktemp("editing"), PIECES, valid_fraction=0.34)


def test_quick_mode_reports_every_figure_and_the_guarantees_hold(dataset: Path, tmp_path: Path, capsys) -> None:
    model = tiny_model_dir(tmp_path / "model", markers=True)
    out = tmp_path / "editing.json"
    assert bench.main(["--model", str(model), "--data", str(dataset), "--quick", "--threads", "1",
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| infill: notes before t1 / from t2 on changed | 0 | 0 | yes |" in printed
    result = json.loads(out.read_text())
    assert result["settings"]["quick"] and result["settings"]["gap"] == 2.0 and result["settings"]["n"] == 2
    infill, acc = result["infill"]["overall"], result["accompany"]["overall"]
    assert infill["pieces"] == 2 and infill["modes"] == {"fim": 2}
    assert infill["outside_violations"] == 0 and infill["exact_length"] == 2 and infill["held_past_t2"] == 0
    assert acc["pieces"] == 2 and acc["fixed_violations"] == 0
    for key in ("density_ratio_geomean", "density_within", "real_density_within", "pc_jsd_mean", "real_pc_jsd_mean",
                "wall_seconds_mean", "wall_seconds_max"):
        assert key in infill
    for key in ("aligned_mean", "real_aligned_mean", "key_jsd_mean", "real_key_jsd_mean", "wall_seconds_mean"):
        assert key in acc
    for row in result["infill"]["pieces"]:
        assert row["mode"] == "fim" and row["exact_length"] and abs(row["end"] - row["start"] - 2.0) < 0.05
        assert 0.0 <= row["real_pc_jsd"] <= 1.0 and row["wall_seconds"] > 0
    for row in result["accompany"]["pieces"]:
        assert row["melody_notes"] > 0 and 0.0 <= row["real_aligned"] <= 1.0
    assert all({"measured", "target", "met"} <= set(v) for v in result["targets"].values())
    assert result["targets"]["infill: generated notes held past t2"]["met"]


def test_the_melody_is_the_skyline_and_alignment_is_within_50_ms() -> None:
    score = symusic.Score(24)
    track = symusic.Track("piano", 0, False)
    for time, duration, pitch in ((0, 24, 72), (0, 24, 60), (12, 6, 64), (24, 48, 76), (36, 12, 79), (48, 24, 55)):
        track.notes.append(symusic.Note(time, duration, pitch, 80))
    score.tracks.append(track)
    assert sum(bench.note_rows(score).values()) == 6
    melody, rest = bench.split_melody(score)
    top = melody.tracks[0].notes.numpy()
    assert list(zip(top["time"], top["pitch"])) == [(0, 72), (24, 76), (36, 79)]  # 64 and 55 sound under the melody
    assert sorted(rest.tracks[0].notes.numpy()["pitch"]) == [55, 60, 64]
    assert bench.aligned_share(np.array([0.0, 0.04, 0.2, 1.0]), np.array([0.0, 1.03])) == 0.75
