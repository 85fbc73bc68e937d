"""Random valid graphs for property tests: the hypothesis strategy :func:`random_graphs`.

``random_graphs()`` draws ``(graph, sample)``: a graph built with the public API over every
primitive of the registry (tests/test_graphgen.py checks that it produces each): elementwise math,
comparisons and ``where``, reductions, products, reshapes, transposes, broadcasts, slices,
concatenation, casts, gathers and scatters, running totals, loops, a custom derivative, and the
solves, inverses, determinants and factorizations of a well-conditioned matrix built from a value;
and a function ``sample(rng) -> {input name: float64 array}`` drawing inputs from each input's
domain.

Every node carries an interval that bounds its values (interval arithmetic, conservative), and an
op is only applied where its result stays finite and moderate: ``log`` and ``sqrt`` of values
>= 0.1, division by values at least 0.25 away from zero, ``exp`` of values <= 4, magnitudes below
1e4. So every graph evaluates to finite numbers on every sampled input, and results can be
compared with tight tolerances.

The strategy also draws, on purpose, the shapes that rewrite rules look for (``x*1``, ``x+0``,
``--x``, ``(xᵀ)ᵀ``, ``log(exp(x))``, ``sum`` of a broadcast, repeated subexpressions), so that
optimization passes are exercised. Options: ``smooth=True`` keeps to ops differentiable everywhere
on the domain (no ``abs``, ``maximum``, comparisons, ``max``; for derivative checks);
``scalar_output=True`` ends with a sum so the graph can be given to ``gc.grad``; ``ops`` restricts
the op names drawn (see ``OPS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import graphc as gc
from graphc.ops.structural import unslice_op

BOUND = 1e4  # no node may exceed this magnitude


@dataclass
class Value:
    """A node built so far, with bounds on its values."""

    node: gc.Node
    lo: float
    hi: float

    @property
    def shape(self):
        return self.node.shape


def _interval(*values):
    return min(values), max(values)


def _ok(lo, hi):
    return math.isfinite(lo) and math.isfinite(hi) and -BOUND < lo <= hi < BOUND


def _broadcastable(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Unary ops: name -> (precondition on (lo, hi), builder, interval map). Monotone maps take the
# interval's ends; the others give their range directly.

def _mono(f):
    return lambda lo, hi: _interval(f(lo), f(hi))


UNARY = {
    "neg": (lambda lo, hi: True, gc.negative, lambda lo, hi: (-hi, -lo)),
    "exp": (lambda lo, hi: hi <= 4, gc.exp, _mono(math.exp)),
    "log": (lambda lo, hi: lo >= 0.1, gc.log, _mono(math.log)),
    "log1p": (lambda lo, hi: lo >= -0.5, gc.log1p, _mono(math.log1p)),
    "expm1": (lambda lo, hi: hi <= 4, gc.expm1, _mono(math.expm1)),
    "sqrt": (lambda lo, hi: lo >= 0.1, gc.sqrt, _mono(math.sqrt)),
    "tanh": (lambda lo, hi: True, gc.tanh, _mono(math.tanh)),
    "sigmoid": (lambda lo, hi: True, gc.sigmoid, lambda lo, hi: (0.0, 1.0)),
    "softplus": (lambda lo, hi: hi <= 20, gc.softplus, lambda lo, hi: (0.0, max(hi, 0.0) + 1.0)),
    "sin": (lambda lo, hi: True, gc.sin, lambda lo, hi: (-1.0, 1.0)),
    "cos": (lambda lo, hi: True, gc.cos, lambda lo, hi: (-1.0, 1.0)),
    "square": (lambda lo, hi: True, gc.square,
               lambda lo, hi: (0.0 if lo <= 0 <= hi else min(lo * lo, hi * hi), max(lo * lo, hi * hi))),
    "abs": (lambda lo, hi: True, gc.abs, lambda lo, hi: (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)),
                                                       max(abs(lo), abs(hi)))),
    "stop_gradient": (lambda lo, hi: True, gc.stop_gradient, lambda lo, hi: (lo, hi)),
    "arctan": (lambda lo, hi: True, gc.arctan, _mono(math.atan)),
    # of 0.9 tanh(x): inside (-1, 1) for any x, where both are smooth
    "arcsin": (lambda lo, hi: True, lambda x: gc.arcsin(0.9 * gc.tanh(x)),
               _mono(lambda v: math.asin(0.9 * math.tanh(v)))),
    "arccos": (lambda lo, hi: True, lambda x: gc.arccos(0.9 * gc.tanh(x)),
               lambda lo, hi: (math.acos(0.9 * math.tanh(hi)), math.acos(0.9 * math.tanh(lo)))),
    "sinh": (lambda lo, hi: -4 <= lo and hi <= 4, gc.sinh, _mono(math.sinh)),
    "cosh": (lambda lo, hi: -4 <= lo and hi <= 4, gc.cosh,
             lambda lo, hi: (1.0, max(math.cosh(lo), math.cosh(hi)))),
    "erf": (lambda lo, hi: True, gc.erf, _mono(math.erf)),
    "sign": (lambda lo, hi: True, gc.sign, lambda lo, hi: (-1.0, 1.0)),
}
# left out of smooth graphs, whose derivatives are checked against finite differences: kinks and
# steps; stop_gradient (smooth, but its declared derivative is zero where the differences see the
# identity); and a round trip through float32, whose rounding steps (2**-24 relative) are larger than
# a difference quotient's step resolves
NON_SMOOTH = {"abs", "maximum", "minimum", "where", "max", "min", "argmax", "stop_gradient", "sign",
              "compare", "mod", "floordiv", "cast", "cast_chain"}


def _mul_interval(a, b):
    return _interval(a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])


BINARY = {
    "add": (lambda a, b: True, gc.add, lambda a, b: (a[0] + b[0], a[1] + b[1])),
    "sub": (lambda a, b: True, gc.subtract, lambda a, b: (a[0] - b[1], a[1] - b[0])),
    "mul": (lambda a, b: True, gc.multiply, _mul_interval),
    "div": (lambda a, b: b[0] >= 0.25 or b[1] <= -0.25, gc.divide,
            lambda a, b: _mul_interval(a, _interval(1 / b[0], 1 / b[1]))),
    "maximum": (lambda a, b: True, gc.maximum, lambda a, b: (max(a[0], b[0]), max(a[1], b[1]))),
    "minimum": (lambda a, b: True, gc.minimum, lambda a, b: (min(a[0], b[0]), min(a[1], b[1]))),
    "pow": (lambda a, b: a[0] >= 0.1 and -2 <= b[0] and b[1] <= 2, gc.power,
            lambda a, b: _interval(*(x**y for x in a for y in b))),
    "mod": (lambda a, b: b[0] >= 0.5 or b[1] <= -0.5, gc.remainder,
            lambda a, b: (-max(abs(b[0]), abs(b[1])), max(abs(b[0]), abs(b[1])))),
    "floordiv": (lambda a, b: b[0] >= 0.5 or b[1] <= -0.5, gc.floor_divide,
                 lambda a, b: (-2 * max(abs(a[0]), abs(a[1])) - 1, 2 * max(abs(a[0]), abs(a[1])) + 1)),
}

STRUCTURAL = ("reshape", "transpose", "broadcast_to", "slice", "concatenate", "sum", "mean", "max",
              "matmul", "where", "cast", "take", "take_along_axis", "scatter_add", "scatter", "cumsum",
              "cumprod", "softmax", "argmax", "factor", "compare", "min", "argmin", "matrix", "decompose",
              "recurrence", "unslice", "scan", "custom", "scatter_along")
BAIT = ("mul_one", "add_zero", "sub_zero", "mul_zero_const", "double_neg", "double_transpose",
        "log_exp", "exp_log", "sum_broadcast", "x_plus_x", "repeat", "reshape_reshape", "cast_chain",
        "scalar_chain", "neg_mul")
OPS = tuple(UNARY) + tuple(BINARY) + STRUCTURAL + BAIT


def _const(value, shape=()):
    return gc.constant(np.full(shape, value, dtype=np.float64))


# ----------------------------------------------------------------------------------------------
# One step: apply a drawn op to drawn operands, or return None when it does not fit


def _pick(draw, values, accept=lambda v: True):
    candidates = [v for v in reversed(values) if accept(v)]  # shrinks towards the newest: chains
    if not candidates:
        return None
    return draw(st.sampled_from(candidates))


@gc.custom_vjp(vjp=lambda g, out, x: (g * 3.0 * x * x,))
def _CUBE(x):
    return x * x * x


def _square_matrix(a):
    """A symmetric positive-definite matrix from a vector of up to 4 values: distinct eigenvalues
    near n + 1, n + 2.5, ... (a small rank-one term moves them by less than their gaps)."""
    n = a.shape[0]
    u = gc.tanh(a.node) * 0.2
    base = gc.constant(np.diag(n + 1.0 + 1.5 * np.arange(n)))
    return n, gc.expand_dims(u, -1) * gc.expand_dims(u, -2) + base


def _matrix_step(draw, op, a):
    """Solves, inverses, factorizations and matrix ops of one well-conditioned matrix."""
    if a.node.size == 0:
        return None
    if a.node.ndim != 1 or a.shape[0] > 4:  # any value: its first (up to) four elements
        a = Value(gc.reshape(a.node, (-1,))[:draw(st.integers(1, min(4, a.node.size)))], a.lo, a.hi)
    lo, hi = a.lo, a.hi
    n, m = _square_matrix(a)
    top = n + 1.0 + 1.5 * (n - 1) + 0.2  # the largest eigenvalue, at most
    bound = math.sqrt(n) * max(abs(lo), abs(hi)) / (n + 1)  # |M⁻¹ a| <= |a| / (n + 1)
    if op == "factor":  # written as a user would: the passes share the factors
        kind = draw(st.sampled_from(["gen", "pos", "inverse"]))
        if kind == "inverse":
            inverse = gc.linalg.inv(m, assume_a=draw(st.sampled_from(["gen", "pos"])))
            return Value(inverse @ a.node, -bound, bound)
        logdet = gc.linalg.slogdet(m)[1] if kind == "gen" else gc.linalg.logdet(m, assume_a="pos")
        return Value(gc.linalg.solve(m, a.node, assume_a=kind) + 0.1 * logdet, -bound, bound + 1.0)
    if op == "matrix":
        kind = draw(st.sampled_from(["diagonal", "embed", "symmetrize", "einsum", "triangular", "det"]))
        m2 = max(abs(lo), abs(hi), top)
        if kind == "diagonal":
            return Value(gc.diagonal(m), 0.0, top)
        if kind == "embed":
            return Value(gc.diag(a.node, draw(st.integers(-1, 1))), min(lo, 0.0), max(hi, 0.0))
        if kind == "symmetrize":
            return Value(gc.symmetrize(m * gc.expand_dims(a.node, 0)), -m2 * m2, m2 * m2)
        if kind == "einsum":
            return Value(gc.einsum("ij,j->i", m, a.node), -n * m2 * m2, n * m2 * m2)
        if kind == "triangular":
            factor = gc.cholesky(m)
            return Value(gc.solve_triangular(factor, a.node, lower=True, trans=draw(st.sampled_from([0, 1]))),
                         -n * max(abs(lo), abs(hi)), n * max(abs(lo), abs(hi)))
        return Value(gc.det(m) * 1e-3, 0.0, 1e-3 * top**n)
    kind = draw(st.sampled_from(["eigh", "eigvalsh", "svd", "lu", "pos"]))
    if kind == "eigh":
        w, q = gc.eigh(m)
        return Value(w + gc.sum(q * q, axis=0), 1.0, top + 1.0)  # squares: the vectors' signs do not matter
    if kind == "eigvalsh":
        return Value(gc.eigvalsh(m), n + 0.5, top)
    if kind == "svd":
        return Value(gc.svd(m, full_matrices=False)[1], n + 0.5, top)
    if kind == "lu":  # the ops the factorizations pass makes, built directly
        lu, piv = gc.lu_factor(m)
        parts = [gc.lu_solve(m, lu, piv, a.node, draw(st.sampled_from([0, 1]))),
                 gc.lu_inv(m, lu, piv) @ a.node, gc.lu_slogdet(m, lu, piv)[1] * 0.1 + 0.0 * a.node]
        return Value(sum(parts[1:], parts[0]), -2 * bound, 2 * bound + 1.0)
    factor = gc.cholesky(m)
    parts = [gc.pos_solve(m, factor, a.node), gc.pos_inv(m, factor) @ a.node,
             gc.pos_logdet(m, factor) * 0.1 + 0.0 * a.node]
    return Value(sum(parts[1:], parts[0]), -2 * bound, 2 * bound + 1.0)


def _step(draw, op, values):  # noqa: C901 - one case per op, kept together on purpose
    a = _pick(draw, values)
    lo, hi = a.lo, a.hi
    if op in UNARY:
        pre, build, rng = UNARY[op]
        if not pre(lo, hi):
            return None
        return Value(build(a.node), *rng(lo, hi))
    if op in BINARY:
        pre, build, rng = BINARY[op]
        b = _pick(draw, values, lambda v: _broadcastable(a.shape, v.shape))
        if draw(st.booleans()):
            b = Value(_const(draw(st.sampled_from([0.5, 2.0, -1.5, 3.0]))), 0, 0)
            b.lo = b.hi = float(b.node.value)
        if not pre((lo, hi), (b.lo, b.hi)):
            return None
        return Value(build(a.node, b.node), *rng((lo, hi), (b.lo, b.hi)))
    if op == "reshape":
        target = draw(st.sampled_from([(-1,), (1,) + a.shape, a.shape[::-1] if a.node.size else a.shape]))
        return Value(gc.reshape(a.node, target), lo, hi)
    if op in ("transpose", "double_transpose"):
        if a.node.ndim < 2:
            return None
        t = gc.transpose(a.node)
        return Value(gc.transpose(t) if op == "double_transpose" else t, lo, hi)
    if op == "broadcast_to":
        return Value(gc.broadcast_to(a.node, (2,) + a.shape), lo, hi)
    if op == "slice":
        if a.node.ndim == 0 or a.shape[0] < 2:
            return None
        return Value(a.node[draw(st.sampled_from([slice(1, None), slice(None, None, 2), slice(None, 1)]))],
                     lo, hi)
    if op == "concatenate":
        if a.node.ndim == 0:
            return None
        b = _pick(draw, values, lambda v: v.shape[1:] == a.shape[1:] and v.node.ndim == a.node.ndim)
        return Value(gc.concatenate([a.node, b.node], axis=0), min(lo, b.lo), max(hi, b.hi))
    if op in ("sum", "mean", "max", "min"):
        if a.node.ndim == 0:
            return None
        axis = draw(st.sampled_from([None, 0, -1]))
        keepdims = draw(st.booleans())
        n = a.node.size if axis is None else a.shape[axis]
        if op == "sum":
            return Value(gc.sum(a.node, axis, keepdims), *_interval(n * lo, n * hi, lo, hi))
        fn = {"mean": gc.mean, "max": gc.max, "min": gc.min}[op]
        return Value(fn(a.node, axis, keepdims), lo, hi)
    if op == "matmul":
        if a.node.ndim == 0:
            return None
        k = a.shape[-1]
        b = _pick(draw, values, lambda v: v.node.ndim in (1, 2) and v.shape[0] == k)
        if b is None:
            b = Value(gc.constant(np.linspace(-1, 1, 2 * k).reshape(k, 2)), -1.0, 1.0)
        return Value(gc.matmul(a.node, b.node), *(k * x for x in _mul_interval((lo, hi), (b.lo, b.hi))))
    if op == "where":
        b = _pick(draw, values, lambda v: v.shape == a.shape)
        cond = gc.greater(a.node, b.node)
        return Value(gc.where(cond, a.node, b.node), min(lo, b.lo), max(hi, b.hi))
    if op in ("take", "take_along_axis", "scatter_add", "scatter"):  # constant indices, duplicates too
        if a.node.ndim == 0:
            return None
        axis = draw(st.integers(0, a.node.ndim - 1))
        n = a.shape[axis]
        if op == "take_along_axis":
            shape = tuple(draw(st.integers(1, 3)) if d == axis else m for d, m in enumerate(a.shape))
            idx = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(shape)),
                                         max_size=int(np.prod(shape)))), np.int64).reshape(shape)
            return Value(gc.take_along_axis(a.node, gc.constant(idx), axis), lo, hi)
        idx = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)), np.int64)
        mode = draw(st.sampled_from(["raise", "wrap", "clip"]))
        if mode == "wrap":
            idx = idx + n * draw(st.integers(-1, 1))
        if op == "take":
            return Value(gc.take(a.node, gc.constant(idx), axis, mode=mode), lo, hi)
        b = _pick(draw, values, lambda v: v.shape == a.shape[:axis] + idx.shape + a.shape[axis + 1:])
        if b is None:
            b = Value(gc.take(a.node, gc.constant(idx), axis, mode=mode) * 0.5, *_interval(lo / 2, hi / 2))
        if op == "scatter":
            return Value(gc.scatter(a.node, gc.constant(idx), b.node, axis, mode), min(lo, b.lo),
                         max(hi, b.hi))
        k = len(idx)
        return Value(gc.scatter_add(a.node, gc.constant(idx), b.node, axis, mode),
                     *_interval(lo + k * min(b.lo, 0), hi + k * max(b.hi, 0)))
    if op in ("cumsum", "cumprod", "softmax", "argmax", "argmin"):
        if a.node.ndim == 0:
            return None
        axis = draw(st.integers(0, a.node.ndim - 1))
        n = a.shape[axis]
        if op == "cumsum":
            return Value(gc.cumsum(a.node, axis, reverse=draw(st.booleans())),
                         *_interval(n * lo, n * hi, lo, hi))
        if op == "cumprod":
            m = max(abs(lo), abs(hi), 1.0)
            return Value(gc.cumprod(a.node, axis), -(m**n), m**n) if m**n < 1e3 else None
        if op == "softmax":
            return Value(gc.softmax(a.node, axis), 0.0, 1.0)
        fn = gc.argmax if op == "argmax" else gc.argmin
        return Value(gc.cast(fn(a.node, axis), "float64"), 0.0, float(n - 1))
    if op in ("factor", "matrix", "decompose"):
        return _matrix_step(draw, op, a)
    if op == "compare":
        b = _pick(draw, values, lambda v: _broadcastable(a.shape, v.shape))
        cmp = draw(st.sampled_from([gc.equal, gc.not_equal, gc.less_equal, gc.greater_equal, gc.less,
                                    gc.greater]))
        return Value(gc.cast(cmp(a.node, b.node), "float64"), 0.0, 1.0)
    if op == "recurrence":  # y_i = a_i y_(i-1) + b_i with |a_i| < 1: bounded by |b| / (1 - max |a|)
        if a.node.ndim == 0:
            return None
        m = max(abs(lo), abs(hi))
        decay = 0.5 * gc.tanh(a.node)
        return Value(gc.linear_recurrence(decay, a.node, axis=draw(st.integers(0, a.node.ndim - 1)),
                                          reverse=draw(st.booleans())), -2 * m, 2 * m)
    if op == "unslice":  # the adjoint of a slice: the values placed into zeros of a larger shape
        if a.node.ndim == 0:
            return None
        shape = (a.shape[0] * 2 + 1,) + a.shape[1:]
        rest = a.node.ndim - 1
        placed = unslice_op(a.node, shape, (1,) + (0,) * rest, (2,) + (1,) * rest)
        return Value(placed, min(lo, 0.0), max(hi, 0.0))
    if op == "scan":  # a running, damped sum over the leading axis: one loop node and its items
        if a.node.ndim == 0:
            return None
        m = max(abs(lo), abs(hi))

        def body(carry, x):
            new = 0.5 * carry + gc.sin(x)
            return new, new * x
        final, ys = gc.scan(body, gc.zeros_like(a.node[0]), a.node)
        return Value(ys + gc.sum(final), -(2 * m + 2 * a.node.size), 2 * m + 2 * a.node.size)
    if op == "custom":  # a function with a derivative of its own (right, so checks still hold)
        return Value(_CUBE(a.node), *_interval(lo**3, hi**3)) if max(abs(lo), abs(hi)) < 20 else None
    if op == "scatter_along":
        if a.node.ndim == 0:
            return None
        axis = draw(st.integers(0, a.node.ndim - 1))
        n = a.shape[axis]
        shape = tuple(draw(st.integers(1, 3)) if d == axis else m for d, m in enumerate(a.shape))
        idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=int(np.prod(shape)),
                                     max_size=int(np.prod(shape)))), np.int64).reshape(shape)
        values_ = gc.take_along_axis(a.node, gc.constant(idx), axis) * 0.5
        k = shape[axis]
        return Value(gc.scatter_add_along_axis(a.node, gc.constant(idx), values_, axis),
                     *_interval(lo + k * min(lo / 2, 0), hi + k * max(hi / 2, 0)))
    if op in ("cast", "cast_chain"):
        wide = gc.cast(gc.cast(a.node, "float32"), "float64")
        if op == "cast":
            return Value(wide, lo - 1e-3 * abs(lo), hi + 1e-3 * abs(hi))
        return Value(gc.cast(gc.cast(gc.cast(a.node, "float32") > 0, "int64"), "float64"), 0.0, 1.0)
    # rewrite bait
    if op == "mul_one":
        return Value(a.node * _const(1.0, draw(st.sampled_from([(), a.shape]))), lo, hi)
    if op == "add_zero":
        return Value(gc.zeros_like(a.node) + a.node, lo, hi)
    if op == "sub_zero":
        return Value(a.node - 0.0, lo, hi) if draw(st.booleans()) else Value(0.0 - a.node, -hi, -lo)
    if op == "mul_zero_const":  # 0 times a finite constant: folds; 0 times a node must stay
        target = a.node if draw(st.booleans()) else _const(2.5, a.shape)
        return Value(target * 0.0, 0.0, 0.0)
    if op == "double_neg":
        return Value(gc.negative(gc.negative(a.node)), lo, hi)
    if op == "log_exp":
        return Value(gc.log(gc.exp(a.node)), lo, hi) if hi <= 4 else None
    if op == "exp_log":
        return Value(gc.exp(gc.log(a.node)), lo, hi) if lo >= 0.1 else None
    if op == "sum_broadcast":
        shape = (3,) + a.shape
        axis = draw(st.sampled_from([None, 0]))
        n = 3 * (a.node.size if axis is None else 1)
        return Value(gc.sum(gc.broadcast_to(a.node, shape), axis), *_interval(n * lo, n * hi))
    if op == "x_plus_x":
        return Value(a.node + a.node, 2 * lo, 2 * hi)
    if op == "repeat":  # the same expression built twice: CSE merges them
        return Value(gc.tanh(a.node) * gc.tanh(a.node), 0.0, 1.0)
    if op == "reshape_reshape":
        return Value(gc.reshape(gc.reshape(a.node, (-1,)), a.shape + (1,)), lo, hi)
    if op == "scalar_chain":
        return Value((a.node * 2.0) * 0.5, lo, hi)
    if op == "neg_mul":
        b = _pick(draw, values, lambda v: _broadcastable(a.shape, v.shape))
        return Value((-a.node) * b.node, *_mul_interval((-hi, -lo), (b.lo, b.hi)))
    raise AssertionError(f"unknown op {op}")


# ----------------------------------------------------------------------------------------------
# The strategy

DOMAINS = {"normal": (-1.0, 1.0), "positive": (0.5, 2.0), "negative": (-2.0, -0.5)}


INTEGER_DOMAINS = {"int64": (-3, 3), "bool": (0, 1)}


@st.composite
def random_graphs(draw, min_steps: int = 3, max_steps: int = 12, max_inputs: int = 3, ops=None,
                  smooth: bool = False, scalar_output: bool = False, empty: bool = False,
                  integers: bool = False):
    """Draw ``(graph, sample)``; ``sample(rng)`` returns inputs within their domains (float64, and
    int64 or bool ones with ``integers``). ``empty`` gives the shared base shape a 0-length axis.
    With ``empty`` or ``integers``, a step the builder refuses with graphc's own error (a
    reduction without identity over no elements, a dtype an op does not take) is left out."""
    names = tuple(ops) if ops is not None else OPS
    if smooth:
        names = tuple(n for n in names if n not in NON_SMOOTH)
    base = tuple(draw(st.lists(st.integers(2, 3), min_size=1, max_size=2)))
    if empty:
        base = base[:-1] + (0,)
    n_inputs = draw(st.integers(1, max_inputs))
    inputs, values, domains = [], [], {}
    for i in range(n_inputs):
        shape = draw(st.sampled_from([base, base[-1:], (), base[::-1]]))
        dtype = draw(st.sampled_from(["float64", "float64", "int64", "bool"])) if integers else "float64"
        domain = (DOMAINS[draw(st.sampled_from(sorted(DOMAINS)))] if dtype == "float64"
                  else INTEGER_DOMAINS[dtype])
        p = gc.placeholder(f"in{i}", shape, dtype)
        inputs.append(p)
        domains[p.attrs["name"]] = (shape, domain, dtype)
        values.append(Value(p, *domain))
    for op in draw(st.lists(st.sampled_from(names), min_size=min_steps, max_size=max_steps)):
        try:
            made = _step(draw, op, values)
        except (gc.GraphError, gc.GraphTypeError, InvalidArgument):  # InvalidArgument: an index drawn
            if not (empty or integers):                                  # on an axis of length 0
                raise
            continue
        if made is not None and _ok(made.lo, made.hi):
            values.append(made)
    last = values[-1].node
    outputs = {"out": gc.sum(last) if scalar_output else last}
    if not scalar_output and len(values) > 2 and draw(st.booleans()):
        outputs["other"] = draw(st.sampled_from(values[:-1])).node
    graph = gc.Graph(inputs, outputs)

    def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
        def one(shape, lo, hi, dtype):
            if dtype == "float64":
                return rng.uniform(lo, hi, size=shape)
            return rng.integers(lo, hi + 1, size=shape).astype(dtype)

        return {name: one(shape, lo, hi, dtype) for name, (shape, (lo, hi), dtype) in domains.items()}

    return graph, sample
