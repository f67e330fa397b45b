"""What one request to the demo may ask for: lengths, variations, uploads, request size, text
fields, queue and concurrency. This is the one place the demo's limits are set.

The sliders of the page stop at these values, and every handler checks them again on the server
(an API client can send anything). A request over a limit fails with a ``LimitError`` whose
message the page shows as it is; the request and text limits are enforced before Gradio parses a
request (``demos.request_limits``). ``DemoLimits.describe()`` is the summary the page shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from muse.core.errors import UserError
from muse.core.ranges import quote


class LimitError(UserError):
    """A request asks for more than the demo allows (too long, too many, too large)."""


@dataclass(frozen=True)
class DemoLimits:
    """Caps of the demo. Lengths in seconds of music, sizes in bytes.

    ``concurrency`` generation jobs run at once (the rest wait in a queue of at most
    ``queue_size`` requests); uploads previews, feedback and the style map never wait behind them.
    ``time_limit`` stops a job that runs longer (seconds of wall time; its music so far is shown).
    """

    min_seconds: float = 1.0
    max_seconds: float = 60.0
    max_continue_seconds: float = 30.0
    max_variations: int = 4
    max_rerank: int = 4  # candidates drawn per variation when reranking by composer
    max_upload_bytes: int = 2 * 2**20
    max_upload_seconds: float = 20 * 60.0
    max_prime_seconds: float = 60.0
    max_infill_seconds: float = 30.0  # the longest span the Edit tab regenerates
    max_accompany_seconds: float = 60.0  # the longest piece (its kept tracks) the Edit tab accompanies
    max_clip_seconds: float = 10.0  # the longest audio clip the Audio tab's codec reconstructs
    min_audio_seconds: float = 0.5  # the shortest raw audio the Audio tab samples
    max_audio_seconds: float = 4.0  # the longest (about 12 s of a 2-core CPU per second with the bundled models)
    queue_size: int = 16
    concurrency: int = 2
    time_limit: float = 600.0
    max_request_bytes: int = 64 * 2**10  # a request body other than an upload (an upload may add max_upload_bytes)
    max_text_chars: int = 1000  # any string a request sends: composer, blend, instruments, file paths
    max_name_chars: int = 200  # the name of an uploaded file

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= min(self.max_seconds, self.max_continue_seconds):
            raise ValueError("limits: need 0 < min_seconds <= max_seconds and max_continue_seconds")
        if not 0 < self.min_audio_seconds <= self.max_audio_seconds:
            raise ValueError("limits: need 0 < min_audio_seconds <= max_audio_seconds")
        for name in ("max_variations", "max_rerank", "max_upload_bytes", "queue_size", "concurrency",
                     "max_request_bytes",
                     "max_text_chars", "max_name_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"limits: {name} must be at least 1")
        if min(self.max_upload_seconds, self.max_prime_seconds, self.max_infill_seconds, self.max_accompany_seconds,
               self.max_clip_seconds, self.max_audio_seconds, self.time_limit) <= 0:
            raise ValueError("limits: max_upload_seconds, max_prime_seconds, max_infill_seconds, "
                             "max_accompany_seconds, max_clip_seconds, max_audio_seconds and time_limit must be "
                             "positive")

    def describe(self) -> str:
        """One line for the page: every limit a user can run into."""
        return (f"Limits: pieces of {self.min_seconds:g} to {self.max_seconds:g} s, continuations up to "
                f"{self.max_continue_seconds:g} s, up to {self.max_variations} variations "
                f"(each the best of up to {self.max_rerank}), MIDI uploads up to "
                f"{self.max_upload_bytes / 2**20:g} MB and {self.max_upload_seconds / 60:g} minutes (primes up to "
                f"{self.max_prime_seconds:g} s), edits of spans up to {self.max_infill_seconds:g} s and accompaniments "
                f"of pieces up to {self.max_accompany_seconds:g} s, audio clips up to {self.max_clip_seconds:g} s and "
                f"raw audio samples up to {self.max_audio_seconds:g} s, file names up to {self.max_name_chars} "
                "characters, "
                f"text fields up "
                f"to {self.max_text_chars} characters, requests up to {self.max_request_bytes // 2**10} KB; a job "
                f"stops after {self.time_limit / 60:g} minutes, {self.concurrency} run at once and "
                f"{self.queue_size} may wait.")

    def check_seconds(self, seconds: float, *, continuation: bool = False) -> float:
        """``seconds`` as a float when within [min_seconds, the cap], else a ``LimitError``."""
        high = self.max_continue_seconds if continuation else self.max_seconds
        value = _number(seconds, "length")
        if not self.min_seconds <= value <= high:
            raise LimitError(f"length must be between {self.min_seconds:g} and {high:g} seconds, not {value:g}")
        return value

    def check_variations(self, n: float) -> int:
        """``n`` as an int when 1 <= n <= max_variations, else a ``LimitError``."""
        value = _number(n, "number of variations")
        if value != int(value) or not 1 <= value <= self.max_variations:
            raise LimitError(f"number of variations must be a whole number from 1 to {self.max_variations}, not {n}")
        return int(value)

    def check_prime_seconds(self, seconds: float) -> float:
        value = _number(seconds, "prime length")
        if not 0 < value <= self.max_prime_seconds:
            raise LimitError(f"prime length must be between 0 and {self.max_prime_seconds:g} seconds, not {value:g}")
        return value

    def check_upload_seconds(self, seconds: float, name: str) -> None:
        if seconds > self.max_upload_seconds:
            raise LimitError(f"{name}: the piece lasts {seconds / 60:.1f} minutes; "
                             f"uploads may last at most {self.max_upload_seconds / 60:g} minutes")

    def check_infill_seconds(self, seconds: float) -> None:
        if seconds > self.max_infill_seconds:
            raise LimitError(f"the span lasts {seconds:.1f} s; at most {self.max_infill_seconds:g} s "
                             "can be regenerated at once")

    def check_accompany_seconds(self, seconds: float, name: str) -> None:
        if seconds > self.max_accompany_seconds:
            raise LimitError(f"{name}: the kept tracks last {seconds:.1f} s; accompaniments may last at most "
                             f"{self.max_accompany_seconds:g} s")

    def check_clip_seconds(self, seconds: float, name: str) -> None:
        if seconds > self.max_clip_seconds:
            raise LimitError(f"{name}: the clip lasts {seconds:.1f} s; the codec takes clips of at most "
                             f"{self.max_clip_seconds:g} s (cut it shorter)")

    def check_audio_seconds(self, seconds: float, shortest: float = 0.0) -> float:
        """``seconds`` of raw audio to sample as a float when within [min_audio_seconds (or ``shortest``, the
        model's, when longer), max_audio_seconds], else a ``LimitError``."""
        value = _number(seconds, "length")
        low = max(self.min_audio_seconds, shortest)
        if not low <= value <= self.max_audio_seconds:
            raise LimitError(f"length must be between {low:g} and {self.max_audio_seconds:g} seconds of audio, "
                             f"not {value:g}")
        return value

    def read_upload(self, path: str | Path | None, name: str | None = None) -> bytes:
        """The bytes of an uploaded file, refused when missing or larger than ``max_upload_bytes``."""
        if path is None:
            raise LimitError("upload a MIDI file first (.mid or .midi)")
        path = Path(path)
        name = name or path.name
        try:
            size = path.stat().st_size
            if size > self.max_upload_bytes:
                raise LimitError(f"{name}: the file has {size / 2**20:.1f} MB; "
                                 f"uploads may have at most {self.max_upload_bytes / 2**20:g} MB")
            return path.read_bytes()
        except OSError as err:
            raise LimitError(f"{name}: cannot read the upload ({err.strerror or err})") from err


def _number(value: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{what} must be a number, not {quote(value)}") from None
    if not math.isfinite(number):
        raise LimitError(f"{what} must be a finite number, not {quote(value)}")
    return number


__all__ = ["DemoLimits", "LimitError"]
