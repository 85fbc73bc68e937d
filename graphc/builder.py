"""The numpy-like builder API (``gc.exp``, ``gc.sum``, operators on nodes, ...), assembled here.

The primitives' own builder functions (``gc.exp``, ``gc.matmul``, ``gc.reshape``, ...) come from
their declarations in :mod:`graphc.ops`; this module adds the *composites*, functions made of
primitives that need no derivative rules of their own (the adjoint of a composite is the adjoint
of what it is made of): ``mean``, ``softplus``, ``logsumexp``, ``dot``, ``stack``, indexing,
``square``, ..., and the operators of :class:`~graphc.ir.Node`. Composites are registered in
:data:`graphc.ops.core.api` too, so derivative rules can use them.
"""

from __future__ import annotations

import builtins

import numpy as np

from . import ops  # noqa: F401 - declares the primitives, whose builder functions are exported below
from .context import where as _where_text
from .dtypes import as_dtype, is_float
from .errors import GraphTypeError, ShapeError
from .ir import Node
from .ops.core import api as gc
from .ops.core import bind, current_meta
from .ops.indexing import advanced_getitem, at, is_advanced
from .ops.promotion import as_node, cast, promote, scalar_constant
from .ops.shapes import normalize_axes, normalize_axis

public = gc.register  # a composite of this module, registered for derivative rules


# ----------------------------------------------------------------------------------------------
# Elementwise


def square(x, name=None) -> Node:
    """``x * x`` (one node using its operand twice)."""
    x = as_node(x)
    return gc.multiply(x, x, name=name)


def softplus(x, name=None) -> Node:
    """``gc.log(1 + gc.exp(x))`` computed as ``gc.max(x, 0) + gc.log1p(gc.exp(-|x|))`` (no overflow)."""
    (x,) = promote(x, floating=True)
    return gc.add(gc.maximum(x, 0), gc.log1p(gc.exp(gc.negative(gc.abs(x)))), name=name)


def isfinite(x, name=None) -> Node:
    """True where x is neither infinite nor NaN (``|x| < inf``)."""
    x = as_node(x)
    if not is_float(x.dtype):
        return ones_like(x, dtype=bool, name=name)
    return gc.less(gc.abs(x), np.inf, name=name)


def zeros_like(x, dtype=None, name=None) -> Node:
    x = as_node(x)
    dt = as_dtype(dtype) if dtype is not None else x.dtype
    return gc.broadcast_to(scalar_constant(0, dt), x.shape, name=name)


def ones_like(x, dtype=None, name=None) -> Node:
    x = as_node(x)
    dt = as_dtype(dtype) if dtype is not None else x.dtype
    return gc.broadcast_to(scalar_constant(1, dt), x.shape, name=name)


# ----------------------------------------------------------------------------------------------
# Reductions


def mean(x, axis=None, keepdims: bool = False, name=None) -> Node:
    """``np.mean``: the sum divided by the number of reduced elements (ints give float64)."""
    x = as_node(x)
    axes = normalize_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    (x,) = promote(x, floating=True)
    return gc.divide(gc.sum(x, axes, keepdims), count, name=name)


def logsumexp(x, axis=None, keepdims: bool = False, name=None) -> Node:
    """``gc.log(gc.sum(gc.exp(x)))`` shifted by the (gradient-stopped) maximum so it never overflows."""
    (x,) = promote(x, floating=True)
    axes = normalize_axes(axis, x.ndim)
    m = gc.stop_gradient(gc.max(x, axes, keepdims=True))
    m = gc.where(isfinite(m), m, 0.0)
    total = gc.log(gc.sum(gc.exp(gc.subtract(x, m)), axes, keepdims=True)) + m
    if keepdims:
        return total if name is None else _rename(total, name)
    return gc.reshape(total, tuple(d for i, d in enumerate(x.shape) if i not in axes), name=name)


def log_softmax(x, axis=-1, name=None) -> Node:
    """``x - logsumexp(x, axis)``: log-probabilities, exact also where softmax underflows to 0."""
    (x,) = promote(x, floating=True)
    return gc.subtract(x, logsumexp(x, axis, keepdims=True), name=name)


def softmax(x, axis=-1, name=None) -> Node:
    """``exp(x) / sum(exp(x), axis)``, as ``exp(log_softmax(x))`` (it never overflows)."""
    return gc.exp(log_softmax(x, axis), name=name)


def clip(x, a_min=None, a_max=None, name=None) -> Node:
    """``np.clip``: ``minimum(maximum(x, a_min), a_max)`` (either bound may be None). Its
    derivative is 1 strictly inside the bounds and 0 outside (½ at a bound, where the max and
    min share it)."""
    x = as_node(x)
    if a_min is None and a_max is None:
        raise GraphTypeError("clip: give a_min, a_max or both")
    out = x if a_min is None else gc.maximum(x, a_min)
    out = out if a_max is None else gc.minimum(out, a_max)
    return out if name is None else _rename(out, name)


def _rename(x: Node, name: str) -> Node:
    x._annotate(name=name)
    return x


# ----------------------------------------------------------------------------------------------
# Shapes


