"""Sampling engine: logit filters (property tests) and the shared generate() loop."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from muse.core.config import load_config
from muse.core.errors import ConfigError
from muse.core.logits import SamplingConfig, filter_logits, mask_tokens, min_p, temperature, token_mask, top_k, top_p
from muse.core.sampling import Decoder, generate, sample_tokens

FAST = settings(max_examples=60, deadline=None)


@st.composite
def logit_rows(draw: st.DrawFn, max_vocab: int = 40) -> Tensor:
    """A batch (B, V) of finite logits, with deliberate ties (values are drawn from a coarse grid)."""
    vocab = draw(st.integers(2, max_vocab))
    batch = draw(st.integers(1, 3))
    grid = st.integers(-40, 40).map(lambda i: i / 4)
    values = draw(st.lists(st.lists(grid, min_size=vocab, max_size=vocab), min_size=batch, max_size=batch))
    return torch.tensor(values, dtype=torch.float32)


def kept(logits: Tensor) -> Tensor:
    return torch.isfinite(logits)


# ------------------------------------------------------------------------------------ filters


@FAST
@given(logit_rows(), st.integers(1, 45))
def test_top_k_keeps_the_k_largest_and_more_only_on_ties(logits: Tensor, k: int) -> None:
    out = kept(top_k(logits, k))
    for row, keep in zip(logits, out):
        if k >= row.numel():
            assert keep.all()
            continue
        ranked = row.sort(descending=True).values
        assert torch.equal(keep, row >= ranked[k - 1])  # the k largest, plus anything tied with the k-th
        if ranked[k - 1] != ranked[k]:
            assert int(keep.sum()) == k
        else:
            assert int(keep.sum()) > k


@FAST
@given(logit_rows(), st.floats(0.01, 0.99))
def test_top_p_keeps_the_smallest_top_set_with_mass_at_least_p(logits: Tensor, p: float) -> None:
    out = kept(top_p(logits, p))
    probs = logits.softmax(-1)
    for prob, keep in zip(probs, out):
        assert keep[prob.argmax()]  # the most likely token always survives
        mass = float(prob[keep].sum())
        assert mass >= p - 1e-6
        # minimal: dropping the least likely kept token would fall below p
        assert mass - float(prob[keep].min()) < p + 1e-6
        # a top set: nothing removed is more likely than something kept
        if (~keep).any():
            assert float(prob[~keep].max()) <= float(prob[keep].min()) + 1e-7


def test_top_p_on_a_known_distribution() -> None:
    logits = torch.tensor([[0.5, 0.3, 0.2]]).log()
    assert kept(top_p(logits, 0.5)).tolist() == [[True, False, False]]
    assert kept(top_p(logits, 0.8)).tolist() == [[True, True, False]]
    assert kept(top_p(logits, 0.81)).tolist() == [[True, True, True]]
    assert kept(top_p(logits, 0.01)).tolist() == [[True, False, False]]
    assert torch.equal(top_p(logits, 1.0), logits)


@FAST
@given(logit_rows(), st.floats(0.0, 1.0))
def test_min_p_keeps_tokens_at_least_p_times_the_top_probability(logits: Tensor, p: float) -> None:
    out = kept(min_p(logits, p))
    probs = logits.softmax(-1)
    for prob, keep in zip(probs, out):
        threshold = p * float(prob.max())
        assert keep[prob.argmax()]
        assert bool((prob[keep] >= threshold * (1 - 1e-5)).all())
        assert bool((prob[~keep] < threshold * (1 + 1e-5)).all())


@FAST
@given(logit_rows(), st.data())
def test_masks_never_let_a_forbidden_token_through(logits: Tensor, data: st.DataObject) -> None:
    vocab = logits.shape[1]
    ids = st.lists(st.integers(0, vocab - 1), max_size=vocab)
    forbidden = data.draw(ids)
    allowed = data.draw(ids)
    out = kept(mask_tokens(logits, allowed=allowed, forbidden=forbidden))
    expected = token_mask(allowed, vocab) & ~token_mask(forbidden, vocab)
    assert torch.equal(out, expected.expand_as(out))
    survivors = mask_tokens(logits, allowed=allowed, forbidden=forbidden)
    if expected.any():  # sampling from what is left never yields a removed token
        draws = sample_tokens(survivors[:1].expand(200, -1), torch.Generator().manual_seed(0))
        assert bool(expected[draws].all())


def test_mask_accepts_per_row_bool_masks_and_rejects_out_of_range_ids() -> None:
    logits = torch.zeros(2, 4)
    rows = torch.tensor([[True, False, True, False], [False, False, False, True]])
    assert torch.equal(kept(mask_tokens(logits, allowed=rows)), rows)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        mask_tokens(logits, forbidden=[4])


@FAST
@given(logit_rows(), st.floats(0.1, 5.0))
def test_temperature_scales_log_odds_and_keeps_the_ranking(logits: Tensor, t: float) -> None:
    out = temperature(logits, t)
    torch.testing.assert_close(out * t, logits)
    assert torch.equal(out.argmax(-1), logits.argmax(-1))
    with pytest.raises(ValueError):
        temperature(logits, 0.0)


def test_filter_logits_applies_temperature_then_top_k_top_p_min_p() -> None:
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(1)) * 3
    config = SamplingConfig(temperature=0.7, top_k=20, top_p=0.9, min_p=0.05)
    expected = min_p(top_p(top_k(logits / 0.7, 20), 0.9), 0.05)
    assert torch.equal(filter_logits(logits, config), expected)
    assert torch.equal(filter_logits(logits, SamplingConfig()), logits)  # defaults filter nothing


def test_sample_tokens_follows_the_softmax_distribution() -> None:
    logits = torch.tensor([2.0, 1.0, 0.0, -math.inf])
    draws = sample_tokens(logits.expand(40_000, -1), torch.Generator().manual_seed(3))
    freq = torch.bincount(draws, minlength=4).float() / draws.numel()
    torch.testing.assert_close(freq, logits.softmax(-1), atol=0.01, rtol=0)
    assert freq[3] == 0


def test_sampling_config_validates_and_loads_strictly_from_yaml(tmp_path) -> None:
    for bad in ({"temperature": -1.0}, {"top_k": -2}, {"top_p": 0.0}, {"top_p": 1.5}, {"min_p": 2.0}):
        with pytest.raises(ConfigError):
            SamplingConfig(**bad)
    path = tmp_path / "sampling.yaml"
    path.write_text("temperature: 0.9\ntop_k: 40\ntop_p: 0.95\n")
    assert load_config(SamplingConfig, path) == SamplingConfig(temperature=0.9, top_k=40, top_p=0.95)
    path.write_text("temprature: 0.9\n")
    with pytest.raises(ConfigError, match="temprature"):
        load_config(SamplingConfig, path)


# ------------------------------------------------------------------------------ fake decoders


@dataclass
class IdCache:
    ids: Tensor  # (B, t) every id fed since the cache was created


class ToyLM(nn.Module):
    """A deterministic toy decoder whose logits depend on the last token and on the whole window.

    It records every window it has seen and fails if it is ever fed more than ``n_ctx`` tokens.
    """

    def __init__(self, vocab: int = 17, n_ctx: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.n_ctx, self.vocab = n_ctx, vocab
        self.register_buffer("by_token", torch.randn(vocab, vocab, generator=g) * 2)
        self.register_buffer("by_context", torch.randn(vocab, vocab, generator=g) * 2)
        self.windows: list[Tensor] = []
        self.calls: list[int] = []

    def new_cache(self, batch_size: int) -> IdCache:
        return IdCache(torch.zeros(batch_size, 0, dtype=torch.long))

    def step(self, ids: Tensor, cache: IdCache) -> Tensor:
        cache.ids = torch.cat([cache.ids, ids], dim=1)
        assert cache.ids.shape[1] <= self.n_ctx, "decoder fed past its context"
        self.windows.append(cache.ids.clone())
        self.calls.append(ids.shape[1])
        context = cache.ids.cumsum(dim=1)[:, -ids.shape[1]:] % self.vocab
        return self.by_token[ids] + self.by_context[context]


class Counter(nn.Module):
    """Greedy-deterministic decoder: the next token is (last token + 1) mod vocab."""

    n_ctx = 64

    def __init__(self, vocab: int = 10) -> None:
        super().__init__()
        self.vocab = vocab

    def new_cache(self, batch_size: int) -> None:
        return None

    def step(self, ids: Tensor, cache: None) -> Tensor:
        return torch.nn.functional.one_hot((ids + 1) % self.vocab, self.vocab).float() * 10


def test_fakes_satisfy_the_decoder_protocol() -> None:
    assert isinstance(ToyLM(), Decoder) and isinstance(Counter(), Decoder)


def uncached_greedy(model: ToyLM, prompt: Tensor, n: int) -> Tensor:
    """Reference: re-run the whole sequence from an empty cache for every token."""
    seq = prompt
    for _ in range(n):
        logits = model.step(seq, model.new_cache(seq.shape[0]))[:, -1]
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], dim=1)
    return seq


# ------------------------------------------------------------------------------------ generate


def test_greedy_generation_equals_rerunning_the_model_on_the_whole_sequence() -> None:
    model = ToyLM(n_ctx=32)
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = generate(model, prompt, 12, sampling=SamplingConfig(temperature=0))
    calls = list(model.calls)
    assert torch.equal(out.ids, uncached_greedy(model, prompt, 12))
    assert torch.equal(out.ids[:, :3], prompt) and torch.equal(out.new_ids, out.ids[:, 3:])
    assert out.stopped == "max_tokens" and out.lengths.tolist() == [12, 12] and out.windows == 0
    # prompt fed once, then one token per step
    assert calls == [3] + [1] * 11


def test_same_seed_same_output_independent_of_the_global_rng() -> None:
    model = ToyLM()
    prompt = torch.tensor([[0, 1], [2, 3], [4, 5]])
    torch.manual_seed(123)
    first = generate(model, prompt, 20, seed=7)
    torch.manual_seed(999)
    state = torch.get_rng_state()
    second = generate(model, prompt, 20, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is never used
    assert torch.equal(first.ids, second.ids) and torch.equal(first.logprobs, second.logprobs)
    assert not torch.equal(first.ids, generate(model, prompt, 20, seed=8).ids)
    unseeded = generate(model, prompt, 20)
    assert torch.equal(unseeded.ids, generate(model, prompt, 20, seed=unseeded.seed).ids)


def test_logprobs_are_under_the_filtered_distribution() -> None:
    model = ToyLM()
    prompt = torch.tensor([[3, 1]])
    plain = generate(model, prompt, 10, seed=1)
    torch.testing.assert_close(plain.logprobs, plain.model_logprobs)  # no filter: the same distribution
    assert bool((plain.logprobs < 0).all())
    forced = generate(model, prompt, 10, seed=1, sampling=SamplingConfig(top_k=1))
    assert bool((forced.logprobs == 0).all())  # one token left: probability 1
    assert bool((forced.model_logprobs < 0).all())
    # recompute one step by hand
    step0 = model.step(prompt, model.new_cache(1))[0, -1]
    assert math.isclose(float(plain.model_logprobs[0, 0]), float(step0.log_softmax(-1)[plain.new_ids[0, 0]]),
                        rel_tol=1e-6)


def test_each_row_stops_at_its_own_stop_token_and_the_loop_ends_when_all_are_done() -> None:
    prompt = torch.tensor([[7], [2], [5]])  # counts up to the stop token 9
    out = generate(Counter(), prompt, 20, stop_tokens=[9], pad_id=0, sampling=SamplingConfig(temperature=0))
    assert out.stopped == "stop_token"
    assert out.lengths.tolist() == [2, 7, 4]
    assert out.new_ids.shape[1] == 7
    assert out.new_ids[0].tolist() == [8, 9, 0, 0, 0, 0, 0]
    assert out.new_ids[1].tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert out.new_ids[2].tolist() == [6, 7, 8, 9, 0, 0, 0]
    assert out.logprobs[0, 2:].eq(0).all() and out.logprobs[0, :2].lt(0.01).all()


def test_constraint_hook_is_respected_and_sees_the_whole_sequence() -> None:
    model = ToyLM(vocab=17)
    end, min_len = 16, 6
    seen_lengths = []

    def grammar(ids: Tensor) -> Tensor:
        """Only even tokens; `end` allowed only after min_len generated tokens."""
        seen_lengths.append(ids.shape[1])
        ok = torch.zeros(ids.shape[0], 17, dtype=torch.bool)
        ok[:, 0::2] = True
        ok[:, end] = ids.shape[1] - 2 >= min_len
        return ok

    out = generate(model, torch.tensor([[1, 3]] * 4), 30, constraint=grammar, stop_tokens=[end],
                   sampling=SamplingConfig(temperature=2.0), seed=0)
    new = out.new_ids
    for row, n in zip(new, out.lengths.tolist()):
        assert all(t % 2 == 0 for t in row[:n].tolist())
        assert end not in row[:min_len].tolist()
    assert seen_lengths[:3] == [2, 3, 4]


def test_allowed_and_forbidden_sets_in_generate() -> None:
    out = generate(ToyLM(), torch.zeros(8, 1, dtype=torch.long), 25, allowed=range(10), forbidden=[3, 4], seed=2)
    values = set(out.new_ids.flatten().tolist())
    assert values <= set(range(10)) - {3, 4}


def test_a_constraint_that_allows_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no token is allowed"):
        generate(ToyLM(), torch.zeros(1, 1, dtype=torch.long), 3,
                 constraint=lambda ids: torch.zeros(ids.shape[0], 17, dtype=torch.bool))


def test_windowed_continuation_goes_past_n_ctx_keeping_the_header() -> None:
    model = ToyLM(n_ctx=12)
    prompt = torch.tensor([[5, 6, 7], [1, 2, 3]])
    out = generate(model, prompt, 40, keep_prefix=2, hop_fraction=0.5, seed=4)
    seq = out.ids
    assert seq.shape[1] == 43 > model.n_ctx
    assert out.windows > 0
    assert max(w.shape[1] for w in model.windows) <= model.n_ctx
    for window in model.windows:
        width = window.shape[1]
        # every window is the two header tokens followed by a contiguous run of the sequence
        assert torch.equal(window[:, :2], seq[:, :2])
        tail = window[:, 2:]
        starts = [s for s in range(2, seq.shape[1] - tail.shape[1] + 1)
                  if torch.equal(seq[:, s:s + tail.shape[1]], tail)]
        assert starts, f"window of {width} tokens is not header + contiguous tail"
    # after each slide, half of the 10 non-header positions are free again: re-primed with 12 - 5 = 7
    reprimes = [c for c in model.calls[1:] if c > 1]
    assert reprimes and set(reprimes) == {7}


def test_prompt_longer_than_the_context_and_chunked_priming() -> None:
    model = ToyLM(n_ctx=8)
    prompt = torch.arange(20).remainder(17)[None]
    out = generate(model, prompt, 5, sampling=SamplingConfig(temperature=0), prime_chunk=3)
    assert out.ids.shape == (1, 25) and max(w.shape[1] for w in model.windows) <= 8
    assert max(model.calls) <= 3
    # chunking changes nothing in the result
    assert torch.equal(out.ids, generate(ToyLM(n_ctx=8), prompt, 5, sampling=SamplingConfig(temperature=0)).ids)


def test_progress_callback_and_cancellation() -> None:
    calls = []
    generate(ToyLM(), torch.zeros(1, 1, dtype=torch.long), 6, callback=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]

    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 4:
            stop.set()

    out = generate(ToyLM(), torch.zeros(2, 1, dtype=torch.long), 50, callback=progress, cancel=stop)
    assert out.stopped == "cancelled" and out.new_ids.shape == (2, 4) and out.logprobs.shape == (2, 4)
    out = generate(ToyLM(), torch.zeros(1, 1, dtype=torch.long), 50, cancel=lambda: True)
    assert out.stopped == "cancelled" and out.new_ids.shape == (1, 0)


def test_bad_arguments_fail_clearly() -> None:
    model = ToyLM(n_ctx=8)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="keep_prefix"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), 3, keep_prefix=3)
    with pytest.raises(ValueError, match="hop_fraction"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), 3, hop_fraction=0)
    with pytest.raises(ValueError, match="pad_id"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), 3, pad_id=-1)
    with pytest.raises(ValueError, match="exceeds"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), 3, n_ctx=9)


# ------------------------------------------------------------- end to end with the real transformer


class TinyTransformerLM(nn.Module):
    """Token + learned position embeddings around muse.core's Transformer, as a Decoder."""

    def __init__(self, vocab: int = 23, n_ctx: int = 16) -> None:
        super().__init__()
        from muse.core.transformer import PositionalEmbedding, Transformer, TransformerConfig

        torch.manual_seed(0)
        config = TransformerConfig(width=32, depth=3, heads=2, n_ctx=n_ctx, blocks=4,
                                   attn_order=("block_local", "block_transpose", "prev_block"))
        self.n_ctx = n_ctx
        self.emb = nn.Embedding(vocab, 32)
        self.pos = PositionalEmbedding(n_ctx, 32, init_std=0.5)
        self.transformer = Transformer(config)
        self.head = nn.Linear(32, vocab)
        nn.init.normal_(self.head.weight, std=1.0)

    def new_cache(self, batch_size: int):
        return self.transformer.new_cache(batch_size)

    def step(self, ids: Tensor, cache) -> Tensor:
        x = self.emb(ids) + self.pos(ids.shape[1], offset=cache.offset)
        return self.head(self.transformer(x, cache))


