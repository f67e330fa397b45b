"""Input controls shared by the Compose and Continue tabs: composer (with an optional blend), sampling
(with the note limits: the longest and shortest a note may sound and the most notes sounding at once) and the
requests every piece obeys (tempo, key, the longest an instrument may rest).

A blend of two composers becomes the style-mixing syntax of the facade, ``"bach:0.7,chopin:0.3"``
(the slider sets the first composer's share).

No silent corrections: the generation events take their inputs as sent (``RAW_INPUTS``: Gradio's
own range and choice checks, whose messages name no field, are skipped) and the handlers check
every value with the limits of ``demos.limits`` and the functions below, so the page and an API
client get the same one-line message. Dropdowns keep what was typed (a misspelt composer is
refused by name rather than replaced by the previous choice), and a slider whose typed value the
browser pulls back into its range says so in the tab's notice (``note_bounds``).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

import muse.sampling_defaults as D
from demos.limits import DemoLimits, LimitError
from demos.styles import STAR
from muse.composers.names import display_name, resolve_composer, suggest
from muse.core.errors import UserError
from muse.core.ranges import check_seed, quote
from muse.generate import DEFAULT_GUIDANCE, MuseGenerator
from muse.note_limits import MAX_MIN_NOTE_SECONDS, NoteLimits, check_min_note, check_override
from muse.requests import DEFAULT_MAX_INSTRUMENT_REST, DEFAULT_MIN_INSTRUMENT_SHARE, MAX_INSTRUMENT_SHARE

NO_BLEND = "(none)"
AS_WRITTEN = "as written"  # the key field's value meaning "no transposition"
MODEL_TEMPO = 0  # the tempo field's value meaning "the model's tempo"
RANDOM_SEED = -1
MODEL_LIMIT = -1  # the note-limit fields' value meaning "the model's own limit"
MAX_DEMO_GUIDANCE = 5.0  # the guidance slider's top (the facade allows up to 10)
MAX_SHOWN_SEED = 2**31 - 1  # random seeds stay below this, so that the page shows them exactly
RAW_INPUTS: dict[str, Any] = {"preprocess": False}  # event options: the handler gets (and checks) the values as sent


@dataclass(frozen=True)
class ComposerPicker:
    composer: gr.Dropdown
    blend: gr.Dropdown
    mix: gr.Slider

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.composer, self.blend, self.mix]


@dataclass(frozen=True)
class SamplingControls:
    temperature: gr.Slider
    top_p: gr.Slider
    seed: gr.Number
    variations: gr.Slider
    max_note_seconds: gr.Number
    max_polyphony: gr.Number
    min_note_seconds: gr.Number
    guidance: gr.Slider
    rerank: gr.Slider

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.temperature, self.top_p, self.seed, self.variations, self.max_note_seconds, self.max_polyphony,
                self.min_note_seconds, self.guidance, self.rerank]


@dataclass(frozen=True)
class RequestControls:
    bpm: gr.Number
    key: gr.Dropdown
    max_rest: gr.Number
    min_share: gr.Number

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.bpm, self.key, self.max_rest, self.min_share]


def composer_picker(choices: Sequence[tuple[str, str]], default: str | None = None,
                    elem_prefix: str = "") -> ComposerPicker:
    """Composer dropdown, optional second composer and the first composer's share of the mix. ``choices``:
    (shown, label) pairs (``demos.styles.Styles.choices``: featured first, then by era); the events get labels."""
    labels = [label for _, label in choices]
    default = default if default in labels else (labels[0] if labels else None)
    with gr.Row():  # typed names are kept and checked (composer_spec), never swapped for the previous choice
        composer = gr.Dropdown(list(choices), value=default, label="Composer", allow_custom_value=True,
                               info=f"{STAR}: well-known composers with the most training data, then every style "
                                    "by era; type a name or an era to search", elem_id=f"{elem_prefix}composer")
        blend = gr.Dropdown([(NO_BLEND, NO_BLEND), *choices], value=NO_BLEND, label="Blend with (optional)",
                            allow_custom_value=True, elem_id=f"{elem_prefix}blend")
        mix = gr.Slider(0.05, 0.95, value=0.7, step=0.05, label="Share of the first composer",
                        elem_id=f"{elem_prefix}mix")
    return ComposerPicker(composer, blend, mix)


def sampling_controls(limits: DemoLimits, default_variations: int = 2, elem_prefix: str = "",
                      note_limits: NoteLimits | None = None, guidance: bool = False,
                      default_guidance: float = DEFAULT_GUIDANCE) -> SamplingControls:
    """Temperature, top-p, seed, number of variations, the note limits (-1, the default, keeps the
    model's ``note_limits``, shown in the hints; 0: no limit), composer guidance (only offered when
    the model was trained for it: ``guidance``) and reranking."""
    with gr.Row():
        temperature = gr.Slider(0.1, 2.0, value=D.TEMPERATURE, step=0.05, label="Temperature",
                                info="higher: more adventurous", elem_id=f"{elem_prefix}temperature")
        top_p = gr.Slider(0.1, 1.0, value=D.TOP_P, step=0.01, label="Top-p",
                          info="sample from the most likely tokens holding this probability",
                          elem_id=f"{elem_prefix}top-p")
        seed = gr.Number(value=RANDOM_SEED, precision=0, label="Seed",
                         info="-1: a new random seed; variation k uses seed + k - 1 (its card shows it)",
                         elem_id=f"{elem_prefix}seed")
        variations = gr.Slider(1, limits.max_variations, value=min(default_variations, limits.max_variations), step=1,
                               label="Variations", elem_id=f"{elem_prefix}variations")
    with gr.Row():
        learnt = "none" if note_limits is None else f"{note_limits.seconds_for('piano'):g} s for piano"
        max_note = gr.Number(value=MODEL_LIMIT, minimum=MODEL_LIMIT, label="Longest note (seconds)",
                             info=f"-1: the model's limit ({learnt}); 0: no limit",
                             elem_id=f"{elem_prefix}max-note-seconds")
        learnt = "none" if note_limits is None else f"{note_limits.polyphony_for('piano')} for piano"
        max_poly = gr.Number(value=MODEL_LIMIT, minimum=MODEL_LIMIT, label="Most notes at once (per instrument)",
                             info=f"-1: the model's limit ({learnt}); 0: no limit",
                             elem_id=f"{elem_prefix}max-polyphony")
        learnt = "none" if note_limits is None else f"{note_limits.min_seconds_for('piano'):g} s for piano"
        min_note = gr.Number(value=MODEL_LIMIT, minimum=MODEL_LIMIT, maximum=MAX_MIN_NOTE_SECONDS,
                             label="Shortest note (seconds)", info=f"-1: the model's limit ({learnt}); 0: no limit",
                             elem_id=f"{elem_prefix}min-note-seconds")
    with gr.Row():
        guide = gr.Slider(0.0, MAX_DEMO_GUIDANCE, value=default_guidance if guidance else 1.0, step=0.25,
                          label="Composer guidance", interactive=guidance, elem_id=f"{elem_prefix}guidance",
                          info="1: plain sampling; above 1: pushed toward the composer's style"
                          if guidance else "this model was not trained for guidance")
        rerank = gr.Slider(1, limits.max_rerank, value=1, step=1, label="Rerank: best of",
                           info="candidates drawn per variation, the most composer-like kept (each costs a "
                                "full generation)", elem_id=f"{elem_prefix}rerank")
    return SamplingControls(temperature, top_p, seed, variations, max_note, max_poly, min_note, guide, rerank)


def request_controls(gen: MuseGenerator, elem_prefix: str = "") -> RequestControls:
    """Tempo (``MODEL_TEMPO``: the model's), key (``AS_WRITTEN``: no transposition), the longest rest of a chosen
    instrument and the least share of the notes each keeps (``muse.requests`` defaults; 0: no rule)."""
    low, high = gen.bpm_range
    with gr.Row():
        bpm = gr.Number(value=MODEL_TEMPO, label="Tempo (BPM)", info=f"{low}-{high}, held throughout; 0: the model's",
                        elem_id=f"{elem_prefix}bpm")
        key = gr.Dropdown([AS_WRITTEN, *gen.key_names], value=AS_WRITTEN, label="Key", allow_custom_value=True,
                          info="the music is transposed there (drums stay); each result says the key it was "
                               "written in", elem_id=f"{elem_prefix}key")
        max_rest = gr.Number(value=DEFAULT_MAX_INSTRUMENT_REST, label="Longest rest of an instrument (seconds)",
                             info="every chosen instrument plays at least this often; 0: no limit",
                             elem_id=f"{elem_prefix}max-rest")
        min_share = gr.Number(value=DEFAULT_MIN_INSTRUMENT_SHARE, label="Least share of each instrument",
                              info=f"of the notes, 0-{MAX_INSTRUMENT_SHARE:g}, so that no line takes them all; "
                                   "0: no floor", elem_id=f"{elem_prefix}min-share")
    return RequestControls(bpm, key, max_rest, min_share)


def check_requests(gen: MuseGenerator, bpm: Any, key: Any, max_rest: Any, min_share: Any) -> dict[str, Any]:
    """The facade's ``bpm``, ``key``, ``max_instrument_rest`` and ``min_instrument_share`` from the request
    controls (empty, or
    ``MODEL_TEMPO`` / ``AS_WRITTEN``: the default), checked by the facade itself
    (``MuseGenerator.check_requests``: the message the CLI and the API give), else a ``LimitError``."""
    requests = {"bpm": None if bpm in (None, "", MODEL_TEMPO) else bpm,
                "key": None if key in (None, "", AS_WRITTEN) else key,
                "max_instrument_rest": None if max_rest in (None, "") else max_rest,
                "min_instrument_share": None if min_share in (None, "") else min_share}
    try:
        gen.check_requests(**requests)
    except UserError as err:
        raise LimitError(str(err)) from None
    return requests


def composer_spec(composer: str | None, blend: str | None, mix: float, known: Sequence[str] = ()) -> str:
    """The facade's composer argument: ``"bach"`` or the blend ``"bach:0.7,chopin:0.3"``. With ``known``
    (the model's composers), a display name ("J. S. Bach") becomes its label and a name that is none of
    them is a ``LimitError`` suggesting the closest ones."""
    composer = _text(composer, "composer").strip()
    blend = _text(blend, "blend").strip()
    if not composer:
        raise LimitError("choose a composer")
    named = []
    for role, name in (("composer", composer), ("composer to blend with", blend)):
        if known and name and name != NO_BLEND:
            label = resolve_composer(name, known)
            if label is None:
                close = [f"{x} ({display_name(x)})" for x in suggest(name, known)]
                hint = f"did you mean {' or '.join(close)}?" if close else "pick one from the list"
                raise LimitError(f"unknown {role} {quote(name)}: {hint}")
            name = label
        named.append(name)
    composer, blend = named
    if not blend or blend == NO_BLEND or blend == composer:
        return composer
    share = _finite(mix, "the share of the first composer")
    if not 0.0 < share < 1.0:
        raise LimitError(f"the share of the first composer must be between 0 and 1, not {mix}")
    return f"{composer}:{share:.2f},{blend}:{1.0 - share:.2f}"


def resolve_seed(seed: float | None) -> int:
    """The seed to use: the given one (a whole number from 0 to 2**63 - 1; -1 or empty: a fresh random one,
    below 2**31 so that the page shows it exactly), else a ``LimitError``."""
    if seed is None or seed == "" or (isinstance(seed, (int, float)) and seed == RANDOM_SEED):
        return secrets.randbelow(MAX_SHOWN_SEED + 1)
    try:
        return int(check_seed(seed))
    except UserError as err:
        raise LimitError(f"{err}; -1 draws a new random seed") from None


def check_instruments(chosen: object, known: Sequence[str]) -> list[str]:
    """The chosen instrument names, each one of ``known``, else a ``LimitError`` naming the stranger."""
    if chosen is None:
        return []
    if isinstance(chosen, str) or not isinstance(chosen, (list, tuple)):
        raise LimitError(f"instruments must be a list of names, not {quote(chosen)}")
    for name in chosen:
        if name not in known:
            raise LimitError(f"unknown instrument {quote(name)}; choose from {', '.join(known)}")
    return list(chosen)


def note_bounds(value: Any, low: float, high: float, what: str, unit: str = "") -> str:
    """The notice for a slider the browser pulls back into [low, high] when a typed value is outside
    (it sends the typed value with the slider's release): what was typed and what it became; "" when
    the value is within the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"**{what}**: {quote(value)} is not a number, so the slider kept its value."
    if math.isfinite(number) and low <= number <= high:
        return ""
    unit = f" {unit}" if unit else ""
    bound = high if not number < low else low
    side = "more than the most" if bound == high else "less than the least"
    return (f"**{what}**: {number:g}{unit} is {side} allowed ({bound:g}{unit}), so the slider was set to "
            f"{bound:g}{unit}.")


def watch_bounds(slider: gr.Slider, notice: gr.Markdown, what: str, unit: str = "") -> None:
    """Show ``note_bounds`` in ``notice`` whenever ``slider`` is released (typed values arrive that way)."""
    low, high = float(slider.minimum), float(slider.maximum)

    def check(value: Any) -> str:
        return note_bounds(value, low, high, what, unit)

    slider.release(check, [slider], [notice], api_visibility="private", queue=False, show_progress="hidden",
                   **RAW_INPUTS)


def upload_path(value: Any) -> tuple[str | None, str | None]:
    """(path, the user's file name) of a file input as a raw event sends it (a dict, or a path)."""
    if not value:
        return None, None
    if isinstance(value, dict):
        path = value.get("path")
        return path, value.get("orig_name") or (Path(path).name if path else None)
    return str(value), Path(str(value)).name


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LimitError(f"the {what} must be a name, not {quote(value)}")
    return value


def _finite(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{what} must be a number, not {quote(value)}") from None
    if not math.isfinite(number):
        raise LimitError(f"{what} must be a finite number, not {quote(value)}")
    return number


def check_note_limits(max_note_seconds: float | None, max_polyphony: float | None,
                      min_note_seconds: float | None) -> dict[str, float | int | None]:
    """The facade's ``max_note_seconds`` / ``max_polyphony`` / ``min_note_seconds`` (None, from -1 or empty:
    the model's), else a ``LimitError``."""
    max_note_seconds, max_polyphony, min_note_seconds = (None if v is None or v == MODEL_LIMIT else v
                                                         for v in (max_note_seconds, max_polyphony, min_note_seconds))
    try:
        return {"max_note_seconds": check_override(max_note_seconds, "the longest note"),
                "max_polyphony": check_override(max_polyphony, "the most notes at once", integer=True),
                "min_note_seconds": check_min_note(min_note_seconds, "the shortest note")}
    except UserError as err:
        raise LimitError(str(err)) from None


def check_style(guidance: float | None, rerank: float | None, limits: DemoLimits) -> dict[str, float | int]:
    """The facade's ``guidance`` (0..MAX_DEMO_GUIDANCE) and ``rerank`` (1..limits.max_rerank), else a
    ``LimitError``."""
    guidance = 1.0 if guidance is None else _finite(guidance, "composer guidance")
    rerank = 1 if rerank is None else _finite(rerank, "rerank")
    if not 0.0 <= guidance <= MAX_DEMO_GUIDANCE:
        raise LimitError(f"composer guidance must be between 0 and {MAX_DEMO_GUIDANCE:g}, not {guidance:g}")
    if rerank != int(rerank) or not 1 <= rerank <= limits.max_rerank:
        raise LimitError(f"rerank must be a whole number from 1 to {limits.max_rerank}, not {rerank:g}")
    return {"guidance": guidance, "rerank": int(rerank)}


def check_sampling(temperature: float, top_p: float) -> tuple[float, float]:
    """Temperature in (0, 2] and top-p in (0, 1], else a ``LimitError``."""
    temperature, top_p = _finite(temperature, "temperature"), _finite(top_p, "top-p")
    if not 0.0 < temperature <= 2.0:
        raise LimitError(f"temperature must be in (0, 2], not {temperature:g}")
    if not 0.0 < top_p <= 1.0:
        raise LimitError(f"top-p must be in (0, 1], not {top_p:g}")
    return temperature, top_p


__all__ = ["AS_WRITTEN", "ComposerPicker", "MODEL_LIMIT", "MODEL_TEMPO", "NO_BLEND", "RANDOM_SEED", "RAW_INPUTS",
           "RequestControls", "SamplingControls", "check_instruments", "check_note_limits", "check_requests",
           "check_sampling", "check_style", "composer_picker", "composer_spec", "note_bounds", "request_controls",
           "resolve_seed", "sampling_controls", "upload_path", "watch_bounds"]
