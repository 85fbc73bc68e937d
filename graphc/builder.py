"""The declarative, numpy-like builder API (``gc.exp``, ``gc.sum``, operators on nodes, ...).

Functions here check their arguments, apply numpy's dtype promotion (inserting explicit ``cast``
nodes so that every primitive sees one dtype), and either bind a primitive or compose several.
Composites (``mean``, ``softplus``, ``logsumexp``, ``dot``, ``stack``, ...) need no derivative rules
of their own: the adjoint of a composite is the adjoint of what it is made of.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from .context import where as _where_text
from .dtypes import as_dtype, float_of, is_float
from .errors import GraphTypeError, ShapeError
from .ir import Node
from .ops.core import bind, current_meta
from .ops.shapes import check_shape_tuple, normalize_axes, normalize_axis

# ----------------------------------------------------------------------------------------------
# Sources


def placeholder(name: str, shape=(), dtype="float64") -> Node:
    """A graph input with a static shape and dtype; ``name`` must be unique within a graph."""
    if not isinstance(name, str) or not name:
        raise GraphTypeError(f"placeholder name must be a non-empty string, got {name!r}")
    shape = check_shape_tuple(shape, f"shape of placeholder {name!r}")
    dt = as_dtype(dtype, f"placeholder {name!r}: ")
    return bind("placeholder", [], {"name": name, "shape": shape, "dtype": str(dt)}, name=name)


def constant(value, dtype=None, name: str | None = None) -> Node:
    """A constant array baked into the graph (a copy; later changes to ``value`` do not leak in)."""
    if isinstance(value, Node):
        raise GraphTypeError("constant() takes an array or a number, not a graph node")
    try:
        arr = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise GraphTypeError(f"constant value cannot become an array: {exc}") from None
    if arr.dtype.kind in "iu" and arr.dtype not in (np.dtype("int32"), np.dtype("int64")):
        arr = arr.astype(np.int64)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    dt = as_dtype(arr.dtype, "constant: ")
    arr = np.array(arr, dtype=dt, order="C")  # a private copy (ascontiguousarray would make 0-d 1-d)
    arr.setflags(write=False)
    return bind("constant", [], {"shape": arr.shape, "dtype": str(dt)}, name=name, value=arr)


def _scalar_constant(value, dtype) -> Node:
    return constant(np.asarray(value, dtype=dtype))


def as_node(x) -> Node:
    """Turn a number or array into a constant node; nodes pass through."""
    if isinstance(x, Node):
        return x
    return constant(x)


def _is_weak(x) -> bool:
    return isinstance(x, (bool, int, float)) or (
        isinstance(x, numbers.Number) and not isinstance(x, (np.generic, complex))
    )


def _promote(*operands, floating: bool = False) -> list[Node]:
    """Nodes of one common dtype, following numpy: nodes and arrays are strong, Python scalars weak."""
    strong = []
    for x in operands:
        if isinstance(x, Node):
            strong.append(x.dtype)
        elif not _is_weak(x):
            if isinstance(x, complex):
                raise GraphTypeError("complex numbers are not supported")
            try:
                strong.append(np.asarray(x).dtype)
            except Exception as exc:  # noqa: BLE001 - report any conversion failure as a type error
                raise GraphTypeError(f"cannot use {type(x).__name__} in a graph: {exc}") from None
    weak = [x for x in operands if _is_weak(x) and not isinstance(x, Node)]
    if strong:
        try:
            dt = np.result_type(*strong, *weak)
        except (OverflowError, TypeError) as exc:
            raise GraphTypeError(f"cannot combine {strong} with {weak}: {exc}") from None
    else:
        dt = np.result_type(*weak)
    dt = np.dtype(dt)
    if dt.kind in "iu" and dt not in (np.dtype("int32"), np.dtype("int64")):
        dt = np.dtype("int64")
    if floating:
        dt = float_of(dt)
    as_dtype(dt)
    out = []
    for x in operands:
        if isinstance(x, Node):
            out.append(x if x.dtype == dt else cast(x, dt))
        else:
            arr = np.asarray(x)
            if arr.dtype.kind not in "biuf":
                raise GraphTypeError(f"cannot use an array of dtype {arr.dtype} in a graph")
            out.append(_scalar_constant(arr, dt))
    return out


# ----------------------------------------------------------------------------------------------
# Elementwise


def cast(x, dtype, name=None) -> Node:
    """``x.astype(dtype)``."""
    x = as_node(x)
    dt = as_dtype(dtype, "cast: ")
    if x.dtype == dt and name is None:
        return x
    return bind("cast", [x], {"dtype": str(dt)}, name=name)


def _unary_float(op):
    def fn(x, name=None) -> Node:
        (x,) = _promote(x, floating=True)
        return bind(op, [x], name=name)

    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``np.{op}`` (integers are computed in float64, like numpy)."
    return fn


def _unary_same(op, doc):
    def fn(x, name=None) -> Node:
        (x,) = _promote(x)
        return bind(op, [x], name=name)

    fn.__name__ = op
    fn.__doc__ = doc
    return fn


exp = _unary_float("exp")
log = _unary_float("log")
log1p = _unary_float("log1p")
expm1 = _unary_float("expm1")
sqrt = _unary_float("sqrt")
tanh = _unary_float("tanh")
sin = _unary_float("sin")
cos = _unary_float("cos")
sigmoid = _unary_float("sigmoid")
sigmoid.__doc__ = "The logistic function 1 / (1 + exp(-x)), computed without overflow."
negative = _unary_same("neg", "Elementwise ``-x``.")
abs = _unary_same("abs", "Elementwise ``|x|`` (its derivative at 0 is taken as 0, like JAX).")
sign = _unary_same("sign", "Elementwise sign; its derivative is zero.")


def _binary(op, floating=False, doc=""):
    def fn(x, y, name=None) -> Node:
        x, y = _promote(x, y, floating=floating)
        return bind(op, [x, y], name=name)

    fn.__name__ = op
    fn.__doc__ = doc or f"Elementwise ``{op}`` with numpy broadcasting and dtype promotion."
    return fn


add = _binary("add")
subtract = _binary("sub")
multiply = _binary("mul")
divide = _binary("div", floating=True, doc="True division ``x / y`` (integers give float64).")
power = _binary("pow", doc="``x ** y``; the derivative in y uses log(x) and is 0 where x == 0.")
maximum = _binary("maximum", doc="Elementwise maximum; at ties the gradient is split evenly.")
minimum = _binary("minimum", doc="Elementwise minimum; at ties the gradient is split evenly.")
less = _binary("lt")
less_equal = _binary("le")
greater = _binary("gt")
greater_equal = _binary("ge")
equal = _binary("eq")
not_equal = _binary("ne")


def square(x, name=None) -> Node:
    """``x * x`` (one node using its operand twice)."""
    x = as_node(x)
    return multiply(x, x, name=name)


def where(condition, x, y, name=None) -> Node:
    """``np.where(condition, x, y)`` with broadcasting; the gradient flows to the chosen branch."""
    condition = as_node(condition)
    if condition.dtype != np.dtype(bool):
        condition = not_equal(condition, 0)
    x, y = _promote(x, y)
    return bind("where", [condition, x, y], name=name)


def stop_gradient(x, name=None) -> Node:
    """The identity whose derivative is zero: what passes through is treated as a constant."""
    return bind("stop_gradient", [as_node(x)], name=name)


def softplus(x, name=None) -> Node:
    """``log(1 + exp(x))`` computed as ``max(x, 0) + log1p(exp(-|x|))`` (no overflow)."""
    (x,) = _promote(x, floating=True)
    return add(maximum(x, 0), log1p(exp(negative(abs(x)))), name=name)


def isfinite(x, name=None) -> Node:
    """True where x is neither infinite nor NaN (``|x| < inf``)."""
    x = as_node(x)
    if not is_float(x.dtype):
        return ones_like(x, dtype=bool, name=name)
    return less(abs(x), np.inf, name=name)


def zeros_like(x, dtype=None, name=None) -> Node:
    x = as_node(x)
    dt = as_dtype(dtype) if dtype is not None else x.dtype
    return broadcast_to(_scalar_constant(0, dt), x.shape, name=name)


def ones_like(x, dtype=None, name=None) -> Node:
    x = as_node(x)
    dt = as_dtype(dtype) if dtype is not None else x.dtype
    return broadcast_to(_scalar_constant(1, dt), x.shape, name=name)


# ----------------------------------------------------------------------------------------------
# Reductions


def _reduction_dtype(x: Node) -> Node:
    # numpy sums bool and int32 in the platform integer (int64)
    if x.dtype.kind in "bi" and x.dtype != np.dtype("int64"):
        return cast(x, "int64")
    return x


def sum(x, axis=None, keepdims: bool = False, name=None) -> Node:  # noqa: A001 - numpy's name
    """``np.sum`` over ``axis`` (None, int or tuple), optionally keeping the reduced axes."""
    x = _reduction_dtype(as_node(x))
    axes = normalize_axes(axis, x.ndim)
    return bind("sum", [x], {"axes": axes, "keepdims": bool(keepdims)}, name=name)


def mean(x, axis=None, keepdims: bool = False, name=None) -> Node:
    """``np.mean``: the sum divided by the number of reduced elements (ints give float64)."""
    x = as_node(x)
    axes = normalize_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    (x,) = _promote(x, floating=True)
    return divide(sum(x, axes, keepdims), count, name=name)


def _extremum(op):
    def fn(x, axis=None, keepdims: bool = False, name=None) -> Node:
        x = as_node(x)
        axes = normalize_axes(axis, x.ndim)
        return bind(op, [x], {"axes": axes, "keepdims": bool(keepdims)}, name=name)

    fn.__name__ = op
    fn.__doc__ = (
        f"``np.{op}`` over ``axis``; the gradient is shared evenly among tied {op}ima."
    )
    return fn


max = _extremum("max")  # noqa: A001 - numpy's name
min = _extremum("min")  # noqa: A001 - numpy's name
amax, amin = max, min


def logsumexp(x, axis=None, keepdims: bool = False, name=None) -> Node:
    """``log(sum(exp(x)))`` shifted by the (gradient-stopped) maximum so it never overflows."""
    (x,) = _promote(x, floating=True)
    axes = normalize_axes(axis, x.ndim)
    m = stop_gradient(max(x, axes, keepdims=True))
    m = where(isfinite(m), m, 0.0)
    total = log(sum(exp(subtract(x, m)), axes, keepdims=True)) + m
    if keepdims:
        return total if name is None else _rename(total, name)
    return reshape(total, tuple(d for i, d in enumerate(x.shape) if i not in axes), name=name)


def _rename(x: Node, name: str) -> Node:
    x._annotate(name=name)
    return x


# ----------------------------------------------------------------------------------------------
# Shapes


def reshape(x, shape, name=None) -> Node:
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
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or x.size % known:
            raise ShapeError(
                f"reshape: cannot reshape {x.type_string} into shape {tuple(shape)}"
                f"{_where_text(current_meta())}"
            )
        shape[unknown[0]] = x.size // known
    shape = check_shape_tuple(shape, "reshape shape")
    if shape == x.shape and name is None:
        return x
    return bind("reshape", [x], {"shape": shape}, name=name)


def broadcast_to(x, shape, name=None) -> Node:
    """``np.broadcast_to``: a read-only broadcast view (its adjoint sums the broadcast axes)."""
    x = as_node(x)
    shape = check_shape_tuple(shape, "broadcast_to shape")
    if shape == x.shape and name is None:
        return x
    return bind("broadcast_to", [x], {"shape": shape}, name=name)


def transpose(x, axes=None, name=None) -> Node:
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


def matrix_transpose(x, name=None) -> Node:
    """Swap the last two axes (``x.mT``)."""
    x = as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose needs at least 2 dimensions, got {x.type_string}")
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, perm, name=name)


def expand_dims(x, axis, name=None) -> Node:
    """``np.expand_dims`` (axis an int or a tuple)."""
    x = as_node(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    ndim = x.ndim + len(axes)
    axes = sorted(normalize_axis(int(a), ndim) for a in axes)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"expand_dims: repeated axis in {axis!r}")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape), name=name)


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
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes), name=name)


def concatenate(arrays, axis=0, name=None) -> Node:
    """``np.concatenate`` of a sequence of nodes along ``axis``."""
    if isinstance(arrays, Node) or not isinstance(arrays, (list, tuple)):
        raise GraphTypeError("concatenate takes a list or tuple of nodes")
    if not arrays:
        raise ShapeError("concatenate needs at least one array")
    arrays = _promote(*arrays)
    ax = normalize_axis(axis, arrays[0].ndim) if arrays[0].ndim else axis
    if len(arrays) == 1 and name is None:
        return arrays[0]
    return bind("concatenate", arrays, {"axis": ax}, name=name)


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
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax, name=name)


# ----------------------------------------------------------------------------------------------
# Indexing


def getitem(x: Node, index) -> Node:
    """Static basic indexing: ints, slices, ``None`` and ``...`` (no arrays: shapes are static)."""
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if not (
            item is None
            or item is Ellipsis
            or isinstance(item, slice)
            or (isinstance(item, (int, np.integer)) and not isinstance(item, bool))
        ):
            raise GraphTypeError(
                f"indexing supports static ints, slices, None and ..., got {item!r} "
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
    return reshape(sliced, tuple(out_shape))


# ----------------------------------------------------------------------------------------------
# Linear algebra


def matmul(a, b, name=None) -> Node:
    """``a @ b`` with numpy's rules (1-d operands, broadcast batch dimensions)."""
    a, b = _promote(a, b)
    return bind("matmul", [a, b], name=name)


