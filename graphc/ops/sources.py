"""Graph sources: placeholders (inputs) and constants. They have no operands and no derivative
rules: a placeholder's adjoint is whatever its consumers send it, a constant's is never built."""

from __future__ import annotations

from ..dtypes import as_dtype
from .core import defop
from .shapes import check_shape_tuple


def _infer_source(shape, dtype, name=None):
    return check_shape_tuple(shape), as_dtype(dtype)


defop("placeholder", _infer_source, arity=0, category="source", doc="a named graph input")
defop("constant", _infer_source, arity=0, category="source", doc="a constant array")
