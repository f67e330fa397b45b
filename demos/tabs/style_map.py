"""Style map tab: the model's learned composer embeddings as an interactive map, and a way to Compose with them.

Built on ``muse.composers`` (the composer-embedding tools) and ``demos.style_plot`` (the figure).
The map opens on the ``DEFAULT_COUNT`` composers with the most training data ("Show all" shows
every one); hovering a point names it, the toolbar zooms, the legend groups by era. Pick a composer
(and optionally a second one) to see its nearest neighbours and send it, or the pair as a blend, to
the Compose tab. API: ``/style_map`` (composers, method -> map, similarity table) and
``/neighbours`` (composer, k -> table); composers are labels or display names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import gradio as gr

from demos.context import DemoContext
from demos.controls import NO_BLEND, RAW_INPUTS, composer_spec
from demos.jobs import shown_errors
from demos.style_plot import map_figure
from demos.styles import Styles
from demos.tabs.compose import ComposeTab
from muse.composers import ComposerAnalysis, ComposerEmbeddings, analyse, neighbours
from muse.composers.mixing import parse_composer_mix
from muse.composers.names import composer_name, display_name, resolve_composer
from muse.core.errors import UserError

log = logging.getLogger(__name__)

METHOD_LABELS = {"PCA": "pca", "t-SNE": "tsne"}
DEFAULT_COUNT = 16  # composers on the first map: those with the most training data
BLEND_SHARE = 0.5  # a pair sent to Compose is blended half and half


def subset(embeddings: ComposerEmbeddings, names: Sequence[str]) -> ComposerEmbeddings:
    """The embeddings of ``names`` (labels or display names) only, in the model's order; at least two."""
    if isinstance(names, str):
        raise UserError(f"composers must be a list of names, not {names!r}")
    chosen = sorted({embeddings.index(resolve_composer(str(n), embeddings.names) or str(n)) for n in names})
    if len(chosen) < 2:
        raise UserError("pick at least two composers to compare")
    return ComposerEmbeddings(tuple(embeddings.names[i] for i in chosen), embeddings.vectors[chosen])


def similarity_table(analysis: ComposerAnalysis) -> dict:
    """Cosine similarities of ``analysis`` as a table of display names (rows and columns in clustering order)."""
    order = [analysis.names[i] for i in analysis.order]
    index = {n: i for i, n in enumerate(analysis.names)}
    shown = [display_name(n) for n in order]
    rows = [[display_name(a), *(round(float(analysis.similarity[index[a], index[b]]), 3) for b in order)]
            for a in order]
    return {"headers": ["composer", *shown], "data": rows}


class StyleMap:
    """Maps and tables for one model's composer embeddings, named as ``styles`` shows them."""

    def __init__(self, embeddings: ComposerEmbeddings, styles: Styles) -> None:
        self.embeddings, self.styles = embeddings, styles
        self._default: tuple[Any, dict] | None = None
        self._default_lock = threading.Lock()

    def most_trained(self, n: int = DEFAULT_COUNT) -> list[str]:
        """The ``n`` composers with the most training data (all of them when the model has fewer)."""
        return self.styles.training.top(n) if len(self.embeddings.names) > n else list(self.embeddings.names)

    def default(self) -> tuple[Any, dict]:
        """The map and table of the most-trained composers (PCA), drawn once."""
        with self._default_lock:
            if self._default is None:
                self._default = self.draw(self.most_trained(), "PCA")
            return self._default

    def warm_up(self) -> None:
        """Draw the default map in the background (the first map loads scikit-learn, which takes seconds)."""
        def work() -> None:
            try:
                self.default()
            except Exception:  # shown when the tab asks for it again
                log.exception("drawing the composer map failed")

        threading.Thread(target=work, name="style-map-warm-up", daemon=True).start()

    def draw(self, names: Sequence[str] | None, method_label: str) -> tuple[Any, dict]:
        method = METHOD_LABELS.get(method_label, method_label)
        if method not in METHOD_LABELS.values():
            raise UserError(f"unknown projection {method_label!r}; choose {' or '.join(METHOD_LABELS)}")
        chosen = subset(self.embeddings, self.embeddings.names if names is None else names)
        analysis = analyse(chosen, methods=(method,))
        label = next(k for k, v in METHOD_LABELS.items() if v == method)
        sizes = "training data" + ("" if self.styles.training.counted else " (estimated)")
        title = f"{len(chosen.names)} of {len(self.embeddings.names)} composers \u00b7 {label} \u00b7 size: {sizes}"
        return map_figure(analysis, method, self.styles, title), similarity_table(analysis)

    def nearest(self, name: str | None, k: Any) -> dict:
        if not name:
            raise UserError("pick a composer")
        try:
            k = int(k)
        except (TypeError, ValueError):
            raise UserError(f"the number of neighbours must be a whole number, not {k!r}") from None
        if not 1 <= k <= len(self.embeddings.names) - 1:
            raise UserError(f"the number of neighbours must be from 1 to {len(self.embeddings.names) - 1}, not {k}")
        label = resolve_composer(name, self.embeddings.names) or name
        found = neighbours(self.embeddings, label, k)
        return {"headers": ["composer", "era", "similarity"],
                "data": [[display_name(n.name), composer_name(n.name).era, round(n.similarity, 3)] for n in found]}

    def to_compose(self, composer: str | None, blend: str | None) -> tuple[str, str]:
        """(composer, blend) labels for the Compose tab (blend ``NO_BLEND`` for none), checked by name."""
        spec = composer_spec(composer, blend, BLEND_SHARE, self.embeddings.names)
        mix = parse_composer_mix(spec, self.embeddings.names)
        return mix.names[0], mix.names[1] if mix.is_blend else NO_BLEND


