"""Ops that move data without arithmetic: ``reshape``, ``broadcast_to``, ``transpose``,
``slice`` (static basic indexing), its adjoint ``unslice`` (place into zeros), ``concatenate``.

All are linear, so each JVP applies the op itself to the tangent and each VJP applies the
transposed movement to the cotangent. Each declaration carries its builder function (numpy's
name and argument conventions: ``reshape`` with one ``-1``, ``transpose`` with ``axes=None``).
"""

from __future__ import annotations

import math

import numpy as np

from ..context import where as where_text
from ..errors import GraphTypeError, ShapeError
from .core import api as gc
from .core import bind, current_meta
from .declare import defop
from .notation import POSTFIX, Expr, apply, atom, call, shape_text, transposed
from .promotion import as_node, promote
from .rules import unbroadcast
from .shapes import check_shape_tuple, normalize_axis, same_dtype


# --- reshape -------------------------------------------------------------------------------------
def _infer_reshape(x, shape):
    shape = check_shape_tuple(shape)
    if math.prod(shape) != x.size:
        raise ShapeError(f"cannot reshape {x.type_string} (size {x.size}) into shape {shape}")
    return shape, x.dtype


def reshape(x, shape, name=None):
    """``np.reshape`` (one -1 allowed); the element count must be unchanged."""
    x = as_node(x)
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise GraphTypeError(f"reshape: shape must be a tuple of ints, got {shape!r}")
    shape = list(shape)
    unknown = [i for i, d in enumerate(shape) if isinstance(d, (int, np.integer)) and d == -1]
    if len(unknown) > 1:
        raise ShapeError(f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
    if unknown:
        known = math.prod(int(d) for d in shape if d != -1)
        if known == 0 or x.size % known:
            raise ShapeError(
                f"reshape: cannot reshape {x.type_string} into shape {tuple(shape)}"
                f"{where_text(current_meta())}"
            )
        shape[unknown[0]] = x.size // known
    shape = check_shape_tuple(shape, "reshape shape")
    if shape == x.shape and name is None:
        return x
    return bind("reshape", [x], {"shape": shape}, name=name)


defop("reshape", _infer_reshape, arity=1, category="structural", api="reshape", function=reshape,
      vjp=[lambda g, out, x, shape: gc.reshape(g, x.shape)],
      jvp=[lambda t, out, x, shape: gc.reshape(t, shape)],
      impl=lambda x, shape: np.reshape(x, shape),
      formula=lambda node, a: apply("reshape", a, atom(shape_text(node.attrs["shape"]))), _builtin=True)


# --- broadcast_to --------------------------------------------------------------------------------
def _infer_broadcast_to(x, shape):
    shape = check_shape_tuple(shape)
    if len(shape) < x.ndim or any(
        d not in (1, s) for d, s in zip(x.shape[::-1], shape[::-1])
    ):
        raise ShapeError(f"cannot broadcast {x.type_string} to shape {shape}")
    return shape, x.dtype


def broadcast_to(x, shape, name=None):
    """``np.broadcast_to``: a read-only broadcast view (its adjoint sums the broadcast axes)."""
    x = as_node(x)
    shape = check_shape_tuple(shape, "broadcast_to shape")
    if shape == x.shape and name is None:
        return x
    return bind("broadcast_to", [x], {"shape": shape}, name=name)


defop("broadcast_to", _infer_broadcast_to, arity=1, category="structural", api="broadcast_to",
      function=broadcast_to,
      vjp=[lambda g, out, x, shape: unbroadcast(g, x.shape)],
      jvp=[lambda t, out, x, shape: gc.broadcast_to(t, shape)],
      impl=lambda x, shape: np.broadcast_to(x, shape),
      formula=lambda node, a: apply("broadcast", a, atom(shape_text(node.attrs["shape"]))), _builtin=True)


# --- transpose -----------------------------------------------------------------------------------
def _infer_transpose(x, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"axes {tuple(axes)} are not a permutation of the axes of {x.type_string}")
    return tuple(x.shape[a] for a in axes), x.dtype


def transpose(x, axes=None, name=None):
    """``np.transpose``: reverse the axes, or permute them by ``axes``."""
    x = as_node(x)
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    else:
        if not isinstance(axes, (tuple, list)):
            raise GraphTypeError(f"transpose: axes must be a tuple of ints, got {axes!r}")
        axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    if axes == tuple(range(x.ndim)) and name is None:
        return x
    return bind("transpose", [x], {"axes": axes}, name=name)


def _transpose_formula(node, a):
    axes = tuple(node.attrs["axes"])
    return transposed(a) if axes == (1, 0) else apply("transpose", a, atom(str(axes)))


defop("transpose", _infer_transpose, arity=1, category="structural", api="transpose", function=transpose,
      vjp=[lambda g, out, x, axes: gc.transpose(g, tuple(int(i) for i in np.argsort(axes)))],
      jvp=[lambda t, out, x, axes: gc.transpose(t, axes)],
      impl=lambda x, axes: np.transpose(x, axes), formula=_transpose_formula, _builtin=True)


# --- slice, unslice ------------------------------------------------------------------------------
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


def python_slices(starts, steps, lengths) -> tuple[slice, ...]:
    """The window as Python slices (numpy indexing)."""
    out = []
    for start, step, length in zip(starts, steps, lengths):
        stop = start + step * length
        out.append(slice(start, None if stop < 0 else stop, step))
    return tuple(out)


def _unslice_impl(g, shape, starts, steps):
    out = np.zeros(shape, dtype=g.dtype)
    out[python_slices(starts, steps, g.shape)] = g
    return out


def slice_text(shape, starts, steps, lengths) -> str:
    """The window as numpy would write it: ``[1:3, :, ::2]``."""
    parts = []
    for dim, start, step, length in zip(shape, starts, steps, lengths):
        if start == 0 and step == 1 and length == dim:
            parts.append(":")
            continue
        stop = start + step * length
        text = f"{start}:{stop if stop >= 0 else ''}"
        parts.append(text + (f":{step}" if step != 1 else ""))
    return "[" + ", ".join(parts) + "]"


def _slice_formula(node, a):
    at = node.attrs
    window = slice_text(node.inputs[0].shape, at["starts"], at["steps"], at["lengths"])
    return Expr(f"{a.at(POSTFIX)}{window}", POSTFIX)


defop("slice", _infer_slice, arity=1, category="structural",
      vjp=[lambda g, out, x, starts, steps, lengths: unslice_op(g, x.shape, starts, steps)],
      jvp=[lambda t, out, x, starts, steps, lengths: slice_op(t, starts, steps, lengths)],
      impl=lambda x, starts, steps, lengths: x[python_slices(starts, steps, lengths)],
      formula=_slice_formula,
      doc="strided window: lengths[i] elements from starts[i] in steps of steps[i]", _builtin=True)
defop("unslice", _infer_unslice, arity=1, category="structural",
      vjp=[lambda g, out, x, shape, starts, steps: slice_op(g, starts, steps, x.shape)],
      jvp=[lambda t, out, x, shape, starts, steps: unslice_op(t, shape, starts, steps)],
      impl=_unslice_impl,
      formula=lambda node, a: apply("unslice", a, atom(shape_text(node.attrs["shape"]))),
      doc="zeros of `shape` with the strided window set to the operand (the adjoint of slice)",
      _builtin=True)


# --- item: one result of an op with several -----------------------------------------------------
def _infer_item(t, index):
    if t.types is None:
        raise ShapeError(f"item picks a result of an op with several, got a {t.op} node {t.type_string}")
    if not 0 <= index < len(t.types):
        raise ShapeError(f"result {index} of a {t.op} node with {len(t.types)} results {t.type_string}")
    return t.types[index]


def item(t, index: int, name=None):
    """Result ``index`` of a node with several results (``t[index]``)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise GraphTypeError(f"a result is picked by an int, got {index!r}")
    n = len(t.types) if t.types is not None else 0
    return bind("item", [t], {"index": int(index) % n if n and -n <= index < 0 else int(index)}, name=name)


defop("item", _infer_item, arity=1, category="structural", api="item", function=item,
      impl=lambda t, index: t[index],
      formula=lambda node, a: Expr(f"{a.at(POSTFIX)}[{node.attrs['index']}]", POSTFIX),
      doc="result `index` of a node with several results; the adjoint and JVP passes route its "
          "cotangent and tangent themselves", _builtin=True)


# --- concatenate ---------------------------------------------------------------------------------
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


def concatenate(arrays, axis=0, name=None):
    """``np.concatenate`` of a sequence of nodes along ``axis``."""
    if isinstance(arrays, (str, bytes)) or not isinstance(arrays, (list, tuple)):
        raise GraphTypeError("concatenate takes a list or tuple of nodes")
    if not arrays:
        raise ShapeError("concatenate needs at least one array")
    arrays = promote(*arrays)
    ax = normalize_axis(axis, arrays[0].ndim) if arrays[0].ndim else axis
    if len(arrays) == 1 and name is None:
        return arrays[0]
    return bind("concatenate", arrays, {"axis": ax}, name=name)


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


defop("concatenate", _infer_concatenate, arity=None, category="structural", api="concatenate",
      function=concatenate, vjp=[_concatenate_vjp], jvp_joint=_concatenate_jvp,
      impl=lambda *xs, axis: np.concatenate(xs, axis=axis), formula=call("concat"), _builtin=True)
