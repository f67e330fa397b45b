"""Sampling engine: one ``generate`` loop shared by every model, drawing through the logit filters of
``muse.core.logits``.

``generate`` drives any :class:`Decoder` (a model exposing ``n_ctx``, ``new_cache`` and ``step``):
batch, prompt, stop tokens, private seeded RNG, progress callback, cancellation, per-token
log-probabilities and windowed continuation past the context length (Jukebox-style: slide the
window by a hop, keep a header, reset the cache and re-prime). No I/O happens in the loop.
``GuidedDecoder`` wraps any decoder for classifier-free guidance (``guide_logits``).
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from muse.core.errors import ConfigError
from muse.core.logits import LogitFilter, SamplingConfig, TokenSet, filter_logits, mask_tokens, token_mask

log = logging.getLogger(__name__)

Constraint = Callable[[Tensor], Tensor]
"""Grammar hook: ids so far ``(B, T)`` (prompt + generated) -> bool ``(B, V)`` of allowed next tokens."""

StopReason = Literal["max_tokens", "stop_token", "cancelled"]


@runtime_checkable
class Decoder(Protocol):
    """What ``generate`` needs from a model.

    ``step(ids, cache)`` feeds ``ids`` ``(B, T)`` after the tokens already in ``cache`` and returns
    logits ``(B, T, V)``; ``logits[:, t]`` is the distribution of the token that follows
    ``ids[:, t]``. The cache never holds more than ``n_ctx`` tokens: ``generate`` slides the window
    and starts a fresh cache from ``new_cache`` before that happens.

    A decoder that must know where a window sits in the whole sequence (absolute time, say) may
    also define ``start_window(cache, prefix, start)``: ``generate`` calls it right after each
    ``new_cache``, announcing that this cache will be fed the sequence's first ``prefix`` tokens,
    then its tokens from absolute position ``start`` on, in order, over any number of ``step``
    calls (``prefix <= start``; ``start == prefix`` for the first window).
    """

    n_ctx: int

    def new_cache(self, batch_size: int) -> Any: ...

    def step(self, ids: Tensor, cache: Any) -> Tensor: ...


def sample_tokens(logits: Tensor, generator: torch.Generator | Sequence[torch.Generator] | None = None) -> Tensor:
    """Draw one token per row from ``softmax(logits)`` ``(B, V)`` -> ``(B,)`` (Gumbel-max trick).

    Tokens at ``-inf`` are never drawn. Deterministic for a given generator state. ``generator``:
    one for the whole batch, or one per row (then a row's draw depends on its generator alone)."""
    if isinstance(generator, Sequence):
        u = torch.stack([torch.rand(logits.shape[-1], generator=g, device=logits.device, dtype=torch.float32)
                         for g in generator])
    else:
        u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=torch.float32)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float32).tiny)))
    return (logits.float() + gumbel).argmax(dim=-1)


def row_seeds(seed: int, n: int, per: int = 1) -> list[int]:
    """Seeds of ``n * per`` batch rows: ``n`` groups (e.g. the variations of one request) of ``per``
    rows (e.g. rerank candidates). Group ``i`` has the seed ``seed + i`` (modulo 2**63), given to its
    first row, so that ``generate`` with ``seed + i`` and one group reproduces group ``i``; the
    other rows of a group get seeds derived from it and their index (``numpy.random.SeedSequence``)."""
    import numpy as np  # only here: the engine itself needs torch alone

    seeds = []
    for i in range(n):
        group = (int(seed) + i) % 2**63
        seeds.append(group)
        seeds += [int(np.random.SeedSequence([group, j]).generate_state(1, np.uint64)[0]) >> 1 for j in range(1, per)]
    return seeds


# ---------------------------------------------------------------------------------- guidance


def guide_logits(cond: Tensor, uncond: Tensor, weight: float) -> Tensor:
    """Classifier-free guidance ``uncond + weight * (cond - uncond)`` of two logit tensors of the
    same shape; ``weight == 1`` returns ``cond`` itself (plain conditional sampling, exactly)."""
    if weight == 1.0:
        return cond
    return uncond + weight * (cond - uncond)