def dot(a, b, name=None) -> Node:
    """``np.dot``: a product for scalars, ``matmul`` up to 2-d, and the sum over the last axis of
    ``a`` and the second-to-last of ``b`` beyond."""
    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b, name=name)
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b, name=name)
    k = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if k != kb:
        raise ShapeError(f"dot: shapes {a.type_string} and {b.type_string} not aligned ({k} != {kb})")
    # move b's contracted axis to the front, flatten both sides to matrices, multiply, unflatten
    b_axis = b.ndim - 2
    perm = (b_axis,) + tuple(i for i in range(b.ndim) if i != b_axis)
    b_moved = transpose(b, perm)
    left = reshape(a, (-1, k))
    right = reshape(b_moved, (k, -1))
    out_shape = a.shape[:-1] + tuple(b.shape[i] for i in perm[1:])
    return reshape(matmul(left, right), out_shape, name=name)


def vdot(a, b, name=None) -> Node:
    """Inner product of two arrays of the same size, flattened."""
    a, b = _promote(a, b)
    return sum(multiply(reshape(a, (-1,)), reshape(b, (-1,))), name=name)


def outer(a, b, name=None) -> Node:
    """``np.outer``: the inputs are flattened; ``out[i, j] = a[i] * b[j]``."""
    a, b = _promote(a, b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)), name=name)


