"""Generation manifests: one JSON file per generated piece, enough to make that piece again exactly.

    manifest = make_manifest(gen, piece, "compose", settings, timings={"generate_seconds": 12.5})
    write_manifest(manifest, "piece.json")
    again = replay(gen, read_manifest("piece.json"))   # the same tokens, hence the same MIDI
    # or: muse generate --from-manifest piece.json -o again.mid

A manifest holds the model's hash (``muse.saved_model.model_hash``), the facade call (``mode``:
``compose`` -> ``MuseGenerator.generate``, ``continue`` -> ``continue_midi``, its keyword
``settings``), the piece's own ``seed`` and, for a continuation, the prime's tokens (header
included). Every piece of a batch draws from its own seed (``muse.core.sampling.row_seeds``), so
the piece is made again with ``n=1`` and that seed; the SHA-256 of its tokens in ``result`` checks
it. ``variation``, ``batch``, ``timings`` and ``created`` are records, not inputs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from muse.core.atomic import write_json
from muse.core.errors import UserError
from muse.saved_model import model_hash

if TYPE_CHECKING:
    from muse.generate import MuseGenerator, Piece

log = logging.getLogger(__name__)

FORMAT, VERSION = "musebox-manifest", 1
Mode = Literal["compose", "continue"]
_METHODS: dict[str, str] = {"compose": "generate", "continue": "continue_midi"}
_NOT_SETTINGS = {"self", "midi", "seed", "n", "callback", "cancel"}  # given by the replay, or not data
# Settings the facade gained after manifests were first written, with the value that makes a manifest that
# lacks them again as it was made (before the rest limit, instruments could rest for any time; before the
# share floor, any instrument could take every note; before key candidates, the first piece was kept
# whatever its mode; before the shortest note, a note could last a tick). A manifest made now records them
# always (None: the facade's default).
_ADDED_SETTINGS: dict[str, Any] = {"max_instrument_rest": 0, "min_instrument_share": 0, "key_candidates": 1,
                                   "min_note_seconds": 0}


class ManifestError(UserError):
    """A manifest file is unreadable, malformed, or made with another model."""


@dataclass(frozen=True)
class Manifest:
    """What made one piece (see the module docstring); ``prime``: token ids of a continuation's prime."""

    mode: Mode
    model_hash: str
    seed: int
    settings: dict[str, Any]
    result: dict[str, Any]
    prime: list[int] | None = None
    variation: int = 1
    batch: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    created: str = ""
    musebox: str = ""
    format: str = FORMAT
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tokens_digest(ids: np.ndarray | list[int]) -> str:
    """SHA-256 (hex) of a token sequence, as a manifest's ``result`` records it."""
    return hashlib.sha256(np.asarray(ids, dtype="<i8").tobytes()).hexdigest()


def settings_for(mode: Mode) -> set[str]:
    """The keyword arguments a manifest's ``settings`` may hold: those of the facade method of ``mode``."""
    from muse.generate import MuseGenerator

    method = getattr(MuseGenerator, _METHODS[mode])
    return set(inspect.signature(method).parameters) - _NOT_SETTINGS


def make_manifest(generator: MuseGenerator, piece: Piece, mode: Mode, settings: dict[str, Any], *,
                  prime: np.ndarray | list[int] | None = None, variation: int = 1,
                  batch: dict[str, Any] | None = None, timings: dict[str, float] | None = None,
                  model_digest: str | None = None) -> Manifest:
    """The manifest of ``piece``, made by ``generator``'s facade method for ``mode`` with the keyword
    ``settings`` (a continuation: ``prime``, the token ids the model was primed with). ``model_digest``:
    the model's hash when the caller has it already (hashing reads every weight)."""
    if mode not in _METHODS:
        raise ValueError(f"mode must be one of {sorted(_METHODS)}, not {mode!r}")
    if (mode == "continue") != (prime is not None):
        raise ValueError("a continuation's manifest needs its prime, and only a continuation has one")
    unknown = set(settings) - settings_for(mode)
    if unknown:
        raise ValueError(f"not settings of {_METHODS[mode]}: {sorted(unknown)}")
    return Manifest(
        mode=mode, model_hash=model_digest or model_hash(generator.model.state_dict()), seed=int(piece.seed),
        settings=_plain({**dict.fromkeys(_ADDED_SETTINGS), **settings}),
        result={"tokens_sha256": tokens_digest(piece.ids), "tokens": int(len(piece.ids)), "notes": int(piece.n_notes),
                "seconds": round(float(piece.seconds), 3)},
        prime=None if prime is None else [int(t) for t in prime], variation=int(variation), batch=_plain(batch or {}),
        timings={k: round(float(v), 3) for k, v in (timings or {}).items()},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), musebox=_version())


