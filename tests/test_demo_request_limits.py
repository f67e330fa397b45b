"""Issue 17, item 1: the demo's HTTP API caps the request body and every text field (composer, file
names, ...) before Gradio parses anything; its errors quote at most ~80 characters of what was sent;
the limits are set in one place (``DemoLimits``) and shown on the page; a seed of 1e30 is a clear error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from demo_support import launched_app, save_test_model
from demos.limits import DemoLimits

LIMITS = dict(min_seconds=0.5, max_request_bytes=32 * 1024, max_text_chars=300, max_name_chars=100)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("demo")
    model = save_test_model(folder / "model")
    with launched_app(model, folder / "feedback.sqlite", **LIMITS) as (app, url):
        yield app, url


def compose_payload(composer: str, seed: float = 3) -> dict:
    return {"data": [composer, "(none)", 0.7, ["piano"], 1, 1.0, 0.95, seed, 1]}


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def assert_short_quote(text: str, sent: str) -> None:
    assert len(text) < 400, text
    assert sent[:81] not in text  # never more than 80 characters of what was sent


def test_a_huge_composer_is_refused_before_parsing(served) -> None:
    _, url = served
    before = rss_mb()
    huge = "x" * (50 * 2**20)  # 50 MB in one field
    answer = httpx.post(url + "gradio_api/call/compose", content=json.dumps(compose_payload(huge)),
                        headers={"content-type": "application/json"}, timeout=60)
    assert answer.status_code == 413 and "maximum allowed size" in answer.text
    assert_short_quote(answer.text, huge)
    del huge
    assert rss_mb() - before < 200  # the server never held the body (the test's own copy is ~100 MB at most)


def test_a_body_without_content_length_is_cut_off_at_the_limit(served) -> None:
    _, url = served

    def chunks():
        yield b'{"data": ["'
        for _ in range(64):
            yield b"y" * 4096
        yield b'"]}'

    answer = httpx.post(url + "gradio_api/call/compose", content=chunks(), headers={"content-type": "application/json"},
                        timeout=60)
    assert answer.status_code == 413 and "maximum allowed size of 32,768 bytes" in answer.text


def test_a_long_text_field_is_refused_quoting_80_characters(served) -> None:
    _, url = served
    long_name = "bach" * 500  # 2,000 characters: under the body limit, over the text limit
    answer = httpx.post(url + "gradio_api/call/compose", json=compose_payload(long_name), timeout=60)
    assert answer.status_code == 422
    message = answer.json()["error"]
    assert "is too long (at most 300 characters)" in message and "(2,000 characters)" in message
    assert_short_quote(message, long_name)


def test_a_long_upload_file_name_is_refused(served) -> None:
    _, url = served
    name = "n" * 150 + ".mid"
    answer = httpx.post(url + "gradio_api/upload", files={"files": (name, b"MThd")}, timeout=60)
    assert answer.status_code == 422 and "at most 100 characters" in answer.text
    assert_short_quote(answer.text, name)
    ok = httpx.post(url + "gradio_api/upload", files={"files": ("short.mid", b"MThd")}, timeout=60)
    assert ok.status_code == 200


def test_a_composer_error_quotes_little_and_a_huge_seed_is_a_clear_error(served) -> None:
    _, url = served
    client = Client(url, verbose=False)
    with pytest.raises(AppError) as err:
        client.predict("bach", "(none)", 0.7, ["piano"], 1, 1.0, 0.95, 1e30, 1, api_name="/compose")
    assert "seed must be a whole number from 0 to" in str(err.value)
    assert "failed unexpectedly" not in str(err.value)


def test_the_limits_are_set_in_one_place_and_shown_on_the_page(served) -> None:
    _, url = served
    limits = DemoLimits(**LIMITS)
    config = httpx.get(url + "config", timeout=60).text
    assert json.dumps(limits.describe())[1:-1] in config
    for shown in ("60 s", "4 variations", "2 MB", "100 characters", "300 characters", "32 KB"):
        assert shown in limits.describe()


def test_every_request_limit_is_a_demo_limit() -> None:
    with pytest.raises(ValueError, match="max_text_chars"):
        DemoLimits(max_text_chars=0)
    source = Path(__file__).resolve().parents[1].joinpath("demos", "request_limits.py").read_text()
    assert source.count("DemoLimits") >= 1
