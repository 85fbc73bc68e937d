"""Why a picture could not be drawn: each is a :class:`graphc.errors.GraphError`."""

from __future__ import annotations

from graphc.errors import GraphError


class RenderError(GraphError):
    """graphviz is missing or failed, or a rendering option is wrong (the message says which)."""


class GraphTooLargeError(RenderError):
    """The picture would have more boxes than ``max_nodes``: dot would take too long to lay it out."""


class RenderTimeoutError(RenderError):
    """dot did not finish within the time limit and was stopped."""
