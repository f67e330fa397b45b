"""Which composer does a piece sound like? The model's posterior over its composer tokens.

For a piece with tokens ``x = (composer, instruments..., start, body...)`` the score of composer
``c`` is the log-likelihood of everything after the composer token with the header's composer
token set to ``c``: ``log p(x_1.. | c) = sum_i log p(x_i | x_<i, c)``. With a uniform prior the
posterior is the softmax of these log-likelihoods over the candidate composers (all of the
model's, or a chosen subset). With ``include_header=False`` the instrumentation tokens are given,
not scored: ``p(body | c, instruments)`` (used when the instruments were chosen by a user, as in
``muse.composers.adherence``).

Long pieces: only the first ``max_tokens`` tokens are scored (default: one context window, the
first ``n_ctx + 1`` tokens, as reranking and adherence score generated candidates; every window costs one
forward pass per composer). More of a piece is more evidence: ``muse composers score`` reads 2,048 tokens
unless told otherwise (``muse.commands.composers.SCORE_TOKENS``). ``max_tokens=0`` scores the whole piece in
consecutive windows, each holding the header and the next stretch of the piece (as ``muse eval`` does), with the time
and structure embeddings of the tokens' place in the whole piece. Note that the posterior of a
long stretch is sharp: it sums evidence over every token and ignores how strongly successive
tokens are correlated.

Each (window, composer) pair is one row of a batch, ``batch_size`` rows per forward pass.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic
import torch
from torch import Tensor

from muse.clock import Clock
from muse.composers.files import write_output
from muse.core.errors import USER_ERRORS, UserError
from muse.saved_model import LoadedModel, load_model
from muse.windows import scoring_windows

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi")


@dataclass(frozen=True, eq=False)
class ComposerPosterior:
    """The posterior of one piece: ``posterior`` (C,) sums to 1 over ``composers``;
    ``log_likelihood`` (C,) in nats of the ``tokens`` scored; ``truncated``: the piece was longer
    than the tokens considered."""

    source: str
    composers: tuple[str, ...]
    log_likelihood: np.ndarray
    posterior: np.ndarray
    tokens: int
    truncated: bool

    def ranking(self) -> list[tuple[str, float]]:
        """(composer, probability) pairs, most probable first."""
        order = np.argsort(-self.posterior, kind="stable")
        return [(self.composers[i], float(self.posterior[i])) for i in order]

    def rank_of(self, composer: str) -> int:
        """0-based rank of ``composer`` (0: the most probable)."""
        return [name for name, _ in self.ranking()].index(composer)

    @property
    def bits_per_token(self) -> np.ndarray:
        """Bits per scored token (C,) under each composer."""
        return -self.log_likelihood / math.log(2) / max(self.tokens, 1)

    def summary(self, k: int = 3) -> str:
        """``"bach 70.1%, palestrina 20.3%, mozart 5.0%"`` (the ``k`` most probable)."""
        return ", ".join(f"{name} {100 * p:.1f}%" for name, p in self.ranking()[:k])


def _loaded(model: str | Path | LoadedModel | None, device: str | torch.device) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if model is None:
        from muse.generate import default_model_path

        model = default_model_path()
    return load_model(model, device)


class ComposerScorer:
    """Scores pieces against the composers of a model (see the module doc).

    ``composers``: the candidates (default: all of the model's). ``max_tokens``: tokens of a
    piece considered (None: ``n_ctx + 1``, one window; 0: all). ``include_header``: score the
    instrumentation tokens too (else they are given).
    """

    def __init__(self, model: str | Path | LoadedModel | None = None, *, device: str | torch.device = "cpu",
                 composers: Sequence[str] | None = None, max_tokens: int | None = None, batch_size: int = 16,
                 include_header: bool = True) -> None:
        self.loaded = _loaded(model, device)
        self.model = self.loaded.model.eval()
        self.tokenizer = self.loaded.tokenizer
        self.vocab = self.tokenizer.vocab
        known = tuple(self.vocab.config.composers)
        if composers is None:
            composers = known
        composers = tuple(dict.fromkeys(composers))
        for name in composers:
            self.vocab.composer_id(name)  # an unknown name raises, listing the known ones
        if not composers:
            raise UserError(f"no candidate composers; known composers: {', '.join(known) or '(none)'}")
        self.composers = tuple(known[self.vocab.composer_id(c) - self.vocab.composer_base] for c in composers)
        self.composer_ids = torch.as_tensor([self.vocab.composer_id(c) for c in self.composers])
        if max_tokens is not None and max_tokens < 0:
            raise UserError(f"max_tokens must be 0 (all) or positive, not {max_tokens}")
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, not {batch_size}")
        self.max_tokens = self.model.n_ctx + 1 if max_tokens is None else max_tokens
        self.batch_size = batch_size
        self.include_header = include_header
        self.device = next(self.model.parameters()).device

    # ---- public API -------------------------------------------------------------------------

    def score_midi(self, midi: str | Path | bytes | symusic.Score, name: str | None = None) -> ComposerPosterior:
        """Posterior of a MIDI file (path, bytes or score); unreadable input raises ``TokenizerError``."""
        enc = self.tokenizer.encode(midi, name=name)
        return self.score_ids(enc.ids, enc.source)

    def score_path(self, path: str | Path) -> list[ComposerPosterior]:
        """Posteriors of a MIDI file, or of every MIDI file under a folder (sorted; unreadable
        files are skipped with a warning)."""
        path = Path(path)
        if path.is_file():
            return [self.score_midi(path)]
        if not path.is_dir():
            raise UserError(f"{path}: no such file or folder")
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        if not files:
            raise UserError(f"{path}: no MIDI files ({', '.join(MIDI_SUFFIXES)}) in this folder")
        results = []
        for file in files:
            try:
                results.append(self.score_midi(file))
            except USER_ERRORS as err:
                log.warning("skipped: %s", err)
        if not results:
            raise UserError(f"{path}: none of its {len(files)} MIDI files could be scored")
        return results

    @torch.no_grad()
    def score_ids(self, ids: np.ndarray | Sequence[int], source: str = "tokens") -> ComposerPosterior:
        """Posterior of a token sequence ``ids`` (L,) that starts with a header (any composer token)."""
        ids = np.asarray(ids, np.int64)
        header = self.vocab.header_length(ids)
        if len(ids) < 2 or not header:
            raise UserError(f"{source}: not a token sequence with a header (composer, instruments, start)")
        if header + 1 > self.model.n_ctx:
            raise UserError(f"{source}: its header of {header} tokens does not fit the model's context")
        full = torch.as_tensor(ids, device=self.device)[None]
        clock = self.model.clock(full)
        total_us = clock.end.micros  # (1,) the whole piece's length (structure embeddings)
        length = len(ids) if self.max_tokens == 0 else min(len(ids), max(self.max_tokens, header + 1))
        first_scored = 1 if self.include_header else header
        if length <= first_scored:
            raise UserError(f"{source}: no tokens to score after the header")
        windows = scoring_windows(length, header, self.model.n_ctx, first_scored)
        pairs = [(w, c) for w in range(len(windows)) for c in range(len(self.composers))]
        ll = torch.zeros(len(self.composers), dtype=torch.float64)
        for chunk in range(0, len(pairs), self.batch_size):
            part = pairs[chunk:chunk + self.batch_size]
            nll = self._window_nll([windows[w] for w, _ in part], [c for _, c in part], full, clock, total_us)
            ll.index_add_(0, torch.as_tensor([c for _, c in part]), -nll)
        scored = sum(int(mask[1:].sum()) for _, mask in windows)
        return ComposerPosterior(source, self.composers, ll.numpy(), torch.softmax(ll, 0).numpy(), scored,
                                 length < len(ids))

    # ---- internals --------------------------------------------------------------------------

    def _window_nll(self, windows: list[tuple[np.ndarray, np.ndarray]], composers: list[int], full: Tensor,
                    clock: Clock, total_us: Tensor) -> Tensor:
        """Summed NLL (n,) float64 of the scored targets of ``windows[j]`` (rows, scored) of the
        piece ``full`` (1, L) with composer ``composers[j]`` (an index into ``self.composers``)."""
        n, width = len(windows), max(len(rows) for rows, _ in windows)
        batch = torch.full((n, width), self.vocab.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros(n, width - 1, dtype=torch.bool, device=self.device)
        feats = {k: torch.zeros(n, width, dtype=torch.long, device=self.device) for k in ("ticks", "micros", "chord")}
        for j, (rows, scored) in enumerate(windows):
            r = torch.as_tensor(rows, device=self.device)
            batch[j, : len(r)] = full[0, r]
            mask[j, : len(r) - 1] = torch.as_tensor(scored[1:], device=self.device)
            for k, v in feats.items():
                v[j, : len(r)] = getattr(clock, k)[0, r]
        batch[:, 0] = self.composer_ids.to(self.device)[composers]  # the composer token being tried
        step_clock = Clock.of_inputs(feats)
        nll = self.model(batch[:, :-1], step_clock, total_us.expand(n), targets=batch[:, 1:])
        return (nll.double() * mask).sum(1).cpu()


def write_posteriors(results: Sequence[ComposerPosterior], path: str | Path) -> Path:
    """Write every piece's posterior to ``path``: ``.csv`` (a row per piece, a column per
    composer) or ``.json`` (a list of objects)."""
    path = Path(path)
    if not results:
        raise UserError(f"{path}: no scored pieces to write")
    composers = results[0].composers
    suffix = path.suffix.lower()
    if suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["source", "tokens", "top", *composers])
        for r in results:
            writer.writerow([r.source, r.tokens, r.ranking()[0][0], *(f"{p:.6g}" for p in r.posterior)])
        text = buf.getvalue()
    elif suffix == ".json":
        import json

        text = json.dumps([{"source": r.source, "tokens": r.tokens, "truncated": r.truncated,
                            "posterior": dict(zip(composers, map(float, r.posterior))),
                            "log_likelihood": dict(zip(composers, map(float, r.log_likelihood)))}
                           for r in results], indent=1) + "\n"
    else:
        raise UserError(f"{path}: write the scores to a .csv or .json file")
    return write_output(path, lambda tmp: tmp.write_text(text))


__all__ = ["ComposerPosterior", "ComposerScorer", "MIDI_SUFFIXES", "write_posteriors"]
