"""Style map tab: the model's learned composer embeddings as a 2-D map, similarities and neighbours.

Built on ``muse.composers`` (the composer-embedding tools): pick composers to compare and a
projection (PCA or t-SNE) for the map and their cosine-similarity table; pick one composer for its
nearest neighbours. API: ``/style_map`` (composers, method -> map image, similarity table) and
``/neighbours`` (composer, k -> table).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from demos.context import DemoContext
from demos.jobs import shown_errors
from muse.composers import ComposerAnalysis, ComposerEmbeddings, analyse, neighbours, plot_map
from muse.core.errors import UserError

log = logging.getLogger(__name__)

METHOD_LABELS = {"PCA": "pca", "t-SNE": "tsne"}
_PLOT_LOCK = threading.Lock()  # the map is drawn with pyplot, which is not thread-safe


def subset(embeddings: ComposerEmbeddings, names: Sequence[str]) -> ComposerEmbeddings:
    """The embeddings of ``names`` only (in the model's order); at least two are needed for a map."""
    chosen = sorted({embeddings.index(n) for n in names})
    if len(chosen) < 2:
        raise UserError("pick at least two composers to compare")
    return ComposerEmbeddings(tuple(embeddings.names[i] for i in chosen), embeddings.vectors[chosen])


def similarity_table(analysis: ComposerAnalysis) -> dict:
    """Cosine similarities of ``analysis`` as a table (rows and columns in clustering order)."""
    order = [analysis.names[i] for i in analysis.order]
    index = {n: i for i, n in enumerate(analysis.names)}
    rows = [[a, *(round(float(analysis.similarity[index[a], index[b]]), 3) for b in order)] for a in order]
    return {"headers": ["composer", *order], "data": rows}


class StyleMap:
    """Draws maps and tables for one model's composer embeddings into the demo's media folder."""

    def __init__(self, ctx: DemoContext, embeddings: ComposerEmbeddings) -> None:
        self.ctx, self.embeddings = ctx, embeddings
        self._default: tuple[str, dict] | None = None
        self._default_lock = threading.Lock()

    def default(self) -> tuple[str, dict]:
        """The map and table of all composers (PCA), drawn once."""
        with self._default_lock:
            if self._default is None or not Path(self._default[0]).is_file():  # pruned by the media folder
                self._default = self.draw(self.embeddings.names, "PCA")
            return self._default

    def warm_up(self) -> None:
        """Draw the default map in the background (the first map loads scikit-learn, which takes seconds)."""
        def work() -> None:
            try:
                self.default()
            except Exception:  # shown when the tab asks for it again
                log.exception("drawing the composer map failed")

        threading.Thread(target=work, name="style-map-warm-up", daemon=True).start()

    def draw(self, names: Sequence[str], method_label: str) -> tuple[str, dict]:
        method = METHOD_LABELS.get(method_label, method_label)
        if method not in METHOD_LABELS.values():
            raise UserError(f"unknown projection {method_label!r}; choose {' or '.join(METHOD_LABELS)}")
        chosen = subset(self.embeddings, names or self.embeddings.names)
        analysis = analyse(chosen, methods=(method,))
        path = self.ctx.media.folder / f"{self.ctx.media.new_stem('style-map')}.png"
        with _PLOT_LOCK:
            plot_map(analysis, path, method)
        return str(path), similarity_table(analysis)

    def nearest(self, name: str, k: float) -> dict:
        if not name:
            raise UserError("pick a composer")
        k = int(k)
        if not 1 <= k <= len(self.embeddings.names) - 1:
            raise UserError(f"the number of neighbours must be from 1 to {len(self.embeddings.names) - 1}, not {k}")
        found = neighbours(self.embeddings, name, k)
        return {"headers": ["composer", "cosine similarity"],
                "data": [[n.name, round(n.similarity, 3)] for n in found]}


def build(ctx: DemoContext, embeddings: ComposerEmbeddings, tab: gr.Tab) -> StyleMap:
    """The Style map tab (call inside ``tab``): its map is drawn when the tab is first opened."""
    tools = StyleMap(ctx, embeddings)
    tools.warm_up()
    names = list(embeddings.names)
    first = "bach" if "bach" in names else names[0]
    gr.Markdown("Where the model places each composer: nearby composers have similar learned embeddings "
                "(cosine similarity of their directions).")
    with gr.Row():
        with gr.Column(scale=3):
            image = gr.Image(None, type="filepath", format="png", label="Composer map", interactive=False,
                             elem_id="style-map-image")
        with gr.Column(scale=2):
            chosen = gr.Dropdown(names, value=names, multiselect=True, label="Composers to compare",
                                 elem_id="style-map-composers")
            method = gr.Radio(list(METHOD_LABELS), value="PCA", label="Projection", elem_id="style-map-method")
            draw = gr.Button("Draw map", variant="primary", elem_id="style-map-draw")
            composer = gr.Dropdown(names, value=first, label="Nearest neighbours of", elem_id="style-map-composer")
            k = gr.Slider(1, max(1, len(names) - 1), value=min(5, len(names) - 1), step=1, label="How many",
                          elem_id="style-map-k")
            table = gr.Dataframe(value=tools.nearest(first, min(5, len(names) - 1)), label="Nearest neighbours",
                                 interactive=False, elem_id="style-map-neighbours")
    similarities = gr.Dataframe(label="Cosine similarity (clustered order)", interactive=False,
                                elem_id="style-map-similarity")

    def draw_map(picked: list[str], projection: str) -> tuple[str, dict]:
        with shown_errors("drawing the map"):
            return tools.draw(picked, projection)

    def show_neighbours(name: str, count: float) -> dict:
        with shown_errors("finding neighbours"):
            return tools.nearest(name, count)

    def first_view(current: str | None) -> tuple:
        if current:
            return gr.skip(), gr.skip()
        with shown_errors("drawing the map"):
            return tools.default()

    common = {"concurrency_id": "style_map", "concurrency_limit": 2}
    tab.select(first_view, [image], [image, similarities], api_visibility="private", **common)
    draw.click(draw_map, [chosen, method], [image, similarities], api_name="style_map", **common)
    composer.change(show_neighbours, [composer, k], [table], api_name="neighbours", **common)
    k.release(show_neighbours, [composer, k], [table], api_visibility="private", **common)
    return tools


__all__ = ["StyleMap", "build", "similarity_table", "subset"]
