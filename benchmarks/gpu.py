"""The GPU path measured: official-size models with random weights, one command, at most 8 minutes on one H200.

    python benchmarks/gpu.py --out gpu.json              # on a CUDA machine (~7 minutes on an H200)
    python benchmarks/gpu.py --dry --out /tmp/dry.json   # the same code paths at toy sizes on CPU (seconds)

Sections (each in its own time budget; a measurement that runs out of time or memory, or fails,
is recorded as skipped with the reason and the run goes on; the JSON is rewritten after every
measurement, so a run killed from outside keeps what it measured):

1. ``jukebox_1b_lyrics``: the official 1b_lyrics top prior (lyric prefix + prime layers, timing and
   artist/genre conditioning) and the two official upsamplers (conditioner included), bf16 weights,
   sampled through the KV cache exactly as ``JukeboxPipeline`` samples a window (``JukeboxPrior.sample``:
   conditioning, the window's prompt fed in chunks of 64, then one code at a time; the prompt is the part
   of the window kept from the previous one, ``(1 - hop_fraction) * n_ctx`` codes with Jukebox's hop
   fractions 0.125 / 0.5 / 0.5). Per batch 1, 4, 16: seconds per token, the window's prompt and
   conditioning time, peak GPU memory; then seconds of compute per second of audio per level and for
   all three levels (see ``per_audio_second``).
2. ``jukebox_5b_lyrics``: the official 5b_lyrics top prior (separate lyric encoder + cross-attention)
   likewise at batch 1 and 4.
3. ``vqvae``: the official VQ-VAE (fp32, as ``Codec`` runs it): encode 60 s of 44.1 kHz audio to each
   level's codes and decode each level's codes back to 60 s of audio, in one piece.
4. ``musenet``: the symbolic ``musenet`` preset (72 layers, width 1536, 4096-token context): training
   steps (bf16 autocast over fp32 weights, fused AdamW, activation checkpointing on and off; the preset's
   batch of 8, halved on out-of-memory) in tokens/s and model FLOP utilisation; then sampling tokens/s
   with bf16 weights through the KV cache at batch 1 and 16.
5. ``attention``: one attention call forward + backward at n = 8,192 and 32,768 (batch 1, 24 heads x 64,
   the musenet layer; bf16): PyTorch's fused dense causal SDPA against ``muse.core.attention.attend``'s
   block_local, block_transpose, prev_block and the strided pair (block_local then block_transpose, each
   with its own q, k, v); block length n / 128 (Jukebox's ``blocks: 128``); time and peak memory.

Model FLOP utilisation = model FLOP/s / peak. Model FLOPs per trained token = 6 x (weights of every
matrix product a token goes through: the transformer's linear layers and the factorized output head)
+ 12 x depth x attention width x mean keys a query sees (causal block_local / block_transpose);
embedding look-ups, norms and activation-checkpointing recomputation are not counted. The peak assumed
is the dense bf16 tensor-core peak of the H100/H200 SXM data sheet, 989.4 TFLOP/s (``--peak-tflops``
overrides it); the JSON also holds a measured 8192^3 bf16 matmul rate for comparison.

Needs only PyTorch and this repository (run from a checkout; nothing to install): the modules imported
on these paths need numpy, PyYAML, einops and safetensors, which PyTorch images carry; MIDI parsing
(symusic), lyric transliteration (unidecode) and audio I/O are never imported. No weights, no downloads.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder heads sys.path: keep sibling scripts from shadowing other modules.
# The repository itself (and its musetok folder) go first, so a checkout runs without installing it.
_HERE = Path(__file__).resolve().parent
REPO = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
for _p in (str(REPO / "tokenizers"), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any, Callable, Iterator  # noqa: E402

import torch  # noqa: E402

from muse.core.atomic import write_text  # noqa: E402

JUKEBOX_CONFIGS = REPO / "configs" / "jukebox"
MUSE_CONFIGS = REPO / "configs" / "muse"
H200_PEAK_BF16_TFLOPS = 989.4  # dense bf16 tensor-core peak of the H100/H200 SXM (1,979 with 2:4 sparsity)
# As jukebox.pipeline.DEFAULT_SAMPLING (not imported: the pipeline imports audio I/O), by level.
HOP_FRACTION = {0: 0.5, 1: 0.5, 2: 0.125}
CHUNK_SIZE = 64
SAMPLE_RATE = 44100
SECTIONS = ("jukebox_1b_lyrics", "jukebox_5b_lyrics", "vqvae", "musenet", "attention")
# Share of the whole budget each section may use (the unused part of one passes to the next).
SHARES = {"jukebox_1b_lyrics": 0.34, "jukebox_5b_lyrics": 0.14, "vqvae": 0.10, "musenet": 0.30, "attention": 0.12}


class Skip(Exception):
    """A measurement that cannot run; its message is recorded as the reason."""


class OutOfBudget(Skip):
    """A measurement would not fit in its section's time budget."""


# -- run-wide state -----------------------------------------------------------------------------


