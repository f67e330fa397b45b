"""The listening page: one piece per composer from the shipped model, as MIDI, piano roll and audio.

For each composer: ``MuseGenerator.generate`` at the model's default settings (piano, 20 s, a fixed
seed per composer), then the MIDI, the piano roll the demo draws (PNG) and an audio render
(FluidSynth with a General MIDI soundfont when present, else the built-in renderer) compressed to
Ogg Vorbis, mono 22.05 kHz, so that each file stays under 300 KB. ``README.md`` beside them links
everything and says how it was made.

    .venv/bin/python docs/samples/make.py                  # the bundled model, the four default composers
    .venv/bin/python docs/samples/make.py --model runs/small --composers bach,chopin
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from muse.generate import MuseGenerator

HERE = Path(__file__).resolve().parent
RATE = 22050
MAX_BYTES = 300_000


def compress(wav: Path, ogg: Path) -> int:
    """``wav`` as mono Ogg Vorbis at ``RATE`` (lower quality until under ``MAX_BYTES``); its size."""
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    mono = soxr.resample(audio.mean(axis=1), rate, RATE)
    mono = mono / max(1.0, float(np.abs(mono).max()) / 0.98)
    for quality in (0.4, 0.25, 0.1, 0.0):
        sf.write(ogg, mono, RATE, format="OGG", subtype="VORBIS", compression_level=1.0 - quality)
        if ogg.stat().st_size <= MAX_BYTES:
            break
    return ogg.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the bundled model)")
    parser.add_argument("--composers", default="bach,mozart,chopin,debussy")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = MuseGenerator(args.model)
    rows, renderers = [], set()
    for k, composer in enumerate(c.strip() for c in args.composers.split(",")):
        seed = args.seed + k
        piece = gen.generate(composer, ["piano"], args.seconds, seed=seed)[0]
        stem = args.out / composer
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / f"{composer}.wav"
            gen.save([piece], stem.with_suffix(".mid"), png=stem.with_suffix(".png"))
            renderer = gen.write_wav(piece, wav).backend
            renderers.add(renderer)
            size = compress(wav, stem.with_suffix(".ogg"))
        rows.append(f"| {composer} | [{composer}.ogg]({composer}.ogg) ({size // 1000} KB) | "
                    f"[{composer}.mid]({composer}.mid) | ![{composer}]({composer}.png) |")
        print(f"{composer}: {piece.n_notes} notes, {piece.seconds:.1f} s, seed {seed}, {size // 1000} KB ({renderer})")
    model = "the bundled model" if args.model is None else args.model
    readme = [
        "# Listening page",
        "",
        f"One piece per composer from {model}, at the default settings (piano, {args.seconds:g} s; seeds "
        f"{args.seed}..{args.seed + len(rows) - 1} in the order below), not picked: the first sample of each seed.",
        f"Made by `python docs/samples/make.py` (audio rendered by {', '.join(sorted(renderers))} with a General MIDI "
        "soundfont, compressed to Ogg Vorbis, mono 22.05 kHz).",
        "",
        "| composer | audio | MIDI | piano roll |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    (args.out / "README.md").write_text("\n".join(readme))
    return 0


if __name__ == "__main__":
    sys.exit(main())
