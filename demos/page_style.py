"""The demo page's own CSS, on top of Gradio's default theme (Gradio 6 takes it at ``launch(css=...)``:
``demos.app.launch_settings`` passes it on every launch path).

- Secondary buttons (Undo, Download MIDI, Thumbs up/down, A is better, Refresh) get a border and a fill, so
  they read as buttons and not as plain text.
- Cancel buttons (``variant="stop"``) are outlined in red and fill only on hover: a red block beside
  Generate looked like an alarm while nothing was running.
"""

from __future__ import annotations

PAGE_CSS = """
button.secondary {
    border: 1px solid var(--border-color-primary) !important;
    background: var(--background-fill-secondary) !important;
    box-shadow: var(--shadow-drop);
}
button.secondary:hover:not(:disabled) {
    border-color: var(--color-accent) !important;
}
button.stop {
    background: var(--background-fill-primary) !important;
    color: var(--button-cancel-background-fill) !important;
    border: 1px solid var(--button-cancel-background-fill) !important;
}
button.stop:hover:not(:disabled) {
    background: var(--button-cancel-background-fill) !important;
    color: var(--button-cancel-text-color) !important;
}
"""

__all__ = ["PAGE_CSS"]