class GuidedDecoder:
    """A :class:`Decoder` that samples with classifier-free guidance.

    Every row runs twice in one batched forward pass: as given (conditional) and as
    ``unconditional(ids)`` (the same ids with the conditioning tokens replaced by their
    "unknown" token, e.g. the composer by ``unknown_composer``). The wrapped decoder's cache holds
    ``2 B`` rows, the unconditional ones after the conditional ones, so no row shares keys or
    values with another; ``step`` returns ``guide_logits(cond, uncond, weight)`` ``(B, T, V)``.
    Only meaningful for a model trained with label dropout (it must know the unconditional
    distribution); callers check that.
    """

    def __init__(self, decoder: Decoder, weight: float, unconditional: Callable[[Tensor], Tensor]) -> None:
        if not math.isfinite(weight):
            raise ConfigError(f"guidance weight must be a finite number, got {weight}")
        self.decoder, self.weight, self.unconditional = decoder, float(weight), unconditional
        self.n_ctx = decoder.n_ctx

    def new_cache(self, batch_size: int) -> Any:
        return self.decoder.new_cache(2 * batch_size)

    def start_window(self, cache: Any, prefix: int, start: int) -> None:
        start_window(self.decoder, cache, prefix, start)

    def step(self, ids: Tensor, cache: Any) -> Tensor:
        logits = self.decoder.step(torch.cat([ids, self.unconditional(ids)]), cache)
        cond, uncond = logits.float().chunk(2)
        return guide_logits(cond, uncond, self.weight)


# ------------------------------------------------------------------------------------ engine


def start_window(decoder: Decoder, cache: Any, prefix: int, start: int) -> None:
    """Tell ``decoder`` where the window fed to the fresh ``cache`` sits (its optional
    ``start_window`` hook; see :class:`Decoder`): the first ``prefix`` tokens of the sequence,
    then its tokens from absolute position ``start`` on."""
    hook = getattr(decoder, "start_window", None)
    if hook is not None:
        hook(cache, prefix, start)


@dataclass
class GenerationOutput:
    """Result of :func:`generate` (``n`` = number of decoding steps run, ``<= max_new_tokens``).

    ids: ``(B, T0 + n)`` prompt followed by the generated tokens. new_ids: ``(B, n)``.
    logprobs: ``(B, n)`` float32 log-probability of each chosen token under the *filtered*
    distribution it was drawn from (after masks, constraint, custom filters, temperature, top-k,
    top-p and min-p, renormalised; with greedy decoding, the filtered distribution at
    temperature 1). model_logprobs: ``(B, n)`` the same under the model's raw distribution.
    Both are 0 where a row had already stopped (its positions hold ``pad_id``).
    lengths: ``(B,)`` generated tokens per row, its stop token included. stopped: why the loop
    ended. windows: how many times the context window was slid and re-primed. seed: the seed
    used (drawn at random when none was given, so any run can be replayed; with a seed per row, the
    first row's). seeds: the seed of every row (all ``seed`` when one generator drew for the batch).
    """

    ids: Tensor
    new_ids: Tensor
    logprobs: Tensor
    stopped: StopReason
    lengths: Tensor
    model_logprobs: Tensor
    windows: int
    seed: int
    seeds: tuple[int, ...] = ()


class _Window:
    """The decoder's context: the first ``keep_prefix`` tokens of the sequence plus a tail.

    Holds the cache, which contains ``seq[:, :keep_prefix]`` then ``seq[:, tail_start:fed]``.
    """

    def __init__(self, decoder: Decoder, batch: int, n_ctx: int, keep_prefix: int, hop: int, chunk: int) -> None:
        self.decoder, self.batch, self.n_ctx = decoder, batch, n_ctx
        self.keep_prefix, self.hop, self.chunk = keep_prefix, hop, chunk
        self.cache: Any = None
        self.tail_start = keep_prefix
        self.fed = 0
        self.slides = 0

    def next_logits(self, seq: Tensor) -> Tensor:
        """Logits ``(B, V)`` for the token after ``seq`` ``(B, L)`` (extends what was fed before)."""
        length = seq.shape[1]
        if self.keep_prefix + length - self.tail_start > self.n_ctx:
            # Free `hop` positions: keep the header and the most recent tokens, then re-prime.
            self.tail_start = length - (self.n_ctx - self.keep_prefix - self.hop)
            self.slides += 1
            self.cache = None
        if self.cache is None:
            self.cache = self.decoder.new_cache(self.batch)
            start_window(self.decoder, self.cache, self.keep_prefix, self.tail_start)
            pending = torch.cat([seq[:, : self.keep_prefix], seq[:, self.tail_start :]], dim=1)
        else:
            pending = seq[:, self.fed :]
        logits = None
        for start in range(0, pending.shape[1], self.chunk):
            ids = pending[:, start : start + self.chunk]
            logits = self.decoder.step(ids, self.cache)
            if logits.ndim != 3 or logits.shape[:2] != ids.shape:
                raise ValueError(f"decoder.step returned logits {tuple(logits.shape)} for ids {tuple(ids.shape)}")
        self.fed = length
        assert logits is not None
        return logits[:, -1]