def matrix_transpose(x, name=None) -> Node:
    """Swap the last two axes (``x.mT``)."""
    x = as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose needs at least 2 dimensions, got {x.type_string}")
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return gc.transpose(x, perm, name=name)


def expand_dims(x, axis, name=None) -> Node:
    """``np.expand_dims`` (axis an int or a tuple)."""
    x = as_node(x)
    if isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    elif isinstance(axis, (int, np.integer)) and not isinstance(axis, (bool, np.bool_)):
        axes = (axis,)
    else:
        raise GraphTypeError(f"expand_dims: axis must be an int or a tuple of ints, got {axis!r}")
    ndim = x.ndim + len(axes)
    axes = sorted(normalize_axis(a, ndim) for a in axes)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"expand_dims: repeated axis in {axis!r}")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return gc.reshape(x, tuple(shape), name=name)


def squeeze(x, axis=None, name=None) -> Node:
    """``np.squeeze``: drop length-1 axes (all of them, or those named, which must have length 1)."""
    x = as_node(x)
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(
                    f"squeeze: cannot select axis {a} of {x.type_string}: its length is not 1"
                )
    return gc.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes), name=name)


def stack(arrays, axis=0, name=None) -> Node:
    """``np.stack``: join along a new axis."""
    if isinstance(arrays, Node) or not isinstance(arrays, (list, tuple)) or not arrays:
        raise GraphTypeError("stack takes a non-empty list or tuple of nodes")
    arrays = [as_node(a) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(
            "stack: all input arrays must have the same shape, got "
            + ", ".join(a.type_string for a in arrays)
        )
    ax = normalize_axis(axis, arrays[0].ndim + 1)
    return gc.concatenate([expand_dims(a, ax) for a in arrays], axis=ax, name=name)


# ----------------------------------------------------------------------------------------------
# Indexing


def getitem(x: Node, index) -> Node:
    """numpy indexing: static ints, slices, ``None`` and ``...``, and integer arrays (nodes,
    lists or numpy arrays: a gather, :func:`graphc.ops.indexing.advanced_getitem`)."""
    if x.types is not None:  # a node with several results: pick one
        return gc.item(x, index)
    if not isinstance(index, tuple):
        index = (index,)
    if builtins.any(is_advanced(item) for item in index):  # indexing by data: a gather
        return advanced_getitem(x, index, getitem)
    for item in index:
        if not (
            item is None
            or item is Ellipsis
            or isinstance(item, slice)
            or (isinstance(item, (int, np.integer)) and not isinstance(item, bool))
        ):
            raise GraphTypeError(
                f"indexing supports static ints, slices, None, ... and integer arrays, got {item!r} "
                f"of type {type(item).__name__}"
            )
        if isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and not isinstance(part, (int, np.integer)):
                    raise GraphTypeError(f"slice bounds must be static ints, got {item!r}")
    if builtins.sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    consumed = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if consumed > x.ndim:
        raise ShapeError(
            f"too many indices for {x.type_string}: {x.ndim} dimensional, {consumed} were indexed"
            f"{_where_text(current_meta())}"
        )
    if any(i is Ellipsis for i in index):
        pos = next(k for k, i in enumerate(index) if i is Ellipsis)
        index = index[:pos] + (slice(None),) * (x.ndim - consumed) + index[pos + 1 :]
    else:
        index = index + (slice(None),) * (x.ndim - consumed)

    starts, steps, lengths, out_shape = [], [], [], []
    axis = 0
    for item in index:
        if item is None:
            out_shape.append(1)
            continue
        dim = x.shape[axis]
        if isinstance(item, slice):
            if item.step == 0:
                raise ShapeError("slice step cannot be zero")
            start, stop, step = item.indices(dim)
            length = len(range(start, stop, step))
            out_shape.append(length)
        else:
            i = int(item)
            if not -dim <= i < dim:
                raise ShapeError(
                    f"index {i} is out of bounds for axis {axis} with size {dim}"
                    f"{_where_text(current_meta())}"
                )
            start, step, length = i % dim, 1, 1
        starts.append(start if length else 0)
        steps.append(step)
        lengths.append(length)
        axis += 1
    sliced = x
    if tuple(lengths) != x.shape or builtins.any(s != 1 for s in steps):
        sliced = bind(
            "slice", [x], {"starts": tuple(starts), "steps": tuple(steps), "lengths": tuple(lengths)}
        )
    return gc.reshape(sliced, tuple(out_shape))


# ----------------------------------------------------------------------------------------------
# Linear algebra


def dot(a, b, name=None) -> Node:
    """``np.dot``: a product for scalars, ``matmul`` up to 2-d, and the sum over the last axis of
    ``a`` and the second-to-last of ``b`` beyond."""
    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return gc.multiply(a, b, name=name)
    if a.ndim <= 2 and b.ndim <= 2:
        return gc.matmul(a, b, name=name)
    k = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if k != kb:
        raise ShapeError(f"dot: shapes {a.type_string} and {b.type_string} not aligned ({k} != {kb})")
    # move b's contracted axis to the front, flatten both sides to matrices, multiply, unflatten
    b_axis = b.ndim - 2
    perm = (b_axis,) + tuple(i for i in range(b.ndim) if i != b_axis)
    b_moved = gc.transpose(b, perm)
    left = gc.reshape(a, (-1, k))
    right = gc.reshape(b_moved, (k, -1))
    out_shape = a.shape[:-1] + tuple(b.shape[i] for i in perm[1:])
    return gc.reshape(gc.matmul(left, right), out_shape, name=name)


def vdot(a, b, name=None) -> Node:
    """Inner product of two arrays of the same size, flattened."""
    a, b = promote(a, b)
    return gc.sum(gc.multiply(gc.reshape(a, (-1,)), gc.reshape(b, (-1,))), name=name)


def outer(a, b, name=None) -> Node:
    """``np.outer``: the inputs are flattened; ``out[i, j] = a[i] * b[j]``."""
    a, b = promote(a, b)
    return gc.multiply(gc.reshape(a, (-1, 1)), gc.reshape(b, (1, -1)), name=name)


# ----------------------------------------------------------------------------------------------
# Operators on nodes


def _reflected(name):
    return lambda self, other: getattr(gc, name)(other, self)


def _forward(name):
    return lambda self, *args: getattr(gc, name)(self, *args)


_OPERATORS = {
    "__add__": "add", "__sub__": "subtract", "__mul__": "multiply", "__truediv__": "divide",
    "__pow__": "power", "__matmul__": "matmul", "__lt__": "less", "__le__": "less_equal",
    "__gt__": "greater", "__ge__": "greater_equal", "__eq__": "equal", "__ne__": "not_equal",
    "__neg__": "negative", "__abs__": "abs", "__getitem__": "getitem", "__mod__": "remainder",
    "__floordiv__": "floor_divide",
}
_REFLECTED = {"__radd__": "add", "__rsub__": "subtract", "__rmul__": "multiply",
              "__rtruediv__": "divide", "__rpow__": "power", "__rmatmul__": "matmul",
              "__rmod__": "remainder", "__rfloordiv__": "floor_divide"}


_UFUNC_ALIASES = {"true_divide": "divide", "absolute": "abs"}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """numpy's ufuncs on nodes build nodes (``np.exp(x)`` is ``gc.exp(x)``, ``array + x`` is
    ``gc.add(array, x)``); what has no graphc counterpart (``out=``, ``np.add.reduce``) is a
    GraphTypeError naming what to use instead of numpy's bare TypeError."""
    name = _UFUNC_ALIASES.get(ufunc.__name__, ufunc.__name__)
    fn = getattr(gc, name, None)
    if method != "__call__" or kwargs or fn is None:
        what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        extra = f" with {sorted(kwargs)}" if kwargs else ""
        hint = f"gc.{name}" if fn is not None else "the graphc builder functions"
        raise GraphTypeError(f"{what}{extra} cannot take a graph node; use {hint}")
    return fn(*inputs)


def _array_function(self, func, types, args, kwargs):
    name = getattr(func, "__name__", repr(func))
    hint = f"gc.{name}" if getattr(gc, name, None) is not None else "the graphc builder functions"
    raise GraphTypeError(f"np.{name} cannot take a graph node (numpy would make it an array of objects); "
                         f"use {hint}")


def _install_operators():
    Node.__array_ufunc__ = _array_ufunc
    Node.__array_function__ = _array_function
    for attr, name in _OPERATORS.items():
        setattr(Node, attr, _forward(name))
    for attr, name in _REFLECTED.items():
        setattr(Node, attr, _reflected(name))
    Node.__pos__ = lambda self: self
    Node.T = property(lambda self: gc.transpose(self))
    Node.mT = property(matrix_transpose)
    Node.astype = lambda self, dtype: cast(self, dtype)
    Node.sum = lambda self, axis=None, keepdims=False: gc.sum(self, axis, keepdims)
    Node.mean = lambda self, axis=None, keepdims=False: mean(self, axis, keepdims)
    Node.max = lambda self, axis=None, keepdims=False: gc.max(self, axis, keepdims)
    Node.min = lambda self, axis=None, keepdims=False: gc.min(self, axis, keepdims)
    Node.reshape = lambda self, *shape: gc.reshape(
        self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    )
    Node.transpose = lambda self, *axes: gc.transpose(
        self, (axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes) or None
    )
    Node.dot = lambda self, other: dot(self, other)
    Node.at = property(at)  # x.at[idx].add(v) / .set(v) / .get()


_install_operators()

for _composite in (square, softplus, isfinite, zeros_like, ones_like, mean, logsumexp, matrix_transpose,
                   expand_dims, squeeze, stack, getitem, dot, vdot, outer, as_node, log_softmax, softmax,
                   clip):
    public(_composite)

# The builder namespace: every public builder function, the primitives' (generated from their
# declarations in graphc.ops) and the composites above. numpy's aliases last.
globals().update({_name: _fn for _name, _fn in gc.items() if _name not in globals()})
amax, amin = gc.max, gc.min  # noqa: F821 - numpy's aliases
__all__ = sorted({*gc.names(), "amax", "amin", "cast", "constant", "as_node"})
