"""One table of op specs, shared by the derivative tests and the backend-agreement tests.

Each spec builds an op (or a builder composite) from placeholders whose shapes hypothesis draws,
and says where its inputs live (its *domain*), so that finite differences are meaningful: away
from kinks, ties and the edges of the domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special
from hypothesis import strategies as st

import graphc as gc
from graphc.ops import PRIMITIVES
from graphc.ops.structural import unslice_op

# --------------------------------------------------------------------------------------------
# Input domains: functions rng, shape -> float64 array


def normal(rng, shape):
    return rng.normal(size=shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def inside_unit(rng, shape):
    """Values in (-0.9, 0.9): away from arcsin's and arccos's branch points at ±1."""
    return rng.uniform(-0.9, 0.9, size=shape)


def distinct(rng, shape):
    """Values with gaps of at least 0.1 between any two: no ties for max/min/maximum."""
    n = int(np.prod(shape, dtype=np.int64))
    values = (rng.permutation(n) * 0.1 + rng.uniform(0, 0.01, size=n) - n * 0.05)
    return values.reshape(shape)


# --------------------------------------------------------------------------------------------
# Shape strategies: each draws a tuple of operand shapes (and possibly attributes)

dims = st.integers(1, 4)
small_shape = st.lists(dims, min_size=0, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw, max_ndim=3):
    """Two shapes that numpy broadcasts: dims dropped from the front or set to 1."""
    base = draw(st.lists(dims, min_size=0, max_size=max_ndim).map(tuple))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, len(base)))
        shape = list(base[drop:])
        for i in range(len(shape)):
            if draw(st.booleans()) and draw(st.booleans()):
                shape[i] = 1
        shapes.append(tuple(shape))
    return tuple(shapes)


@st.composite
def broadcast_triple(draw):
    a, b = draw(broadcast_pair())
    c = draw(st.sampled_from([(), a, b]))
    return (c, a, b)


@st.composite
def reduction_args(draw):
    shape = draw(st.lists(dims, min_size=1, max_size=3).map(tuple))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-len(shape), len(shape) - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True)))
    return (shape,), {"axis": axis, "keepdims": draw(st.booleans())}


@st.composite
def matmul_shapes(draw):
    m, n, k = draw(dims), draw(dims), draw(dims)
    batch = draw(st.lists(dims, min_size=0, max_size=2).map(tuple))
    kind = draw(st.sampled_from(["vv", "mv", "vm", "mm", "batched", "broadcast"]))
    return {
        "vv": ((n,), (n,)),
        "mv": ((m, n), (n,)),
        "vm": ((n,), (n, k)),
        "mm": ((m, n), (n, k)),
        "batched": (batch + (m, n), batch + (n, k)),
        "broadcast": (batch + (m, n), (n, k)),
    }[kind]


@st.composite
def index_args(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    index = []
    for d in shape:
        kind = draw(st.sampled_from(["int", "slice", "full", "none"]))
        if kind == "int":
            index.append(draw(st.integers(-d, d - 1)))
        elif kind == "slice":
            start = draw(st.one_of(st.none(), st.integers(-d, d)))
            stop = draw(st.one_of(st.none(), st.integers(-d - 1, d + 1)))
            step = draw(st.sampled_from([None, 1, 2, -1, -2]))
            index.append(slice(start, stop, step))
        elif kind == "none":
            index.append(None)
            index.append(slice(None))
        else:
            index.append(slice(None))
    if draw(st.booleans()) and len(index) > 1:
        index = [Ellipsis] + index[1:]
    return (shape,), {"index": tuple(index)}


@st.composite
def reshape_args(draw):
    shape = draw(st.lists(dims, min_size=0, max_size=3).map(tuple))
    size = int(np.prod(shape, dtype=np.int64))
    factors = [f for f in range(1, size + 1) if size % f == 0]
    first = draw(st.sampled_from(factors))
    new = draw(st.sampled_from([(size,), (first, -1), (-1, first), (1, size, 1)]))
    return (shape,), {"shape": new}


@st.composite
def transpose_args(draw):
    shape = draw(st.lists(dims, min_size=0, max_size=4).map(tuple))
    axes = tuple(draw(st.permutations(range(len(shape)))))
    return (shape,), {"axes": draw(st.sampled_from([None, axes]))}


@st.composite
def broadcast_to_args(draw):
    a, _ = draw(broadcast_pair())
    extra = draw(st.lists(dims, min_size=0, max_size=2).map(tuple))
    target = extra + tuple(draw(dims) if d == 1 else d for d in a)
    return (a,), {"shape": target}


@st.composite
def concat_args(draw):
    shape = draw(st.lists(dims, min_size=1, max_size=3).map(tuple))
    axis = draw(st.integers(0, len(shape) - 1))
    count = draw(st.integers(1, 3))
    shapes = []
    for _ in range(count):
        s = list(shape)
        s[axis] = draw(dims)
        shapes.append(tuple(s))
    return tuple(shapes), {"axis": axis}


@st.composite
def stack_args(draw):
    shape = draw(small_shape)
    count = draw(st.integers(1, 3))
    return (shape,) * count, {"axis": draw(st.integers(-len(shape) - 1, len(shape)))}


def unary_shapes():
    return small_shape.map(lambda s: ((s,), {}))


def pair_shapes():
    return broadcast_pair().map(lambda p: (p, {}))


# --- indexing by data, running totals -------------------------------------------------------


def _indices(draw, n, shape):
    size = int(np.prod(shape, dtype=np.int64))
    return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=size, max_size=size)),
                    np.int64).reshape(shape)


@st.composite
def take_args(draw, with_values=False):
    """x's shape, an axis, indices (duplicates and negatives among them), a mode; and for a
    scatter the values' shape."""
    shape = draw(st.lists(dims, min_size=1, max_size=3).map(tuple))
    axis = draw(st.integers(0, len(shape) - 1))
    idx_shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple))
    idx = _indices(draw, shape[axis], idx_shape)
    mode = draw(st.sampled_from(["raise", "wrap", "clip"]))
    if mode != "raise":
        idx = idx + shape[axis] * draw(st.integers(-1, 2))  # out of range: wrapped or clipped
    attrs = {"indices": idx, "axis": axis, "mode": mode}
    if not with_values:
        return (shape,), attrs
    return (shape, shape[:axis] + idx.shape + shape[axis + 1:]), attrs


