"""MIDI tokenization speed on one thread: musetok vs MidiTok 3 (REMI) vs a pretty_midi-based reader.

The same real files (../shared/midi: one_track, multitrack, and an evenly spaced sample of the
classical corpus, damaged files included) go through every tokenizer, interleaved file by file so
that all of them see the same machine load. Each tokenizer reads the file from its path (the page
cache is warmed first) and produces token ids:

- musetok: ``MidiTokenizer().encode(path).ids`` (symusic parse + vectorized numpy); the "+ text"
  row also builds the token strings (``Encoding.tokens``).
- MidiTok 3 REMI with programs and tempos in one stream (the closest match to musetok's language).
- pretty_midi: ``PrettyMIDI(path)`` plus a per-note Python event list (note-on, note-off and
  10 ms time-shift events, Performance-RNN style): the "parse with a Python MIDI library" baseline.

Files/s counts every file attempted (a file a tokenizer rejects still costs its time); tokens/s
counts the ids produced. Ratios compare files/s with MidiTok.

    python benchmarks/tokenizer.py                     # 27 test files + 300 classical files
    python benchmarks/tokenizer.py --classical 60 --markdown
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread, before numpy is imported

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSEBOX_SHARED", REPO.parent / "shared"))


@dataclass
class Tally:
    name: str
    seconds: float = 0.0
    files: int = 0
    errors: int = 0
    tokens: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)


def musetok_ids() -> Callable[[Path], int]:
    from musetok import MidiTokenizer

    tok = MidiTokenizer()
    return lambda path: len(tok.encode(path).ids)


def musetok_text() -> Callable[[Path], int]:
    from musetok import MidiTokenizer

    tok = MidiTokenizer()
    return lambda path: len(tok.encode(path).tokens)


def miditok_remi() -> Callable[[Path], int]:
    import miditok

    config = miditok.TokenizerConfig(use_programs=True, use_tempos=True, one_token_stream_for_programs=True)
    tok = miditok.REMI(config)

    def run(path: Path) -> int:
        seq = tok.encode(path)
        return sum(len(s.ids) for s in seq) if isinstance(seq, list) else len(seq.ids)

    return run


def pretty_midi_events() -> Callable[[Path], int]:
    import pretty_midi

    def run(path: Path) -> int:
        pm = pretty_midi.PrettyMIDI(str(path))
        events = []
        for inst in pm.instruments:
            program = 128 if inst.is_drum else inst.program
            for note in inst.notes:
                events.append((note.start, 1, program, note.pitch, note.velocity))
                events.append((note.end, 0, program, note.pitch, 0))
        events.sort()
        tokens, now = [], 0.0
        for time_s, is_on, program, pitch, velocity in events:
            steps = round((time_s - now) * 100)
            while steps > 0:
                tokens.append(f"shift:{min(steps, 100)}")
                steps -= 100
            now = time_s
            tokens.append(f"{program}:{velocity // 4 if is_on else 0}:{pitch}")
        return len(tokens)

    return run


METHODS: dict[str, Callable[[], Callable[[Path], int]]] = {
    "musetok": musetok_ids,
    "musetok + text": musetok_text,
    "MidiTok 3 REMI": miditok_remi,
    "pretty_midi reader": pretty_midi_events,
}


def select_files(classical: int) -> list[Path]:
    midi = SHARED / "midi"
    files = sorted((midi / "one_track").glob("*.mid")) + sorted((midi / "multitrack").glob("*.mid"))
    corpus = sorted((midi / "classical").glob("*.mid"))
    if classical and corpus:
        step = len(corpus) / classical
        files += [corpus[int(i * step)] for i in range(min(classical, len(corpus)))]
    return files


def run(files: list[Path], repeat: int) -> list[Tally]:
    runners = {name: make() for name, make in METHODS.items()}
    tallies = {name: Tally(name) for name in METHODS}
    for path in files:
        path.read_bytes()  # warm the page cache for everyone
        for name, fn in runners.items():
            tally = tallies[name]
            best, count, error = float("inf"), 0, None
            for _ in range(repeat):
                start = time.perf_counter()
                try:
                    count = fn(path)
                except Exception as err:  # a rejected file still costs its time
                    error = type(err).__name__
                best = min(best, time.perf_counter() - start)
            tally.seconds += best
            tally.files += 1
            if error:
                tally.errors += 1
                tally.error_kinds[error] = tally.error_kinds.get(error, 0) + 1
            else:
                tally.tokens += count
    return list(tallies.values())


def table(tallies: list[Tally], markdown: bool) -> str:
    ref = next(t for t in tallies if t.name == "MidiTok 3 REMI")
    pm = next(t for t in tallies if t.name == "pretty_midi reader")
    rate = {t.name: t.files / t.seconds for t in tallies}
    head = ["tokenizer", "files", "rejected", "seconds", "files/s", "tokens/s", "x MidiTok", "x pretty_midi"]
    rows = [[t.name, str(t.files), str(t.errors), f"{t.seconds:.2f}", f"{rate[t.name]:.1f}",
             f"{t.tokens / t.seconds:,.0f}", f"{rate[t.name] / rate[ref.name]:.1f}",
             f"{rate[t.name] / rate[pm.name]:.1f}"] for t in tallies]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(r, widths)))
                     for r in [head, *rows])


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classical", type=int, default=300, help="files sampled from the classical corpus")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per file and tokenizer (best one counts)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # musetok reports repaired files; not part of the timing
    warnings.filterwarnings("ignore")
    files = select_files(args.classical)
    if not files:
        print(f"no MIDI files under {SHARED / 'midi'}", file=sys.stderr)
        return 1
    tallies = run(files, args.repeat)
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("symusic", "numpy", "miditok", "pretty_midi"))
    print(f"{len(files)} files ({sum(p.stat().st_size for p in files) / 2**20:.1f} MB), one thread, "
          f"{_cpu()}, Python {platform.python_version()}, {versions}")
    print(table(tallies, args.markdown))
    for t in tallies:
        if t.error_kinds:
            print(f"{t.name}: rejected {t.errors} files ({', '.join(f'{k} {v}' for k, v in t.error_kinds.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