def is_cancelled(cancel: threading.Event | Callable[[], bool] | None) -> bool:
    """Whether ``cancel`` (an Event, a callable returning True to stop, or None) asks to stop."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _checked_window(decoder: Decoder, prompt: Tensor, max_new_tokens: int, n_ctx: int | None, keep_prefix: int,
                    hop_fraction: float, prime_chunk: int | None) -> _Window:
    """The window of a request after checking its arguments (a ``ValueError`` names the bad one)."""
    if prompt.ndim != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must have shape (batch, length >= 1), got {tuple(prompt.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    n_ctx = decoder.n_ctx if n_ctx is None else n_ctx
    if n_ctx > decoder.n_ctx:
        raise ValueError(f"n_ctx {n_ctx} exceeds the decoder's context {decoder.n_ctx}")
    if not 0 <= keep_prefix <= min(prompt.shape[1], n_ctx - 2):
        raise ValueError(f"keep_prefix must be in [0, min(prompt length, n_ctx - 2)], got {keep_prefix}")
    if not 0 < hop_fraction <= 1:
        raise ValueError(f"hop_fraction must be in (0, 1], got {hop_fraction}")
    free = n_ctx - keep_prefix
    hop = min(max(1, round(hop_fraction * free)), free - 1)
    chunk = prime_chunk or n_ctx
    if chunk < 1:
        raise ValueError(f"prime_chunk must be >= 1, got {prime_chunk}")
    return _Window(decoder, prompt.shape[0], n_ctx, keep_prefix, hop, chunk)


def _generators(seed: int | Sequence[int] | None, batch: int,
                device: torch.device) -> tuple[list[int], torch.Generator | list[torch.Generator]]:
    """The seeds (one, or one per row; drawn at random when None) and their private generators."""
    if seed is None:
        seed = secrets.randbits(63)
    seeds = [int(s) for s in seed] if isinstance(seed, Sequence) else [int(seed)]
    if len(seeds) not in (1, batch):
        raise ValueError(f"seed must be one seed or one per row ({batch}), got {len(seeds)}")
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    return seeds, gens[0] if len(gens) == 1 else gens


class _Rules:
    """What one step does to the model's logits before drawing: the ``allowed``/``forbidden`` token
    sets, the ``constraint``, the custom ``filters``, then ``sampling``."""

    def __init__(self, sampling: SamplingConfig, filters: Sequence[LogitFilter], allowed: TokenSet | None,
                 forbidden: TokenSet | None, constraint: Constraint | None) -> None:
        self.sampling, self.filters, self.constraint = sampling, filters, constraint
        self.sets = {"allowed": allowed, "forbidden": forbidden}
        self.masks: dict[str, Tensor] | None = None  # the sets as (V,)/(B, V) masks, made on the first step

    def logits(self, raw: Tensor, seq: Tensor) -> Tensor:
        """Filtered logits ``(B, V)`` of the token after ``seq`` ``(B, L)`` from the model's ``raw`` ``(B, V)``."""
        batch, vocab = raw.shape
        if self.masks is None:
            self.masks = {k: token_mask(v, vocab, raw.device) for k, v in self.sets.items() if v is not None}
        logits = mask_tokens(raw, allowed=self.masks.get("allowed"), forbidden=self.masks.get("forbidden"))
        if self.constraint is not None:
            ok = self.constraint(seq)
            if ok.dtype != torch.bool or ok.shape != (batch, vocab):
                raise ValueError(f"constraint must return a bool tensor {(batch, vocab)}, "
                                 f"got {ok.dtype} {tuple(ok.shape)}")
            logits = logits.masked_fill(~ok, -math.inf)
        for custom in self.filters:
            logits = custom(logits)
        return filter_logits(logits, self.sampling)

    def draw(self, logits: Tensor, gen: torch.Generator | list[torch.Generator]) -> Tensor:
        """One token per row ``(B,)`` from the filtered ``logits`` (the argmax when greedy)."""
        return logits.argmax(dim=-1) if self.sampling.greedy else sample_tokens(logits, gen)


