"""Style mixing: ``--composer "bach:0.7,chopin:0.3"`` -> weights over a model's composers.

A mix names composers of the model, each with an optional positive weight (default 1); weights
are normalised to sum to 1, so ``"bach,chopin"`` is half and half and ``"bach"`` alone is plain
Bach. The model embeds the header's composer token as the weighted sum of the composer
embeddings (``MuseModel.token_embedding``); the header keeps the token of the heaviest composer
(``ComposerMix.dominant``), so the written token sequence stays in the vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from musetok.config import normalize_composer

from muse.composers.names import resolve_composer
from muse.core.errors import UserError
from muse.core.ranges import quote

MAX_MIX_CHARS = 1000  # a style mix is a few names and weights
MAX_WEIGHT = 1000.0  # only the ratios of the weights matter


@dataclass(frozen=True)
class ComposerMix:
    """Composers ``names`` with their ``weights`` (positive, summing to 1), in the order given."""

    names: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def dominant(self) -> str:
        """The composer with the largest weight (the first one on a tie)."""
        return self.names[int(np.argmax(self.weights))]

    @property
    def is_blend(self) -> bool:
        """True when more than one composer takes part."""
        return len(self.names) > 1

    def weights_over(self, composers: Sequence[str]) -> np.ndarray:
        """Weights (len(composers),) float32 over ``composers`` (0 for those not in the mix)."""
        out = np.zeros(len(composers), np.float32)
        for name, weight in zip(self.names, self.weights):
            out[list(composers).index(name)] = weight
        return out

    def __str__(self) -> str:
        return ",".join(f"{n}:{w:.3g}" for n, w in zip(self.names, self.weights))


def _known(composers: Sequence[str]) -> str:
    return ", ".join(composers) or "(none)"


def parse_composer_mix(text: str, composers: Sequence[str]) -> ComposerMix:
    """Parse ``"name[:weight],name[:weight],..."`` against the model's ``composers``.

    Names are normalised as the tokenizer does (``" Bach"`` -> ``bach``); a display name or another
    spelling of a label is accepted too (``"J. S. Bach"``, ``"Dvořák"``: ``muse.composers.names``). A
    ``UserError`` names the problem: an unknown composer (listing the known ones), a weight that
    is not a positive number, a composer given twice, or an empty mix.
    """
    if len(text) > MAX_MIX_CHARS:
        raise UserError(f"composer {quote(text)} is too long (at most {MAX_MIX_CHARS} characters)")
    names: list[str] = []
    weights: list[float] = []
    for part in text.split(","):
        if not part.strip():
            continue
        raw, sep, weight_text = part.partition(":")
        name = normalize_composer(raw)
        if name not in composers:  # a display name or another spelling: "J. S. Bach", "Dvořák"
            name = resolve_composer(raw.strip(), composers) or name
        if name not in composers:
            raise UserError(f"unknown composer {quote(name)} in {quote(text)}; known composers: {_known(composers)}")
        if name in names:
            raise UserError(f"composer {name!r} appears twice in {quote(text)}")
        try:
            weight = float(weight_text) if sep else 1.0
        except ValueError:
            raise UserError(f"weight {quote(weight_text.strip())} of {name!r} in {quote(text)} "
                            "is not a number") from None
        if not (math.isfinite(weight) and 0 < weight <= MAX_WEIGHT):
            raise UserError(f"weight of {name!r} in {quote(text)} must be a positive number up to {MAX_WEIGHT:g}, "
                            f"not {quote(weight_text.strip())}")
        names.append(name)
        weights.append(weight)
    if not names:
        raise UserError(f"no composer in {quote(text)}; known composers: {_known(composers)}")
    top = max(weights)  # only the ratios matter: scale first, so that huge weights cannot overflow the sum
    scaled = [w / top for w in weights]
    total = math.fsum(scaled)
    return ComposerMix(tuple(names), tuple(w / total for w in scaled))


__all__ = ["ComposerMix", "parse_composer_mix"]
