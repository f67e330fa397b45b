"""The official Jukebox release (jukebox.official): pickles read through weights_only (never running
code), key maps checked in full, the integer attention types and the prime length."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from jukebox.official import ATTN_TYPES, apply_key_map, load_official
from jukebox.prior.config import prime_length
from muse.core.errors import CheckpointError


def test_load_official_reads_tensors_and_strips_the_data_parallel_prefix(tmp_path) -> None:
    path = tmp_path / "prior.pth.tar"
    torch.save({"hps": {"l_bins": 8}, "model": {"module.x.weight": torch.ones(2)}, "step": 5}, path)
    official = load_official(path)
    assert official.hps == {"l_bins": 8} and official.step == 5
    assert list(official.state_dict) == ["x.weight"]


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_official_never_unpickles_code(tmp_path) -> None:
    path = tmp_path / "evil.pth.tar"
    with open(path, "wb") as f:
        pickle.dump({"model": {}, "payload": Exploit()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="evil.pth.tar"):
        load_official(path)


def test_the_refusal_of_an_unsafe_pickle_never_advises_loading_it_unsafely(tmp_path) -> None:
    path = tmp_path / "evil.pth.tar"
    with open(path, "wb") as f:
        pickle.dump({"model": {}, "payload": Exploit()}, f, protocol=2)
    with pytest.raises(CheckpointError) as err:
        load_official(path)
    message = str(err.value)
    assert "weights_only" not in message and "will likely succeed" not in message
    assert "not a plain tensor checkpoint" in message and "system" in message  # names what it refers to
    assert "convert" in message and "torch.save" in message  # how to convert a trusted one
    assert "\n" not in message


def test_apply_key_map_reports_every_problem() -> None:
    state = {"old.a": torch.zeros(2), "old.b": torch.zeros(3), "drop": torch.zeros(1), "extra": torch.zeros(1)}
    expected = {"new.a": (2,), "new.b": (4,), "new.c": (1,)}

    def rename(key: str) -> str | None:
        return None if key == "drop" else key.replace("old.", "new.")

    with pytest.raises(CheckpointError) as err:
        apply_key_map(state, expected, rename, source="prior.pth.tar")
    message = str(err.value)
    assert "prior.pth.tar" in message and "new.c" in message and "extra" in message and "new.b" in message
    good = apply_key_map({"old.a": torch.zeros(2)}, {"new.a": (2,)}, rename)
    assert list(good) == ["new.a"]


def test_jukebox_attention_types_and_prime_length() -> None:
    assert [ATTN_TYPES[t] for t in (0, 1, 2, 3, 6, 7)] == [
        "dense", "block_local", "block_transpose", "prev_block", "cross", "prime"]
    # 16 lyric tokens, 8 blocks (the tiny single encoder-decoder): keys 0..23 are the prefix.
    assert prime_length(16, 8) == 24
    assert prime_length(384, 64) == 448