@torch.no_grad()
def generate(
    decoder: Decoder,
    /,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    sampling: SamplingConfig | None = None,
    filters: Sequence[LogitFilter] = (),
    seed: int | Sequence[int] | None = None,
    n_ctx: int | None = None,
    stop_tokens: Iterable[int] = (),
    pad_id: int = 0,
    allowed: TokenSet | None = None,
    forbidden: TokenSet | None = None,
    constraint: Constraint | None = None,
    callback: Callable[[int, int], None] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    hop_fraction: float = 0.5,
    keep_prefix: int = 0,
    prime_chunk: int | None = None,
) -> GenerationOutput:
    """Continue ``prompt`` ``(B, T0)``, ``T0 >= 1``, by up to ``max_new_tokens`` tokens per row.

    Each step masks the logits (``allowed``/``forbidden`` sets, then ``constraint(ids so far)``),
    applies the custom ``filters`` then ``sampling`` (temperature, top-k, top-p, min-p) and draws
    a token with a private ``torch.Generator`` seeded by ``seed`` (the global RNG is untouched;
    same seed, same output). ``seed`` may also be one seed per row (``row_seeds``): every row then
    draws from its own generator, so a row's tokens depend on its seed and prompt, not on the other
    rows of the batch (the model's arithmetic permitting: batch-invariant on CPU). A row that emits
    one of ``stop_tokens`` is finished: its later positions hold ``pad_id`` (a valid token: it is
    fed to the model for finished rows); the loop ends when every row is finished.
    ``callback(done, total)`` runs after each step; ``cancel`` (an Event or a callable returning
    True) is checked before each step and ends the loop, returning what was generated so far.

    Windowed continuation: the decoder never sees more than ``n_ctx`` (default ``decoder.n_ctx``)
    tokens. When the next token would overflow, the window keeps the first ``keep_prefix``
    tokens (e.g. a header) and the most recent ones so that ``hop_fraction`` of the free part
    becomes free, the cache is reset and re-primed (in chunks of ``prime_chunk`` tokens); a
    decoder with a ``start_window`` hook is told where each fresh window sits (see :class:`Decoder`),
    so the output does not depend on ``prime_chunk``.
    The model's train/eval mode is left as it is: call ``model.eval()`` first.
    """
    window = _checked_window(decoder, prompt, max_new_tokens, n_ctx, keep_prefix, hop_fraction, prime_chunk)
    rules = _Rules(sampling or SamplingConfig(), filters, allowed, forbidden, constraint)
    batch, t0 = prompt.shape
    device = prompt.device
    seeds, gen = _generators(seed, batch, device)
    stops = torch.tensor(sorted(set(stop_tokens)), dtype=torch.long, device=device)

    seq = torch.full((batch, t0 + max_new_tokens), pad_id, dtype=torch.long, device=device)
    seq[:, :t0] = prompt
    logprobs = torch.zeros(batch, max_new_tokens, dtype=torch.float32, device=device)
    model_logprobs = torch.zeros_like(logprobs)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    stopped: StopReason = "max_tokens"
    done = 0

    while done < max_new_tokens:
        if is_cancelled(cancel):
            stopped = "cancelled"
            break
        length = t0 + done
        raw = window.next_logits(seq[:, :length]).float()
        if done == 0 and not 0 <= pad_id < raw.shape[-1]:
            raise ValueError(f"pad_id {pad_id} is not a token of the {raw.shape[-1]}-token vocabulary "
                             "(it is fed for finished rows)")
        logits = rules.logits(raw, seq[:, :length])
        dead = ~torch.isfinite(logits).any(dim=-1) & ~finished
        if dead.any():
            raise ValueError(f"no token is allowed for batch row(s) {dead.nonzero().flatten().tolist()} "
                             f"at generated position {done} (masks/constraint removed every token)")
        active = ~finished
        token = torch.where(active, rules.draw(logits, gen), pad_id)
        logprobs[:, done] = torch.where(active, logits.log_softmax(-1).gather(-1, token[:, None])[:, 0], 0.0)
        model_logprobs[:, done] = torch.where(active, raw.log_softmax(-1).gather(-1, token[:, None])[:, 0], 0.0)
        seq[:, length] = token
        lengths += active.long()
        finished |= active & torch.isin(token, stops)
        done += 1
        if callback is not None:
            callback(done, max_new_tokens)
        if bool(finished.all()):
            stopped = "stop_token"
            break

    if window.slides:
        log.debug("generate: slid the %d-token window %d times", window.n_ctx, window.slides)
    return GenerationOutput(
        ids=seq[:, : t0 + done],
        new_ids=seq[:, t0 : t0 + done],
        logprobs=logprobs[:, :done],
        stopped=stopped,
        lengths=lengths,
        model_logprobs=model_logprobs[:, :done],
        windows=window.slides,
        seed=seeds[0],
        seeds=tuple(seeds * batch if len(seeds) == 1 else seeds),
    )


__all__ = ["Constraint", "Decoder", "GenerationOutput", "GuidedDecoder", "StopReason", "generate", "guide_logits",
           "is_cancelled", "row_seeds", "sample_tokens", "start_window"]
