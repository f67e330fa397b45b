"""Checkpoint I/O: safetensors weights and the atomic training checkpoints (parts, `latest` pointer,
keep-K). Official Jukebox pickles: tests/test_official.py."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from muse.core import checkpoint as ck
from muse.core.errors import CheckpointError


def test_weights_round_trip_and_clear_errors(tmp_path) -> None:
    shared = torch.randn(3, 4)
    tensors = {"a": shared, "b": shared, "c": torch.arange(5)}  # shared storage is fine
    ck.save_weights(tensors, tmp_path / "w.safetensors", metadata={"format": "pt"})
    loaded = ck.load_weights(tmp_path / "w.safetensors")
    assert loaded.keys() == tensors.keys() and all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    with pytest.raises(CheckpointError, match="not found"):
        ck.load_weights(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        ck.load_weights(tmp_path / "bad.safetensors")


# ----------------------------------------------------------------------- nested training state

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=5))
tensors = st.integers(0, 4).map(lambda n: torch.arange(n, dtype=torch.float32) * 0.5)
nested = st.recursive(
    st.one_of(scalars, tensors),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(min_size=1, max_size=4).filter(lambda k: not k.startswith("__")), inner, max_size=3),
        st.dictionaries(st.integers(0, 9), inner, max_size=3),
    ),
    max_leaves=12,
)


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


@settings(max_examples=80, deadline=None)
@given(nested)
def test_nested_state_survives_json_plus_tensors(state) -> None:
    skeleton, flat = ck.flatten_state(state)
    skeleton = json.loads(json.dumps(skeleton))  # what goes to disk
    assert same(ck.unflatten_state(skeleton, flat), state)


def test_an_optimizer_state_dict_round_trips_without_pickle(tmp_path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    path = ck.save_training_checkpoint(tmp_path, 1, {"optimizer": opt.state_dict()})
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters())
    fresh.load_state_dict(ck.load_checkpoint_part(path, "optimizer"))
    assert same(fresh.state_dict(), opt.state_dict())
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))


def test_flatten_rejects_what_json_and_safetensors_cannot_hold() -> None:
    with pytest.raises(TypeError, match="set"):
        ck.flatten_state({"x": {1, 2}})


# ------------------------------------------------------------------------ training checkpoints


def save(root, step: int, keep: int = 3):
    model = {"w": torch.full((2,), float(step))}
    return ck.save_training_checkpoint(root, step, {"model": model, "state": {"step": step, "rng": torch.arange(3)}},
                                       config={"width": 2}, keep=keep)


def test_training_checkpoint_layout_latest_pointer_and_keep_k(tmp_path) -> None:
    root = tmp_path / "checkpoints"
    for step in (2, 4, 6, 8):
        path = save(root, step, keep=2)
    assert path.name == "step_00000008"
    assert [p.name for p in ck.step_dirs(root)] == ["step_00000006", "step_00000008"]
    assert ck.latest_checkpoint(root) == path
    assert ck.checkpoint_step(path) == 8
    # the weights load without any training code, keys unchanged, config beside them
    assert torch.equal(ck.load_weights(path / "model.safetensors")["w"], torch.full((2,), 8.0))
    assert ck.load_checkpoint_config(path) == {"width": 2}
    state = ck.load_checkpoint_part(path, "state")
    assert state["step"] == 8 and torch.equal(state["rng"], torch.arange(3))
    # run folder, checkpoints folder and step folder all resolve
    assert ck.resolve_checkpoint(tmp_path) == path
    assert ck.resolve_checkpoint(root) == path
    assert ck.resolve_checkpoint(root / "step_00000006") == root / "step_00000006"
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ck.resolve_checkpoint(tmp_path / "elsewhere")
    trained = ck.load_trained(tmp_path)
    assert trained.step == 8 and trained.config == {"width": 2} and trained.path == path
    assert torch.equal(trained.state_dict["w"], torch.full((2,), 8.0))


def test_a_save_that_dies_midway_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch) -> None:
    root = tmp_path / "checkpoints"
    good = save(root, 3)
    real = ck.save_weights
    calls = []

    def dying(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real(tensors, path, metadata)

    monkeypatch.setattr(ck, "save_weights", dying)
    with pytest.raises(OSError):
        save(root, 6)
    assert ck.latest_checkpoint(root) == good
    assert sorted(p.name for p in root.iterdir()) == ["latest", good.name]  # no half-written folder


def test_leftovers_of_a_killed_save_are_ignored_and_cleaned(tmp_path) -> None:
    root = tmp_path / "checkpoints"
    save(root, 3)
    (root / ".step_00000006.abc.tmp").mkdir()  # a process killed while writing
    (root / "step_00000009").mkdir()  # a folder without its metadata is not a checkpoint
    assert [p.name for p in ck.step_dirs(root)] == ["step_00000003"]
    save(root, 6)
    assert not (root / ".step_00000006.abc.tmp").exists()
    (root / "latest").write_text("step_00000009\n")
    assert ck.latest_checkpoint(root) == root / "step_00000006"  # never the partial folder
    (root / "step_00000009" / "checkpoint.json").write_text("[]")  # metadata of another shape
    assert [p.name for p in ck.step_dirs(root)] == ["step_00000003", "step_00000006"]
    for step in ck.step_dirs(root):
        (step / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        ck.latest_checkpoint(root)


def test_resaving_a_step_replaces_it(tmp_path) -> None:
    root = tmp_path / "checkpoints"
    save(root, 5)
    ck.save_training_checkpoint(root, 5, {"model": {"w": torch.zeros(1)}})
    assert torch.equal(ck.load_weights(root / "step_00000005" / "model.safetensors")["w"], torch.zeros(1))
    assert ck.load_checkpoint_config(root / "step_00000005") is None


def test_pruning_renames_a_folder_away_before_deleting_it(tmp_path, monkeypatch) -> None:
    """A process killed while deleting an old step folder leaves a hidden trash folder, never a
    partial step_* folder that a listing or a resume could take for a checkpoint."""
    root = tmp_path / "checkpoints"
    save(root, 1, keep=1)
    real = ck.shutil.rmtree

    def killed_midway(path, ignore_errors=False):
        (ck.Path(path) / "model.safetensors").unlink(missing_ok=True)  # deleted a file, then the process died
        return None

    monkeypatch.setattr(ck.shutil, "rmtree", killed_midway)
    save(root, 2, keep=1)
    monkeypatch.setattr(ck.shutil, "rmtree", real)
    assert not (root / "step_00000001").exists()
    assert [p.name for p in ck.step_dirs(root)] == ["step_00000002"]
    assert [p.name for p in root.glob(".trash.step_00000001.*")]  # the partial folder is hidden
    save(root, 3, keep=1)
    assert not list(root.glob(".trash.*"))  # cleaned by the next save


def test_a_resume_never_loads_a_half_deleted_step_folder(tmp_path) -> None:
    """A half-deleted step folder (its metadata still there, a part gone) is not a checkpoint: a
    listing leaves it out and the resume picks the latest complete one."""
    from muse.core.train import TrainConfig, Trainer

    def trainer() -> Trainer:
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        data = [(torch.randn(2), torch.randn(1)) for _ in range(8)]

        def loss_fn(m, batch):
            from muse.core.train import LossOutput
            x, y = batch
            return LossOutput(torch.nn.functional.mse_loss(m(x), y), n_tokens=len(x))

        return Trainer(model, loss_fn, data, None, TrainConfig(steps=4, batch_size=2, checkpoint_every=1,
                                                                 keep_checkpoints=0),
                       tmp_path, model_config={"width": 2}, progress=False)

    trainer().fit()
    root = tmp_path / "checkpoints"
    assert [p.name for p in ck.step_dirs(root)][-1] == "step_00000004"
    (root / "step_00000004" / "model.safetensors").unlink()  # half-deleted
    (root / "step_00000003" / "optimizer.json").unlink()      # another one
    (root / "step_00000001" / "config.json").unlink()         # and one without its model config
    assert [p.name for p in ck.step_dirs(root)] == ["step_00000002"]
    assert ck.latest_checkpoint(root) == root / "step_00000002"
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        ck.resolve_checkpoint(root / "step_00000004")
    resumed = trainer()
    resumed._resume()
    assert resumed.step == 2  # resumed at the latest complete checkpoint
    resumed.fit(resume=True)
    assert resumed.step == 4 and ck.latest_checkpoint(root) == root / "step_00000004"
