"""What a ``--resume`` may change: compare the settings a run recorded with the ones given now.

A resumed run must be the same run: a different model, data set, seed or length would silently
mix two experiments (and overwrite what the run folder says it is). ``check_same_settings``
flattens both sides to dotted keys (``model.transformer.width``), and refuses any difference with
one message listing them all, unless the key is in ``safe`` and the user named it with
``--override KEY`` (e.g. ``train.steps``: more steps, which extends the schedule).

Keys that only one side has are not compared: a run recorded by an older version lacks the
settings added since, which then take their defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from muse.core.errors import UserError
from muse.core.ranges import quote


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}`` (lists and tuples are values)."""
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: list(data) if isinstance(data, tuple) else data}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (recorded, current) for every key both sides have with different values."""
    old, new = flatten(recorded), flatten(current)
    return {k: (old[k], new[k]) for k in old if k in new and not _same(old[k], new[k])}


def check_same_settings(recorded: Mapping[str, Any], current: Mapping[str, Any], *, where: str,
                        overrides: Iterable[str] = (), safe: Iterable[str] = (), hint: str = "") -> dict[str, Any]:
    """Refuse a resume whose settings differ from the recorded ones (a ``UserError`` listing every
    difference as ``key: recorded -> given``), except differences in ``overrides`` that are also in
    ``safe``. Returns the overridden keys with their new values."""
    safe, overrides = set(safe), list(overrides)
    unsafe = [k for k in overrides if k not in safe]
    if unsafe:
        allowed = ", ".join(sorted(safe)) or "none"
        raise UserError(f"--override {quote(unsafe[0])}: not a setting a resumed run may change "
                        f"(allowed: {allowed}); start a new run for it")
    diff = differences(recorded, current)
    refused = {k: v for k, v in diff.items() if k not in overrides}
    if refused:
        listed = "; ".join(f"{k}: {quote(a)} -> {quote(b)}" for k, (a, b) in sorted(refused.items()))
        can = sorted(k for k in refused if k in safe)
        advice = f" (or pass --override {' --override '.join(can)} to change {'it' if len(can) == 1 else 'them'})" \
            if can else ""
        raise UserError(f"{where}: --resume with other settings than the run was started with: {listed}. "
                        f"Resume with the run's settings{advice}{hint}")
    return {k: v[1] for k, v in diff.items()}


__all__ = ["check_same_settings", "differences", "flatten"]