def build(ctx: DemoContext, embeddings: ComposerEmbeddings, tab: gr.Tab, compose: ComposeTab | None = None,
          tabs: gr.Tabs | None = None) -> StyleMap:
    """The Style map tab (call inside ``tab``): its map is drawn when the tab is first opened. With ``compose``
    and ``tabs`` (the page's tabs), "Send to Compose" sets the Compose tab's composer (and blend) and opens it."""
    styles = ctx.styles
    tools = StyleMap(embeddings, styles)
    tools.warm_up()
    choices = [c for c in styles.choices() if c[1] in embeddings.names]
    names = [label for _, label in choices]
    first = "bach" if "bach" in names else names[0]
    k0 = min(5, len(names) - 1)
    gr.Markdown(f"Where the model places each composer: nearby composers have similar learned embeddings (cosine "
                f"similarity of their directions). Colour: era; size: training data, {styles.training.source}. "
                "Hover a point for its name, drag to zoom (double-click to reset), click an era in the legend to "
                "hide it.", elem_id="style-map-about")
    with gr.Row():
        with gr.Column(scale=3):
            plot = gr.Plot(label="Composer map", elem_id="style-map-plot")
            with gr.Row():
                top = gr.Button(f"Most trained ({min(DEFAULT_COUNT, len(names))})", size="sm", elem_id="style-map-top")
                every = gr.Button(f"Show all ({len(names)})", size="sm", elem_id="style-map-all")
                method = gr.Radio(list(METHOD_LABELS), value="PCA", label="Projection", container=False,
                                  elem_id="style-map-method")
        with gr.Column(scale=2):
            with gr.Group():
                composer = gr.Dropdown(choices, value=first, label="Composer", allow_custom_value=True,
                                       info="its nearest neighbours are listed below", elem_id="style-map-composer")
                blend = gr.Dropdown([(NO_BLEND, NO_BLEND), *choices], value=NO_BLEND, allow_custom_value=True,
                                    label="Blend with (optional)", elem_id="style-map-blend",
                                    info=f"sent as a blend, {BLEND_SHARE:.0%} each")
                send = gr.Button("Send to Compose", variant="primary", elem_id="style-map-send",
                                 visible=compose is not None and tabs is not None)
            k = gr.Slider(1, max(1, len(names) - 1), value=k0, step=1, label="Neighbours shown", elem_id="style-map-k")
            table = gr.Dataframe(value=tools.nearest(first, k0), label="Nearest neighbours", interactive=False,
                                 elem_id="style-map-neighbours")
    with gr.Row():
        chosen = gr.Dropdown(choices, value=tools.most_trained(), multiselect=True, label="Composers on the map",
                             info=f"the {min(DEFAULT_COUNT, len(names))} with the most training data at first; "
                                  "add or remove names, then draw", scale=5, elem_id="style-map-composers")
        with gr.Column(scale=1, min_width=120):
            draw = gr.Button("Draw map", variant="secondary", elem_id="style-map-draw")
    with gr.Accordion("Cosine similarity of the composers on the map (clustered order)", open=False):
        similarities = gr.Dataframe(interactive=False, show_label=False, elem_id="style-map-similarity")
    shown = gr.State(False)  # whether this page has drawn its first map

    def draw_map(picked: list[str] | None, projection: str) -> tuple:
        with shown_errors("drawing the map"):
            return tools.draw(picked, projection)

    def redraw(picked: list[str], projection: str) -> tuple:
        with shown_errors("drawing the map"):
            return (picked, *tools.draw(picked, projection))

    def show_neighbours(name: str, count: float) -> dict:
        with shown_errors("finding neighbours"):
            return tools.nearest(name, count)

    def first_view(done: bool) -> tuple:
        if done:
            return gr.skip(), gr.skip(), True
        with shown_errors("drawing the map"):
            return (*tools.default(), True)

    common = {"concurrency_id": "style_map", "concurrency_limit": 2}
    tab.select(first_view, [shown], [plot, similarities, shown], api_visibility="private", **common)
    draw.click(draw_map, [chosen, method], [plot, similarities], api_name="style_map", **common, **RAW_INPUTS)
    top.click(lambda p: redraw(tools.most_trained(), p), [method], [chosen, plot, similarities],
              api_visibility="private", **common)
    every.click(lambda p: redraw(list(embeddings.names), p), [method], [chosen, plot, similarities],
                api_visibility="private", **common)
    composer.change(show_neighbours, [composer, k], [table], api_name="neighbours", **common, **RAW_INPUTS)
    k.release(show_neighbours, [composer, k], [table], api_visibility="private", **common)
    if compose is not None and tabs is not None:
        def send_to_compose(name: str | None, other: str | None) -> tuple:
            with shown_errors("sending to Compose"):
                first_name, second = tools.to_compose(name, other)
            mix = gr.skip() if second == NO_BLEND else BLEND_SHARE
            return first_name, second, mix, gr.Tabs(selected="compose")

        picker = compose.picker
        send.click(send_to_compose, [composer, blend], [picker.composer, picker.blend, picker.mix, tabs],
                   api_visibility="private", queue=False, **RAW_INPUTS)
    return tools


__all__ = ["DEFAULT_COUNT", "StyleMap", "build", "similarity_table", "subset"]
