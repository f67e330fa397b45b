"""The demo obeys requests (issue 18): tempo, key and the longest rest of an instrument on Compose and
Continue, the Continue tab's instruments (the prime's by default, drums kept), through the API as a
client sends them and, for the instrument boxes ticked on upload, in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import symusic
from gradio_client import Client
from gradio_client.exceptions import AppError

from demo_support import cards, launched_app, save_test_model
from muse.manifest import read_manifest, replay
from test_demo_app import compose_args, continue_args, midi_path
from test_demo_browser import server  # noqa: F401 (the browser test's demo server)

DEFAULTS = [-1, -1, -1, 1.0, 1]  # note limits (the model's), guidance, rerank: the fields before the requests


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("demo_requests")
    with launched_app(save_test_model(folder / "model"), folder / "feedback.sqlite", min_seconds=0.5) as (app, url):
        yield app, Client(url, verbose=False)


def band_prime(folder: Path) -> Path:
    """Four seconds of piano and drums (120 BPM), as a MIDI file."""
    score = symusic.Score(480)
    piano, drums = symusic.Track("piano", 0, False), symusic.Track("drums", 0, True)
    for beat in range(8):
        piano.notes.append(symusic.Note(beat * 480, 480, 60 + beat % 5, 80))
        drums.notes.append(symusic.Note(beat * 480, 120, 36 if beat % 2 == 0 else 38, 100))
    score.tracks.extend([piano, drums])
    path = folder / "band.mid"
    score.dump_midi(str(path))
    return path


def test_compose_with_a_tempo_a_key_and_a_rest_limit(served) -> None:
    app, client = served
    out = client.predict(*compose_args(seed=61, n=1, seconds=2, instruments=["piano", "strings"]), *DEFAULTS,
                         100, "D minor", 0.5, 0.25, api_name="/compose")
    caption, _roll, _audio, midi, manifest, _ = cards(out)[0]
    assert re.search(r"key: written in \S+ (major|minor), (transposed (up|down) \d+ semitones? to|already in) D",
                     caption), caption
    score = symusic.Score(midi_path(midi))
    assert [round(t.qpm, 1) for t in score.tempos] == [100.9]  # the nearest tempo the model writes
    assert sorted(t.name for t in score.tracks if t.notes) == ["piano", "strings"]  # both play (0.5 s rests)
    record = read_manifest(midi_path(manifest))
    assert (record.settings["bpm"], record.settings["key"], record.settings["max_instrument_rest"],
            record.settings["min_instrument_share"]) == (100, "D minor", 0.5, 0.25)
    again, same = replay(app.demo_context.generator, record)
    assert same


def test_continue_keeps_the_primes_instruments_and_changes_tempo_at_the_cut(served, tmp_path: Path) -> None:
    app, client = served
    path = band_prime(tmp_path)
    out = client.predict(*continue_args(path, prime=4, seconds=2), *DEFAULTS, None, 140, "as written", 0.5,
                         api_name="/continue")  # no instruments ticked: the prime's
    caption, _roll, _audio, midi, manifest, _ = cards(out)[0]
    assert "key: " in caption
    score = symusic.Score(midi_path(midi)).to("second")
    drums = [t for t in score.tracks if t.is_drum]
    assert drums and max(n.time for n in drums[0].notes) > 4.0  # the drums play on after the cut
    assert round(score.tempos[-1].qpm, 1) == 142.7 and score.tempos[-1].time == pytest.approx(4.0, abs=0.05)
    again, same = replay(app.demo_context.generator, read_manifest(midi_path(manifest)))
    assert same
    out = client.predict(*continue_args(path, prime=4, seconds=2), *DEFAULTS, ["strings"], None, "as written", 8,
                         api_name="/continue")  # other instruments, ticked
    score = symusic.Score(midi_path(cards(out)[0][3])).to("second")
    after = {t.name for t in score.tracks for n in t.notes if n.time >= 4.0}
    assert after <= {"strings"}


@pytest.mark.parametrize("requests, message", [
    ((700, "as written", 8), "bpm must be a number in [20, 605] BPM (the tempos this model can write), not 700"),
    ((None, "H major", 8), "key 'H major'? name a tonic A-G"),
    ((None, "as written", 0.1), "max_instrument_rest must be at least 0.5 seconds, or 0 for no limit"),
    ((None, "as written", 8, 0.9), "min_instrument_share (a share of the notes; 0 = no floor) must be a number in "
                                   "[0, 0.5], not 0.9"),
])
def test_bad_requests_get_the_facades_message(served, midi_dir: Path, requests: tuple, message: str) -> None:
    _app, client = served
    prime = midi_dir / "one_track" / "POP909_008.mid"
    for args, api in (([*compose_args(n=1), *DEFAULTS], "/compose"),
                      ([*continue_args(prime), *DEFAULTS, None], "/continue")):  # None: the prime's instruments
        with pytest.raises(AppError) as err:
            client.predict(*args, *requests, api_name=api)
        assert message in str(err.value), str(err.value)


def test_the_primes_instruments_are_ticked_on_upload_in_chromium(server, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    from demos.screenshots import VIEWPORT, launch_chromium, open_tab

    url, _db = server
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            open_tab(page, "Continue")
            page.locator("#continue-upload input[type=file]").set_input_files(str(band_prime(tmp_path)))
            boxes = page.locator("#continue-instruments")
            for name in ("piano", "drums"):
                expect(boxes.get_by_label(name, exact=True)).to_be_checked(timeout=60_000)
            expect(boxes.get_by_label("strings", exact=True)).not_to_be_checked()
            expect(page.locator("#continue-bpm")).to_be_visible()
            expect(page.locator("#continue-key")).to_be_visible()
            expect(page.locator("#continue-min-share input")).to_have_value("0.08")
        finally:
            browser.close()
