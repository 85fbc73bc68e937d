"""The primitive ops: importing this package declares all of them (see :mod:`graphc.ops.core`)."""

from . import einsum, elementwise, linalg, reductions, sources, structural  # noqa: F401 - registration
from .core import PRIMITIVES, Primitive, bind, defop, primitive

__all__ = ["PRIMITIVES", "Primitive", "bind", "defop", "primitive"]
