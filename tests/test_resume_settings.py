"""Issue 17, item 5: ``muse train --resume`` with another preset, model size or data folder is refused
with a message listing the differences (``--override train.steps`` extends a run instead), and
``jukebox sample --resume`` refuses a new ``--seconds`` or ``--seed``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from muse.cli import main
from muse.core.checkpoint import latest_checkpoint
from muse.data.build import BuildOptions, build_dataset
from muse.data.sources import midi_dir_sources

REPO = Path(__file__).resolve().parents[1]


def build(midi_dir: Path, root: Path, names: list[str]) -> Path:
    src = root / "midi"
    src.mkdir(parents=True)
    for name in names:
        shutil.copy(midi_dir / "classical" / name, src / name)
    build_dataset(midi_dir_sources(src, composer_from="prefix"),
                  BuildOptions(out=root / "data", workers=0, valid_fraction=0.0, progress=False, cache=False))
    return root / "data"


@pytest.fixture(scope="module")
def datasets(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    a = build(midi_dir, tmp_path_factory.mktemp("a"), ["bach-bwv001-_400_chorales-004003b.mid", "scarlatti-k054.mid"])
    b = build(midi_dir, tmp_path_factory.mktemp("b"), ["bach-bwv001-_400_chorales-003806b.mid", "scarlatti-k087.mid"])
    return a, b


def preset(root: Path, name: str, **changes) -> Path:
    data = yaml.safe_load((REPO / "configs" / "muse" / "tiny.yaml").read_text())
    data["train"].update(steps=2, log_every=1, eval_every=0, checkpoint_every=1, batch_size=2)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        target = data[section]
        if section == "model" and field in ("width", "depth"):
            target = target["transformer"]
        target[field] = value
    path = root / name
    path.write_text(yaml.safe_dump(data))
    return path


def train(config: Path, data: Path, out: Path, *extra: str) -> int:
    return main(["train", "--config", str(config), "--data", str(data), "--out", str(out), "--no-progress", *extra])


def test_resuming_with_other_settings_is_refused_listing_them(datasets, tmp_path: Path, capsys) -> None:
    data, other_data = datasets
    base = preset(tmp_path, "tiny.yaml")
    out = tmp_path / "run"
    assert train(base, data, out, "--max-steps", "1") == 0
    capsys.readouterr()
    recorded = (out / "run_config.yaml").read_text()

    wider = preset(tmp_path, "wider.yaml", model__width=48, train__seed=3)
    assert train(wider, data, out, "--resume") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "model.transformer.width: 32 -> 48" in err and "train.seed: 0 -> 3" in err
    assert (out / "run_config.yaml").read_text() == recorded  # the run's record is left alone

    assert train(base, other_data, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "dataset.fingerprint" in err and str(other_data) in err

    longer = preset(tmp_path, "longer.yaml", train__steps=4)
    assert train(longer, data, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "train.steps: 2 -> 4" in err and "--override train.steps" in err
    assert train(longer, data, out, "--resume", "--override", "model.transformer.width") == 2
    assert "not a setting a resumed run may change" in capsys.readouterr().err
    assert latest_checkpoint(out / "checkpoints").name == "step_00000001"

    # the same settings resume; a safe override extends the run (and becomes the run's record)
    assert train(base, data, out, "--resume") == 0
    assert latest_checkpoint(out / "checkpoints").name == "step_00000002"
    assert train(longer, data, out, "--resume", "--override", "train.steps") == 0
    assert latest_checkpoint(out / "checkpoints").name == "step_00000004"
    assert yaml.safe_load((out / "run_config.yaml").read_text())["train"]["steps"] == 4


def test_a_run_recorded_before_the_data_record_still_resumes(datasets, tmp_path: Path) -> None:
    """Runs started by an older version have no data.json: they resume with identical settings."""
    data, _ = datasets
    base = preset(tmp_path, "tiny.yaml")
    out = tmp_path / "run"
    assert train(base, data, out, "--max-steps", "1") == 0
    (out / "data.json").unlink()
    assert train(base, data, out, "--resume") == 0
    assert (out / "data.json").is_file()
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    assert train(preset(tmp_path, "longer.yaml", train__steps=3), moved, out, "--resume", "--override",
                 "train.steps") == 0  # the same data in another folder is the same data
