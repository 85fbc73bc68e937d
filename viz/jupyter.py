"""How a ``Graph`` shows itself in Jupyter: a picture when graphviz is there, else its listing.

``Graph._repr_mimebundle_`` and ``Graph._repr_svg_`` (in :mod:`graphc.ir`) delegate here lazily, so
importing graphc never imports graphviz.
"""

from __future__ import annotations

from graphc.errors import GraphError
from graphc.ir import Graph

from .dot import dot_available, run_dot, to_dot

NOTEBOOK_MAX_NODES = 300  # larger graphs are folded by scope, or shown as a listing
NOTEBOOK_TIMEOUT = 30.0


def svg(graph: Graph) -> str | None:
    """The picture as SVG text, or None when graphviz is missing or the graph is too large."""
    if not dot_available():
        return None
    try:
        source = to_dot(graph, max_nodes=NOTEBOOK_MAX_NODES).source
        return run_dot(source, "svg", timeout=NOTEBOOK_TIMEOUT).decode("utf-8")
    except GraphError:
        return None


def mimebundle(graph: Graph, include=None, exclude=None) -> dict[str, str]:
    bundle = {"text/plain": str(graph)}
    wanted = (include is None or "image/svg+xml" in include) and not (exclude and "image/svg+xml" in exclude)
    if wanted:
        picture = svg(graph)
        if picture is not None:
            bundle["image/svg+xml"] = picture
    return bundle
