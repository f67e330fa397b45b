"""Composer/style labels: one canonical spelling per composer, whatever the source calls it.

A label becomes a composer token of the tokenizer, so it must be letters, digits and ``_`` and the
same composer must get the same label in every dataset (the shared classical corpus writes
``haendel`` and ``mendelsonn``, music21 writes ``handel`` and ``cpebach``). ``normalize_label``
splits camelCase folder names (``essenFolksong`` -> ``essen_folksong``), transliterates accents
(``Dvořák`` -> ``dvorak``), lower-cases, joins words with ``_`` and applies ``ALIASES``. Labels
that only say "no composer given" map to ``None``: such pieces get the unknown-composer token.
"""

from __future__ import annotations

import re

from unidecode import unidecode

#: Source spelling -> canonical label (English spellings, as in musetok's default composer list).
ALIASES: dict[str, str] = {
    "haendel": "handel",
    "mendelsonn": "mendelssohn",
    "buxehude": "buxtehude",
    "skriabin": "scriabin",
    "rachmaninov": "rachmaninoff",
    "cpe_bach": "cpebach",
    "saint": "saint_saens",
    "vaughan": "vaughan_williams",
    "mussorgski": "mussorgsky",
    "rimsky": "rimsky_korsakov",
    # music21 folder schumann_robert; the classical corpus writes schumann (Clara stays apart)
    "schumann_robert": "schumann",
}

#: Labels meaning "composer not given": pieces carrying them get the unknown-composer token.
UNKNOWN_LABELS: frozenset[str] = frozenset({"", "unknown", "unknown_artist", "unknown_composer", "anonymous", "anon"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_label(raw: str | None, aliases: dict[str, str] | None = None) -> str | None:
    """Canonical label for ``raw`` (``"Essen Folksong"``, ``"essenFolksong"`` -> ``"essen_folksong"``).

    Returns ``None`` for an empty or "unknown" label. ``aliases`` defaults to ``ALIASES``.
    """
    if raw is None:
        return None
    words = _CAMEL.sub("_", unidecode(raw.strip()))
    label = _NON_WORD.sub("_", words.lower()).strip("_")
    label = (ALIASES if aliases is None else aliases).get(label, label)
    return None if label in UNKNOWN_LABELS else label


def label_from_prefix(stem: str, separator: str = "-") -> str | None:
    """The composer named by a file-name prefix: ``"bach-invention_1"`` -> ``"bach"``.

    A stem without ``separator`` has no prefix, hence no label.
    """
    if separator not in stem:
        return None
    return normalize_label(stem.split(separator, 1)[0])
