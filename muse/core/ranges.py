"""Range checks for numbers and devices that users pass (CLI options, demo fields, facade arguments).

Every check raises a ``UserError`` with one line that names the option, says what is allowed and
quotes (at most ~80 characters of) what was given, so that ``nan``, ``inf``, ``1e308`` or ``10**20``
never reach numpy, torch or an allocation. The ``muse`` and ``jukebox`` CLIs print that line and exit
with code 2.

    seconds = check_number(args.seconds, "--seconds", low=0, high=MAX_GENERATE_SECONDS, low_open=True)
    seed = check_seed(args.seed)            # None stays None (a fresh random seed)
    device = check_device("cuda:7")         # UserError when this machine has no such device
"""

from __future__ import annotations

import math
from typing import Any

from muse.core.errors import UserError

MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed and numpy accept without overflow
MAX_GENERATE_SECONDS = 3600.0  # one request composes at most an hour of music
MAX_PIECES = 64  # pieces one request may ask for at once (they are sampled as one batch)
MAX_TEMPERATURE = 100.0
QUOTE_CHARS = 80  # how much of a rejected value an error message repeats


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``value`` for an error message (strings quoted), cut to ``limit`` characters with the original
    length, so that a huge input is never echoed back whole."""
    text = value if isinstance(value, str) else repr(value)
    shown = text[:limit]
    shown = repr(shown) if isinstance(value, str) else shown
    return shown if len(text) <= limit else f"{shown}... ({len(text):,} characters)"


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False, unit: str = "") -> Any:
    """``value`` as a float (an int with ``integer``) when finite and within [low, high] (an open end
    with ``low_open`` / ``high_open``), else a ``UserError`` saying what is allowed."""
    allowed = _allowed(low, high, low_open, high_open, integer, unit)
    if isinstance(value, bool):
        raise UserError(f"{name} must be {allowed}, not {quote(value)}")
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{name} must be {allowed}, not {quote(value)}") from None
    if isinstance(number, float):
        if not math.isfinite(number):
            raise UserError(f"{name} must be {allowed}, not {quote(value)}")
        if integer:
            if number != int(number):
                raise UserError(f"{name} must be {allowed}, not {quote(value)}")
            number = int(number)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        raise UserError(f"{name} must be {allowed}, not {quote(value)}")
    return number


def _allowed(low: float | None, high: float | None, low_open: bool, high_open: bool, integer: bool, unit: str) -> str:
    kind = "a whole number" if integer else "a number"
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}{unit}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}{unit}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high:g}{unit}"
    return f"a finite {'whole ' if integer else ''}number"


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """A seed in [0, 2**63 - 1] (None stays None: a fresh random seed)."""
    if seed is None:
        return None
    try:
        return int(check_number(seed, name, low=0, high=MAX_SEED, integer=True))
    except UserError:
        raise UserError(f"{name} must be a whole number from 0 to {MAX_SEED} (2**63 - 1), not {quote(seed)}") from None


def check_sampling(temperature: Any, top_k: Any, top_p: Any, min_p: Any) -> tuple[float, int, float, float]:
    """Temperature in (0, 100], top-k a whole number >= 0, top-p in (0, 1], min-p in [0, 1).

    Temperature 0 is refused with a hint: greedy decoding picks the likeliest token every time,
    which for this model is mostly waits, so it writes pieces with few or no notes."""
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature == 0:
        raise UserError("temperature 0 (greedy decoding) is not supported: the likeliest token is nearly always "
                        "a wait, so it writes a piece with few or no notes; for repeatable music keep a "
                        "temperature such as 1.0 (or 0.5 for a safer piece) and fix --seed")
    return (check_number(temperature, "temperature", low=0, high=MAX_TEMPERATURE, low_open=True),
            check_number(top_k, "top-k", low=0, high=10**6, integer=True),
            check_number(top_p, "top-p", low=0, high=1, low_open=True),
            check_number(min_p, "min-p", low=0, high=1, high_open=True))


def check_device(device: Any, name: str = "--device") -> Any:
    """A ``torch.device`` that exists on this machine (``cpu``, ``cuda``, ``cuda:N`` with N below the
    number of GPUs, ``mps`` where available), else a ``UserError`` saying what this machine has."""
    import torch

    text = str(device)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"{name}: unknown device {quote(text)} (use cpu, cuda or cuda:N)") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"{name} {quote(text)}: this machine has no CUDA device (use --device cpu)")
        if dev.index is not None and dev.index >= count:
            raise UserError(f"{name} {quote(text)}: this machine has {count} CUDA device(s): "
                            f"use cuda:0 to cuda:{count - 1}")
        return dev
    if dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(f"{name} {quote(text)}: MPS is not available on this machine (use --device cpu)")
        return dev
    raise UserError(f"{name}: unsupported device {quote(text)} (use cpu, cuda or cuda:N)")


__all__ = ["MAX_GENERATE_SECONDS", "MAX_PIECES", "MAX_SEED", "MAX_TEMPERATURE", "QUOTE_CHARS", "check_device",
           "check_number", "check_sampling", "check_seed", "quote"]