@st.composite
def along_args(draw, with_values=False):
    shape = draw(st.lists(dims, min_size=1, max_size=3).map(tuple))
    axis = draw(st.integers(0, len(shape) - 1))
    idx_shape = tuple(draw(st.integers(1, 3)) if d == axis else draw(st.sampled_from([1, n]))
                      for d, n in enumerate(shape))
    attrs = {"indices": _indices(draw, shape[axis], idx_shape), "axis": axis}
    out = tuple(idx_shape[d] if d == axis else n for d, n in enumerate(shape))
    return ((shape, out) if with_values else (shape,)), attrs


def _np_index(idx, n, mode):
    if mode == "wrap":
        return np.mod(idx, n)
    if mode == "clip":
        return np.clip(idx, 0, n - 1)
    return np.where(idx < 0, idx + n, idx)


def _np_take(x, indices, axis, mode):
    return np.take(x, _np_index(indices, x.shape[axis], mode), axis=axis)


def _np_scatter_add(x, v, indices, axis, mode):
    out = x.copy()
    np.add.at(out, (slice(None),) * axis + (_np_index(indices, x.shape[axis], mode),), v)
    return out


def _np_scatter(x, v, indices, axis, mode):
    """The last write wins: a Python loop over the index in order (independent of graphc's impl)."""
    out = np.moveaxis(x.copy(), axis, 0)
    flat = _np_index(indices, x.shape[axis], mode).reshape(-1)
    moved = np.moveaxis(v.reshape(x.shape[:axis] + (flat.size,) + x.shape[axis + 1:]), axis, 0)
    for k, j in enumerate(flat):
        out[j] = moved[k]
    return np.moveaxis(out, 0, axis)


def _np_along(x, indices, axis):
    full = np.broadcast_to(np.where(indices < 0, indices + x.shape[axis], indices),
                           tuple(indices.shape[d] if d == axis else n for d, n in enumerate(x.shape)))
    return np.take_along_axis(x, full, axis)


def _np_scatter_along(x, v, indices, axis):
    out = x.copy()
    full = np.broadcast_to(np.where(indices < 0, indices + x.shape[axis], indices), v.shape)
    for pos in np.ndindex(v.shape):
        target = list(pos)
        target[axis] = full[pos]
        out[tuple(target)] += v[pos]
    return out


@st.composite
def axis_args(draw, reverse=False, pair=False):
    shape = draw(st.lists(dims, min_size=1, max_size=3).map(tuple))
    attrs = {"axis": draw(st.integers(-len(shape), len(shape) - 1))}
    if reverse:
        attrs["reverse"] = draw(st.booleans())
    return ((shape, shape) if pair else (shape,)), attrs


def _np_recurrence(a, b, axis, reverse):
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    out, y = np.zeros_like(b), np.zeros_like(b[0])
    for i in (reversed(range(len(b))) if reverse else range(len(b))):
        y = a[i] * y + b[i]
        out[i] = y
    return np.moveaxis(out, 0, axis)


@st.composite
def arg_args(draw):
    shape = draw(st.lists(dims, min_size=1, max_size=3).map(tuple))
    axis = draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
    return (shape,), {"axis": axis, "keepdims": draw(st.booleans())}


