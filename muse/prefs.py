"""Preference pairs: "for this prompt, completion A is better than completion B", as JSON lines.

One line per pair (``prefs.jsonl``, written by ``muse feedback export --pairs`` and by the
preference benchmark, read by ``muse tune`` and ``muse critic reward``)::

    {"prompt": [ids], "chosen": [ids], "rejected": [ids], "source": "choice", "settings": {...},
     "chosen_id": "...", "rejected_id": "...", "model_hash": "..."}

``prompt`` holds the ids given to the model (the header: composer, instruments, ``start``; or the
header and a prime), ``chosen`` / ``rejected`` the ids it generated after them.

From the demo's feedback (``muse feedback export``'s events, ``muse.feedback``):

- an A/B choice is one pair (the chosen over the rejected sample); a choice between samples of
  different prompts is skipped (DPO compares two completions of one prompt);
- thumbs: the samples of one prompt (same prompt ids) are split by their net rating (the sum of
  their thumbs, several listeners possibly); every sample rated up is preferred to every sample
  rated down. A sample rated up with no sample of its prompt rated down gives no pair (the store
  keeps rated samples only, so there is nothing known to be worse). Each (chosen, rejected)
  pair from thumbs appears once; repeated A/B choices are kept as repeated votes.

``read_prefs`` accepts either file: pairs, or the events ``muse feedback export`` writes (turned
into pairs as above).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musetok.vocab import Vocab

from muse.core.atomic import atomic_path
from muse.core.errors import UserError

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class PreferencePair:
    """Two completions of one ``prompt`` (token ids), ``chosen`` preferred to ``rejected``."""

    prompt: tuple[int, ...]
    chosen: tuple[int, ...]
    rejected: tuple[int, ...]
    source: str = "choice"  # choice | rating | a benchmark rater's name
    settings: Mapping[str, Any] = field(default_factory=dict)
    chosen_id: str = ""
    rejected_id: str = ""
    model_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": list(self.prompt), "chosen": list(self.chosen), "rejected": list(self.rejected),
                "source": self.source, "settings": dict(self.settings), "chosen_id": self.chosen_id,
                "rejected_id": self.rejected_id, "model_hash": self.model_hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreferencePair:
        return cls(prompt=_ids(data["prompt"]), chosen=_ids(data["chosen"]), rejected=_ids(data["rejected"]),
                   source=str(data.get("source", "choice")), settings=dict(data.get("settings") or {}),
                   chosen_id=str(data.get("chosen_id", "")), rejected_id=str(data.get("rejected_id", "")),
                   model_hash=str(data.get("model_hash", "")))


@dataclass(frozen=True)
class ExportSummary:
    """What ``pairs_from_events`` made of a feedback export."""

    pairs: tuple[PreferencePair, ...]
    from_choices: int
    from_ratings: int
    skipped_choices: int  # A/B choices between samples of different prompts

    def describe(self) -> str:
        skipped = f", {self.skipped_choices} choices across prompts skipped" if self.skipped_choices else ""
        return (f"{len(self.pairs)} pairs ({self.from_choices} from A/B choices, {self.from_ratings} from "
                f"thumbs{skipped})")


def _ids(values: Any) -> tuple[int, ...]:
    if not isinstance(values, (list, tuple)):
        raise TypeError("token ids must be a list of integers")
    return tuple(int(v) for v in values)


def split_sample(sample: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(prompt, completion) ids of a feedback sample: its first ``prime_tokens`` ids were given
    (0 or missing: the header, through ``start``), the rest generated (trailing padding dropped)."""
    tokens = list(_ids(sample["tokens"]))
    while tokens and tokens[-1] == Vocab.pad_id:
        tokens.pop()
    given = int(sample.get("prime_tokens") or 0)
    if given <= 0:
        given = tokens.index(Vocab.start_id) + 1 if Vocab.start_id in tokens else 0
    return tuple(tokens[:given]), tuple(tokens[given:])


def _settings(sample: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dict(sample.get("settings") or {}).items() if k != "variation"}


def _pair(chosen: Mapping[str, Any], rejected: Mapping[str, Any], source: str) -> PreferencePair | None:
    prompt, good = split_sample(chosen)
    other, bad = split_sample(rejected)
    if prompt != other or good == bad:
        return None
    return PreferencePair(prompt, good, bad, source, _settings(chosen), str(chosen["id"]), str(rejected["id"]),
                          str(chosen.get("model_hash", "")))


