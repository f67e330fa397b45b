"""Continuations as the page shows them: one ``Variation`` per piece ``continue_midi`` returned.

The Continue tab (an uploaded prime) and step-by-step composing (a variation continued) both use
it: each piece is written (MIDI, audio, piano roll with the prime's end marked), gets its JSON
manifest (the facade call and the prime's tokens: ``muse generate --from-manifest`` makes it
again) unless the job was cut short, a feedback ``Sample`` and a caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from demos.context import DemoContext
from demos.jobs import rendering
from demos.variation import Variation, caption
from muse.feedback import Sample
from muse.manifest import make_manifest


@dataclass(frozen=True)
class Continued:
    """The cards of a continuation job and the notes each piece added to its prime."""

    variations: list[Variation]
    new_notes: list[int]


def prime_tokens(ctx: DemoContext, prime: Any, name: str, pieces: Sequence = ()) -> int:
    """How many tokens ``continue_midi`` primes with for ``prime`` (a score, or MIDI bytes): its header and
    body as the tokenizer reads them, without the closing ``end``. With the ``pieces`` it made, their header
    counts instead (``instruments=`` rewrites the header: the instruments asked for, not the file's)."""
    ids = np.asarray(ctx.generator.tokenizer.encode(prime, composer=None, name=name).ids)
    n = len(ids) - int(len(ids) > 0 and ids[-1] == ctx.generator.vocab.end_id)
    return n - ctx.header_length(ids) + ctx.header_length(pieces[0].ids) if len(pieces) and n else n


def continuation_variations(ctx: DemoContext, pieces: Sequence, *, call: dict, n_prime: int, prime_notes: int,
                            settings: dict, batch: dict, timings: dict, title: str, progress: gr.Progress,
                            cut_short: bool = False, stem: str = "continue", before: str = "prime") -> Continued:
    """Cards for ``pieces`` (each the prime's ``n_prime`` tokens, then the continuation) made by ``continue_midi``
    with the keyword arguments ``call``; ``settings``: what the feedback store records; ``batch``: the batch's
    seed and size; ``title``: the piano rolls' title (the variation's number follows); ``cut_short``: the job
    was stopped early, so the pieces get no manifest; ``before``: what the caption calls the part before the cut."""
    gen = ctx.generator
    made, new_notes = [], []
    for k, out in rendering(progress, pieces):
        boundary = gen.tokenizer.seconds(out.ids[:n_prime])
        name = ctx.media.new_stem(stem)
        files = ctx.media.write(out, name, boundary=boundary, title=f"{title} \u00b7 {k}")
        if not cut_short:
            files = ctx.media.with_manifest(files, make_manifest(
                gen, out, "continue", call, prime=gen.as_written(out)[:n_prime],  # as given
                variation=k, batch=batch, model_digest=ctx.model_hash,
                timings={**timings, "render_seconds": files.render_seconds}), name)
        sample = Sample(id=name, mode="continue", settings={**settings, "variation": k}, seed=out.seed,
                        model_hash=ctx.model_hash, tokens=out.ids.tolist(), prime_tokens=n_prime)
        length = f"{before} {boundary:.1f} s + {out.seconds - boundary:.1f} s new \u00b7 key: {out.key.describe()}"
        made.append(Variation(sample, files, caption(k, out, length), boundary))
        new_notes.append(out.n_notes - prime_notes)
    return Continued(made, new_notes)


__all__ = ["Continued", "continuation_variations", "prime_tokens"]