@st.composite
def fancy_index_args(draw):
    """x[..., idx, ...] with one or two adjacent integer arrays (lists) among full slices."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    first = draw(st.integers(0, len(shape) - 1))
    count = draw(st.integers(1, min(2, len(shape) - first)))
    idx_shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple))
    index = [slice(None)] * len(shape)
    for d in range(first, first + count):
        index[d] = _indices(draw, shape[d], idx_shape).tolist()
    return (shape,), {"index": tuple(index)}


@st.composite
def segment_args(draw):
    rows = draw(st.integers(1, 5))
    shape = (rows,) + draw(st.lists(dims, min_size=0, max_size=1).map(tuple))
    k = draw(st.integers(1, 4))
    ids = np.array(draw(st.lists(st.integers(0, k - 1), min_size=rows, max_size=rows)), np.int64)
    return (shape,), {"ids": ids, "k": k}


@st.composite
def onehot_args(draw):
    rows, k = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    ids = np.array(draw(st.lists(st.integers(-1, k), min_size=rows, max_size=rows)), np.int64)
    return ((rows, k),), {"ids": ids, "k": k}  # -1 and k: rows of zeros, as in JAX


def matrix_shapes():
    return st.tuples(dims, dims).map(lambda s: ((s,), {}))


@st.composite
def tril_args(draw):
    n = draw(st.integers(1, 4))
    k = draw(st.integers(-1, 1))
    batch = draw(st.lists(dims, min_size=0, max_size=1).map(tuple))
    m = len(np.tril_indices(n, k)[0])
    return (batch + (m,),), {"n": n, "k": k, "order": draw(st.sampled_from(["C", "F"]))}


def _np_fill_tril(v, n, k, order):
    rows, cols = np.tril_indices(n, k)
    if order == "F":
        perm = np.lexsort((rows, cols))
        rows, cols = rows[perm], cols[perm]
    out = np.zeros(v.shape[:-1] + (n, n), v.dtype)
    out[..., rows, cols] = v
    return out


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    name: str
    build: Callable  # (*operand nodes, **attrs) -> node
    shapes: st.SearchStrategy  # draws (operand shapes, attrs)
    domains: tuple  # one domain per operand (the last repeats)
    reference: Callable | None = None  # numpy implementation, (*arrays, **attrs) -> array
    differentiable: bool = True  # False: the derivative is 0 at generic points (and finite differences agree)
    second_order: bool = True  # has a useful, smooth second derivative at generic points
    op: str | None = None  # the primitive this row tests (None: a composite of primitives)
    out_dtype: str | None = None  # the output's dtype when it is not the operands' (bool, a cast's)
    zero_derivative: bool = False  # declared zero where the function is not constant (stop_gradient)
    fd_eps: float = 1e-6  # central-difference step (relative)
    precision: float = 2.0**-53  # unit roundoff of the op's computation (a float32 cast: 2**-24)

    def fd_tolerance(self, base: float) -> float:
        """A relative tolerance for central differences with step ``fd_eps``: truncation O(eps²),
        rounding of the function values O(precision / eps)."""
        return max(base, 100 * self.fd_eps**2, 30 * self.precision / self.fd_eps)

    def domain(self, i):
        return self.domains[min(i, len(self.domains) - 1)]

    def dtype_of_output(self, dtype) -> np.dtype:
        return np.dtype(self.out_dtype or dtype)


def _primitive_of(api: str) -> str | None:
    """The primitive whose builder function ``gc.<api>`` is (None for a composite)."""
    fn = getattr(gc, api)
    return next((p.name for p in PRIMITIVES.values() if p.function is fn), None)


def _unary(name, domain=normal, reference=None, **kw):
    fn = getattr(gc, name)
    kw.setdefault("op", _primitive_of(name))
    return OpSpec(name, lambda x: fn(x), unary_shapes(), (domain,),
                  reference or (lambda x: getattr(np, name)(x)), **kw)


def _binary(name, domains=(normal,), reference=None, **kw):
    fn = getattr(gc, name)
    kw.setdefault("op", _primitive_of(name))
    return OpSpec(name, lambda x, y: fn(x, y), pair_shapes(), domains,
                  reference or (lambda x, y: getattr(np, name)(x, y)), **kw)


def _comparison(name):
    return _binary(name, (distinct,), differentiable=False, second_order=False, out_dtype="bool")


@st.composite
def unslice_args(draw):
    """A window (start, step, length per axis) into a larger shape, and the window's shape."""
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    starts, steps, lengths = [], [], []
    for d in shape:
        step = draw(st.sampled_from([1, 2, -1]))
        start = draw(st.integers(0, d - 1))
        room = (d - start - 1) // step if step > 0 else start // -step
        starts.append(start)
        steps.append(step)
        lengths.append(draw(st.integers(1, room + 1)))
    return (tuple(lengths),), {"shape": shape, "starts": tuple(starts), "steps": tuple(steps)}


