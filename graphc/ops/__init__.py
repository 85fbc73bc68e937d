"""The primitive ops: importing this package declares all of them (see :mod:`graphc.ops.core`
for what a declaration holds and :mod:`graphc.ops.declare` for how one is made)."""

from . import (  # noqa: F401 - registration
    cumulative,
    einsum,
    elementwise,
    factorizations,
    indexing,
    linalg,
    reductions,
    sources,
    structural,
)
from .core import PRIMITIVES, Primitive, api, bind, primitive
from .declare import defop

__all__ = ["PRIMITIVES", "Primitive", "api", "bind", "defop", "primitive"]
