"""Our priors reproduce the original Jukebox on the tiny official-format priors in
tests/data/jukebox/priors (or $MUSEBOX_JUKEBOX_REFERENCE/priors).

Every size comes from the files (the same tests run on other sets with other depths, heads and
contexts): conditioning, lyric-encoder keys/values, teacher-forced logits, alignment attention
and loss within 1e-4 (fp32); greedy continuations through our KV cache identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from jukebox.official import ATTN_TYPES
from jukebox.prior.checkpoint import load_official_prior
from jukebox.prior.prior import JukeboxPrior, PriorConditioning
from muse.core.logits import SamplingConfig

ATOL = 1e-4
GREEDY = SamplingConfig(top_k=1)


@dataclass
class Case:
    name: str
    meta: dict
    vectors: dict[str, torch.Tensor]
    prior: JukeboxPrior
    cond: PriorConditioning


def case_names(root: Path) -> list[str]:
    return sorted(p.name.removesuffix("_vectors.safetensors") for p in (root / "priors").glob("*_vectors.safetensors"))


def has_vector(root: Path, name: str, key: str) -> bool:
    with safe_open(str(root / "priors" / f"{name}_vectors.safetensors"), framework="pt") as f:
        return key in f.keys()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per prior of the reference set; a test of a part only some priors have (the separate
    lyric encoder) runs on those only, so nothing is skipped."""
    if "case" in metafunc.fixturenames:
        from conftest import JUKEBOX_REFERENCE

        names = case_names(JUKEBOX_REFERENCE)
        assert names, f"no reference priors (*_vectors.safetensors) in {JUKEBOX_REFERENCE / 'priors'}"
        needs = getattr(metafunc.function, "needs_vector", None)
        if needs:
            names = [n for n in names if has_vector(JUKEBOX_REFERENCE, n, needs)]
        metafunc.parametrize("case", names, indirect=True)


def needs_vector(key: str):
    """Run the decorated test only on the cases whose vectors hold ``key``."""
    def mark(test):
        test.needs_vector = key
        return test
    return mark


@pytest.fixture(scope="module")
def case(request: pytest.FixtureRequest, jukebox_ref: Path) -> Case:
    name = request.param
    root = jukebox_ref / "priors"
    prior = load_official_prior(root / f"{name}.pth.tar")
    vectors = load_file(str(root / f"{name}_vectors.safetensors"))
    with torch.no_grad():
        cond = prior.condition(vectors["y"], vectors.get("z_cond"))
    return Case(name, json.loads((root / f"{name}.json").read_text()), vectors, prior, cond)


def test_layer_patterns_follow_the_official_attention_types(case: Case) -> None:
    config = case.prior.config
    patterns = [config.pattern(i) for i in range(config.depth)]
    assert patterns == [ATTN_TYPES[t] for t in case.meta["attention_types"]]


def test_start_and_positional_conditioning(case: Case) -> None:
    v, cond = case.vectors, case.cond
    torch.testing.assert_close(cond.start, v["y_cond"], atol=ATOL, rtol=0)
    n_prefix = case.prior.config.n_prefix
    torch.testing.assert_close(cond.positional[:, n_prefix:], v["x_cond"], atol=ATOL, rtol=0)
    assert not cond.positional[:, :n_prefix].any(), "x_cond must be zero over the lyric prefix"


@needs_vector("encoder_kv")  # only priors with a separate lyric encoder (the 5b design)
def test_lyric_encoder_keys_values(case: Case) -> None:
    torch.testing.assert_close(case.cond.encoder_kv, case.vectors["encoder_kv"], atol=ATOL, rtol=0)


@torch.no_grad()
def test_teacher_forced_logits_and_alignment_attention(case: Case) -> None:
    v = case.vectors
    has_alignment = "alignment_attn" in v
    out = case.prior(v["z"], case.cond, return_attention=has_alignment)
    assert out.logits.shape == v["logits"].shape
    torch.testing.assert_close(out.logits, v["logits"], atol=ATOL, rtol=0)
    if has_alignment:
        torch.testing.assert_close(out.attention, v["alignment_attn"], atol=ATOL, rtol=0)


@torch.no_grad()
def test_loss_matches_the_original_metrics(case: Case) -> None:
    loss = case.prior.loss(case.vectors["z"], case.cond)
    metrics = case.meta["metrics"]
    assert loss.gen_loss.item() == pytest.approx(metrics["gen_loss"], rel=1e-4)
    assert loss.prime_loss.item() == pytest.approx(metrics["prime_loss"], rel=1e-4, abs=1e-6)
    assert loss.loss.item() == pytest.approx(case.meta["loss"], rel=1e-4)


@torch.no_grad()
def test_cached_chunks_equal_the_full_forward(case: Case) -> None:
    prior, cond, z = case.prior, case.cond, case.vectors["z"]
    full = prior(z, cond).logits
    tokens = prior.tokens(z, cond)
    stream = torch.cat([torch.full_like(tokens[:, :1], prior.bos), tokens[:, :-1]], dim=1)
    cache = prior.new_cache(z.shape[0])
    chunk = case.meta["chunk_size"]
    steps = [prior.step(stream[:, i:i + chunk], cache, cond) for i in range(0, stream.shape[1], chunk)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=ATOL, rtol=0)


def test_greedy_from_nothing(case: Case) -> None:
    expected = case.vectors["greedy_ancestral"]
    codes = case.prior.sample(case.cond, expected.shape[1], sampling=GREEDY, chunk_size=case.meta["chunk_size"])
    assert torch.equal(codes, expected)


def test_greedy_from_a_prompt_fed_in_chunks(case: Case) -> None:
    expected, n_prompt = case.vectors["greedy_primed"], case.meta["primed_tokens"]
    prompt = case.vectors["z"][:, :n_prompt]
    codes = case.prior.sample(
        case.cond, expected.shape[1] - n_prompt, prompt, sampling=GREEDY, chunk_size=case.meta["chunk_size"]
    )
    assert torch.equal(codes, expected)