# ----------------------------------------------------------------------------------------------
# Operators on nodes


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _install_operators():
    ops = {
        "__add__": add,
        "__radd__": _reflected(add),
        "__sub__": subtract,
        "__rsub__": _reflected(subtract),
        "__mul__": multiply,
        "__rmul__": _reflected(multiply),
        "__truediv__": divide,
        "__rtruediv__": _reflected(divide),
        "__pow__": power,
        "__rpow__": _reflected(power),
        "__matmul__": matmul,
        "__rmatmul__": _reflected(matmul),
        "__lt__": less,
        "__le__": less_equal,
        "__gt__": greater,
        "__ge__": greater_equal,
        "__eq__": equal,
        "__ne__": not_equal,
        "__neg__": negative,
        "__abs__": abs,
        "__getitem__": getitem,
    }
    for attr, fn in ops.items():
        setattr(Node, attr, lambda self, *args, _fn=fn: _fn(self, *args))
    Node.__pos__ = lambda self: self
    Node.T = property(lambda self: transpose(self))
    Node.mT = property(matrix_transpose)
    Node.astype = lambda self, dtype: cast(self, dtype)
    Node.sum = lambda self, axis=None, keepdims=False: sum(self, axis, keepdims)
    Node.mean = lambda self, axis=None, keepdims=False: mean(self, axis, keepdims)
    Node.max = lambda self, axis=None, keepdims=False: max(self, axis, keepdims)
    Node.min = lambda self, axis=None, keepdims=False: min(self, axis, keepdims)
    Node.reshape = lambda self, *shape: reshape(
        self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    )
    Node.transpose = lambda self, *axes: transpose(
        self, (axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes) or None
    )
    Node.dot = lambda self, other: dot(self, other)


_install_operators()
