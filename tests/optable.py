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

# --------------------------------------------------------------------------------------------
# Input domains: functions rng, shape -> float64 array


def normal(rng, shape):
    return rng.normal(size=shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


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


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    name: str
    build: Callable  # (*operand nodes, **attrs) -> node
    shapes: st.SearchStrategy  # draws (operand shapes, attrs)
    domains: tuple  # one domain per operand (the last repeats)
    reference: Callable | None = None  # numpy implementation, (*arrays, **attrs) -> array
    differentiable: bool = True
    second_order: bool = True  # has a useful, smooth second derivative at generic points

    def domain(self, i):
        return self.domains[min(i, len(self.domains) - 1)]


def _unary(name, domain=normal, reference=None, **kw):
    fn = getattr(gc, name)
    return OpSpec(name, lambda x: fn(x), unary_shapes(), (domain,),
                  reference or (lambda x: getattr(np, name)(x)), **kw)


def _binary(name, domains=(normal,), reference=None, **kw):
    fn = getattr(gc, name)
    return OpSpec(name, lambda x, y: fn(x, y), pair_shapes(), domains,
                  reference or (lambda x, y: getattr(np, name)(x, y)), **kw)


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
    _unary("softplus", reference=lambda x: np.logaddexp(0.0, x)),
    _binary("add"),
    _binary("subtract"),
    _binary("multiply"),
    _binary("divide", (normal, away_from_zero)),
    _binary("power", (positive, normal)),
    _binary("maximum", (distinct,), second_order=False),
    _binary("minimum", (distinct,), second_order=False),
    OpSpec("where", lambda c, x, y: gc.where(c > 0, x, y), broadcast_triple().map(lambda s: (s, {})),
           (normal,), lambda c, x, y: np.where(c > 0, x, y)),
    OpSpec("sum", lambda x, axis, keepdims: gc.sum(x, axis=axis, keepdims=keepdims),
           reduction_args(), (normal,), lambda x, axis, keepdims: np.sum(x, axis, keepdims=keepdims)),
    OpSpec("mean", lambda x, axis, keepdims: gc.mean(x, axis=axis, keepdims=keepdims),
           reduction_args(), (normal,), lambda x, axis, keepdims: np.mean(x, axis, keepdims=keepdims)),
    OpSpec("max", lambda x, axis, keepdims: gc.max(x, axis=axis, keepdims=keepdims),
           reduction_args(), (distinct,), lambda x, axis, keepdims: np.max(x, axis, keepdims=keepdims),
           second_order=False),
    OpSpec("min", lambda x, axis, keepdims: gc.min(x, axis=axis, keepdims=keepdims),
           reduction_args(), (distinct,), lambda x, axis, keepdims: np.min(x, axis, keepdims=keepdims),
           second_order=False),
    OpSpec("logsumexp", lambda x, axis, keepdims: gc.logsumexp(x, axis=axis, keepdims=keepdims),
           reduction_args(), (normal,),
           lambda x, axis, keepdims: _logsumexp_reference(x, axis, keepdims)),
    OpSpec("matmul", lambda a, b: gc.matmul(a, b), matmul_shapes().map(lambda s: (s, {})), (normal,),
           lambda a, b: np.matmul(a, b)),
    OpSpec("dot", lambda a, b: gc.dot(a, b),
           matmul_shapes().filter(lambda s: len(s[0]) <= 2 and len(s[1]) <= 2).map(lambda s: (s, {})),
           (normal,), lambda a, b: np.dot(a, b)),
    OpSpec("outer", lambda a, b: gc.outer(a, b), st.tuples(small_shape, small_shape).map(lambda s: (s, {})),
           (normal,), lambda a, b: np.outer(a, b)),
    OpSpec("reshape", lambda x, shape: gc.reshape(x, shape), reshape_args(), (normal,),
           lambda x, shape: np.reshape(x, shape)),
    OpSpec("transpose", lambda x, axes: gc.transpose(x, axes), transpose_args(), (normal,),
           lambda x, axes: np.transpose(x, axes)),
    OpSpec("broadcast_to", lambda x, shape: gc.broadcast_to(x, shape), broadcast_to_args(), (normal,),
           lambda x, shape: np.broadcast_to(x, shape)),
    OpSpec("getitem", lambda x, index: x[index], index_args(), (normal,), _getitem),
    OpSpec("concatenate", lambda *xs, axis: gc.concatenate(list(xs), axis=axis), concat_args(),
           (normal,), lambda *xs, axis: np.concatenate(xs, axis=axis)),
    OpSpec("stack", lambda *xs, axis: gc.stack(list(xs), axis=axis), stack_args(), (normal,),
           lambda *xs, axis: np.stack(xs, axis=axis)),
    OpSpec("expand_dims", lambda x: gc.expand_dims(x, 0), unary_shapes(), (normal,),
           lambda x: np.expand_dims(x, 0)),
    OpSpec("squeeze", lambda x: gc.squeeze(x), unary_shapes(), (normal,), lambda x: np.squeeze(x)),
]

OPS_BY_NAME = {spec.name: spec for spec in OPS}


def _logsumexp_reference(x, axis, keepdims):
    return scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)


def build(spec: OpSpec, shapes, attrs, dtype="float64"):
    """Placeholders x0, x1, ... for the drawn shapes and the op applied to them."""
    xs = [gc.placeholder(f"x{i}", s, dtype) for i, s in enumerate(shapes)]
    return xs, spec.build(*xs, **attrs)


def sample(spec: OpSpec, shapes, rng, dtype=np.float64):
    return {f"x{i}": spec.domain(i)(rng, s).astype(dtype) for i, s in enumerate(shapes)}
