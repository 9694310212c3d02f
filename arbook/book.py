"""How the book's pages show widgets: a MyST-NB output renderer (``nb_render_plugin: arbook``).

A widget in an executed notebook is saved as a *view* that only a widget manager can draw: in
Jupyter or Colab the kernel's, in a static page the ipywidgets HTML manager loaded from a CDN
with the kernel's state saved into the page. The book's pages do neither. Its explorers
(:mod:`arbook.widgets`) are JavaScript that draws itself: each explorer's output carries, in its
metadata under :data:`STATIC_HTML`, the markup and script that show it in a static page (see
:func:`arbook.bundle.static_html`), and this renderer writes that markup where the view was. A
view without it (a progress bar of training) has no page form and is left out, and the saved
widget state is not written into the page at all, so no page loads a widget manager or a CDN.
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.core.render import MimeData, NbElementRenderer

from arbook.bundle import STATIC_HTML


class BookRenderer(NbElementRenderer):
    """MyST-NB's renderer, with the book's handling of widget views (module docstring)."""

    def render_widget_view(self, data: MimeData) -> list[nodes.Element]:
        html = data.output_metadata.get(STATIC_HTML)
        return [nodes.raw(text=html, format="html")] if html else []

    def render_widget_view_inline(self, data: MimeData) -> list[nodes.Element]:
        return self.render_widget_view(data)

    def render_nb_finalise(self, metadata: dict) -> None:
        super().render_nb_finalise({k: v for k, v in metadata.items() if k != "widgets"})


__all__ = ["BookRenderer"]
