"""VQ-VAE encode/decode speed and peak memory on CPU, official architecture, per level.

Each (level, operation, thread count) runs in a fresh worker process: it builds the official
VQ-VAE (configs/jukebox/vqvae_official.yaml, random weights: speed does not depend on them),
makes ``--seconds`` of audio, runs the operation once (warm-up; its peak resident memory minus
the resident memory just before it is the "peak MB" column), then times ``--repeats`` runs and
reports the median wall time (and, for one thread, the median CPU time: on a busy machine it
is close to what the wall time would be on an idle one). Encoding is one level's encoder +
nearest-code search; decoding is that
level's decoder from codes. Threads: 1 and all cores (``torch.set_num_threads``).

    python benchmarks/vqvae.py                  # 5 s of audio, levels 0 1 2, 1 and all threads
    python benchmarks/vqvae.py --seconds 2 --repeats 1 --levels 2
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder heads sys.path: keep sibling scripts (e.g. a benchmarks/tokenize.py)
# from shadowing standard-library modules of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "jukebox" / "vqvae_official.yaml"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(level: int, op: str, threads: int, seconds: float, repeats: int) -> dict:
    import torch

    from jukebox.vqvae.config import load_vqvae_config
    from jukebox.vqvae.vqvae import VQVAE

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = load_vqvae_config(CONFIG)
    model = VQVAE(config).eval()
    for codebook in model.bottleneck.codebooks:
        codebook.vectors.normal_()
    hop = config.hop_lengths[-1]
    length = -(-int(seconds * config.sample_rate) // hop) * hop
    audio = 0.5 * torch.randn(1, length).clamp(-2, 2) / 2
    codes = torch.randint(0, config.l_bins, (1, length // config.hop_lengths[level]))

    def run() -> None:
        with torch.no_grad():
            if op == "encode":
                model.encode(audio, [level])
            else:
                model.decode(codes, level)

    before = _rss_mb()
    run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"seconds": statistics.median(times), "cpu_seconds": statistics.median(cpu),
            "peak_mb": max(peak, 0.0), "audio_s": length / config.sample_rate}


def measure(level: int, op: str, threads: int, seconds: float, repeats: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", f"{level},{op},{threads}", "--seconds", str(seconds),
           "--repeats", str(repeats)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker {level},{op},{threads} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up (default 3)")
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        level, op, threads = args.worker.split(",")
        print(json.dumps(worker(int(level), op, int(threads), args.seconds, args.repeats)))
        return

    all_threads = os.cpu_count() or 1
    print(f"VQ-VAE, official architecture, {args.seconds:g} s of audio, CPU: {all_threads} cores, "
          f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    header = (f"{'level':>5} {'op':>6} | {'1 thread s':>10} {'CPU s':>6} {'x real time':>11} | "
              f"{f'{all_threads} threads s':>11} {'x real time':>11} | {'speed-up':>8} | {'peak MB':>7}")
    print(header)
    print("-" * len(header))
    for level in args.levels:
        for op in ("encode", "decode"):
            one = measure(level, op, 1, args.seconds, args.repeats)
            many = measure(level, op, all_threads, args.seconds, args.repeats)
            rt = one["audio_s"]
            print(f"{level:>5} {op:>6} | {one['seconds']:>10.2f} {one['cpu_seconds']:>6.2f} "
                  f"{rt / one['seconds']:>11.2f} | "
                  f"{many['seconds']:>11.2f} {rt / many['seconds']:>11.2f} | "
                  f"{one['seconds'] / many['seconds']:>8.2f} | {max(one['peak_mb'], many['peak_mb']):>7.0f}")


if __name__ == "__main__":
    main()
