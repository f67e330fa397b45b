"""Does preference tuning learn a taste? DPO and reranking on pairs labelled by scripted raters, judged by them.

For each rater of ``benchmarks/raters.py`` ((a) fewer repeated 4-bar patterns, (b) a given key,
(c) what a critic finds more real) and each number of pairs N in ``--pairs``:

1. pairs: two samples of ``--seconds`` seconds per prompt from the original model at its default
   settings; prompts are the headers (composer, instruments) of the dataset's training pieces,
   cycled. The rater labels each pair (a tie gives no pair); the first N labelled pairs are kept.
   The samples are drawn once and labelled by every rater.
2. tuning: ``muse tune`` (DPO against the frozen original, ``--steps``, ``--lr``, ``--beta``).
3. blind A/B on new prompts: for each of ``--eval-prompts`` prompts (headers of the *valid* pieces,
   other seeds), one sample of the original and one of the tuned model with the same seed; the
   rater prefers one or ties. Reported: the tuned model's win rate over the decided comparisons
   with its 95% Wilson interval, and the ties.
4. the change in validation bits/token on real data (``muse eval`` on the dataset's valid split,
   ``--val-pieces`` pieces): what the taste cost in modelling the data (the issue allows +0.15).
5. reranking (``--rerank K``, 0 skips it): the original model drawing K candidates per piece and
   keeping the best by the critic (``--rerank-by critic``; once, judged by every rater), and by a
   reward model trained on the same N pairs (``muse critic reward``), each in the same blind A/B
   against the plain sample of the same seed (a piece's first candidate is that sample, so keeping
   it is a tie).

``--pairs 0`` measures only the critic's reranking rows (no pairs are drawn, nothing is tuned): the
reranking of a long run can then be measured apart from its DPO rows.

The critic (rater (c) and the critic reranking) is ``--critic PATH``, else one is trained first
(``muse critic train`` on the same data, samples of the same model); its held-out ROC AUC is
reported. The table is printed (with the command line) and ``--json`` writes every figure.

Drawing the samples is the long part (about 4 s per 20-s sample of the bundled model on one CPU
thread). The drawn batches and every finished row are kept in ``--cache`` (default ``OUT/cache``): a
killed run resumes where it stopped (a DPO or reward run cut short continues from its checkpoint in
``--out``), a rerun that adds rows (say ``--rerank 4`` after ``--rerank 0``) computes only those, and
processes given the same ``--cache`` (each with its own ``--out`` and, say, one rater) draw disjoint
batches side by side on a machine's cores, then each tune and judge their own rows
(``benchmarks/work_cache.py``).

``--quick`` runs the whole loop in minutes on CPU: without ``--model``/``--data`` it builds a tiny
dataset from tests/data/midi/classical and trains the tiny preset a few dozen steps; N = 8 pairs,
8 eval prompts, 3-s pieces, rater (a) on 1-bar patterns (3 s hold no 8 bars), 10 tuning steps at a
higher learning rate, a tiny critic and reward models, K = 2. Its numbers only show that the loop runs.

    .venv/bin/python benchmarks/preferences.py --quick --json prefs_quick.json
    .venv/bin/python benchmarks/preferences.py --model muse/assets/model --data DATA --critic muse/assets/critic \\
        --pairs 200,1000 --eval-prompts 200 --device cuda --json prefs.json --out runs/prefs
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from raters import CriticRater, KeyRater, Rater, RepetitionRater, parse_key, prefer  # noqa: E402
from work_cache import WorkCache, path_identity  # noqa: E402

from muse.core.errors import USER_ERRORS, UserError  # noqa: E402

log = logging.getLogger("benchmarks.preferences")
REPO = Path(__file__).resolve().parents[1]
QUICK_FILES = (
    "bach-bwv001-_400_chorales-003706b.mid", "bach-bwv001-_400_chorales-003806b.mid",
    "bach-bwv001-_400_chorales-004003b.mid", "bach-bwv001-_400_chorales-004006b.mid",
    "mozart-contradance_n1.mid", "mozart-contradance_n2.mid", "scarlatti-k054.mid", "scarlatti-k087.mid",
)


@dataclass
class Sample:
    prompt: tuple[str | None, tuple[str, ...]]  # composer, instruments
    ids: np.ndarray
    header: int
    midi: object  # symusic.Score read back from MIDI bytes


@dataclass
class Result:
    """One blind A/B of a method against the original model's plain samples, judged by ``rater``.
    ``method``: ``dpo`` (the tuned model), ``rerank-critic`` or ``rerank-reward`` (the original
    model reranking K candidates); ``pairs``: the N pairs it learnt from (0 for the critic)."""

    rater: str
    method: str
    pairs: int
    wins: int
    losses: int
    ties: int
    win_rate: float
    ci_low: float
    ci_high: float
    bits_original: float | None = None  # dpo only: validation bits/token before and after
    bits_tuned: float | None = None
    train_margin: float | None = None  # dpo: mean margin h on its pairs; rerank-reward: held-out pair accuracy
    train_seconds: float = 0.0
    eval_seconds: float = 0.0

    @property
    def delta_bits(self) -> float | None:
        return None if self.bits_tuned is None else self.bits_tuned - self.bits_original


# ---- setup ----------------------------------------------------------------------------------------


def quick_setup(work: Path, steps: int) -> tuple[Path, Path]:
    """A tiny dataset of ``QUICK_FILES`` and the tiny preset trained ``steps`` steps on it."""
    from muse.config import load_run_config
    from muse.data.build import BuildOptions, build_dataset
    from muse.data.sources import midi_dir_sources
    from muse.training import train

    src = work / "midi"
    src.mkdir(parents=True, exist_ok=True)
    for name in QUICK_FILES:
        shutil.copy(REPO / "tests" / "data" / "midi" / "classical" / name, src / name)
    data = work / "data"
    if not (data / "index.json").is_file():
        build_dataset(midi_dir_sources(src, composer_from="prefix"),
                      BuildOptions(out=data, workers=0, valid_fraction=0.25, progress=False, cache=False))
    run = load_run_config(REPO / "configs" / "muse" / "tiny.yaml")
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, steps=steps, eval_every=0, log_every=10,
                                                             checkpoint_every=0))
    model = work / "model_run"
    if not (model / "model" / "model.safetensors").is_file():
        train(run, data, model, progress=False)
    return model, data


def prompts_of(data: Path, split: str, tokenizer) -> list[tuple[str | None, tuple[str, ...]]]:  # noqa: ANN001
    """(composer, instruments) of the headers of ``split``'s pieces, in index order."""
    from muse.core.token_shards import TokenDataset
    from muse.critic_training import header_request

    dataset = TokenDataset(data)
    found = [header_request(np.asarray(dataset.tokens(int(i)), np.int64), tokenizer)
             for i in dataset.split_indices(split)]
    if not found:
        raise UserError(f"{data}: no pieces in the {split} split to take prompts from")
    return found


