"""Shape arithmetic shared by the shape rules: numpy broadcasting and axis normalization."""

from __future__ import annotations

import math

import numpy as np

from ..dtypes import type_string
from ..errors import DTypeError, GraphTypeError, ShapeError

MAX_ELEMENTS = 2**63 - 1


def broadcast_shape_tuples(*shapes, describe=None) -> tuple[int, ...]:
    """numpy's broadcasting of shapes; ShapeError naming them (``describe()``) when they clash."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(-ndim, 0):
        size = 1
        for shape in shapes:
            if -axis <= len(shape):
                d = shape[axis]
                if d != 1:
                    if size not in (1, d):
                        what = describe() if describe else " and ".join(str(s) for s in shapes)
                        raise ShapeError(
                            f"shapes {what} cannot be broadcast together (axis {axis}: {size} vs {d})"
                        )
                    size = d
        out.append(size)
    return tuple(out)


def broadcast_shapes(*nodes) -> tuple[int, ...]:
    """numpy's broadcasting of the nodes' shapes."""
    return broadcast_shape_tuples(
        *(n.shape for n in nodes),
        describe=lambda: " and ".join(type_string(m.shape, m.dtype) for m in nodes),
    )


def same_dtype(*nodes):
    dtypes = {n.dtype for n in nodes}
    if len(dtypes) != 1:
        raise DTypeError(
            "operands must share one dtype (the builder casts them), got "
            + ", ".join(str(n.dtype) for n in nodes)
        )
    return nodes[0].dtype


def require_float(dtype) -> None:
    """Float-only ops refuse other dtypes (the builder casts integers before binding them)."""
    if dtype.kind != "f":
        raise DTypeError(f"needs a float operand, got {dtype} (the builder casts integers)")


def _is_int(value) -> bool:
    """A Python or numpy integer, not a bool (numpy and JAX take ``np.int64(0)`` as an axis)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def normalize_axis(axis, ndim: int) -> int:
    if not _is_int(axis):
        raise GraphTypeError(f"axis must be an int, got {axis!r}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``None`` -> all axes; int or tuple -> sorted non-negative axes, duplicates refused."""
    if axis is None:
        return tuple(range(ndim))
    if _is_int(axis):
        return (normalize_axis(axis, ndim),)
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"duplicate value in axis {tuple(axis)}")
        return tuple(sorted(axes))
    raise GraphTypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")


def check_shape_tuple(shape, what="shape") -> tuple[int, ...]:
    """A user-given shape as a tuple of non-negative ints (an int alone is a 1-d shape)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise GraphTypeError(f"{what} must be a tuple of ints, got {shape!r}")
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise GraphTypeError(f"{what} must contain only ints, got {tuple(shape)!r}")
        if d < 0:
            raise ShapeError(f"{what} {tuple(shape)} has a negative dimension")
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) > MAX_ELEMENTS:  # Python integers: a count never wraps around
        raise ShapeError(f"{what} {shape} has {math.prod(shape)} elements, more than an array can "
                         f"index ({MAX_ELEMENTS} = 2**63 - 1)")
    return shape
