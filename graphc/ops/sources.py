"""Graph sources: placeholders (inputs) and constants. They have no operands and no derivative
rules: a placeholder's adjoint is whatever its consumers send it, a constant's is never built."""

from __future__ import annotations

from ..dtypes import as_dtype
from ..errors import GraphTypeError
from .core import bind
from .declare import defop
from .promotion import constant
from .shapes import check_shape_tuple


def _infer_source(shape, dtype, name=None):
    return check_shape_tuple(shape), as_dtype(dtype)


def placeholder(name: str, shape=(), dtype="float64"):
    """A graph input with a static shape and dtype; ``name`` must be unique within a graph."""
    if not isinstance(name, str) or not name:
        raise GraphTypeError(f"placeholder name must be a non-empty string, got {name!r}")
    shape = check_shape_tuple(shape, f"shape of placeholder {name!r}")
    dt = as_dtype(dtype, f"placeholder {name!r}: ")
    return bind("placeholder", [], {"name": name, "shape": shape, "dtype": str(dt)}, name=name)


defop("placeholder", _infer_source, arity=0, category="source", api="placeholder", function=placeholder,
      doc="a named graph input", _builtin=True)
defop("constant", _infer_source, arity=0, category="source", api="constant", function=constant,
      doc="a constant array", _builtin=True)
