"""The copy head (muse.copy_head): exact suffix matches, one recurrence for training and cached
decoding, an exact softmax with the bonus, and a zero start that changes nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from musetok import MidiTokenizer

from muse.copy_head import MAX_MATCH, CopyState, copy_matches
from muse.model import MuseModel
from muse.token_tables import TokenTables
from test_model import tiny_config


@pytest.fixture(scope="module")
def tables() -> TokenTables:
    return TokenTables.from_vocab(MidiTokenizer().vocab)


def brute_force(seq: list[int]) -> tuple[list[int], list[int]]:
    """Candidate and bucket of each position by trying every earlier end and length."""
    cands, buckets = [], []
    for t in range(len(seq)):
        best_bucket, best_j = -1, -1
        for j in range(t):
            n = 0
            while n < MAX_MATCH and j - n >= 0 and seq[t - n] == seq[j - n]:
                n += 1
            bucket = int(np.log2(n)) if n else -1
            if bucket >= best_bucket and n > 0:
                best_bucket, best_j = bucket, j
        cands.append(seq[best_j + 1] if best_j >= 0 else 0)
        buckets.append(best_bucket)
    return cands, buckets


@pytest.mark.parametrize("seed", range(6))
def test_matches_are_the_longest_most_recent_suffix_by_both_paths(seed: int) -> None:
    rng = np.random.default_rng(seed)
    motif = rng.integers(0, 5, 12).tolist()
    seq = (motif * 3 + rng.integers(0, 3, 30).tolist() + motif * 4)[:100]  # long repeats and short noise
    ids = torch.tensor([seq, seq[::-1]])
    whole = copy_matches(ids)
    stepped = CopyState.empty(2, 128).advance(ids)  # the recurrence of cached decoding
    for cand, bucket in (whole, stepped):
        for row in range(2):
            want_c, want_b = brute_force(ids[row].tolist())
            assert cand[row].tolist() == want_c
            assert bucket[row].tolist() == want_b
    assert bucket.max().item() == MAX_MATCH.bit_length() - 1  # runs longer than the cap land in the top bucket


def test_chunked_advance_equals_one_pass() -> None:
    ids = torch.randint(0, 4, (3, 60))
    whole = copy_matches(ids)
    state = CopyState.empty(3, 64)
    parts = [state.advance(ids[:, a:b]) for a, b in ((0, 1), (1, 17), (17, 18), (18, 60))]
    assert torch.equal(torch.cat([p[0] for p in parts], 1), whole[0])
    assert torch.equal(torch.cat([p[1] for p in parts], 1), whole[1])
    with pytest.raises(ValueError, match="exceed"):
        state.advance(ids[:, :5])


def _randomize(model: MuseModel) -> MuseModel:
    with torch.no_grad():
        model.copy.bias.normal_(0, 2)
        model.copy.proj.normal_(0, 0.5)
    return model


def test_a_zero_head_predicts_what_the_model_without_it_does(tables: TokenTables) -> None:
    torch.manual_seed(0)
    plain = MuseModel(tiny_config(tables.size), tables).eval()
    copying = MuseModel(tiny_config(tables.size, copy_head=True), tables).eval()
    missing, unexpected = copying.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["copy.bias", "copy.proj"] and not unexpected
    ids = torch.randint(0, 50, (2, 40))  # a small range: many repeats
    torch.testing.assert_close(copying(ids), plain(ids))


def test_training_nll_with_the_bonus_equals_the_full_softmax(tables: TokenTables) -> None:
    torch.manual_seed(0)
    model = _randomize(MuseModel(tiny_config(tables.size, copy_head=True), tables)).eval()
    ids = torch.randint(0, 10, (2, 40))
    full = model(ids).log_softmax(-1)
    nll = model(ids[:, :-1], targets=ids[:, 1:])
    expected = -full[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    torch.testing.assert_close(nll, expected, atol=1e-4, rtol=1e-5)
    cand, bucket = copy_matches(ids)
    assert (bucket >= 0).float().mean() > 0.5  # the bonus was really exercised,
    assert (cand[:, :-1] == ids[:, 1:]).any() and (cand[:, :-1] != ids[:, 1:]).any()  # on hits and misses


def test_learning_the_head_raises_the_copy_probability(tables: TokenTables) -> None:
    torch.manual_seed(0)
    model = MuseModel(tiny_config(tables.size, copy_head=True), tables)
    rows = [torch.randint(100, 3000, (8,)).repeat(6) for _ in range(4)]  # random phrases, each played 6 times
    ids = torch.stack(rows)
    before = model(ids[:, :-1], targets=ids[:, 1:])[:, 16:].mean().item()
    opt = torch.optim.Adam(model.copy.parameters(), lr=0.1)
    for _ in range(30):
        opt.zero_grad()
        model(ids[:, :-1], targets=ids[:, 1:])[:, 16:].mean().backward()
        opt.step()
    after = model(ids[:, :-1], targets=ids[:, 1:])[:, 16:].mean().item()
    assert after < 0.2 * before  # repeats become nearly certain from the head alone
    assert dataclasses.asdict(model.config)["copy_head"] is True


def test_head_of_the_last_positions_equals_the_full_forward(tables: TokenTables) -> None:
    torch.manual_seed(0)
    model = _randomize(MuseModel(tiny_config(tables.size, copy_head=True), tables)).eval()
    ids = torch.randint(0, 10, (2, 40))
    with torch.no_grad():
        torch.testing.assert_close(model.head(model.hidden(ids)[:, -5:], ids), model(ids)[:, -5:])
