"""EMA codebook: quantisation, EMA step, dead-code restarts, initialisation from data."""

from __future__ import annotations

import pytest
import torch

from jukebox.vqvae.bottleneck import Codebook


def cdist_nearest(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x.double(), k.double()).argmin(dim=1)


def make_codebook(vectors: torch.Tensor, mu: float = 0.9, threshold: float = 1.0) -> Codebook:
    codebook = Codebook(vectors.shape[0], vectors.shape[1], mu, threshold)
    codebook.vectors.copy_(vectors)
    codebook.restore()
    return codebook


def test_quantise_picks_the_nearest_code() -> None:
    torch.manual_seed(0)
    k, x = torch.randn(32, 8), torch.randn(500, 8)
    codebook = make_codebook(k)
    codes, dist2 = codebook.quantise(x)
    assert torch.equal(codes, cdist_nearest(x, k))
    torch.testing.assert_close(dist2, ((x - k[codes]) ** 2).sum(1), atol=1e-5, rtol=1e-5)
    assert torch.equal(codebook.dequantise(codes), k[codes])


def test_forward_straight_through_and_commit_loss() -> None:
    torch.manual_seed(0)
    codebook = make_codebook(torch.randn(16, 4)).eval()
    x = torch.randn(2, 4, 10, requires_grad=True)
    out = codebook(x, update=False)
    frames = x.detach().permute(0, 2, 1).reshape(-1, 4)
    assert out.codes.shape == (2, 10)
    torch.testing.assert_close(out.quantised.detach(), codebook.dequantise(out.codes).permute(0, 2, 1))
    torch.testing.assert_close(out.commit_loss, ((codebook.vectors[out.codes.flatten()] - frames) ** 2).mean())
    out.quantised.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # gradient passes straight through


def test_used_codes_move_to_the_mean_of_their_frames() -> None:
    k = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    codebook = make_codebook(k, mu=0.5)
    x = torch.tensor([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]])
    codebook.update(x, codebook.quantise(x)[0])
    # k_sum = 0.5 * k + 0.5 * (sum of assigned frames); k_elem = 0.5 * 1 + 0.5 * count
    torch.testing.assert_close(codebook.k_elem, torch.tensor([1.5, 1.0]))
    torch.testing.assert_close(codebook.vectors, torch.tensor([[4.0 / 3.0, 2.0 / 3.0], [9.5, 9.5]]))


def test_dead_codes_are_reseeded_with_frames_of_the_batch() -> None:
    torch.manual_seed(0)
    live = torch.randn(4, 6)
    dead = torch.full((4, 6), 100.0)  # far from every frame: never chosen
    codebook = make_codebook(torch.cat([live, dead]), mu=0.9, threshold=1.0)
    x = live.repeat(16, 1) + 0.01 * torch.randn(64, 6)
    metrics = codebook.update(x, codebook.quantise(x)[0])
    # unused rows decay to k_elem = 0.9 < threshold and are replaced by frames of x
    assert torch.all(codebook.k_elem[4:] < 1.0) and torch.all(codebook.k_elem[:4] >= 1.0)
    for row in codebook.vectors[4:]:
        assert (x == row).all(dim=1).any(), "a re-seeded code must be one of the batch's frames"
    torch.testing.assert_close(codebook.vectors[:4], codebook.k_sum[:4] / codebook.k_elem[:4, None])
    assert metrics["usage"].item() == 4 and metrics["used_curr"].item() == 4


def test_reseeding_from_a_small_batch_adds_small_noise() -> None:
    torch.manual_seed(0)
    codebook = make_codebook(torch.full((16, 4), 50.0), mu=0.9)
    x = torch.randn(3, 4)  # fewer frames than codes: tiled with noise of std 0.01 / sqrt(width)
    codebook.update(x, torch.zeros(3, dtype=torch.long))
    reseeded = codebook.vectors[1:]
    nearest = torch.cdist(reseeded, x).min(dim=1).values
    assert torch.all(nearest < 0.05) and torch.all(nearest > 0)


def test_first_training_step_seeds_the_codebook_from_data() -> None:
    torch.manual_seed(0)
    codebook = Codebook(8, 3, mu=0.99)
    assert not codebook.initialised
    x = torch.randn(1, 3, 40)
    codebook(x, update=True)
    assert codebook.initialised
    frames = x.permute(0, 2, 1).reshape(-1, 3)
    # seeded rows are batch frames, then moved by one EMA step of rate 0.01 towards their means
    assert torch.cdist(codebook.vectors, frames).min(dim=1).values.max() < 0.1


@pytest.mark.parametrize("num_tokens", [None, 4096])
def test_restore_sets_the_ema_state(num_tokens: int | None) -> None:
    k = torch.randn(64, 5)
    codebook = make_codebook(k)
    codebook.restore(num_tokens=num_tokens, threshold=0.5)
    n = 1.0 if num_tokens is None else num_tokens / 64
    torch.testing.assert_close(codebook.k_sum, k * n)
    assert torch.all(codebook.k_elem == n) and codebook.threshold == 0.5
