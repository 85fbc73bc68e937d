"""The project's exception types.

Every error graphc raises on purpose derives from :class:`GraphError` (a ``ValueError``) or
:class:`GraphTypeError` (a ``TypeError``), so callers can catch graphc's complaints apart from bugs.
"""

from __future__ import annotations


class GraphError(ValueError):
    """Base of every graphc error: a graph, an argument or an input is not what it should be."""


class ShapeError(GraphError):
    """Operand shapes do not fit the op's shape rule (raised when the node is built)."""


class DTypeError(GraphError):
    """Operand dtypes do not fit the op (e.g. a float op given a boolean)."""


class InputError(GraphError):
    """A compiled graph was called with a missing, unknown, misshapen or mistyped input."""


class IndexRangeError(InputError):
    """An index known only at run time is out of range of the axis it indexes (``mode="raise"``).
    Backends re-raise it as an :class:`InputError` naming the op, where it was built and the
    index's input; ``value``, ``size`` and ``axis`` say what was out of range."""

    def __init__(self, value: int, size: int, axis: int, message: str | None = None):
        self.value, self.size, self.axis = value, size, axis
        super().__init__(message or f"index {value} is out of range for axis {axis} of size {size}")


class SerializationError(GraphError):
    """A graph file is malformed; the message names the JSON path of the problem."""


class DeclarationError(GraphError):
    """An op declaration is inconsistent: a name already taken, rules that do not match the op's
    operands, a shape rule or derivative rule that builds the wrong thing (named by op and rule)."""


class BackendError(GraphError):
    """A backend cannot lower or run a graph (unknown backend, op it cannot lower)."""


class GraphTypeError(TypeError):
    """An argument of the wrong Python type was given to the builder API."""