def _unslice_reference(g, shape, starts, steps):
    out = np.zeros(shape, dtype=g.dtype)
    window = [slice(a, None if a + s * n < 0 else a + s * n, s) for a, s, n in zip(starts, steps, g.shape)]
    out[tuple(window)] = g
    return out


def _rnn(h0, xs):
    """A tanh recurrence over the rows of xs: the final state and the stacked squares of the states."""
    return gc.scan(lambda h, x: (gc.tanh(0.9 * h + x), h * h), h0, xs=xs)


def _np_rnn(h0, xs):
    h, ys = h0, []
    for x in xs:
        ys.append(h * h)
        h = np.tanh(0.9 * h + x)
    return h, np.stack(ys)


@st.composite
def rnn_shapes(draw):
    n, steps = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return ((n,), (steps, n)), {}


_x_exp = gc.custom_vjp(lambda x: x * gc.exp(x), vjp=lambda g, out, x: g * (out + gc.exp(x)), name="x_exp")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _getitem(x, index):
    return x[index]


OPS: list[OpSpec] = [
    _unary("negative"),
    _unary("exp"),
    _unary("log", positive),
    _unary("log1p", positive),
    _unary("expm1"),
    _unary("sqrt", positive),
    _unary("square"),
    _unary("abs", away_from_zero, second_order=False),
    _unary("sign", away_from_zero, differentiable=False),
    _unary("tanh"),
    _unary("sin"),
    _unary("cos"),
    _unary("sigmoid", reference=_sigmoid),
    _unary("arctan"),
    _unary("arcsin", inside_unit),
    _unary("arccos", inside_unit),
    _unary("sinh"),
    _unary("cosh"),
    _unary("erf", reference=scipy.special.erf),
    _unary("softplus", reference=lambda x: np.logaddexp(0.0, x)),
    _binary("add"),
    _binary("subtract"),
    _binary("multiply"),
    _binary("divide", (normal, away_from_zero)),
    _binary("power", (positive, normal)),
    _binary("maximum", (distinct,), second_order=False),
    _binary("minimum", (distinct,), second_order=False),
    OpSpec("where", lambda c, x, y: gc.where(c > 0, x, y), broadcast_triple().map(lambda s: (s, {})),
           (normal,), lambda c, x, y: np.where(c > 0, x, y), op="where"),
    _comparison("less"),
    _comparison("less_equal"),
    _comparison("greater"),
    _comparison("greater_equal"),
    _comparison("equal"),
    _comparison("not_equal"),
    # f64 -> f32 -> f64: the derivative is the identity; finite differences see float32 rounding
    # unless the step is large (1e-3: errors ~1e-4 relative)
    OpSpec("cast", lambda x: gc.cast(gc.cast(x, "float32"), "float64"), unary_shapes(), (normal,),
           lambda x: x.astype(np.float32).astype(np.float64), op="cast", out_dtype="float64",
           second_order=False, fd_eps=1e-3, precision=2.0**-24),
    OpSpec("stop_gradient", lambda x: gc.stop_gradient(x), unary_shapes(), (normal,), lambda x: x,
           op="stop_gradient", zero_derivative=True, second_order=False),
    # x·eˣ with its VJP given (the JVP and second order are derived from the function)
    OpSpec("custom", lambda x: _x_exp(x), unary_shapes(), (normal,), lambda x: x * np.exp(x), op="custom"),
    # a loop: both results (the final carry, the stacked per-step outputs), and one of them alone
    OpSpec("scan", lambda h0, xs: _rnn(h0, xs)[0] + gc.sum(_rnn(h0, xs)[1], axis=0), rnn_shapes(), (normal,),
           lambda h0, xs: _np_rnn(h0, xs)[0] + _np_rnn(h0, xs)[1].sum(0), op="scan"),
    OpSpec("item", lambda h0, xs: _rnn(h0, xs)[1], rnn_shapes(), (normal,), lambda h0, xs: _np_rnn(h0, xs)[1],
           op="item"),
    OpSpec("unslice", lambda g, shape, starts, steps: unslice_op(g, shape, starts, steps), unslice_args(),
           (normal,), _unslice_reference, op="unslice"),
    OpSpec("sum", lambda x, axis, keepdims: gc.sum(x, axis=axis, keepdims=keepdims),
           reduction_args(), (normal,), lambda x, axis, keepdims: np.sum(x, axis, keepdims=keepdims),
           op="sum"),
    OpSpec("mean", lambda x, axis, keepdims: gc.mean(x, axis=axis, keepdims=keepdims),
           reduction_args(), (normal,), lambda x, axis, keepdims: np.mean(x, axis, keepdims=keepdims)),
    OpSpec("max", lambda x, axis, keepdims: gc.max(x, axis=axis, keepdims=keepdims),
           reduction_args(), (distinct,), lambda x, axis, keepdims: np.max(x, axis, keepdims=keepdims),
           second_order=False, op="max"),
    OpSpec("min", lambda x, axis, keepdims: gc.min(x, axis=axis, keepdims=keepdims),
           reduction_args(), (distinct,), lambda x, axis, keepdims: np.min(x, axis, keepdims=keepdims),
           second_order=False, op="min"),
    OpSpec("logsumexp", lambda x, axis, keepdims: gc.logsumexp(x, axis=axis, keepdims=keepdims),
           reduction_args(), (normal,),
           lambda x, axis, keepdims: _logsumexp_reference(x, axis, keepdims)),
    OpSpec("matmul", lambda a, b: gc.matmul(a, b), matmul_shapes().map(lambda s: (s, {})), (normal,),
           lambda a, b: np.matmul(a, b), op="matmul"),
    OpSpec("dot", lambda a, b: gc.dot(a, b),
           matmul_shapes().filter(lambda s: len(s[0]) <= 2 and len(s[1]) <= 2).map(lambda s: (s, {})),
           (normal,), lambda a, b: np.dot(a, b)),
    OpSpec("outer", lambda a, b: gc.outer(a, b), st.tuples(small_shape, small_shape).map(lambda s: (s, {})),
           (normal,), lambda a, b: np.outer(a, b)),
    OpSpec("reshape", lambda x, shape: gc.reshape(x, shape), reshape_args(), (normal,),
           lambda x, shape: np.reshape(x, shape), op="reshape"),
    OpSpec("transpose", lambda x, axes: gc.transpose(x, axes), transpose_args(), (normal,),
           lambda x, axes: np.transpose(x, axes), op="transpose"),
    OpSpec("broadcast_to", lambda x, shape: gc.broadcast_to(x, shape), broadcast_to_args(), (normal,),
           lambda x, shape: np.broadcast_to(x, shape), op="broadcast_to"),
    OpSpec("getitem", lambda x, index: x[index], index_args(), (normal,), _getitem, op="slice"),
    OpSpec("concatenate", lambda *xs, axis: gc.concatenate(list(xs), axis=axis), concat_args(),
           (normal,), lambda *xs, axis: np.concatenate(xs, axis=axis), op="concatenate"),
    OpSpec("stack", lambda *xs, axis: gc.stack(list(xs), axis=axis), stack_args(), (normal,),
           lambda *xs, axis: np.stack(xs, axis=axis)),
    OpSpec("expand_dims", lambda x: gc.expand_dims(x, 0), unary_shapes(), (normal,),
           lambda x: np.expand_dims(x, 0)),
    OpSpec("squeeze", lambda x: gc.squeeze(x), unary_shapes(), (normal,), lambda x: np.squeeze(x)),
    _binary("remainder", (normal, away_from_zero)),
    _binary("floor_divide", (normal, away_from_zero), differentiable=False, second_order=False),
    OpSpec("take", lambda x, indices, axis, mode: gc.take(x, indices, axis, mode), take_args(), (normal,),
           _np_take, op="take"),
    OpSpec("scatter_add", lambda x, v, indices, axis, mode: gc.scatter_add(x, indices, v, axis, mode),
           take_args(True), (normal,), _np_scatter_add, op="scatter_add"),
    OpSpec("scatter", lambda x, v, indices, axis, mode: gc.scatter(x, indices, v, axis, mode),
           take_args(True), (normal,), _np_scatter, op="scatter"),
    OpSpec("take_along_axis", lambda x, indices, axis: gc.take_along_axis(x, indices, axis), along_args(),
           (normal,), _np_along, op="take_along_axis"),
    OpSpec("scatter_add_along_axis",
           lambda x, v, indices, axis: gc.scatter_add_along_axis(x, indices, v, axis), along_args(True),
           (normal,), _np_scatter_along, op="scatter_add_along_axis"),
    OpSpec("fancy_getitem", lambda x, index: x[index], fancy_index_args(), (normal,),
           lambda x, index: x[tuple(np.asarray(i) if isinstance(i, list) else i for i in index)]),
    OpSpec("at_add", lambda x, v, indices, axis, mode: x.at[(slice(None),) * axis + (indices,)].add(v, mode),
           take_args(True), (normal,), _np_scatter_add),
    OpSpec("cumsum", lambda x, axis, reverse: gc.cumsum(x, axis, reverse), axis_args(reverse=True), (normal,),
           lambda x, axis, reverse: np.flip(np.cumsum(np.flip(x, axis), axis), axis) if reverse
           else np.cumsum(x, axis), op="cumsum"),
    OpSpec("cumprod", lambda x, axis: gc.cumprod(x, axis), axis_args(), (normal,),
           lambda x, axis: np.cumprod(x, axis), op="cumprod"),
    OpSpec("linear_recurrence", lambda a, b, axis, reverse: gc.linear_recurrence(a, b, axis, reverse),
           axis_args(reverse=True, pair=True), (inside_unit, normal), _np_recurrence, op="linear_recurrence"),
    OpSpec("argmax", lambda x, axis, keepdims: gc.argmax(x, axis, keepdims), arg_args(), (distinct,),
           lambda x, axis, keepdims: np.argmax(x, axis, keepdims=keepdims), op="argmax", out_dtype="int64",
           differentiable=False, second_order=False),
    OpSpec("argmin", lambda x, axis, keepdims: gc.argmin(x, axis, keepdims), arg_args(), (distinct,),
           lambda x, axis, keepdims: np.argmin(x, axis, keepdims=keepdims), op="argmin", out_dtype="int64",
           differentiable=False, second_order=False),
    OpSpec("softmax", lambda x, axis: gc.softmax(x, axis), axis_args(), (normal,),
           lambda x, axis: scipy.special.softmax(x, axis=axis)),
    OpSpec("log_softmax", lambda x, axis: gc.log_softmax(x, axis), axis_args(), (normal,),
           lambda x, axis: scipy.special.log_softmax(x, axis=axis)),
    OpSpec("clip", lambda x: gc.clip(x, -0.5, 0.5), unary_shapes(), (distinct,),
           lambda x: np.clip(x, -0.5, 0.5),
           second_order=False),
    OpSpec("segment_sum", lambda x, ids, k: gc.segment_sum(x, ids, k), segment_args(), (normal,),
           lambda x, ids, k: np.stack([x[ids == s].sum(0) for s in range(k)])),
    OpSpec("one_hot", lambda x, ids, k: x * gc.one_hot(ids, k, x.dtype), onehot_args(), (normal,),
           lambda x, ids, k: x * (ids[:, None] == np.arange(k))),
    OpSpec("tril", lambda x: gc.tril(x, -1) + gc.triu(x, 1) * 2.0, matrix_shapes(), (normal,),
           lambda x: np.tril(x, -1) + 2.0 * np.triu(x, 1)),
    OpSpec("fill_tril", lambda v, n, k, order: gc.fill_tril(v, n, k, order), tril_args(), (normal,),
           _np_fill_tril),
]


