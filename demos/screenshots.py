"""Screenshots of the demo's tabs in a real browser (Debian's Chromium driven by Playwright).

    python -m demos.screenshots --model runs/small --midi piece.mid -o docs/

starts the demo on ``--model`` (with the bundled Jukebox models on the Audio tab), composes, continues
``--midi``, regenerates a span of it (``--span``), opens the style map, reconstructs the first seconds of
``--midi`` (rendered to audio) with the codec, rates a variation and opens the feedback counts, and writes
``demo_compose.png``, ``demo_continue.png``, ``demo_edit.png``, ``demo_style_map.png``, ``demo_audio.png``
and ``demo_feedback.png``. Playwright cannot download
its own browser here: it drives the system Chromium (``--chromium``, default /usr/bin/chromium).
The browser test (tests/test_demo_browser.py) uses the same helpers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

CHROMIUM = Path(os.environ.get("MUSEBOX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 120_000
STYLE_MAP_POINTS = "#style-map-plot .scatterlayer .point"  # the interactive map's markers, once drawn
CLIP_SECONDS = 1.0  # the Audio tab's example clip: the first second of --midi, rendered


def launch_chromium(playwright, executable: str | Path = CHROMIUM):
    """A headless Chromium from the system (no downloads, no background network)."""
    return playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)


@contextmanager
def demo_page(url: str, executable: str | Path = CHROMIUM) -> Iterator:
    """A page of the demo at ``url`` in a headless system Chromium, loaded (its Generate button shown); the
    browser closes after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, executable)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            page.wait_for_selector("#compose-generate", timeout=TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def set_number(page, elem_id: str, value: float) -> None:
    """Type ``value`` into the number box of the slider or number field ``#elem_id``."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(f"{value:g}")
    box.press("Enter")


def compose(page, seconds: float = 1, composer: str | None = None) -> None:
    """On the Compose tab: set the length (and composer), click Generate, wait for the first card."""
    open_tab(page, "Compose")
    if composer:
        choose(page, "compose-composer", composer)
    set_number(page, "compose-seconds", seconds)
    page.click("#compose-generate")
    page.wait_for_selector("#compose-roll-1 img", timeout=TIMEOUT_MS)
    page.locator("#compose-audio-1 audio").first.wait_for(state="attached", timeout=TIMEOUT_MS)


def choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in the dropdown ``#elem_id``."""
    page.locator(f"#{elem_id} input").fill(value)
    page.locator(f"#{elem_id} input").press("Enter")


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()


def continue_file(page, midi: Path, prime: float = 8, seconds: float = 4) -> None:
    """On the Continue tab: upload ``midi``, wait for its preview, continue it, wait for the first card."""
    open_tab(page, "Continue")
    page.locator("#continue-upload input[type=file]").set_input_files(str(midi))
    page.wait_for_selector("#continue-preview img", timeout=TIMEOUT_MS)
    set_number(page, "continue-prime", prime)
    set_number(page, "continue-seconds", seconds)
    page.click("#continue-generate")
    page.wait_for_selector("#continue-roll-1 img", timeout=TIMEOUT_MS)


def edit_file(page, midi: Path, start: float = 2, end: float = 4) -> None:
    """On the Edit tab: upload ``midi``, wait for its preview, type the span, regenerate, wait for the first card."""
    open_tab(page, "Edit")
    page.locator("#edit-upload input[type=file]").set_input_files(str(midi))
    page.wait_for_selector("#edit-preview img", timeout=TIMEOUT_MS)
    set_number(page, "edit-start", start)
    set_number(page, "edit-end", end)
    page.click("#edit-generate")
    page.wait_for_selector("#edit-roll-1 img", timeout=TIMEOUT_MS)


def codec_clip(page, clip: Path) -> None:
    """On the Audio tab: upload the audio file ``clip``, wait until every level's reconstruction plays."""
    open_tab(page, "Audio")
    page.locator("#audio-codec-upload input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#audio-codec-figures tbody tr", timeout=TIMEOUT_MS)


def rate_and_count(page) -> None:
    """Thumbs up the first composed variation, then open the Feedback tab and wait for its counts."""
    open_tab(page, "Compose")
    page.locator("#compose-up-1").click()
    page.locator("#compose-rated-1", has_text="Thanks").wait_for(timeout=TIMEOUT_MS)
    open_tab(page, "Feedback")
    page.locator("#feedback-counts", has_text="1 ratings").wait_for(timeout=TIMEOUT_MS)


def capture_tabs(url: str, out: Path, midi: Path, *, seconds: float = 8, composer: str = "chopin",
                 span: tuple[float, float] = (4, 8), clip: Path | None = None) -> list[Path]:
    """Screenshot every tab of the demo at ``url`` into ``out`` (the Audio tab with ``clip``, when given)."""
    out.mkdir(parents=True, exist_ok=True)
    names = ["compose", "continue", "edit", "style_map"] + (["audio"] if clip is not None else []) + ["feedback"]
    shots = [out / f"demo_{name}.png" for name in names]
    with demo_page(url) as page:
        compose(page, seconds, composer)
        page.screenshot(path=str(shots[0]), full_page=True)
        continue_file(page, midi, seconds=seconds / 2)
        page.screenshot(path=str(shots[1]), full_page=True)
        edit_file(page, midi, *span)
        page.screenshot(path=str(shots[2]), full_page=True)
        open_tab(page, "Style map")
        page.wait_for_selector(STYLE_MAP_POINTS, timeout=TIMEOUT_MS)
        page.screenshot(path=str(shots[3]), full_page=True)
        if clip is not None:
            codec_clip(page, clip)
            page.screenshot(path=str(shots[4]), full_page=True)
        rate_and_count(page)
        page.screenshot(path=str(shots[-1]), full_page=True)
    return shots


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demos.screenshots", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument("--midi", required=True, type=Path, help="MIDI file to continue (Continue tab) and edit (Edit tab)")
    p.add_argument("-o", "--out", type=Path, default=Path("docs"), help="folder for the PNGs (default: docs)")
    p.add_argument("--seconds", type=float, default=8, help="length of the composed pieces (default: 8)")
    p.add_argument("--span", type=float, nargs=2, default=(4, 8), metavar=("START", "END"),
                   help="seconds of --midi to regenerate on the Edit tab (default: 4 8)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from demos.app import build_app, launch_settings
    from demos.audio_models import AudioModels
    from muse.core.errors import USER_ERRORS
    from muse.core.render import render_midi
    from muse.generate import MuseGenerator

    work = Path(tempfile.mkdtemp())
    try:
        app = build_app(MuseGenerator(args.model), feedback_store=work / "feedback.sqlite", audio=AudioModels.load())
        clip = work / "clip.wav"
        render_midi(args.midi, clip, max_seconds=CLIP_SECONDS, tail=0.0)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
               **launch_settings(app.demo_context.limits))
    try:
        for shot in capture_tabs(app.local_url, args.out, args.midi, seconds=args.seconds, span=tuple(args.span),
                                 clip=clip):
            log.info("wrote %s", shot)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
