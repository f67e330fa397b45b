"""``muse composers ...`` end to end on a tiny saved model, as a user runs it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from composer_models import saved_random_model
from muse.cli import main
from muse.commands.composers import SCORE_TOKENS

COMPOSERS = ("bach", "chopin", "satie", "paganini", "mozart")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return saved_random_model(tmp_path_factory.mktemp("composers") / "model", COMPOSERS)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["composers", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_names_the_composers_by_era(model: Path, capsys) -> None:
    code, out, _ = run(capsys, "list", "--model", model)
    assert code == 0 and "Baroque:\n  bach" in out and "J. S. Bach" in out and "1685\u20131750" in out
    assert "5 composers; training data: estimated" in out and "#1 of 5 by training data (estimated)" in out


def test_map_writes_png_figures(model: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "map", "--model", model, "-o", tmp_path / "map.png", "--heatmap", tmp_path / "heat.png")
    assert code == 0 and "5 composers" in out
    for name in ("map.png", "heat.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
    code, _, _ = run(capsys, "map", "--model", model, "--method", "tsne", "-o", tmp_path / "tsne.png")
    assert code == 0 and (tmp_path / "tsne.png").read_bytes()[:8] == PNG_MAGIC
    code, _, err = run(capsys, "map", "--model", model, "-o", tmp_path / "map.svg")
    assert code == 2 and "map.svg: figures are written as .png files" in err


def test_neighbours_prints_the_k_nearest(model: Path, capsys) -> None:
    code, out, _ = run(capsys, "neighbours", "Chopin", "--model", model, "--k", "3")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 3
    names = [line.split()[0] for line in lines]
    sims = [float(line.split()[1]) for line in lines]
    assert set(names) <= set(COMPOSERS) - {"chopin"} and sims == sorted(sims, reverse=True)
    code, _, err = run(capsys, "neighbours", "ravel", "--model", model)
    assert code == 2 and "unknown composer 'ravel'; known composers: bach, chopin, satie, paganini, mozart" in err


def test_export_writes_csv_and_json(model: Path, tmp_path: Path, capsys) -> None:
    assert run(capsys, "export", "--model", model, "-o", tmp_path / "c.csv")[0] == 0
    with open(tmp_path / "c.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["composer"] for r in rows] == list(COMPOSERS)
    assert {"pca_x", "pca_y", "tsne_x", "tsne_y", "sim_bach", "emb_0"} <= set(rows[0])
    assert all(float(r[f"sim_{r['composer']}"]) == pytest.approx(1.0) for r in rows)
    assert run(capsys, "export", "--model", model, "-o", tmp_path / "c.json")[0] == 0
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["composers"] == list(COMPOSERS) and len(data["similarity"]) == 5 and len(data["coords"]["tsne"]) == 5
    code, _, err = run(capsys, "export", "--model", model, "-o", tmp_path / "c.parquet")
    assert code == 2 and "export to a .csv or .json file" in err


def test_score_prints_a_posterior_per_piece(model: Path, midi_dir: Path, tmp_path: Path, capsys) -> None:
    pieces = tmp_path / "pieces"
    pieces.mkdir()
    for name in ("bach-bwv001-_400_chorales-004003b.mid", "chopin-ecossaise_no2_in_g.mid"):
        (pieces / name).symlink_to(midi_dir / "classical" / name)
    code, out, _ = run(capsys, "score", "--model", model, "--midi", pieces, "--top", "2", "-o", tmp_path / "p.json")
    lines = [line for line in out.splitlines() if line.endswith(" tokens)")]  # both whole: shorter than the default
    assert code == 0 and len(lines) == 2 and all(line.count("%") == 2 for line in lines)
    assert all(int(line.rsplit("(", 1)[1].split()[0]) <= SCORE_TOKENS for line in lines)
    code, out, _ = run(capsys, "score", "--model", model, "--midi", pieces, "--max-tokens", "40")
    assert code == 0 and out.count(" tokens, truncated)") == 2
    data = json.loads((tmp_path / "p.json").read_text())
    assert [Path(d["source"]).name for d in data] == sorted(p.name for p in pieces.iterdir())
    assert all(sum(d["posterior"].values()) == pytest.approx(1.0) for d in data)
    code, out, _ = run(capsys, "score", "--model", model, "--midi", pieces / "chopin-ecossaise_no2_in_g.mid",
                       "--composers", "bach,chopin", "--max-tokens", "0")
    assert code == 0 and "truncated" not in out and out.count("%") == 2
    code, _, err = run(capsys, "score", "--model", model, "--midi", tmp_path / "nowhere")
    assert code == 2 and "nowhere: no such file or folder" in err


def test_adherence_prints_the_table(model: Path, capsys) -> None:
    code, out, _ = run(capsys, "adherence", "--model", model, "--n", "1", "--seconds", "0.25",
                       "--composers", "bach,satie")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[2:6]] == ["bach", "satie", "all", "chance"]
    assert "20.0%" in out and "60.0%" in out  # chance among 5 candidates: top-1 1/5, top-3 3/5
