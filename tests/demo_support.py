"""Helpers for the web-demo tests (tests/test_demo*.py): a tiny model, free ports, a launched app.

The test model is the ``tiny`` preset with random weights, saved with the saved-model API. Its
output bias favours ``wait`` tokens (an untrained model almost never lets time pass, so a
one-second piece would run to the token cap); that keeps every generation in the tests short.
"""

from __future__ import annotations

import base64
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
WAIT_BIAS = 5.0


def save_test_model(folder: Path) -> Path:
    """Save a random ``tiny`` model (wait tokens favoured) to ``folder``; returns ``folder``."""
    from musetok import MidiTokenizer
    from musetok.vocab import Kind

    from muse.config import load_run_config
    from muse.saved_model import build_model, save_model

    torch.manual_seed(0)
    tokenizer = MidiTokenizer()
    model = build_model(load_run_config(REPO / "configs" / "muse" / "tiny.yaml").model, tokenizer)
    waits = torch.as_tensor(np.flatnonzero(tokenizer.vocab.kind == Kind.WAIT))
    with torch.no_grad():
        model.vocab.row_bias[model.vocab.row[waits]] += WAIT_BIAS
    return save_model(model, tokenizer, folder)


def cards(outputs: tuple) -> list[tuple]:
    """The per-variation values of a generation event through the API: (caption, roll, audio, MIDI, manifest,
    rating line) per card. The API leaves out the session state and layout blocks: the status line comes
    first, then the cards, then ``AFTER_CARDS`` values (A, B, the A/B status, the steps, the piece so far)."""
    from demos.results import AFTER_CARDS, CARD_VALUES

    body = outputs[1:-AFTER_CARDS]
    return [tuple(body[i:i + CARD_VALUES]) for i in range(0, len(body), CARD_VALUES)]


def roll_png(value: dict) -> bytes:
    """The PNG of a card's piano roll as the API returns it (the player's value: the image as a data URI)."""
    head, data = value["image"].split(",", 1)
    assert head == "data:image/png;base64"
    return base64.b64decode(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0, process=None) -> None:
    """Poll ``url`` until it answers (or raise, with the server's exit code if it died). One request at a
    time, each given long enough: a busy machine takes seconds to build the page, and requests abandoned
    after a short timeout pile up in the server (and can make Gradio's own start-up check of it fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the demo server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=max(1.0, min(30.0, deadline - time.monotonic()))):
                return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:g} s")


def demo_context(folder: Path, **limits: object):
    """A ``DemoContext`` on a fresh test model (in ``folder``), without a page: for the demo's parts."""
    from demos.context import DemoContext
    from demos.limits import DemoLimits
    from demos.media import MediaFolder
    from muse.feedback import FeedbackStore
    from muse.generate import MuseGenerator
    from muse.saved_model import model_hash

    generator = MuseGenerator(save_test_model(folder / "model"))
    return DemoContext(generator=generator, store=FeedbackStore(folder / "feedback.sqlite"),
                       media=MediaFolder(generator, folder / "media"), limits=DemoLimits(**limits),
                       model_hash=model_hash(generator.model.state_dict()))


SELF_CHECK = "When localhost is not accessible"  # Gradio's 3 s check of its own page, which a busy machine can fail


def serve(app, attempts: int = 5) -> str:
    """Launch ``app`` (a ``build_app`` page) on 127.0.0.1 and a free port, in this process; returns its URL. A
    start that failed only Gradio's self-check is tried again."""
    from demos.app import launch_settings

    for attempt in range(attempts):
        port = free_port()
        try:
            app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                       show_error=False, **launch_settings(app.demo_context.limits))
            break
        except ValueError as err:
            app.close()
            if SELF_CHECK not in str(err) or attempt == attempts - 1:
                raise
    url = f"http://127.0.0.1:{port}/"
    wait_for_http(url)
    return url


@contextmanager
def launched_app(model: Path, db: Path, audio: object = None, **limits: object) -> Iterator[tuple[object, str]]:
    """``build_app`` on ``model`` (and the Audio tab on ``audio``, ``demos.audio_models.AudioModels``) served on
    127.0.0.1 and a free port, in this process; yields (app, url)."""
    from demos.app import build_app
    from demos.limits import DemoLimits
    from muse.generate import MuseGenerator

    app = build_app(MuseGenerator(model), feedback_store=db, limits=DemoLimits(**limits), audio=audio)
    try:
        yield app, serve(app)
    finally:
        app.close()