def pairs_from_events(events: Iterable[Mapping[str, Any]]) -> ExportSummary:
    """Preference pairs from feedback events (``FeedbackStore.events()`` / ``muse feedback export``
    lines), by the rules of the module docstring: A/B choices first, in order, then thumbs."""
    pairs: list[PreferencePair] = []
    skipped = 0
    net: dict[str, int] = defaultdict(int)
    samples: dict[str, Mapping[str, Any]] = {}
    for event in events:
        kind = event.get("type")
        if kind == "preference":
            pair = _pair(event["chosen"], event["rejected"], "choice")
            if pair is None:
                skipped += 1
            else:
                pairs.append(pair)
        elif kind == "rating":
            sample = event["sample"]
            samples[str(sample["id"])] = sample
            net[str(sample["id"])] += int(event["rating"])
        else:
            raise ValueError(f"unknown feedback event type {kind!r}")
    n_choices = len(pairs)
    by_prompt: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for sid in sorted(samples):
        by_prompt[split_sample(samples[sid])[0]].append(sid)
    for ids in by_prompt.values():
        liked = [s for s in ids if net[s] > 0]
        disliked = [s for s in ids if net[s] < 0]
        for good in liked:
            for bad in disliked:
                pair = _pair(samples[good], samples[bad], "rating")
                if pair is not None:
                    pairs.append(pair)
    if skipped:
        log.warning("skipped %d A/B choices between samples of different prompts", skipped)
    return ExportSummary(tuple(pairs), n_choices, len(pairs) - n_choices, skipped)


def read_prefs(path: str | Path) -> list[PreferencePair]:
    """The pairs of a JSON-lines file of pairs, or of feedback events (turned into pairs); a
    ``UserError`` for a missing, unreadable or empty file, naming the line at fault."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such preferences file (write one with `muse feedback export --pairs`)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from err
    pairs: list[PreferencePair] = []
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if "type" in record:
                events.append(record)
            else:
                pairs.append(PreferencePair.from_dict(record))
        except (ValueError, KeyError, TypeError) as err:
            what = f"missing {err}" if isinstance(err, KeyError) else str(err).splitlines()[0]
            raise UserError(f"{path}:{number}: not a preference pair or feedback event ({what})") from err
    if events:
        try:
            pairs.extend(pairs_from_events(events).pairs)
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path}: malformed feedback events ({err})") from err
    if not pairs:
        raise UserError(f"{path}: no preference pairs in this file (thumbs need a sample rated up and one of "
                        "the same prompt rated down; an A/B choice needs two samples of one prompt)")
    return pairs


def write_prefs(pairs: Sequence[PreferencePair], path: str | Path) -> int:
    """Write ``pairs`` to ``path`` as JSON lines (atomically); returns the number written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                for pair in pairs:
                    fh.write(json.dumps(pair.to_dict()) + "\n")
    except OSError as err:
        raise UserError(f"{path}: cannot write ({err.strerror or err})") from err
    return len(pairs)


def check_vocabulary(pairs: Sequence[PreferencePair], vocab: Vocab, where: str) -> None:
    """Refuse pairs a model with ``vocab`` cannot score: ids outside it, a prompt without a header
    (``start``), or an empty completion."""
    for i, pair in enumerate(pairs, start=1):
        ids = pair.prompt + pair.chosen + pair.rejected
        if any(t < 0 or t >= vocab.size for t in ids):
            bad = next(t for t in ids if t < 0 or t >= vocab.size)
            raise UserError(f"{where}: pair {i} has token id {bad}, outside the model's vocabulary of {vocab.size} "
                            "tokens (were these samples made by a model with another vocabulary?)")
        if vocab.start_id not in pair.prompt:
            raise UserError(f"{where}: pair {i}: the prompt has no header (composer, instruments, start)")
        if not pair.chosen or not pair.rejected:
            raise UserError(f"{where}: pair {i}: an empty completion")


__all__ = ["ExportSummary", "PreferencePair", "check_vocabulary", "pairs_from_events", "read_prefs", "split_sample",
           "write_prefs"]