def draw(gen, prompts: list, per_prompt: int, seconds: float, seed: int, cache: WorkCache,  # noqa: ANN001
         **options) -> list[list[Sample]]:
    """``per_prompt`` samples for each prompt; prompts with the same header are drawn in one batch
    (the same call on another model with the same seed gives the rows the same seeds: piece i of
    a call draws from its seed + i, ``muse.core.sampling.row_seeds``). Each batch goes through
    ``cache`` (kept, resumed, shared with other processes). ``options``: more
    ``MuseGenerator.generate`` arguments (``rerank``, ``rerank_by``, ``critic``)."""
    import torch

    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(p, []).append(i)
    model = path_identity(gen.loaded.path)

    def named(value):  # noqa: ANN001, ANN202 - a critic (loaded or a folder) by its files
        folder = getattr(value, "path", value)
        return path_identity(folder) if isinstance(folder, (str, Path)) else repr(value)

    settings = {k: named(v) if k == "critic" and v is not None else v for k, v in sorted(options.items())}
    where = f"{gen.device} x{torch.get_num_threads()}"
    tick, batches = time.perf_counter(), []
    for g, (prompt, members) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0])):
        for s in range(0, len(members), 8):
            batches.append((prompt, members[s:s + 8], seed + 7919 * g + s))

    def job(prompt: tuple, n: int, batch_seed: int, done: int):  # noqa: ANN202
        def fn() -> list[tuple[np.ndarray, int, bytes]]:
            pieces = gen.generate(prompt[0], list(prompt[1]), seconds, seed=batch_seed, n=n, **options)
            log.info("drew batch ending at prompt %d of %d, %d sample(s) (%.0f s)", done, len(prompts), n,
                     time.perf_counter() - tick)
            return [(np.asarray(p.ids), gen.vocab.header_length(p.ids), p.score.dumps_midi()) for p in pieces]
        key = f"draw {model} {prompt!r} n={n} seconds={seconds!r} seed={batch_seed} {settings!r} {where}"
        return key, fn

    drawn = cache.run([job(prompt, per_prompt * len(part), batch_seed, part[-1] + 1)
                       for prompt, part, batch_seed in batches])
    out: list[list[Sample]] = [[] for _ in prompts]
    for (prompt, part, _), pieces in zip(batches, drawn):
        for k, i in enumerate(part):
            for ids, header, midi in pieces[k * per_prompt:(k + 1) * per_prompt]:
                out[i].append(Sample(prompt, ids, header, symusic.Score.from_midi(midi)))
    return out


