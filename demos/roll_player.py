"""The playing piano roll of a result card: the picture with a playhead that follows the card's audio.

A ``gr.HTML`` component (Gradio 6 templates: ``html_template``, ``css_template``, ``js_on_load``)
shows the piano-roll PNG (inline, as a data URI) under a playhead. Its script reads the playing
position of the card's ``gr.Audio`` (the ``<audio>`` element Gradio's waveform player keeps in an
open shadow root) on every animation frame and moves the playhead there; a click on the plot seeks
the audio to that time; a continuation's card has "from the cut", which plays from where the prime
ends. Seconds map to the picture through ``muse.pianoroll.RollPicture`` (where the time axis lies).

The component's value (also what the API returns for the piano roll) is a dict: ``image`` (the PNG
as a data URI), ``left``, ``top``, ``width``, ``height`` (the plot in percent of the picture),
``seconds`` (the time at its right edge) and ``start`` (the cut, or None).
"""

from __future__ import annotations

import base64
from typing import Any

import gradio as gr

from demos.media import PieceFiles

TEMPLATE = """${value && value.image ? `
<div class="roll-player" title="click to listen from there" data-left="${value.left}" data-width="${value.width}"
     data-axis-seconds="${value.seconds}">
  <img src="${value.image}" alt="piano roll" draggable="false">
  <div class="playhead" style="left:${value.left}%;top:${value.top}%;height:${value.height}%"></div>
</div>
<div class="roll-tools">
  ${value.start == null ? '' : `<button type="button" class="from-cut">&#9654; from the cut
    (${value.start.toFixed(1)} s)</button>`}
  <a class="roll-png" href="${value.image}" download="piano-roll.png">piano roll (PNG)</a>
</div>` : ''}"""

STYLE = """
.roll-player { position: relative; cursor: pointer; line-height: 0; }
.roll-player img { display: block; width: 100%; height: auto; }
.playhead { position: absolute; width: 2px; margin-left: -1px; background: #111; pointer-events: none; }
.roll-tools { display: flex; gap: 1em; align-items: center; padding: 2px 6px; font-size: var(--text-sm); }
.roll-tools button, .roll-tools a { all: unset; cursor: pointer; color: var(--link-text-color);
  text-decoration: underline; font-size: var(--text-sm); }
"""

# `props.audio_id`: the elem_id of the card's gr.Audio. The <audio> element is looked up again when the one
# held is gone (a new result re-renders the player), at most every half second.
SCRIPT = """
let audio = null, lookedUp = 0;
function findAudio() {
  const box = document.getElementById(props.audio_id);
  if (!box) return null;
  const stack = [box];
  let silent = null;
  while (stack.length) {
    const node = stack.pop();
    if (node.tagName === 'AUDIO') { if (node.currentSrc || node.src) return node; silent = silent || node; }
    if (node.shadowRoot) stack.push(node.shadowRoot);
    for (const child of node.children) stack.push(child);
  }
  return silent;
}
function currentAudio() {
  const now = performance.now();
  if ((!audio || !audio.isConnected || !(audio.currentSrc || audio.src)) && now - lookedUp > 500) {
    lookedUp = now;
    audio = findAudio();
  }
  return audio;
}
function place(seconds) {
  const v = props.value, head = element.querySelector('.playhead');
  if (!v || !v.image || !head) return;
  const fraction = Math.min(Math.max(seconds / v.seconds, 0), 1);
  head.style.left = (v.left + v.width * fraction) + '%';
  element.dataset.time = seconds.toFixed(3);
}
function seek(seconds, play) {
  const a = currentAudio();
  if (!a) return;
  a.currentTime = seconds;
  place(seconds);
  if (play) a.play().catch(() => {});
}
let shown = -1;
function follow() {
  if (element.offsetParent !== null) {
    const a = currentAudio();
    const t = a ? a.currentTime : 0;
    if (t !== shown) { shown = t; place(t); }
  }
  requestAnimationFrame(follow);
}
requestAnimationFrame(follow);
watch('value', () => { shown = -1; audio = null; lookedUp = 0; });
element.addEventListener('click', (event) => {
  const v = props.value;
  if (!v || !v.image) return;
  if (event.target.closest('.from-cut')) { seek(v.start, true); return; }
  const img = element.querySelector('.roll-player img');
  if (!img || event.target !== img) return;
  const box = img.getBoundingClientRect();
  const x = 100 * (event.clientX - box.left) / box.width;
  const seconds = (x - v.left) / v.width * v.seconds;
  if (seconds >= 0 && seconds <= v.seconds) seek(seconds, false);
});
"""


def roll_player(elem_id: str, audio_id: str) -> gr.HTML:
    """The playing piano roll whose playhead follows the ``gr.Audio`` with elem_id ``audio_id``."""
    return gr.HTML(None, html_template=TEMPLATE, css_template=STYLE, js_on_load=SCRIPT, audio_id=audio_id,
                   elem_id=elem_id)


def roll_value(files: PieceFiles, start: float | None = None) -> dict[str, Any]:
    """The player's value for a piece's ``files`` (written by ``MediaFolder.write``); ``start``: seconds of the
    cut that "from the cut" plays from (None: no such button)."""
    view = files.view
    assert view is not None, "files written by MediaFolder.write know where the roll's time axis lies"
    image = "data:image/png;base64," + base64.b64encode(view.path.read_bytes()).decode("ascii")
    return {"image": image, "left": round(100 * view.left, 3), "top": round(100 * view.top, 3),
            "width": round(100 * (view.right - view.left), 3), "height": round(100 * (view.bottom - view.top), 3),
            "seconds": view.seconds, "start": None if start is None else float(start)}


__all__ = ["roll_player", "roll_value"]
