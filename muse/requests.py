"""What a call asks of every piece beyond the header and the sampling (``MuseGenerator.generate`` /
``continue_midi``, the CLI and the demo alike): that every chosen instrument keeps playing (the longest
rest of any of them, and the least share of the notes each one keeps), a held tempo and a key (for a key
with a mode, how many candidates are drawn per piece to find one written in that mode).

``check_requests`` turns the user's values into a ``Requests`` or a one-line ``UserError`` naming the
argument and what it allows; ``muse.grammar.MusicGrammar`` enforces the instrument rules while sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

from musetok.vocab import Vocab

from muse.core.errors import UserError
from muse.core.ranges import check_number
from muse.note_limits import check_override
from muse.tempo import tempo_token
from muse.tonality import KeyRequest, parse_key

# The longest a chosen instrument may go without a new note (seconds). Asked for piano, strings and harp in
# chopin's style, the bundled model left the harp out of 19 of 20 pieces of 20 s; with the rule every piece has
# it, the least-played instrument at 2.9% of the notes at 4 s against 1.2% at 8 s (docs/MODEL_CARD.md).
DEFAULT_MAX_INSTRUMENT_REST = 4.0
MIN_INSTRUMENT_REST = 0.5  # shorter rests than this would leave some notes no room to be written
# The least share of the generated notes each chosen instrument keeps. The rest rule alone makes every
# instrument play but lets one line take nearly all the notes: each of piano, strings and harp had 5% of the
# notes in 1 of 20 stage-4 pieces (docs/MODEL_CARD.md). The grammar never enforces more than half of an equal
# share (``muse.grammar``), so many instruments can still be asked for.
DEFAULT_MIN_INSTRUMENT_SHARE = 0.08
MAX_INSTRUMENT_SHARE = 0.5
# Candidates drawn per piece when the requested key names a mode ("D minor"): transposition keeps the mode the
# model wrote in, so the first candidate written in the requested mode is kept (the first one if none is).
DEFAULT_KEY_CANDIDATES = 3
MAX_KEY_CANDIDATES = 8


@dataclass(frozen=True)
class Requests:
    """Checked requests: the longest ``rest`` of an instrument (seconds, None: no limit), the least ``share``
    of the notes each instrument keeps (None: no floor), the ``tempo`` token to hold (none: the model's
    tempo), the ``key`` (None: as written) and the ``key_candidates`` drawn per piece to find one in the
    key's mode (1: keep the first)."""

    rest: float | None = None
    share: float | None = None
    tempo: tuple[int, ...] = ()
    key: KeyRequest | None = None
    key_candidates: int = 1


def check_requests(vocab: Vocab, max_instrument_rest: float | str | None = None,
                   min_instrument_share: float | str | None = None, bpm: float | str | None = None,
                   key: str | None = None, key_candidates: int | str | None = None) -> Requests:
    """The requests checked against ``vocab``: None takes the default (``DEFAULT_MAX_INSTRUMENT_REST``,
    ``DEFAULT_MIN_INSTRUMENT_SHARE``, the model's tempo, the key as written, ``DEFAULT_KEY_CANDIDATES`` for a
    key with a mode and 1 otherwise), 0 turns a rule off."""
    rest = check_override(max_instrument_rest, "max_instrument_rest")
    if rest is None:
        rest = DEFAULT_MAX_INSTRUMENT_REST
    elif 0 < rest < MIN_INSTRUMENT_REST:
        raise UserError(f"max_instrument_rest must be at least {MIN_INSTRUMENT_REST:g} seconds, or 0 for no "
                        f"limit; not {rest:g}")
    share = DEFAULT_MIN_INSTRUMENT_SHARE if min_instrument_share is None else \
        check_number(min_instrument_share, "min_instrument_share (a share of the notes; 0 = no floor)",
                     low=0, high=MAX_INSTRUMENT_SHARE)
    request = parse_key(key)
    if key_candidates is not None:
        tries = check_number(key_candidates, "key_candidates", low=1, high=MAX_KEY_CANDIDATES, integer=True)
    else:  # candidates only help a key with a mode
        tries = DEFAULT_KEY_CANDIDATES if request is not None and request.minor is not None else 1
    return Requests(rest or None, share or None, () if bpm is None else (tempo_token(vocab, bpm),), request, tries)


__all__ = ["DEFAULT_KEY_CANDIDATES", "DEFAULT_MAX_INSTRUMENT_REST", "DEFAULT_MIN_INSTRUMENT_SHARE",
           "MAX_INSTRUMENT_SHARE", "MAX_KEY_CANDIDATES", "MIN_INSTRUMENT_REST", "Requests", "check_requests"]