class Run:
    """Device, budget, results (rewritten to ``out`` after every measurement) and the log."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dry = args.dry
        self.device = torch.device(args.device or ("cpu" if args.dry or not torch.cuda.is_available() else "cuda"))
        self.cuda = self.device.type == "cuda"
        self.start = time.perf_counter()
        self.end = self.start + args.budget
        self.section_end = self.end
        self.out = Path(args.out) if args.out else None
        self.chosen = [s for s in SECTIONS if s in args.chosen]
        self.results: dict[str, Any] = {"meta": self._meta(), **{name: {} for name in SECTIONS}, "summary": {}}

    def _meta(self) -> dict[str, Any]:
        a = self.args
        meta: dict[str, Any] = {
            "script": "benchmarks/gpu.py", "dry": a.dry, "device": str(self.device), "budget_s": a.budget,
            "torch": torch.__version__, "python": platform.python_version(), "cuda": torch.version.cuda,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "weights": "random (speed does not depend on values)",
        }
        if self.cuda:
            props = torch.cuda.get_device_properties(self.device)
            meta.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                        multiprocessors=props.multi_processor_count)
        peak = a.peak_tflops
        sxm = self.cuda and ("H200" in meta["gpu"] or ("H100" in meta["gpu"] and "PCIe" not in meta["gpu"]))
        if peak is None and sxm:
            peak = H200_PEAK_BF16_TFLOPS
        meta["peak_bf16_tflops"] = peak
        meta["model_flops"] = ("6 x matmul weights per token (transformer linears + factorized output head) + "
                               "12 x depth x attention width x mean visible keys; no recomputation counted")
        return meta

    def left(self) -> float:
        return min(self.section_end, self.end) - time.perf_counter()

    def check(self, need: float, what: str) -> None:
        """Raise ``OutOfBudget`` unless ``need`` seconds remain in the section."""
        if self.left() < need:
            raise OutOfBudget(f"out of time budget: {what} needs ~{need:.0f} s, {max(self.left(), 0):.0f} s left")

    @contextmanager
    def section(self, name: str) -> Iterator[dict[str, Any]]:
        now = time.perf_counter()
        later = sum(SHARES[s] for s in self.chosen[self.chosen.index(name) + 1:])
        # this section's share of what is left, so time saved earlier is spent later
        self.section_end = now + (self.end - now) * SHARES[name] / (SHARES[name] + later)
        log(f"== {name} ({self.section_end - now:.0f} s budget)")
        record = self.results[name]
        start = now
        try:
            yield record
        except Skip as err:
            record["skipped"] = str(err)
        except torch.cuda.OutOfMemoryError as err:
            record["skipped"] = f"out of memory: {str(err).splitlines()[0]}"
        except Exception as err:  # noqa: BLE001 - a broken section must not end the run
            record["error"] = describe(err)
            log(traceback.format_exc())
        finally:
            record["section_seconds"] = round(time.perf_counter() - start, 2)
            self.section_end = self.end
            cleanup()
            self.save()

    def measure(self, record: dict[str, Any], key: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """``record[key] = fn()``, or the reason it was skipped; never raises. Returns the result or None."""
        try:
            result = fn()
        except Skip as err:
            result, ok = {"skipped": str(err)}, False
        except torch.cuda.OutOfMemoryError as err:
            result, ok = {"skipped": f"out of memory: {str(err).splitlines()[0]}"}, False
        except Exception as err:  # noqa: BLE001
            result, ok = {"error": describe(err)}, False
            log(traceback.format_exc())
        else:
            ok = True
        record[key] = result
        log(f"  {key}: {short(result)}")
        if not ok:
            cleanup()
        self.save()
        return result if ok else None

    def save(self) -> None:
        self.results["meta"]["elapsed_s"] = round(time.perf_counter() - self.start, 1)
        if self.out is None:
            return
        write_text(self.out, json.dumps(self.results, indent=1))

    # -- device helpers ------------------------------------------------------------------------

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.cuda:
            self.sync()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float | None:
        return round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2) if self.cuda else None

    def allocated_gib(self) -> float | None:
        return round(torch.cuda.memory_allocated(self.device) / 2**30, 2) if self.cuda else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:300]


def short(result: dict[str, Any]) -> str:
    keep = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
    return json.dumps(keep)[:240]


def cleanup() -> None:
    """Free what a finished model or a failed measurement held (GPU memory back to the driver)."""
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def build_on(device: torch.device, make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """``make()`` with every tensor created on ``device``: the models' own random initialisation runs
    there (seconds on a GPU for billions of weights, where a CPU would take minutes)."""
    torch.manual_seed(0)
    with torch.device(device):
        model = make()
    return model.to(device)


def weights_to(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Floating-point parameters to ``dtype``; buffers (e.g. tempo tables) keep theirs."""
    with torch.no_grad():
        for p in {id(p): p for p in model.parameters()}.values():
            if p.is_floating_point():
                p.data = p.data.to(dtype)
    return model


# -- 1, 2: Jukebox priors -------------------------------------------------------------------------