def write_manifest(manifest: Manifest, path: str | Path) -> Path:
    """Write ``manifest`` as JSON to ``path`` (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_json(path, manifest.to_dict())
    except OSError as err:
        raise ManifestError(f"{path}: cannot write the manifest ({err.strerror or err})") from err
    return path


def read_manifest(path: str | Path) -> Manifest:
    """A manifest file, checked: a problem is a ``ManifestError`` naming the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ManifestError(f"{path}: cannot read the manifest ({err.strerror or err})") from err
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}: not a JSON file ({err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a musebox generation manifest (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise ManifestError(f"{path}: manifest version {data.get('version')!r}; this musebox reads version {VERSION}")
    fields = set(Manifest.__dataclass_fields__)
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ManifestError(f"{path}: unknown manifest field {unknown[0]!r}")
    for name, kind in (("mode", str), ("model_hash", str), ("seed", int), ("settings", dict), ("result", dict)):
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise ManifestError(f"{path}: the manifest's {name!r} is missing or not a {kind.__name__}")
    if data["mode"] not in _METHODS:
        raise ManifestError(f"{path}: mode {data['mode']!r}? expected one of {', '.join(_METHODS)}")
    unknown = sorted(set(data["settings"]) - settings_for(data["mode"]))
    if unknown:
        raise ManifestError(f"{path}: {unknown[0]!r} is not a setting of {data['mode']}")
    prime = data.get("prime")
    if (data["mode"] == "continue") != isinstance(prime, list):
        raise ManifestError(f"{path}: a continue manifest needs its prime's tokens (and only one has them)")
    return Manifest(**data)


def replay(generator: MuseGenerator, manifest: Manifest, *, name: str = "the manifest",
           callback=None) -> tuple[Piece, bool]:  # noqa: ANN001
    """Make the manifest's piece again with ``generator``; returns it and whether its tokens match
    the manifest's exactly. A model other than the manifest's is a ``ManifestError``."""
    found = model_hash(generator.model.state_dict())
    if found != manifest.model_hash:
        raise ManifestError(f"{name} was made with the model of hash {manifest.model_hash}; this model's hash is "
                            f"{found} (pass the same model with --model)")
    options = dict(_ADDED_SETTINGS, **manifest.settings, seed=manifest.seed, n=1, callback=callback)
    if manifest.mode == "compose":
        piece = generator.generate(**options)[0]
    else:
        prime = generator.tokenizer.decode(np.asarray(manifest.prime, np.int64)).score
        piece = generator.continue_midi(prime, **options)[0]
    same = tokens_digest(piece.ids) == manifest.result.get("tokens_sha256")
    if not same:
        log.warning("%s: the piece made again differs from the one it records (tokens %s, expected %s)", name,
                    tokens_digest(piece.ids)[:12], str(manifest.result.get("tokens_sha256"))[:12])
    return piece, same


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers (what JSON round-trips)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("musebox")
    except PackageNotFoundError:
        return ""


__all__ = ["Manifest", "ManifestError", "make_manifest", "read_manifest", "replay", "settings_for", "tokens_digest",
           "write_manifest"]