# --------------------------------------------------------------------------------------------
# Matrix calculus: domains that keep the derivatives well-conditioned


def well_conditioned(rng, shape):
    """Random square matrices plus n·I: eigenvalues far from 0."""
    n = shape[-1]
    return rng.normal(size=shape) + n * np.eye(n)


def spread_symmetric(rng, shape):
    """Symmetric matrices with eigenvalues 1, 2.5, 4, ... (gaps of 1.5: eigenvectors are stable)."""
    n = shape[-1]
    q, _ = np.linalg.qr(rng.normal(size=shape))
    w = 1.0 + 1.5 * np.arange(n)
    return q @ (w[:, None] * np.swapaxes(q, -1, -2))


def spread_singular(rng, shape):
    """Matrices with singular values 1, 2.5, 4, ... (distinct and away from 0)."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(rng.normal(size=shape[:-2] + (m, k)))
    v, _ = np.linalg.qr(rng.normal(size=shape[:-2] + (n, k)))
    s = 1.0 + 1.5 * np.arange(k)[::-1]
    return (u * s) @ np.swapaxes(v, -1, -2)


square = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.integers(1, 2), max_size=1).map(lambda b: tuple(b) + (n, n))
)
matrix = st.tuples(st.integers(1, 4), st.integers(1, 4))


def _sym(a):
    return (a + gc.matrix_transpose(a)) * 0.5


def _np_sym(a):
    return (a + np.swapaxes(a, -1, -2)) * 0.5


def _pack_eigh(w, v):
    """Eigenvectors enter squared: the result does not depend on their arbitrary signs."""
    return gc.concatenate([gc.expand_dims(w, -2), v * v], axis=-2)


def _np_pack_eigh(a):
    w, v = np.linalg.eigh(a)
    return np.concatenate([w[..., None, :], v * v], axis=-2)


def _pack_svd(u, s, vh):
    v = gc.matrix_transpose(vh)
    return gc.concatenate([u * u, gc.expand_dims(s, -2), v * v], axis=-2)


def _np_pack_svd(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    v = np.swapaxes(vh, -1, -2)
    return np.concatenate([u * u, s[..., None, :], v * v], axis=-2)


@st.composite
def solve_shapes(draw):
    n = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["vector", "matrix", "batched"]))
    if kind == "vector":
        return ((n, n), (n,)), {}
    k = draw(st.integers(1, 3))
    if kind == "matrix":
        return ((n, n), (n, k)), {}
    return ((2, n, n), (n, k)), {}


@st.composite
def triangular_solve_args(draw):
    shapes, _ = draw(solve_shapes())
    attrs = {"lower": draw(st.booleans()), "trans": draw(st.sampled_from([0, 1])),
             "unit_diagonal": draw(st.booleans())}
    return shapes, attrs


EINSUMS = ["ij,jk->ik", "ij->j", "i,i->", "ij,ij->i", "bij,bjk->bik", "ij->ji", "ij,k->ik", "ijk->ki"]


@st.composite
def einsum_args(draw):
    subscripts = draw(st.sampled_from(EINSUMS))
    sizes = {c: draw(st.integers(1, 3)) for c in "bijk"}
    ins = subscripts.split("->")[0].split(",")
    return tuple(tuple(sizes[c] for c in part) for part in ins), {"subscripts": subscripts}


NORMS = [(None, None), ("fro", None), ("nuc", None), (2, None), (-2, None), (1, None), (-1, None),
         (np.inf, None), (2, 0), (1, 1), (3, 1), (np.inf, 0), (None, 1)]


@st.composite
def norm_args(draw):
    ord_, axis = draw(st.sampled_from(NORMS))
    return (draw(matrix),), {"ord": ord_, "axis": axis}


one_square = st.integers(1, 4).map(lambda n: (n, n))  # the factorization ops take no batch axes


@st.composite
def factor_solve_args(draw):
    """One matrix and a vector or matrix right-hand side; ``trans`` for lu_solve."""
    n = draw(st.integers(1, 4))
    b = draw(st.sampled_from([(n,), (n, draw(st.integers(1, 3)))]))
    return ((n, n), b), {"trans": draw(st.sampled_from([0, 1]))}


def _lu(a):
    lu, piv = gc.lu_factor(a)
    return a, lu, piv


def _pos(a):
    k = _sym(a)
    return k, gc.cholesky(k)


def _np_lu(a):
    """P A = L U packed, by numpy alone (Doolittle with LAPACK's pivot: the first largest |aᵢⱼ|)."""
    lu = np.array(a, dtype=np.float64)
    for j in range(lu.shape[0]):
        p = j + int(np.argmax(np.abs(lu[j:, j])))
        lu[[j, p]] = lu[[p, j]]
        lu[j + 1:, j] /= lu[j, j]
        lu[j + 1:, j + 1:] -= np.outer(lu[j + 1:, j], lu[j, j + 1:])
    return lu.astype(np.asarray(a).dtype)


def _unary_matrix(name, fn, shapes, domain, reference, **kw):
    return OpSpec(name, fn, shapes.map(lambda s: ((s,), {})), (domain,), reference, **kw)


LINALG = [
    _unary_matrix("trace", lambda a: gc.trace(a), matrix, normal, lambda a: np.trace(a)),
    _unary_matrix("diag_of_matrix", lambda a: gc.diag(a, 1), matrix, normal, lambda a: np.diag(a, 1)),
    OpSpec("diag_of_vector", lambda v: gc.diag(v, -1), st.integers(1, 4).map(lambda n: (((n,),), {})),
           (normal,), lambda v: np.diag(v, -1), op="embed_diagonal"),
    _unary_matrix("diagonal", lambda a: gc.diagonal(a, 0, -2, -1), square, normal,
                  lambda a: np.diagonal(a, 0, -2, -1), op="diagonal"),
    _unary_matrix("symmetrize", lambda a: gc.symmetrize(a), square, normal,
                  lambda a: np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2), op="symmetrize"),
    _unary_matrix("inv", lambda a: gc.inv(a), square, well_conditioned, np.linalg.inv, op="inv"),
    OpSpec("solve", lambda a, b: gc.solve(a, b), solve_shapes(), (well_conditioned, normal),
           np.linalg.solve, op="solve"),
    OpSpec("solve_triangular", lambda a, b, **kw: gc.solve_triangular(a, b, **kw), triangular_solve_args(),
           (well_conditioned, normal),
           lambda a, b, **kw: _np_solve_triangular(a, b, **kw), op="solve_triangular"),
    _unary_matrix("det", lambda a: gc.det(a), square, well_conditioned, np.linalg.det, op="det"),
    _unary_matrix("slogdet", lambda a: gc.stack(gc.slogdet(a), axis=-1), square, well_conditioned,
                  lambda a: np.stack(np.linalg.slogdet(a), axis=-1), op="slogdet"),
    _unary_matrix("logdet", lambda a: gc.logdet(_sym(a)), square, spread_symmetric,
                  lambda a: np.linalg.slogdet(_np_sym(a))[1]),
    _unary_matrix("cholesky", lambda a: gc.cholesky(_sym(a)), square, spread_symmetric,
                  lambda a: np.linalg.cholesky(_np_sym(a)), op="cholesky"),
    _unary_matrix("eigvalsh", lambda a: gc.eigvalsh(_sym(a)), square, spread_symmetric,
                  lambda a: np.linalg.eigvalsh(_np_sym(a)), op="eigvalsh"),
    _unary_matrix("eigh", lambda a: _pack_eigh(*gc.eigh(_sym(a))), square, spread_symmetric,
                  lambda a: _np_pack_eigh(_np_sym(a)), op="eigh"),
    _unary_matrix("svd", lambda a: _pack_svd(*gc.svd(a, full_matrices=False)), matrix, spread_singular,
                  _np_pack_svd, op="svd"),
    _unary_matrix("svdvals", lambda a: gc.svdvals(a), matrix, spread_singular,
                  lambda a: np.linalg.svd(a, compute_uv=False)),
    OpSpec("norm", lambda a, ord, axis: gc.norm(a, ord=ord, axis=axis), norm_args(), (spread_singular,),
           lambda a, ord, axis: np.linalg.norm(a, ord=ord, axis=axis)),
    OpSpec("pos_solve", lambda a, b, trans: gc.pos_solve(*_pos(a), b), factor_solve_args(),
           (spread_symmetric, normal), lambda a, b, trans: np.linalg.solve(_np_sym(a), b), op="pos_solve"),
    _unary_matrix("pos_inv", lambda a: gc.pos_inv(*_pos(a)), one_square, spread_symmetric,
                  lambda a: np.linalg.inv(_np_sym(a)), op="pos_inv"),
    _unary_matrix("pos_logdet", lambda a: gc.pos_logdet(*_pos(a)), one_square, spread_symmetric,
                  lambda a: np.linalg.slogdet(_np_sym(a))[1], op="pos_logdet"),
    OpSpec("cho_solve", lambda a, b, trans: gc.linalg.cho_solve(gc.linalg.cho_factor(_sym(a)), b),
           factor_solve_args(), (spread_symmetric, normal),
           lambda a, b, trans: np.linalg.solve(_np_sym(a), b)),
    OpSpec("cho_solve_upper", lambda a, b, trans: gc.linalg.cho_solve(
        (gc.matrix_transpose(gc.cholesky(_sym(a))), False), b),
        factor_solve_args(), (spread_symmetric, normal), lambda a, b, trans: np.linalg.solve(_np_sym(a), b)),
    _unary_matrix("lu_factor", lambda a: gc.lu_factor(a)[0], one_square, well_conditioned, _np_lu,
                  op="lu_factor", zero_derivative=True),
    OpSpec("lu_solve", lambda a, b, trans: gc.lu_solve(*_lu(a), b, trans), factor_solve_args(),
           (well_conditioned, normal), lambda a, b, trans: np.linalg.solve(a.T if trans else a, b),
           op="lu_solve"),
    _unary_matrix("lu_inv", lambda a: gc.lu_inv(*_lu(a)), one_square, well_conditioned, np.linalg.inv,
                  op="lu_inv"),
    _unary_matrix("lu_slogdet", lambda a: gc.lu_slogdet(*_lu(a)), one_square, well_conditioned,
                  lambda a: np.stack(np.linalg.slogdet(a)), op="lu_slogdet"),
    OpSpec("einsum", lambda *xs, subscripts: gc.einsum(subscripts, *xs), einsum_args(), (normal,),
           lambda *xs, subscripts: np.einsum(subscripts, *xs), op="einsum"),
]
OPS = OPS + LINALG
OPS_BY_NAME = {spec.name: spec for spec in OPS}
OPS_BY_PRIMITIVE = {spec.op: spec for spec in OPS if spec.op}


def _np_solve_triangular(a, b, lower, trans, unit_diagonal):
    """op(T)⁻¹ b by numpy alone (an oracle independent of SciPy's triangular solver)."""
    n = a.shape[-1]
    k = (-1 if lower else 1) if unit_diagonal else 0
    t = np.tril(a, k) if lower else np.triu(a, k)
    if unit_diagonal:
        t = t + np.eye(n)
    if trans:
        t = np.swapaxes(t, -1, -2)
    return np.linalg.solve(t, b)


def _logsumexp_reference(x, axis, keepdims):
    return scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)


def build(spec: OpSpec, shapes, attrs, dtype="float64"):
    """Placeholders x0, x1, ... for the drawn shapes and the op applied to them."""
    xs = [gc.placeholder(f"x{i}", s, dtype) for i, s in enumerate(shapes)]
    return xs, spec.build(*xs, **attrs)


def sample(spec: OpSpec, shapes, rng, dtype=np.float64):
    return {f"x{i}": spec.domain(i)(rng, s).astype(dtype) for i, s in enumerate(shapes)}