def load_prior_config(preset: str, dry: bool):  # noqa: ANN201
    from jukebox.prior.config import PriorConfig
    from muse.core.config import load_config

    config = load_config(PriorConfig, JUKEBOX_CONFIGS / f"{preset}.yaml")
    return shrink_prior(config) if dry else config


def shrink_prior(c):  # noqa: ANN001, ANN201
    """The same design at toy size: one layer of each pattern of the cycle, narrow, short windows."""
    order = tuple(dict.fromkeys(c.attn_order))
    changes: dict[str, Any] = dict(width=32, depth=len(order), attn_order=order, heads=2, n_ctx=64, blocks=8)
    if c.lyrics is not None:
        encoder = c.lyrics.encoder
        if encoder is not None:
            encoder = dataclasses.replace(encoder, width=32, depth=len(set(encoder.attn_order)), heads=2, blocks=4)
        changes["lyrics"] = dataclasses.replace(c.lyrics, n_tokens=16, encoder=encoder, alignment_layer=None,
                                                alignment_head=None)
    if c.upsampler is not None:
        changes["upsampler"] = dataclasses.replace(c.upsampler, width=16, depth=2)
    return dataclasses.replace(c, **changes)


def build_prior(config, run: Run, dtype: torch.dtype):  # noqa: ANN001, ANN201
    """The architecture with random weights, allocated once on the device."""
    from jukebox.prior.prior import JukeboxPrior

    return build_on(run.device, lambda: JukeboxPrior(config)).to(dtype).eval()