class WithoutKVCache:
    """The same model decoded without a KV cache: every step re-runs the whole window."""

    def __init__(self, model: TinyTransformerLM) -> None:
        self.model, self.n_ctx = model, model.n_ctx

    def new_cache(self, batch_size: int) -> IdCache:
        return IdCache(torch.zeros(batch_size, 0, dtype=torch.long))

    def step(self, ids: Tensor, cache: IdCache) -> Tensor:
        cache.ids = torch.cat([cache.ids, ids], dim=1)
        x = self.model.emb(cache.ids) + self.model.pos(cache.ids.shape[1])
        return self.model.head(self.model.transformer(x))[:, -ids.shape[1]:]


@pytest.mark.parametrize("sampling", [SamplingConfig(temperature=0), SamplingConfig(temperature=1.0, top_p=0.9)])
def test_kv_cached_generation_equals_uncached_with_the_real_transformer(sampling: SamplingConfig) -> None:
    model = TinyTransformerLM().eval()
    prompt = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    # 24 tokens after a 5-token prompt with a 16-token context: several windows, each re-primed afresh
    cached = generate(model, prompt, 24, sampling=sampling, seed=11, keep_prefix=1, hop_fraction=0.25)
    uncached = generate(WithoutKVCache(model), prompt, 24, sampling=sampling, seed=11, keep_prefix=1, hop_fraction=0.25)
    assert cached.windows > 0
    assert torch.equal(cached.ids, uncached.ids)
    torch.testing.assert_close(cached.logprobs, uncached.logprobs, atol=1e-5, rtol=0)
    torch.testing.assert_close(cached.model_logprobs, uncached.model_logprobs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("scale", [0.5, 3.0, 10.0])
def test_top_p_candidate_shortcut_equals_the_full_sort(scale: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large vocabularies take top_p from the top candidates; whenever it answers it equals the full sort."""
    from muse.core import logits as logits_module

    gen = torch.Generator().manual_seed(int(scale * 10))
    answered = 0
    for trial in range(40):
        logits = torch.randn(3, 9000, generator=gen) * scale  # both candidate counts (256, 4096) apply
        if trial % 5 == 0:
            logits[:, :40] = logits[:, :1]  # a tie group
        p = float(torch.rand((), generator=gen)) * 0.98 + 0.01
        fast = logits_module._top_p_from_top_k(logits, p)
        with monkeypatch.context() as m:
            m.setattr(logits_module, "_TOP_P_CANDIDATES", (10**9,))  # forces the full sort
            full = logits_module.top_p(logits, p)
        if fast is not None:
            answered += 1
            assert torch.equal(torch.isinf(fast), torch.isinf(full))
    assert answered > 0


def test_top_p_falls_back_to_4096_candidates_for_flat_distributions() -> None:
    """A flat distribution's nucleus holds thousands of tokens: the 4,096-candidate stage answers it."""
    from muse.core import logits as logits_module

    logits = torch.randn(2, 39000, generator=torch.Generator().manual_seed(0)) * 0.3
    p = 0.05  # about 1,950 tokens: more than 256, fewer than 4,096
    fast = logits_module._top_p_from_top_k(logits, p)
    assert fast is not None
    full_sorted = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = full_sorted.values.softmax(-1)
    kept = int(((probs.cumsum(-1) - probs) < p).sum(-1)[0])
    assert 256 < kept < 4096 and int((~torch.isinf(fast[0])).sum()) == kept
