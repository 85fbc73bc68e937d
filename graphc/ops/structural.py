"""Ops that move data without arithmetic: ``reshape``, ``broadcast_to``, ``transpose``,
``slice`` (static basic indexing), its adjoint ``unslice`` (place into zeros), ``concatenate``.

All are linear, so each JVP applies the op itself to the tangent and each VJP applies the
transposed movement to the cotangent.
"""

from __future__ import annotations

import numpy as np

from .. import builder as gc
from ..errors import ShapeError
from .core import bind, defop
from .rules import unbroadcast
from .shapes import check_shape_tuple, same_dtype


def _infer_reshape(x, shape):
    shape = check_shape_tuple(shape)
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ShapeError(f"cannot reshape {x.type_string} (size {x.size}) into shape {shape}")
    return shape, x.dtype


defop(
    "reshape",
    _infer_reshape,
    vjp=[lambda g, out, x, shape: gc.reshape(g, x.shape)],
    jvp=[lambda t, out, x, shape: gc.reshape(t, shape)],
    category="structural",
)


def _infer_broadcast_to(x, shape):
    shape = check_shape_tuple(shape)
    if len(shape) < x.ndim or any(
        d not in (1, s) for d, s in zip(x.shape[::-1], shape[::-1])
    ):
        raise ShapeError(f"cannot broadcast {x.type_string} to shape {shape}")
    return shape, x.dtype


defop(
    "broadcast_to",
    _infer_broadcast_to,
    vjp=[lambda g, out, x, shape: unbroadcast(g, x.shape)],
    jvp=[lambda t, out, x, shape: gc.broadcast_to(t, shape)],
    category="structural",
)


def _infer_transpose(x, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"axes {tuple(axes)} are not a permutation of the axes of {x.type_string}")
    return tuple(x.shape[a] for a in axes), x.dtype


defop(
    "transpose",
    _infer_transpose,
    vjp=[lambda g, out, x, axes: gc.transpose(g, tuple(int(i) for i in np.argsort(axes)))],
    jvp=[lambda t, out, x, axes: gc.transpose(t, axes)],
    category="structural",
)


def _check_slice(shape, starts, steps, lengths):
    if not len(starts) == len(steps) == len(lengths) == len(shape):
        raise ShapeError(f"slice needs one start, step and length per axis of shape {shape}")
    for axis, (dim, start, step, length) in enumerate(zip(shape, starts, steps, lengths)):
        if step == 0 or length < 0:
            raise ShapeError(f"axis {axis}: step must be non-zero and length non-negative")
        if length and not (0 <= start < dim and 0 <= start + step * (length - 1) < dim):
            raise ShapeError(
                f"axis {axis}: {length} elements from {start} by {step} leave the axis of size {dim}"
            )


def _infer_slice(x, starts, steps, lengths):
    _check_slice(x.shape, starts, steps, lengths)
    return tuple(lengths), x.dtype


def _infer_unslice(g, shape, starts, steps):
    shape = check_shape_tuple(shape)
    _check_slice(shape, starts, steps, g.shape)
    return shape, g.dtype


def slice_op(x, starts, steps, lengths):
    return bind("slice", [x], {"starts": starts, "steps": steps, "lengths": lengths})


def unslice_op(g, shape, starts, steps):
    return bind("unslice", [g], {"shape": shape, "starts": starts, "steps": steps})


defop(
    "slice",
    _infer_slice,
    vjp=[lambda g, out, x, starts, steps, lengths: unslice_op(g, x.shape, starts, steps)],
    jvp=[lambda t, out, x, starts, steps, lengths: slice_op(t, starts, steps, lengths)],
    category="structural",
    doc="strided window: lengths[i] elements from starts[i] in steps of steps[i]",
)
defop(
    "unslice",
    _infer_unslice,
    vjp=[lambda g, out, x, shape, starts, steps: slice_op(g, starts, steps, x.shape)],
    jvp=[lambda t, out, x, shape, starts, steps: unslice_op(t, shape, starts, steps)],
    category="structural",
    doc="zeros of `shape` with the strided window set to the operand (the adjoint of slice)",
)


def _infer_concatenate(*xs, axis):
    dtype = same_dtype(*xs)
    first = xs[0]
    if first.ndim == 0:
        raise ShapeError("zero-dimensional arrays cannot be concatenated")
    if not 0 <= axis < first.ndim:
        raise ShapeError(f"axis {axis} is out of bounds for {first.type_string}")
    for x in xs[1:]:
        if x.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis
        ):
            raise ShapeError(
                "all input array dimensions except for the concatenation axis must match, got "
                + ", ".join(x.type_string for x in xs)
            )
    total = sum(x.shape[axis] for x in xs)
    return first.shape[:axis] + (total,) + first.shape[axis + 1 :], dtype


def _concatenate_part(node, out, xs, axis, i):
    """The window of the concatenation (or of its cotangent) that came from operand i."""
    offset = sum(x.shape[axis] for x in xs[:i])
    starts = tuple(offset if a == axis else 0 for a in range(out.ndim))
    return slice_op(node, starts, (1,) * out.ndim, xs[i].shape)


def _concatenate_vjp(g, out, *xs, axis, _operand):
    return _concatenate_part(g, out, xs, axis, _operand)


def _concatenate_jvp(tangents, out, *xs, axis):
    parts = [t if t is not None else gc.zeros_like(x) for t, x in zip(tangents, xs)]
    return gc.concatenate(parts, axis=axis)


defop(
    "concatenate",
    _infer_concatenate,
    vjp=[_concatenate_vjp],
    jvp_joint=_concatenate_jvp,
    arity=None,
    category="structural",
)