def digest(pairs: list) -> str:
    """A short fingerprint of preference pairs (a cache key part)."""
    return hashlib.sha1(repr(pairs).encode()).hexdigest()[:16]


def label(rater: Rater, pool: list[list[Sample]], n: int):  # noqa: ANN201
    """The first ``n`` pairs of ``pool`` the rater does not tie, as ``PreferencePair``s."""
    from muse.prefs import PreferencePair

    pairs = []
    for a, b in pool:
        verdict = prefer(rater, a.midi, b.midi)
        if verdict == 0:
            continue
        good, bad = (a, b) if verdict > 0 else (b, a)
        pairs.append(PreferencePair(tuple(int(t) for t in good.ids[:good.header]),
                                    tuple(int(t) for t in good.ids[good.header:]),
                                    tuple(int(t) for t in bad.ids[bad.header:]), rater.name))
        if len(pairs) == n:
            break
    return pairs


def ab(rater: Rater, original: list[list[Sample]], other: list[list[Sample]]) -> tuple[int, int, int]:
    """(wins, losses, ties) of the ``other`` samples against the original ones of the same prompt and seed."""
    verdicts = [prefer(rater, t[0].midi, o[0].midi) for o, t in zip(original, other)]
    return verdicts.count(1), verdicts.count(-1), verdicts.count(0)


def result(rater: Rater, method: str, pairs: int, verdicts: tuple[int, int, int], **extra) -> Result:  # noqa: ANN003
    """A ``Result`` from A/B ``verdicts`` (wins, losses, ties): the win rate over the decided ones, 95% Wilson CI."""
    from muse.metrics import wilson_interval

    wins, losses, ties = verdicts
    low, high = wilson_interval(wins, wins + losses)
    rate = wins / (wins + losses) if wins + losses else float("nan")
    log.info("%s, %s, %d pairs: wins %d, losses %d, ties %d", rater.name, method, pairs, wins, losses, ties)
    return Result(rater.name, method, pairs, wins, losses, ties, rate, low, high, **extra)


# ---- report ---------------------------------------------------------------------------------------

MAX_BITS_RISE = 0.15  # the bound on the validation bits/token a tuned model may lose