def prior_inputs(model, batch: int, run: Run):  # noqa: ANN001, ANN201
    """Label rows (artist, genre, timing, lyrics) and upper-level codes of one window mid-song."""
    from jukebox.prior.windows import window_labels

    c = model.config
    gen = torch.Generator().manual_seed(batch)
    song = int(120 * SAMPLE_RATE) // 128 * 128  # a 2-minute song (within every preset's timing range)
    start = c.n_ctx  # the second window
    labels = upper = None
    if c.labels is not None:
        lyrics = torch.randint(1, c.lyrics.n_vocab, (2000,), generator=gen).tolist() if c.lyrics is not None else []
        labels = window_labels(c, song, start, artist_id=1, genre_ids=[1], lyric_tokens=lyrics, batch=batch)
        labels = labels.to(run.device)
    if c.upsampler is not None:
        upper = torch.randint(0, c.upsampler.upper_bins, (batch, c.n_ctx // c.upsampler.factor), generator=gen)
        upper = upper.to(run.device)
    return labels, upper


def hop_codes(config) -> int:  # noqa: ANN001
    """New codes per window, as ``JukeboxPipeline`` steps its windows."""
    from jukebox.prior import windows

    return windows.hop_codes(config, HOP_FRACTION[config.level])


@torch.no_grad()
def sample_window(model, batch: int, tokens: int, run: Run,  # noqa: ANN001
                  prompt_len: int | None = None) -> dict[str, Any]:
    """One window as the pipeline samples it: condition, feed the prompt in chunks, sample ``tokens``."""
    from muse.core.logits import SamplingConfig

    c = model.config
    hop = hop_codes(c)
    prompt_len = c.n_ctx - hop if prompt_len is None else prompt_len
    tokens = min(tokens, c.n_ctx - prompt_len)
    labels, upper = prior_inputs(model, batch, run)
    prompt = torch.randint(0, c.n_bins, (batch, prompt_len), generator=torch.Generator().manual_seed(0)).to(run.device)
    run.reset_peak()
    t0 = time.perf_counter()
    cond = model.condition(labels, upper)
    run.sync()
    t1 = time.perf_counter()
    stamps: list[float] = []

    def tick(done: int, total: int) -> None:
        run.sync()
        stamps.append(time.perf_counter())

    def cancel() -> bool:  # stop timing tokens (never the prompt) when the section's time is up
        return len(stamps) >= 3 and run.left() < 0

    model.sample(cond, tokens, prompt, sampling=SamplingConfig(temperature=0.99), seed=0, chunk_size=CHUNK_SIZE,
                 callback=tick, cancel=cancel)
    timed = len(stamps) - 1
    if timed < 1:
        raise RuntimeError("fewer than two tokens sampled")
    s_token = (stamps[-1] - stamps[0]) / timed
    return {
        "batch": batch, "prompt": prompt_len, "tokens_timed": timed, "s_per_token": s_token,
        "s_per_token_per_sample": s_token / batch,
        "condition_s": t1 - t0, "prompt_s": max(0.0, stamps[0] - t1 - s_token),  # first token's step excluded
        "peak_gib": run.peak_gib(),
    }


def per_audio_second(config, case: dict[str, Any]) -> dict[str, float]:  # noqa: ANN001
    """Seconds of compute per second of audio per sample at this batch, windows stepping as the pipeline does.

    Each window samples ``hop`` new codes after ``n_ctx - hop`` kept ones (prompt fed in chunks) and
    its own conditioning; a second of audio holds ``sample_rate / hop_length`` codes of this level.
    """
    codes_per_s = SAMPLE_RATE / config.hop_length
    hop = hop_codes(config)
    per_window = case["condition_s"] + case["prompt_s"] + hop * case["s_per_token"]
    return {"codes_per_audio_s": codes_per_s, "hop_codes": hop,
            "compute_s_per_audio_s": per_window * codes_per_s / hop / case["batch"]}


def prior_section(run: Run, record: dict[str, Any], models: dict[str, str], batches: tuple[int, ...]) -> None:
    tokens = 4 if run.dry else run.args.tokens
    dtype = torch.bfloat16
    for role, preset in models.items():
        entry: dict[str, Any] = {"preset": f"configs/jukebox/{preset}.yaml", "dtype": "bf16", "cases": {}}
        record[role] = entry
        model = None

        def build() -> dict[str, Any]:
            nonlocal model
            run.check(15, f"building {preset}")
            config = load_prior_config(preset, run.dry)
            t = time.perf_counter()
            model = build_prior(config, run, dtype)
            run.sync()
            seconds = time.perf_counter() - t
            # warm-up: kernels, cuBLAS handles, the allocator (short prompt, a few tokens)
            sample_window(model, 1, 3, run, prompt_len=min(2 * CHUNK_SIZE, config.n_ctx - 4))
            c = model.config
            return {"parameters": n_params(model), "build_s": seconds, "weights_gib": run.allocated_gib(),
                    "n_ctx": c.n_ctx, "seq_len": c.seq_len, "width": c.width, "depth": c.depth,
                    "hop_length": c.hop_length, "hop_codes": hop_codes(c),
                    "lyrics": None if c.lyrics is None else c.lyrics.design}

        built = run.measure(entry, "model", build) is not None
        for batch in batches:
            def case(batch: int = batch) -> dict[str, Any]:
                if not built:
                    raise Skip("model not built (see model)")
                run.check(5 if run.dry else 10 + 0.2 * batch, f"batch {batch}")
                result = sample_window(model, batch, tokens, run)
                result.update(per_audio_second(model.config, result))
                return result

            run.measure(entry["cases"], str(batch), case)
        model = None
        cleanup()


def audio_summary(record: dict[str, Any], roles: tuple[str, ...]) -> dict[str, Any]:
    """Compute per audio second, all three levels, at each batch every level measured."""
    out: dict[str, Any] = {}
    batches = set.intersection(*({b for b, c in record.get(r, {}).get("cases", {}).items() if "s_per_token" in c}
                                 for r in roles)) if roles else set()
    for batch in sorted(batches, key=int):
        levels = {r: record[r]["cases"][batch]["compute_s_per_audio_s"] for r in roles}
        out[batch] = {"levels": levels, "compute_s_per_audio_s": sum(levels.values())}
    return out


# -- 3: VQ-VAE ------------------------------------------------------------------------------------


def vqvae_section(run: Run, record: dict[str, Any]) -> None:
    from jukebox.vqvae.config import load_vqvae_config
    from jukebox.vqvae.vqvae import VQVAE

    preset = "vqvae_tiny" if run.dry else "vqvae_official"
    seconds = 0.1 if run.dry else 60.0
    config = load_vqvae_config(JUKEBOX_CONFIGS / f"{preset}.yaml")
    torch.manual_seed(0)
    model = VQVAE(config).to(run.device).eval()
    with torch.no_grad():
        for codebook in model.bottleneck.codebooks:
            codebook.vectors.normal_()
    hop = config.hop_lengths[-1]
    length = int(seconds * config.sample_rate) // hop * hop
    audio = (0.25 * torch.randn(1, length)).clamp(-1, 1).to(run.device)
    record.update(preset=f"configs/jukebox/{preset}.yaml", dtype="fp32", audio_s=length / config.sample_rate,
                  parameters=n_params(model))
    warm = audio[:, : max(hop, min(length // 4, config.sample_rate) // hop * hop)]
    with torch.no_grad():  # warm-up on 1 s: kernels, cuDNN
        for level in range(config.levels):
            model.decode(model.encode(warm, [level])[0], level)
    run.sync()
    codes: dict[int, torch.Tensor] = {}
    for level in range(config.levels):
        for op in ("encode", "decode"):
            def case(level: int = level, op: str = op) -> dict[str, Any]:
                run.check(3, f"level {level} {op}")
                times = []
                for _ in range(1 if run.dry else 3):
                    run.reset_peak()
                    t = time.perf_counter()
                    with torch.no_grad():
                        if op == "encode":
                            codes[level] = model.encode(audio, [level])[0]
                        else:
                            model.decode(codes[level], level)
                    run.sync()
                    times.append(time.perf_counter() - t)
                    if run.left() < 2 * times[-1]:
                        break
                s = statistics.median(times)
                return {"seconds": s, "x_real_time": length / config.sample_rate / s, "runs": len(times),
                        "peak_gib": run.peak_gib()}

            if op == "decode" and level not in codes:
                record[f"level{level}_{op}"] = {"skipped": "no codes (encode did not run)"}
                continue
            run.measure(record, f"level{level}_{op}", case)
    model = None  # drop the reference so cleanup() frees it (not `del`: the cases above close over the name)
    cleanup()


# -- 4: musenet -----------------------------------------------------------------------------------


def build_muse(run: Run):  # noqa: ANN201
    """The musenet preset with the default tokenizer's vocabulary (random weights), fp32, and its tables."""
    from musetok.config import TokenizerConfig
    from musetok.vocab import Vocab

    from muse.config import load_run_config
    from muse.model import MuseModel
    from muse.token_tables import TokenTables

    preset = load_run_config(MUSE_CONFIGS / "musenet.yaml")
    config = preset.model
    if run.dry:
        t = config.transformer.replace(width=32, depth=2, heads=2, n_ctx=64, blocks=8)
        config = dataclasses.replace(config, transformer=t)
    vocab = Vocab(TokenizerConfig())
    tables = TokenTables.from_vocab(vocab)
    config = config.with_vocab(vocab.size)
    model = build_on(run.device, lambda: MuseModel(config, tables))
    return model, config, tables, preset.train


def model_flops_per_token(model, config, tables) -> float:  # noqa: ANN001
    t = config.transformer
    matmul = sum(m.weight.numel() for m in model.transformer.modules() if isinstance(m, torch.nn.Linear))
    matmul += t.width * (tables.n_rows + max(1, tables.n_velocities))  # factorized output head
    block = t.resolved_block_len or t.n_ctx
    keys = {"block_local": (block + 1) / 2, "block_transpose": (t.n_ctx / block + 1) / 2, "dense": (t.n_ctx + 1) / 2,
            "prev_block": block}
    attn = sum(keys.get(t.pattern(i), block) for i in range(t.depth)) * 12 * t.attn_width
    return 6 * matmul + attn


def matmul_tflops(run: Run) -> float | None:
    """A bf16 8192^3 matrix product's rate (the achievable tensor-core peak), or None on CPU."""
    if not run.cuda:
        return None
    a = torch.randn(8192, 8192, device=run.device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=run.device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    run.sync()
    t = time.perf_counter()
    for _ in range(10):
        a @ b
    run.sync()
    return 10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12


def muse_section(run: Run, record: dict[str, Any]) -> None:
    from muse.core.optim import build_optimizer

    try:
        record["matmul_bf16_tflops_measured"] = matmul_tflops(run)
    except Exception as err:  # noqa: BLE001 - a side figure
        record["matmul_bf16_tflops_measured"] = None
        log(f"  matmul: {describe(err)}")
    run.check(20, "building musenet")
    t = time.perf_counter()
    model, config, tables, train = build_muse(run)
    run.sync()
    tc = config.transformer
    flops = model_flops_per_token(model, config, tables)
    peak = run.results["meta"]["peak_bf16_tflops"]
    record.update(preset="configs/muse/musenet.yaml", parameters=n_params(model), build_s=time.perf_counter() - t,
                  width=tc.width, depth=tc.depth, heads=tc.heads, n_ctx=tc.n_ctx, attn_order=list(tc.attn_order),
                  vocab_size=config.vocab_size, model_flops_per_token=flops, training={}, sampling={})
    # as the Trainer steps: its AdamW (muse.core.optim), bf16 autocast, gradient clipping
    optimizer = build_optimizer(model, train.lr, train.weight_decay, train.betas, train.eps)
    n_ctx = tc.n_ctx
    steps = 1 if run.dry else run.args.train_steps

    def train_steps(batch: int, n: int) -> list[float]:
        times = []
        for i in range(n):
            # a batch as the data loader hands it over: ids with their clock features and piece lengths
            ids = torch.randint(0, config.vocab_size, (batch, n_ctx + 1), device=run.device)
            with torch.no_grad():
                clock = model.clock(ids[:, :-1])
            total_us = torch.full((batch,), 120_000_000, device=run.device)
            run.sync()
            t = time.perf_counter()
            with torch.autocast(run.device.type, dtype=torch.bfloat16):
                loss = model(ids[:, :-1], clock, total_us, targets=ids[:, 1:]).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            run.sync()
            times.append(time.perf_counter() - t)
            if i and run.left() < 1.5 * times[-1]:
                break
        return times

    model.train()
    for checkpointing in (True, False):
        key = "checkpointing_on" if checkpointing else "checkpointing_off"
        model.transformer.config = tc.replace(checkpointing=checkpointing)

        def case(checkpointing: bool = checkpointing) -> dict[str, Any]:
            attempts: list[str] = []
            batch = train.batch_size if not run.dry else 2
            while True:
                run.check(10 if not run.dry else 1, f"training batch {batch}")
                try:
                    run.reset_peak()
                    warm = train_steps(batch, 1)  # warm-up (optimizer state, kernels)
                    times = train_steps(batch, steps)
                    break
                except torch.cuda.OutOfMemoryError:
                    pass
                # out of the except clause, so that the failed step's tensors are released
                optimizer.zero_grad(set_to_none=True)
                attempts.append(f"batch {batch}: out of memory")
                cleanup()
                if batch == 1:
                    raise torch.cuda.OutOfMemoryError("out of memory at batch 1")
                batch //= 2
            s = statistics.median(times)
            tokens_s = batch * n_ctx / s
            return {"batch": batch, "tokens_per_step": batch * n_ctx, "steps_timed": len(times), "warmup_s": warm[0],
                    "s_per_step": s, "tokens_per_s": tokens_s, "model_tflops": tokens_s * flops / 1e12,
                    "mfu": tokens_s * flops / (peak * 1e12) if peak else None, "peak_gib": run.peak_gib(),
                    "oom_attempts": attempts}

        run.measure(record["training"], key, case)
    model.transformer.config = tc
    optimizer = None  # drop the reference so cleanup() frees it (not `del`: the cases above close over the name)
    for p in model.parameters():
        p.grad = None
    cleanup()

    from muse.core.logits import SamplingConfig
    from muse.core.sampling import generate

    model = weights_to(model, torch.bfloat16).eval()
    record["sampling_dtype"] = "bf16 weights"
    vocab_header = _header(tables)
    tokens = 4 if run.dry else run.args.tokens
    for batch in (1, 16):
        def sample_case(batch: int = batch) -> dict[str, Any]:
            run.check(5 if not run.dry else 1, f"sampling batch {batch}")
            prompt = torch.tensor([vocab_header] * batch, device=run.device)
            generate(model, prompt, 2, seed=0)  # warm-up
            stamps: list[float] = []

            def tick(done: int, total: int) -> None:
                run.sync()
                stamps.append(time.perf_counter())

            run.reset_peak()
            generate(model, prompt, tokens + 1, sampling=SamplingConfig(top_p=0.95), seed=0, callback=tick,
                     cancel=lambda: len(stamps) >= 3 and run.left() < 0)
            s = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
            return {"batch": batch, "tokens_timed": len(stamps) - 1, "s_per_step": s, "tokens_per_s": batch / s,
                    "peak_gib": run.peak_gib()}

        run.measure(record["sampling"], str(batch), sample_case)
    model = None  # drop the reference so cleanup() frees it (not `del`: the cases above close over the name)
    cleanup()


def _header(tables) -> list[int]:  # noqa: ANN001
    """A piece's header ids (first composer, first instrument, start) from the default vocabulary."""
    from musetok.config import TokenizerConfig
    from musetok.vocab import Vocab

    vocab = Vocab(TokenizerConfig())
    return [vocab.composer_id(vocab.config.composers[0]), vocab.instrument_base, vocab.start_id]


# -- 5: attention ---------------------------------------------------------------------------------


def attention_section(run: Run, record: dict[str, Any]) -> None:
    import torch.nn.functional as F

    from muse.core.attention import attend

    sizes = (256, 1024) if run.dry else (8192, 32768)
    heads, head_dim, blocks = (2, 16, 16) if run.dry else (24, 64, 128)
    dtype = torch.bfloat16
    record.update(batch=1, heads=heads, head_dim=head_dim, dtype="bf16", blocks=blocks,
                  dense_kernel="scaled_dot_product_attention(is_causal=True)", sizes={})
    for n in sizes:
        block_len = n // blocks
        cases: dict[str, Callable[[tuple, tuple], list[torch.Tensor]]] = {
            "dense_causal": lambda a, b: [F.scaled_dot_product_attention(*a, is_causal=True)],
            "block_local": lambda a, b, L=block_len: [attend(*a, "block_local", L)],
            "block_transpose": lambda a, b, L=block_len: [attend(*a, "block_transpose", L)],
            "prev_block": lambda a, b, L=block_len: [attend(*a, "prev_block", L)],
            "strided_pair": lambda a, b, L=block_len: [attend(*a, "block_local", L), attend(*b, "block_transpose", L)],
        }
        entry: dict[str, Any] = {"block_len": block_len, "cases": {}}
        record["sizes"][str(n)] = entry
        gen = torch.Generator().manual_seed(0)
        x = [torch.randn(1, heads, n, head_dim, generator=gen).to(run.device, dtype) for _ in range(7)]
        a, b, grad = tuple(t.requires_grad_() for t in x[:3]), tuple(t.requires_grad_() for t in x[3:6]), x[6]
        for name, fn in cases.items():
            def case(fn: Callable = fn) -> dict[str, Any]:
                run.check(1, f"attention n={n}")

                def once() -> float:
                    for t in (*a, *b):
                        t.grad = None
                    run.sync()
                    t0 = time.perf_counter()
                    outs = fn(a, b)
                    torch.autograd.backward(outs, [grad] * len(outs))
                    run.sync()
                    return time.perf_counter() - t0

                once()  # warm-up
                for t in (*a, *b):
                    t.grad = None
                base = torch.cuda.memory_allocated(run.device) if run.cuda else 0
                run.reset_peak()
                times = [once()]
                peak = torch.cuda.max_memory_allocated(run.device) if run.cuda else None
                while len(times) < (3 if run.dry else 20) and run.left() > 5 * times[-1] + 1:
                    times.append(once())
                for t in (*a, *b):
                    t.grad = None
                s = statistics.median(times)
                return {"seconds": s, "ms": s * 1e3, "runs": len(times),
                        "peak_mib": None if peak is None else round((peak - base) / 2**20, 1)}

            run.measure(entry["cases"], name, case)
        dense = entry["cases"].get("dense_causal", {}).get("seconds")
        if dense:  # > 1: that case is faster than one fused dense layer
            entry["dense_over"] = {k: dense / c["seconds"] for k, c in entry["cases"].items()
                                   if k != "dense_causal" and "seconds" in c}
            entry["dense_over_pair"] = entry["dense_over"].get("strided_pair")
        a = b = grad = x = None  # drop the references so cleanup() frees them (not `del`: the cases use them)
        cleanup()


# -- report -----------------------------------------------------------------------------------------


def summarize(run: Run) -> None:
    r = run.results
    s = r["summary"]
    per_s = r["jukebox_1b_lyrics"].get("per_audio_second", {})
    goals = not run.dry  # toy sizes on a CPU say nothing about the goals
    if per_s:
        batch = max(per_s, key=int)
        s["jukebox_1b_compute_s_per_audio_s"] = {"batch": int(batch), **per_s[batch]}
        s["goal_1b_at_most_5_s_per_audio_s"] = per_s[batch]["compute_s_per_audio_s"] <= 5.0 if goals else None
    att = r["attention"].get("sizes", {})
    s["attention_dense_over_pair"] = {n: e.get("dense_over_pair") for n, e in att.items()}
    ratios = [x for e in att.values() for k, x in e.get("dense_over", {}).items() if k != "strided_pair"]
    if ratios:  # per layer: each factorized pattern against one fused dense layer, at every size measured
        s["goal_factorized_layer_faster_than_dense"] = min(ratios) > 1.0 if goals else None
    mfu = [c.get("mfu") for c in r["musenet"].get("training", {}).values() if isinstance(c, dict) and c.get("mfu")]
    if mfu:
        s["musenet_best_mfu"] = max(mfu)
        s["goal_musenet_mfu_at_least_40pct"] = max(mfu) >= 0.40 if goals else None
    skipped = []
    for name in SECTIONS:
        _walk(r[name], name, skipped)
    s["skipped_or_failed"] = skipped
    run.save()


def _walk(node: Any, path: str, out: list[str]) -> None:
    if isinstance(node, dict):
        for key in ("skipped", "error"):
            if key in node:
                out.append(f"{path}: {node[key]}")
        for key, value in node.items():
            _walk(value, f"{path}.{key}", out)


def fmt(x: Any, spec: str = ".3f") -> str:
    if x is None:
        return "-"
    return format(x, spec) if isinstance(x, (int, float)) else str(x)


def case_text(c: dict[str, Any], key: str, spec: str = ".3f") -> str:
    if "skipped" in c or "error" in c:
        return "skipped" if "skipped" in c else "error"
    return fmt(c.get(key), spec)


def print_tables(run: Run) -> None:
    r = run.results
    m = r["meta"]
    where = m.get("gpu", m["device"])
    print(f"# benchmarks/gpu.py{' --dry' if m['dry'] else ''}: {where}, torch {m['torch']}, CUDA {m['cuda']}, "
          f"{m['elapsed_s']:.0f} s")
    print("\n## Jukebox priors (bf16 weights, KV cache, one window as the pipeline samples it)\n")
    print("| model | batch | s/token | s/token/sample | window prompt s | conditioning s | compute s per audio s "
          "| peak GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for section, roles in (("jukebox_1b_lyrics", ("top", "level1", "level0")), ("jukebox_5b_lyrics", ("top",))):
        for role in roles:
            entry = r[section].get(role, {})
            for batch, c in entry.get("cases", {}).items():
                print(f"| {section.removeprefix('jukebox_')} {role} | {batch} | {case_text(c, 's_per_token', '.4f')} "
                      f"| {case_text(c, 's_per_token_per_sample', '.4f')} | {case_text(c, 'prompt_s', '.2f')} "
                      f"| {case_text(c, 'condition_s', '.3f')} | {case_text(c, 'compute_s_per_audio_s', '.2f')} "
                      f"| {case_text(c, 'peak_gib', '.1f')} |")
    per_s = r["jukebox_1b_lyrics"].get("per_audio_second", {})
    for batch, v in per_s.items():
        levels = ", ".join(f"{k} {x:.2f}" for k, x in v["levels"].items())
        print(f"\n1b_lyrics, all three levels at batch {batch}: {v['compute_s_per_audio_s']:.2f} s of compute per "
              f"second of audio per sample ({levels})")
    v = r["vqvae"]
    print(f"\n## VQ-VAE ({v.get('preset', '-')}, fp32, {fmt(v.get('audio_s'), '.1f')} s of audio)\n")
    print("| level | op | seconds | x real time | peak GiB |")
    print("|---|---|---|---|---|")
    for level in range(3):
        for op in ("encode", "decode"):
            c = v.get(f"level{level}_{op}", {"skipped": "-"})
            print(f"| {level} | {op} | {case_text(c, 'seconds')} | {case_text(c, 'x_real_time', '.1f')} "
                  f"| {case_text(c, 'peak_gib', '.2f')} |")
    mu = r["musenet"]
    print(f"\n## musenet ({fmt(mu.get('parameters'), ',')} parameters, {fmt(mu.get('depth'), 'd')} layers, "
          f"context {fmt(mu.get('n_ctx'), 'd')}; peak assumed {fmt(m['peak_bf16_tflops'], '.1f')} TFLOP/s, "
          f"bf16 matmul measured {fmt(mu.get('matmul_bf16_tflops_measured'), '.0f')} TFLOP/s)\n")
    print("| training | batch | s/step | tokens/s | model TFLOP/s | MFU | peak GiB |")
    print("|---|---|---|---|---|---|---|")
    for key, c in mu.get("training", {}).items():
        print(f"| {key.replace('_', ' ')} | {case_text(c, 'batch', 'd')} | {case_text(c, 's_per_step')} "
              f"| {case_text(c, 'tokens_per_s', ',.0f')} | {case_text(c, 'model_tflops', '.1f')} "
              f"| {case_text(c, 'mfu', '.1%')} | {case_text(c, 'peak_gib', '.1f')} |")
    print("\n| sampling (bf16 weights) | batch | s/step | tokens/s | peak GiB |")
    print("|---|---|---|---|---|")
    for batch, c in mu.get("sampling", {}).items():
        print(f"| KV cache | {batch} | {case_text(c, 's_per_step', '.4f')} | {case_text(c, 'tokens_per_s', ',.1f')} "
              f"| {case_text(c, 'peak_gib', '.1f')} |")
    at = r["attention"]
    print(f"\n## Attention forward + backward (batch 1, {fmt(at.get('heads'), 'd')} heads x "
          f"{fmt(at.get('head_dim'), 'd')}, bf16, block length n / {fmt(at.get('blocks'), 'd')})\n")
    names = ("dense_causal", "block_local", "block_transpose", "prev_block", "strided_pair")
    print("| n | " + " | ".join(f"{k} ms" for k in names) + " | dense / pair | "
          + " | ".join(f"{k} MiB" for k in names) + " |")
    print("|---" * (2 * len(names) + 2) + "|")
    for n, e in at.get("sizes", {}).items():
        cs = e["cases"]
        times = " | ".join(case_text(cs.get(k, {"skipped": ""}), "ms", ".2f") for k in names)
        mems = " | ".join(case_text(cs.get(k, {"skipped": ""}), "peak_mib", ".0f") for k in names)
        print(f"| {n} | {times} | {fmt(e.get('dense_over_pair'), '.2f')} | {mems} |")
    skipped = r["summary"].get("skipped_or_failed", [])
    print(f"\nskipped or failed: {len(skipped)}")
    for line in skipped:
        print(f"- {line}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--dry", action="store_true", help="toy sizes on CPU, seconds (the test runs this)")
    parser.add_argument("--out", help="write the results here as JSON (rewritten after every measurement)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of measurements (default 430: 8 minutes less start-up and the last "
                             "measurement's overrun; --dry: 120)")
    parser.add_argument("--device", help="default: cuda when available (cpu with --dry)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated subset of: " + ", ".join(SECTIONS))
    parser.add_argument("--tokens", type=int, default=32, help="tokens timed per sampling case (default 32)")
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps after one warm-up (default 3)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help=f"peak bf16 FLOP/s for MFU, in TFLOP/s (default: {H200_PEAK_BF16_TFLOPS} on an H100/H200)")
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = 120.0 if args.dry else 430.0
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    if not args.dry and args.device is None and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --dry (toy sizes on CPU) or pass --device explicitly")
    args.chosen = chosen
    run = Run(args)
    torch.manual_seed(0)
    if run.dry:
        torch.set_num_threads(1)  # toy sizes: threads only add overhead (and contend on a busy machine)
    run.results["meta"].update(tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                               tf32_cudnn=torch.backends.cudnn.allow_tf32)
    log(f"benchmarks/gpu.py: {run.results['meta'].get('gpu', run.device)}, budget {args.budget:.0f} s")
    for name in SECTIONS:
        if name not in chosen:
            run.results[name] = {"skipped": "not selected (--sections)"}
            continue
        with run.section(name) as record:
            if name == "jukebox_1b_lyrics":
                roles = {"top": "prior_1b_lyrics", "level1": "upsampler_level_1", "level0": "upsampler_level_0"}
                prior_section(run, record, roles, (1, 4, 16))
                record["per_audio_second"] = audio_summary(record, tuple(roles))
            elif name == "jukebox_5b_lyrics":
                prior_section(run, record, {"top": "prior_5b_lyrics"}, (1, 4))
            elif name == "vqvae":
                vqvae_section(run, record)
            elif name == "musenet":
                muse_section(run, record)
            else:
                attention_section(run, record)
    summarize(run)
    print_tables(run)
    return run.results


if __name__ == "__main__":
    main()