def markdown(results: list[Result]) -> str:
    rows = ["| rater | method | pairs | wins | losses | ties | win rate | 95% CI | valid bits/token "
            f"(original -> tuned) | change (<= +{MAX_BITS_RISE}) | train margin / pair acc. | train s | eval s |",
            "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in results:
        rate = "n/a" if math.isnan(r.win_rate) else f"{r.win_rate:.3f}"
        bits = "-" if r.bits_tuned is None else f"{r.bits_original:.3f} -> {r.bits_tuned:.3f}"
        change = "-" if r.delta_bits is None else \
            f"{r.delta_bits:+.3f} {'yes' if r.delta_bits <= MAX_BITS_RISE else 'NO'}"
        margin = "-" if r.train_margin is None else f"{r.train_margin:+.2f}"
        rows.append(f"| {r.rater} | {r.method} | {r.pairs or '-'} | {r.wins} | {r.losses} | {r.ties} | {rate} | "
                    f"[{r.ci_low:.3f}, {r.ci_high:.3f}] | {bits} | {change} | {margin} | {r.train_seconds:.0f} | "
                    f"{r.eval_seconds:.0f} |")
    return "\n".join(rows)


def parse_ints(text: str, name: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{name}: comma-separated whole numbers, not {text!r}") from None
    if values == [0]:
        return values
    if not values or min(values) < 1:
        raise UserError(f"{name}: at least one number, each >= 1 (or 0 alone), not {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or run (default: the bundled model; with --quick: a tiny one)")
    parser.add_argument("--data", help="dataset built with the model's tokenizer (prompts, critic, bits/token)")
    parser.add_argument("--quick", action="store_true", help="tiny settings that run in minutes on CPU (see above)")
    parser.add_argument("--raters", default="repeats,key,critic", help="which raters (default: repeats,key,critic)")
    parser.add_argument("--key", default="C major", help="rater (b)'s key (default: C major)")
    parser.add_argument("--bars", type=int, help="rater (a)'s pattern length in bars (default: 4; 1 with --quick)")
    parser.add_argument("--critic", help="critic for rater (c) and --rerank (default: train one on --data)")
    parser.add_argument("--pairs", help="numbers of pairs N to tune on, comma-separated; 0: only the critic's "
                                        "reranking rows (default: 200,1000)")
    parser.add_argument("--eval-prompts", type=int, help="A/B comparisons per method (default: 200)")
    parser.add_argument("--seconds", type=float, help="length of every sample (default: 20)")
    parser.add_argument("--steps", type=int, help="DPO steps (default: 200)")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per DPO step (default: 8)")
    parser.add_argument("--lr", type=float, help="DPO learning rate (default: 1e-5)")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO beta (default: 0.1)")
    parser.add_argument("--rerank", type=int, help="candidates K per piece for the reranking rows, 0 = none "
                                                   "(default: 4; 2 with --quick)")
    parser.add_argument("--reward-steps", type=int, help="reward model training steps (default: 200; 20 with --quick)")
    parser.add_argument("--val-pieces", type=int, default=50, help="valid pieces for bits/token (default: 50)")
    parser.add_argument("--device", default="cpu", help="torch device for sampling, scoring and evaluation "
                                                        "(default: cpu; training picks CUDA when present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--out", type=Path, help="keep the tuned models and critic here (default: a temporary folder)")
    parser.add_argument("--cache", type=Path, help="keep drawn samples and finished rows here: a rerun resumes "
                        "from them, and processes given the same folder (and their own --out, e.g. one rater each) "
                        "share the drawing (default: OUT/cache; none without --out)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    args.command = shlex.join([os.path.relpath(sys.executable), "benchmarks/preferences.py",
                               *(sys.argv[1:] if argv is None else argv)])
    quick = args.quick
    args.pairs = args.pairs or ("8" if quick else "200,1000")
    args.eval_prompts = args.eval_prompts or (8 if quick else 200)
    args.seconds = args.seconds or (3.0 if quick else 20.0)
    args.steps = args.steps or (10 if quick else 200)
    args.lr = args.lr or (1e-3 if quick else 1e-5)
    args.bars = args.bars or (1 if quick else 4)
    args.rerank = (2 if quick else 4) if args.rerank is None else args.rerank
    args.reward_steps = args.reward_steps or (20 if quick else 200)
    return args


def get_critic(args: argparse.Namespace, gen, work: Path):  # noqa: ANN001, ANN201
    """(critic, its held-out ROC AUC): ``--critic``, else one trained on ``--data`` against ``gen``'s samples."""
    from muse.critic import CriticConfig, load_critic
    from muse.critic_training import CriticRunConfig, default_critic_train, train_critic

    if args.critic is None:
        quick = args.quick
        critic_cfg = CriticConfig(width=32, depth=1, heads=2, n_ctx=64, max_windows=4, seconds=args.seconds) \
            if quick else CriticConfig(seconds=args.seconds)
        train_cfg = dataclasses.replace(default_critic_train(), steps=30 if quick else 300,
                                        batch_size=8 if quick else 16, warmup_steps=3 if quick else 20)
        report = train_critic(gen.loaded, args.data, work / "critic",
                              CriticRunConfig(critic=critic_cfg, train=train_cfg, seed=args.seed), progress=False)
        log.info("critic: held-out ROC AUC %.3f", report.auc)
        args.critic = str(report.critic_dir)
    critic = load_critic(args.critic, args.device)
    critic.check_vocabulary(gen.tokenizer)
    return critic, critic.info.get("held_out_auc")


def reward_config(args: argparse.Namespace):  # noqa: ANN201
    from muse.critic import CriticConfig
    from muse.reward import RewardRunConfig, default_reward_train

    critic = CriticConfig(width=32, depth=1, heads=2, n_ctx=64, max_windows=4, seconds=args.seconds) if args.quick \
        else CriticConfig(seconds=args.seconds)
    train = dataclasses.replace(default_reward_train(), steps=args.reward_steps,
                                warmup_steps=min(10, args.reward_steps // 10), seed=args.seed)
    return RewardRunConfig(critic=critic, train=train, seed=args.seed)


def run(args: argparse.Namespace, work: Path, timings: dict[str, float],
        notes: list[str]) -> tuple[list[Result], float | None]:
    """Every row of the table (see the module doc) and the critic's held-out AUC; what had to be
    left out goes to ``notes``."""
    from muse.evaluate import evaluate
    from muse.generate import MuseGenerator, default_model_path
    from muse.reward import RUN_FILE as REWARD_RUN_FILE
    from muse.reward import train_reward
    from muse.tune import TUNE_FILE, tune, tune_config

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        tick = time.perf_counter()
        value = fn()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - tick
        return value

    sizes = parse_ints(args.pairs, "--pairs")
    cache = WorkCache(args.cache or (args.out / "cache" if args.out else None))
    names = [n.strip() for n in args.raters.split(",") if n.strip()]
    unknown = [n for n in names if n not in ("repeats", "key", "critic")]
    if unknown or not names:
        raise UserError(f"--raters: choose among repeats, key, critic, not {args.raters!r}")
    if args.rerank < 0 or args.rerank == 1:
        raise UserError(f"--rerank: 0 (no reranking rows) or at least 2 candidates, not {args.rerank}")
    tuning = sizes != [0]
    if not tuning and not args.rerank:
        raise UserError("--pairs 0 leaves only the critic's reranking rows: give --rerank K (K >= 2)")
    try:
        parse_key(args.key)
    except ValueError as err:
        raise UserError(f"--key: {err}") from None
    if args.quick and args.model is None and args.data is None:
        args.model, args.data = map(str, timed("setup", lambda: quick_setup(work / "setup", steps=40)))
    if args.data is None:
        raise UserError("--data DATA is needed (prompts, the critic and bits/token); or run --quick alone")
    args.model = args.model or str(default_model_path())
    gen = MuseGenerator(args.model, device=args.device)
    train_prompts = prompts_of(Path(args.data), "train", gen.tokenizer)
    eval_prompts = prompts_of(Path(args.data), "valid", gen.tokenizer)
    n_draw = int(max(sizes) * 1.25) + 2  # some pairs tie
    pool = [] if not tuning else \
        timed("pair_samples", lambda: draw(gen, [train_prompts[i % len(train_prompts)] for i in range(n_draw)],
                                           2, args.seconds, args.seed, cache))
    evals = [eval_prompts[i % len(eval_prompts)] for i in range(args.eval_prompts)]
    eval_seed = args.seed + 10**6
    original = timed("eval_samples", lambda: draw(gen, evals, 1, args.seconds, eval_seed, cache))

    def bits(loaded) -> float:  # noqa: ANN001
        return evaluate(loaded, args.data, max_pieces=args.val_pieces, device=args.device).overall.bits_per_token

    inputs = f"{path_identity(args.model)} {path_identity(args.data)}"  # a cache key part: the files measured
    bits_key = f"bits {inputs} {args.val_pieces} {args.device}"
    bits_original = timed("bits", lambda: cache.run([(bits_key, lambda: bits(gen.loaded))])[0]) if tuning else None
    critic, auc = None, None
    if "critic" in names or args.rerank:
        critic, auc = timed("critic", lambda: get_critic(args, gen, work))
    raters: list[Rater] = [RepetitionRater(args.bars) if n == "repeats" else KeyRater(args.key) if n == "key"
                           else CriticRater(critic) for n in names]

    results: list[Result] = []
    if args.rerank:
        tick = time.perf_counter()
        reranked = draw(gen, evals, 1, args.seconds, eval_seed, cache, rerank=args.rerank, rerank_by="critic",
                        critic=critic)
        seconds = time.perf_counter() - tick
        results += [result(r, "rerank-critic", 0, ab(r, original, reranked), eval_seconds=seconds) for r in raters]

    def dpo_row(rater: Rater, pairs: list, folder: Path) -> Result:
        """Tune on ``pairs`` into ``folder`` (continuing a run a killed process left there), judge it."""
        tick = time.perf_counter()
        config = tune_config(args.steps, min(args.batch_size, len(pairs)), args.lr, args.beta,
                             seed=args.seed, log_every=max(1, args.steps // 10))
        tuned = tune(args.model, pairs, folder, config, resume=(folder / TUNE_FILE).is_file(), progress=False)
        train_s = time.perf_counter() - tick
        tick = time.perf_counter()
        tuned_gen = MuseGenerator(tuned.model_dir, device=args.device)
        verdicts = ab(rater, original, draw(tuned_gen, evals, 1, args.seconds, eval_seed, cache))
        return result(rater, "dpo", len(pairs), verdicts, bits_original=bits_original,
                      bits_tuned=bits(tuned_gen.loaded), train_margin=tuned.margin, train_seconds=train_s,
                      eval_seconds=time.perf_counter() - tick)

    def reward_row(rater: Rater, pairs: list, folder: Path) -> Result:
        """Train a reward model on ``pairs`` into ``folder``, rerank the original's samples by it, judge them."""
        tick = time.perf_counter()
        reward = train_reward(gen.loaded, pairs, folder, reward_config(args),
                              resume=(folder / REWARD_RUN_FILE).is_file(), progress=False)
        train_s = time.perf_counter() - tick
        tick = time.perf_counter()
        reranked = draw(gen, evals, 1, args.seconds, eval_seed, cache, rerank=args.rerank, rerank_by="critic",
                        critic=reward.critic_dir)
        return result(rater, "rerank-reward", len(pairs), ab(rater, original, reranked),
                      train_margin=reward.held_out_accuracy, train_seconds=train_s,
                      eval_seconds=time.perf_counter() - tick)

    # what a row's figures depend on besides its method, rater and pairs: a rerun with the same cache reads it back
    row_key = (f"{inputs} {args.eval_prompts} {args.seconds!r} {eval_seed} {args.val_pieces} {args.device} "
               f"{args.threads}")

    def cached_row(key: str, fn) -> Result:  # noqa: ANN001
        return Result(**cache.run([(key, lambda: dataclasses.asdict(fn()))])[0])

    for rater in raters if tuning else ():
        labelled = label(rater, pool, max(sizes))
        taste = f"{rater.name} {path_identity(args.critic) if isinstance(rater, CriticRater) else ''}"
        for n in sizes:
            pairs = labelled[:n]
            if len(pairs) < n:
                log.warning("%s: only %d of the %d sample pairs are not ties; using %d", rater.name, len(pairs),
                            n_draw, len(pairs))
            if not pairs:
                notes.append(f"{rater.name}: every sampled pair is a tie (no preference to learn): no dpo or "
                             "rerank-reward rows")
                log.warning(notes[-1])
                break
            results.append(cached_row(f"dpo {taste} {digest(pairs)} steps={args.steps} lr={args.lr!r} "
                                      f"beta={args.beta!r} batch={args.batch_size} {row_key}",
                                      lambda: dpo_row(rater, pairs, work / f"dpo_{rater.name}_{n}")))
            if args.rerank and len(pairs) >= 2:
                results.append(cached_row(f"rerank-reward {taste} {digest(pairs)} {reward_config(args)!r} "
                                          f"K={args.rerank} {row_key}",
                                          lambda: reward_row(rater, pairs, work / f"reward_{rater.name}_{n}")))
    return results, auc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    work = args.out or Path(tempfile.mkdtemp(prefix="muse-prefs-"))
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    notes: list[str] = []
    try:
        results, auc = run(args, work, timings, notes)
    except USER_ERRORS as err:
        print(f"preferences: error: {err}", file=sys.stderr)
        return 2
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    timings["total"] = time.perf_counter() - began
    which = args.critic if args.out else "(trained here)"
    critic = "" if auc is None else f"; critic {which}: held-out ROC AUC {auc:.3f}"
    print(f"\n$ {args.command}\n\n{args.model}: pairs of {args.seconds:g}-s samples at default settings, DPO "
          f"{args.steps} steps (lr {args.lr:g}, beta {args.beta:g}, batch {args.batch_size}), reranking K = "
          f"{args.rerank}, {args.eval_prompts} blind A/B comparisons per row on valid-split prompts{critic}; "
          f"{torch.get_num_threads()} thread(s), {args.device}, {timings['total']:.0f} s in all\n")
    print(markdown(results))
    for note in notes:
        print(f"\nnote: {note}")
    print("\ntimings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    if args.json:
        settings = {k: getattr(args, k) for k in ("model", "data", "quick", "raters", "key", "bars", "critic", "pairs",
                                                   "eval_prompts", "seconds", "steps", "batch_size", "lr", "beta",
                                                   "rerank", "reward_steps", "val_pieces", "device", "seed", "threads",
                                                   "command")}
        out = {"settings": settings, "critic_auc": auc, "notes": notes,
               "results": [{**dataclasses.asdict(r), "delta_bits": r.delta_bits,
                            "win_rate": None if math.isnan(r.win_rate) else r.win_rate} for r in results],
               "timings_seconds": timings}
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
