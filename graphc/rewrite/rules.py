"""The algebraic simplification rules, as one table of ``Rule(pattern, replacement, text)`` entries.

Each replacement takes the bound nodes by name (plus ``root``, the matched node) and returns the
node to use instead, or None when the rule does not apply after all. Adding a rule is adding one
entry; :func:`graphc.rewrite.driver.rewrite` applies the whole table until nothing changes.

**The contract** (``gc.optimize``'s default mode, ``"ieee"``): for every input, inf, NaN, signed
zeros and subnormals included, a rewritten graph gives

* a NaN exactly where the original gives a NaN, the same infinity where it gives an infinity, and
  a finite number where it gives a finite number (no new overflow, none lost);
* zeros of the same sign;
* finite values equal up to rounding: a few units in the last place per rewritten operation, a
  sum's terms in another order (a sum's order is unspecified on every backend: numpy sums
  pairwise, a fused loop in sequence), and gradual underflow (a result among the subnormals may
  round differently, to zero included).

Rules that hold only in real arithmetic are marked ``fast``: reassociating a product of arrays and
scalars (``(x*2)*0.5 -> x`` is finite where the original overflows at 1e308), distributing
(``sum(x*s) -> sum(x)*s``, ``x*s + y*s -> (x+y)*s``, a scale out of a matmul, a solve or a
scatter, a product of a combination from the products of its terms), ``x*(1/y) -> x/y`` (1/y
overflows for subnormal y), ``log(exp(x)) -> x`` (exp overflows above 709), and the identities that
lose a zero's sign (``x + 0.0``, ``0.0 - x``, ``x * 0.0``). ``gc.optimize(graph, mode="fast")`` (and
``gc.compile(..., optimize="fast")``) applies them too, as a C compiler's -ffast-math does; the
IEEE mode applies a fast rule only to integer results, where the ring laws are exact. Rules on
constants that are exact under a condition (``(x*c1)*c2 -> x*(c1*c2)`` when ``|c1| <= 1``, so
``x*c1`` cannot overflow, and ``c1*c2`` is a normal number) carry that condition as their
``exact``, under which the IEEE mode applies them too.

Other exceptions in either mode: ``x * 0 -> 0`` only applies when ``x`` is known finite;
``exp(log(x)) -> x`` only when ``x`` is known non-negative; ``inv(A) @ b -> solve(A, b)`` changes
an ill-conditioned product by more than rounding, towards the exact result.
"""

from __future__ import annotations

import math

import numpy as np

from ..dtypes import is_float
from ..ir import Graph, Node
from ..ops.core import PRIMITIVES, bind
from ..ops.core import api as gc
from ..ops.shapes import broadcast_shapes
from .driver import Pass, Pat, Rule, placed, rebuild, rewrite, uses
from .fold import FOLD_RULES

SPLAT_LIMIT = 4096  # constants up to this size are checked for being one repeated number

# ----------------------------------------------------------------------------------------------
# Facts about nodes (each looks at most through a few view ops: never a recursion over the graph)

_VIEWS = ("broadcast_to", "reshape", "transpose")


def _through_views(node: Node) -> Node:
    for _ in range(4):
        if node.op not in _VIEWS:
            break
        node = node.inputs[0]
    return node


def splat(node: Node):
    """The number every element of ``node`` equals, when ``node`` is (a view of) such a constant."""
    src = _through_views(node)
    if src.op != "constant" or src.value.size == 0 or src.value.size > SPLAT_LIMIT:
        return None
    first = src.value.flat[0]
    if src.value.size > 1 and not np.all(src.value == first):
        return None
    return first.item()


def is_value(v):
    return lambda node: (s := splat(node)) is not None and s == v


def is_constant(node: Node) -> bool:
    return _through_views(node).op == "constant"


def known_finite(node: Node) -> bool:
    """No inf or NaN can come out of ``node``."""
    src = _through_views(node)
    if src.op == "cast":
        src = src.inputs[0]
    if src.dtype.kind in "biu":
        return True
    return src.op == "constant" and src.value.size <= SPLAT_LIMIT and bool(np.isfinite(src.value).all())


def known_nonnegative(node: Node) -> bool:
    """``node`` is >= 0 or NaN wherever it is defined (so ``exp(log(node)) == node``)."""
    src = _through_views(node)
    if "nonnegative" in PRIMITIVES[src.op].flags:
        return True
    if src.op == "mul" and src.inputs[0] is src.inputs[1]:
        return True
    if src.op == "cast" and src.inputs[0].dtype == np.dtype(bool):
        return True
    return src.op == "constant" and src.value.size <= SPLAT_LIMIT and bool((src.value >= 0).all())


def _zero_of_sign(node: Node, negative: bool) -> bool:
    value = splat(node)
    return value is not None and value == 0 and (math.copysign(1.0, value) < 0) == negative


def exact_identity(negative_zero: bool):
    """A guard for ``x + 0``-like rules: exact for integers, and for floats when the zero has the
    sign that keeps every x, -0.0 included (``x + -0.0``, ``x - +0.0``, ``-0.0 - x``)."""
    return lambda root, z, **_: root.dtype.kind not in "fc" or _zero_of_sign(z, negative_zero)


def _normal(value: float, dtype) -> bool:
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else None
    return info is not None and math.isfinite(value) and abs(value) >= info.tiny


def exact_constants(combine, condition):
    """A guard for ``(x op1 c1) op2 c2 -> x op (c1 ∘ c2)`` on floats: ``c1``, ``c2`` and the combined
    constant ``combine(c1, c2)`` (in the result's dtype) are normal numbers, and ``condition(|c1|,
    |c2|)`` rules out an overflow of the first step where the result is finite (``x*c1`` needs
    ``|c1| <= 1``, ``x/c1`` needs ``|c1| >= 1``, ``c1/y`` then ``*c2`` needs ``|c2| >= 1``)."""
    def guard(root, c1, c2, **_) -> bool:
        if not is_float(root.dtype):
            return root.dtype.kind != "c"
        a, b = splat(c1), splat(c2)
        if a is None or b is None:
            return False
        with np.errstate(all="ignore"):
            combined = combine(np.asarray(a, root.dtype), np.asarray(b, root.dtype)).item()
        return (all(_normal(v, root.dtype) for v in (a, b, combined)) and condition(abs(a), abs(b)))
    return guard


def size_one(node: Node) -> bool:
    return math.prod(node.shape) == 1


def single_use(node: Node) -> bool:
    """Rewriting through ``node`` will not leave it alive for other consumers (no duplication)."""
    return uses(node) <= 1


# ----------------------------------------------------------------------------------------------
# Helpers for replacements


def like(root: Node, node: Node) -> Node | None:
    """``node`` as a stand-in for ``root``: broadcast to its shape; None if the dtype differs."""
    if node.dtype != root.dtype:
        return None
    return node if node.shape == root.shape else gc.broadcast_to(node, root.shape)


def fill(root: Node, value) -> Node:
    """A constant of ``root``'s type, every element ``value``."""
    return gc.broadcast_to(gc.constant(np.asarray(value, dtype=root.dtype)), root.shape)


def _swaps_last_two(node: Node) -> bool:
    n = node.ndim
    return tuple(node.attrs["axes"]) == (*range(n - 2), n - 1, n - 2)


def _reads_back_placed(node: Node) -> bool:
    placed = node.inputs[0]
    return (placed.op == "unslice" and node.attrs["starts"] == placed.attrs["starts"]
            and node.attrs["steps"] == placed.attrs["steps"]
            and node.attrs["lengths"] == placed.inputs[0].shape)


def compose_transposes(x: Node, inner: Node, root: Node) -> Node:
    axes = tuple(inner.attrs["axes"][a] for a in root.attrs["axes"])
    return gc.transpose(x, axes)


def drop_broadcast_operands(root: Node) -> Node | None:
    """``op(broadcast_to(x), y) -> op(x, y)`` when the operands broadcast to the same shape
    without it (numpy broadcasts implicitly)."""
    operands = list(root.inputs)
    changed = False
    for i, operand in enumerate(operands):
        if operand.op != "broadcast_to":
            continue
        trial = operands[:i] + [operand.inputs[0]] + operands[i + 1:]
        if broadcast_shapes(*trial) == root.shape:
            operands = trial
            changed = True
    return bind(root.op, operands, dict(root.attrs)) if changed else None


def _squeezable(operand: Node, root: Node) -> bool:
    return operand.op == "constant" and operand.ndim > 0 and operand.value.size == 1


def squeeze_constants(root: Node) -> Node | None:
    """One-element constants of shape (1, 1, ...) as 0-d constants, when the result's shape does
    not need their axes (it is the same without them)."""
    operands = [gc.constant(o.value.reshape(())) if _squeezable(o, root) else o for o in root.inputs]
    if broadcast_shapes(*operands) != root.shape:
        return None
    return bind(root.op, operands, dict(root.attrs))


def sum_of_broadcast(root: Node, b: Node, x: Node) -> Node:
    """``sum(broadcast_to(x, S), axes)``: summing n copies is multiplying by n. Axes along which x
    really varies are summed on x itself, before it is broadcast."""
    shape, axes, keepdims = b.shape, root.attrs["axes"], root.attrs["keepdims"]
    lead = len(shape) - x.ndim
    varying = tuple(a - lead for a in axes if a >= lead and x.shape[a - lead] != 1)
    count = int(np.prod([shape[a] for a in axes if a < lead or x.shape[a - lead] == 1], dtype=np.int64))
    y = gc.sum(x, varying, keepdims=True) if varying else x
    if keepdims:
        y = gc.broadcast_to(y, tuple(1 if a in axes else d for a, d in enumerate(shape)))
    else:
        aligned = (1,) * (len(shape) - y.ndim) + y.shape  # y's axes lined up with S's
        y = gc.reshape(y, tuple(d for a, d in enumerate(aligned) if a not in axes))
    if count != 1:
        y = gc.multiply(y, gc.constant(np.asarray(count, dtype=x.dtype)))
    return gc.broadcast_to(y, root.shape)


def scale_after_sum(root: Node, m: Node, x: Node, s: Node) -> Node | None:
    """``sum(x*s) -> sum(x)*s`` when x alone has the product's shape and s fits the sum's."""
    if x.shape != m.shape or s.ndim > root.ndim:
        return None
    return gc.multiply(gc.sum(x, root.attrs["axes"], root.attrs["keepdims"]), s)


def drop_kept_axes(root: Node, r: Node, x: Node) -> Node | None:
    """``reshape(sum(x, keepdims=True))`` that only drops the kept axes is ``sum(x)``."""
    axes = r.attrs["axes"]
    if tuple(d for a, d in enumerate(r.shape) if a not in axes) != root.shape:
        return None
    return gc.sum(x, axes)


def skip_cast_chain(root: Node, mid: Node, x: Node) -> Node | None:
    """``cast(cast(x))``: drop the middle cast when it loses nothing (x's values survive it)."""
    if not np.can_cast(x.dtype, mid.dtype, casting="safe"):
        return None
    return x if x.dtype == root.dtype else gc.cast(x, root.dtype)


def reassociate_scalars(root: Node, x: Node, s: Node, t: Node) -> Node | None:
    """``(x*s)*t -> x*(s*t)`` for one-element s and t: two scalar products, not two array ones."""
    if size_one(x):
        return None
    return gc.multiply(x, gc.multiply(s, t))


def unbroadcast_reshape(root: Node, r: Node, x: Node) -> Node | None:
    """``broadcast_to(reshape(x))`` is ``broadcast_to(x)`` when the reshape only added leading
    size-1 axes (or x has a single element)."""
    strip = lambda s: tuple(s[next((i for i, d in enumerate(s) if d != 1), len(s)):])  # noqa: E731
    if x.ndim > len(root.shape):  # broadcasting never drops axes: the reshape must stay
        return None
    if x.size == 1 or strip(r.shape) == strip(x.shape):
        return gc.broadcast_to(x, root.shape)
    return None


def _scaled(operand: Node, root: Node) -> bool:
    """``operand`` is x*s for a one-element s, used only here, and no smaller than the product."""
    return (operand.op == "mul" and single_use(operand) and operand.size >= root.size
            and any(size_one(i) and not size_one(o) and o.shape == operand.shape
                    for i, o in (operand.inputs, operand.inputs[::-1])))


def hoist_scale_out_of_matmul(root: Node) -> Node | None:
    """Scale the (no larger) product instead of an operand: one fewer multiplication per element."""
    for k, operand in enumerate(root.inputs):
        if not _scaled(operand, root):
            continue
        a, b = operand.inputs
        x, s = (b, a) if size_one(a) and not size_one(b) else (a, b)
        operands = list(root.inputs)
        operands[k] = x
        if s.ndim > root.ndim:
            return None
        return gc.multiply(gc.matmul(*operands), s)
    return None


def linear_terms(node: Node, depth: int = 0) -> list[tuple[Node, Node | None, bool]]:
    """``node`` as a sum of terms (u, s, negated): ±u·s with s a one-element scale (or None), u of
    ``node``'s shape and dtype, through add, sub, neg and mul by one element, a few levels deep."""
    a = node.inputs[0] if node.inputs else None
    if depth < 3 and node.op in ("add", "sub") and all(i.shape == node.shape and i.dtype == node.dtype
                                                       for i in node.inputs):
        left, right = (linear_terms(i, depth + 1) for i in node.inputs)
        if node.op == "sub":
            right = [(u, s, not neg) for u, s, neg in right]
        return left + right
    if depth < 3 and node.op == "neg":
        return [(u, s, not neg) for u, s, neg in linear_terms(a, depth + 1)]
    if node.op == "mul":
        for u, s in (node.inputs, node.inputs[::-1]):
            if (u.shape == node.shape and u.dtype == node.dtype and size_one(s) and not size_one(u)
                    and s.ndim <= node.ndim):
                return [(u, s, False)]
    return [(node, None, False)]


def combine_terms(terms: list[tuple[Node, Node | None, bool]], like_node: Node) -> Node | None:
    """The sum of the terms ±u·s (see linear_terms), or None when it would not have
    ``like_node``'s shape and dtype."""
    total = None
    for u, s, negated in terms:
        term = u if s is None else gc.multiply(u, s)
        if total is None:
            total = gc.negative(term) if negated else term
        else:
            total = gc.subtract(total, term) if negated else gc.add(total, term)
    return total if total.shape == like_node.shape and total.dtype == like_node.dtype else None


def reuse_products_by_linearity(root: Node) -> Node | None:
    """M @ (a·u + b·w) -> a·(M @ u) + b·(M @ w) when the graph computes M @ u and M @ w already:
    a Hessian-vector product of xᵀSx with a symmetric S applies S to x, to the direction d and
    to a combination of the two, and the third product is then free."""
    for k, operand in enumerate(root.inputs):
        if operand.op not in ("add", "sub"):
            continue
        terms = linear_terms(operand)
        if len(terms) < 2:
            continue
        products = []
        for u, s, neg in terms:
            operands = list(root.inputs)
            operands[k] = u
            product = placed(gc.matmul(*operands))
            if product is None:  # the graph does not compute it: distributing would add work
                break
            products.append((product, s, neg))
        else:
            return combine_terms(products, root)
    return None


def _same_scatter(a: Node, b: Node) -> bool:
    """Two scatter-adds through the same index node, axis and mode."""
    return (a.op == b.op == "scatter_add" and a.inputs[1] is b.inputs[1] and a.attrs == b.attrs
            and a.shape == b.shape)


def merge_scatters(root: Node) -> Node | None:
    """scatter_add(x, i, a) + scatter_add(y, i, b) -> scatter_add(x + y, i, a + b): the adjoint of
    an array gathered twice through one index (a fan-in of two scatters into zeros) is one
    scatter of the summed cotangents, and x + y of two zeros folds away."""
    a, b = root.inputs
    if not (_same_scatter(a, b) and single_use(a) and single_use(b)):
        return None
    (x, idx, u), (y, _, v) = a.inputs, b.inputs
    return gc.scatter_add(gc.add(x, y), idx, gc.add(u, v), a.attrs["axis"], a.attrs["mode"])


def nested_scatters(root: Node, inner: Node) -> Node | None:
    """scatter_add(scatter_add(x, i, a), i, b) -> scatter_add(x, i, a + b)."""
    if not (_same_scatter(root, inner) and single_use(inner)):
        return None
    x, idx, a = inner.inputs
    return gc.scatter_add(x, idx, gc.add(a, root.inputs[2]), root.attrs["axis"], root.attrs["mode"])


def sum_of_scatter(root: Node, sc: Node) -> Node | None:
    """sum(scatter_add(x, i, v)) over every axis -> sum(x) + sum(v): every value lands somewhere."""
    if len(root.attrs["axes"]) != sc.ndim or not single_use(sc):
        return None
    x, _, v = sc.inputs
    return like(root, gc.add(gc.sum(x), gc.sum(v)))


def scale_into_scatter(root: Node, sc: Node, s: Node) -> Node | None:
    """scatter_add(x, i, a) * s -> scatter_add(x * s, i, a * s) for a one-element s (up to
    rounding), so that a scaled adjoint scatter still merges with the others at its fan-in."""
    if not single_use(sc) or root.dtype != sc.dtype:
        return None
    x, idx, a = sc.inputs
    return like(root, gc.scatter_add(gc.multiply(x, s), idx, gc.multiply(a, s), sc.attrs["axis"],
                                     sc.attrs["mode"]))


def inverse_times(root: Node, inv: Node, b: Node) -> Node | None:
    """inv(A) @ b -> solve(A, b), and pos_inv(K, L) @ b -> pos_solve(K, L, b), when nothing else
    reads the inverse: a solve costs n² per right-hand side where the inverse costs n³, and
    rounds better."""
    if not single_use(inv) or inv.ndim != 2 or b.ndim not in (1, 2):
        return None
    if inv.op == "inv":
        return like(root, gc.solve(inv.inputs[0], b))
    return like(root, gc.pos_solve(*inv.inputs, b))


def scale_out_of_solve(root: Node, m: Node, x: Node, s: Node) -> Node | None:
    """solve(A, x * s) -> solve(A, x) * s for a one-element s (and so for pos_solve and
    lu_solve): the adjoint of a solve solves with its scaled cotangent (0.5 y for a Gaussian
    likelihood's 0.5 yᵀ K⁻¹ y), and with the scale outside, CSE merges it with the value's solve."""
    if size_one(x) or x.shape != m.shape or not single_use(m):
        return None
    solved = rebuild(root, list(root.inputs[:-1]) + [x])
    return like(root, gc.multiply(solved, gc.reshape(s, ())))


def _identity_take(node: Node) -> bool:
    idx = node.inputs[1]
    n = node.inputs[0].shape[node.attrs["axis"]]
    return (idx.op == "constant" and idx.value.shape == (n,)
            and np.array_equal(idx.value, np.arange(n)))


def is_matrix_transpose(node: Node) -> bool:
    return node.op == "transpose" and node.attrs["axes"] == (1, 0)


# ----------------------------------------------------------------------------------------------
# The table

X, Y = Pat(name="x"), Pat(name="y")
ZERO = Pat(where=is_value(0))
Z = Pat(where=is_value(0), name="z")
ONE = Pat(where=is_value(1))
MINUS_ONE = Pat(where=is_value(-1))
C1 = Pat("constant", name="c1")
C1S, C2S = Pat("constant", name="c1", where=size_one), Pat("constant", name="c2", where=size_one)
NEG_X = Pat("neg", Pat(name="x", where=lambda n: not is_constant(n)), where=lambda n: single_use(n))
VAR_Y = Pat(name="y", where=lambda n: not is_constant(n))
S, T = Pat(where=size_one, name="s"), Pat(where=size_one, name="t")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt", "le", "gt", "ge", "eq", "ne")
MT = Pat("transpose", Pat(name="a"), where=is_matrix_transpose)
MT_B = Pat("transpose", Pat(name="b"), where=is_matrix_transpose)


def _first_is_constant(node: Node) -> bool:
    return is_constant(node.inputs[0]) and not is_constant(node.inputs[1])


ALGEBRA = [
    # x*1 -> x
    Rule(Pat("mul", X, ONE), lambda root, x: like(root, x), "x*1 -> x"),
    # x/1 -> x
    Rule(Pat("div", X, ONE), lambda root, x: like(root, x), "x/1 -> x"),
    # x+0 -> x (-0.0 + 0.0 is +0.0: for floats exact only with -0.0)
    Rule(Pat("add", X, Z), lambda root, x, z: like(root, x), "x+0 -> x", fast=True,
         exact=exact_identity(True)),
    # x-0 -> x (x - -0.0 is x + 0.0)
    Rule(Pat("sub", X, Z), lambda root, x, z: like(root, x), "x-0 -> x", fast=True,
         exact=exact_identity(False)),
    # 0-x -> -x (0.0 - 0.0 is +0.0, -(0.0) is -0.0)
    Rule(Pat("sub", Z, X), lambda root, z, x: like(root, gc.negative(x)), "0-x -> -x", fast=True,
         exact=exact_identity(True)),
    # x*0 -> 0 (x known finite: inf*0 is NaN; and known non-negative, or -1.0*0.0 is -0.0)
    Rule(Pat("mul", Pat(where=known_finite, name="x"), Z), lambda root, x, z: fill(root, 0), "x*0 -> 0",
         fast=True, exact=lambda root, x, z: known_nonnegative(x) and _zero_of_sign(z, False)),
    # x*-1 -> -x
    Rule(Pat("mul", X, MINUS_ONE), lambda root, x: like(root, gc.negative(x)), "x*-1 -> -x"),
    # --x -> x
    Rule(Pat("neg", Pat("neg", X)), lambda root, x: x, "--x -> x"),
    Rule(Pat("neg", Pat("transpose", Pat("neg", X), name="t", where=single_use)),
         lambda root, x, t: gc.transpose(x, t.attrs["axes"]), "-(-x)^T -> x^T"),
    # x + -y -> x - y
    Rule(Pat("add", X, Pat("neg", Y)), lambda root, x, y: gc.subtract(x, y), "x + -y -> x - y"),
    # x - -y -> x + y
    Rule(Pat("sub", X, Pat("neg", Y)), lambda root, x, y: gc.add(x, y), "x - -y -> x + y"),
    # -x * c -> x * -c
    Rule(Pat("mul", Pat("neg", X), C1), lambda root, x, c1: gc.multiply(x, gc.negative(c1)),
         "-x * c -> x * -c"),
    # -x * y -> -(x*y) (negations move outwards, where they cancel or become subtractions)
    Rule(Pat("mul", NEG_X, VAR_Y), lambda root, x, y: gc.negative(gc.multiply(x, y)), "-x*y -> -(x*y)"),
    # -x / y -> -(x/y)
    Rule(Pat("div", NEG_X, VAR_Y), lambda root, x, y: gc.negative(gc.divide(x, y)), "-x/y -> -(x/y)"),
    # x + x -> x*2
    Rule(Pat("add", X, X), lambda root, x: gc.multiply(x, gc.constant(np.asarray(2, x.dtype))),
         "x+x -> x*2"),
    # c*x -> x*c, c+x -> x+c (constants to the right, so CSE sees one form)
    Rule(Pat(("add", "mul"), where=_first_is_constant),
         lambda root: bind(root.op, root.inputs[::-1]), "constant to the right"),
    # (x*c1)*c2 -> x*(c1*c2) for one-element constants
    Rule(Pat("mul", Pat("mul", X, C1S, where=single_use), C2S),
         lambda root, x, c1, c2: gc.multiply(x, gc.multiply(c1, c2)), "(x*c1)*c2 -> x*(c1*c2)", fast=True,
         exact=exact_constants(np.multiply, lambda a, b: a <= 1)),
    # (x*c1)/c2 -> x*(c1/c2) for one-element constants
    Rule(Pat("div", Pat("mul", X, C1S, where=single_use), C2S),
         lambda root, x, c1, c2: gc.multiply(x, gc.divide(c1, c2)), "(x*c1)/c2 -> x*(c1/c2)", fast=True,
         exact=exact_constants(np.divide, lambda a, b: a <= 1)),
    # (x/c1)*c2 -> x*(c2/c1) for one-element constants
    Rule(Pat("mul", Pat("div", X, C1S, where=single_use), C2S),
         lambda root, x, c1, c2: gc.multiply(x, gc.divide(c2, c1)), "(x/c1)*c2 -> x*(c2/c1)", fast=True,
         exact=exact_constants(lambda a, b: np.divide(b, a), lambda a, b: a >= 1)),
    # (c1/y)*c2 -> (c1*c2)/y for one-element constants
    Rule(Pat("mul", Pat("div", C1S, Y, where=single_use), C2S),
         lambda root, y, c1, c2: gc.divide(gc.multiply(c1, c2), y), "(c1/y)*c2 -> (c1*c2)/y", fast=True,
         exact=exact_constants(np.multiply, lambda a, b: b >= 1)),
    # (x*s)*t -> x*(s*t) for one-element s, t (scalars hoisted)
    Rule(Pat("mul", Pat("mul", X, S, where=single_use), T), reassociate_scalars, "(x*s)*t -> x*(s*t)",
         fast=True),
    # x*s + y*s -> (x+y)*s for a one-element s
    Rule(Pat("add", Pat("mul", X, S, where=single_use), Pat("mul", Y, S, where=single_use)),
         lambda root, x, y, s: like(root, gc.multiply(gc.add(x, y), s)), "x*s + y*s -> (x+y)*s", fast=True),
    # x * (1/y) -> x / y
    Rule(Pat("mul", X, Pat("div", ONE, Y, where=single_use)),
         lambda root, x, y: like(root, gc.divide(x, y)) if x.dtype.kind == "f" else None, "x*(1/y) -> x/y",
         fast=True),
    # x**1 -> x
    Rule(Pat("pow", X, ONE), lambda root, x: like(root, x), "x**1 -> x"),
    # x**0 -> 1 (also for inf and NaN, as numpy has it)
    Rule(Pat("pow", X, ZERO), lambda root, x: fill(root, 1), "x**0 -> 1"),
    # x**2 -> x*x
    Rule(Pat("pow", X, Pat(where=is_value(2))), lambda root, x: like(root, gc.multiply(x, x)),
         "x**2 -> x*x"),
    # where(c, x, x) -> x
    Rule(Pat("where", Pat(), X, X), lambda root, x: like(root, x), "where(c, x, x) -> x"),
    # where(True, x, y) -> x
    Rule(Pat("where", Pat(where=is_value(True)), X, Y), lambda root, x, y: like(root, x),
         "where(True, x, y) -> x"),
    # where(False, x, y) -> y
    Rule(Pat("where", Pat(where=is_value(False)), X, Y), lambda root, x, y: like(root, y),
         "where(False, x, y) -> y"),
    # log(exp(x)) -> x
    Rule(Pat("log", Pat("exp", X)), lambda root, x: x, "log(exp(x)) -> x", fast=True),
    # exp(log(x)) -> x (x known non-negative)
    Rule(Pat("exp", Pat("log", Pat(where=known_nonnegative, name="x"))), lambda root, x: x,
         "exp(log(x)) -> x"),
    # op(x, c[1,1]) -> op(x, c[]) when c's axes do not shape the result
    Rule(Pat(BINARY, where=lambda n: any(_squeezable(i, n) for i in n.inputs)), squeeze_constants,
         "one-element constant as a scalar"),
    # op(broadcast_to(x), y) -> op(x, y) when y alone gives the shape (implicit broadcasting)
    Rule(Pat(BINARY + ("where",), where=lambda n: any(i.op == "broadcast_to" for i in n.inputs)),
         drop_broadcast_operands, "implicit broadcast"),
]

STRUCTURE = [
    # (x^T)^T -> x, and any two transposes -> one
    Rule(Pat("transpose", Pat("transpose", X, name="inner")), compose_transposes, "transpose of transpose"),
    # transpose(x, identity) -> x
    Rule(Pat("transpose", X, where=lambda n: n.attrs["axes"] == tuple(range(n.ndim))),
         lambda root, x: x, "identity transpose"),
    # reshape(reshape(x)) -> reshape(x)
    Rule(Pat("reshape", Pat("reshape", X)), lambda root, x: gc.reshape(x, root.shape), "reshape of reshape"),
    # reshape(x) to x's own shape -> x
    Rule(Pat("reshape", X, where=lambda n: n.shape == n.inputs[0].shape), lambda root, x: x,
         "identity reshape"),
    # broadcast_to(x) to x's own shape -> x
    Rule(Pat("broadcast_to", X, where=lambda n: n.shape == n.inputs[0].shape), lambda root, x: x,
         "identity broadcast"),
    # broadcast_to(broadcast_to(x)) -> broadcast_to(x)
    Rule(Pat("broadcast_to", Pat("broadcast_to", X)), lambda root, x: gc.broadcast_to(x, root.shape),
         "broadcast of broadcast"),
    # broadcast_to(reshape(x)) -> broadcast_to(x) when the reshape only added leading 1s
    Rule(Pat("broadcast_to", Pat("reshape", X, name="r")), unbroadcast_reshape, "broadcast of reshape"),
    # sum(broadcast_to(x)) -> x * count
    Rule(Pat("sum", Pat("broadcast_to", X, name="b")), sum_of_broadcast, "sum of broadcast"),
    # reshape(sum(x, keepdims=True)) -> sum(x)
    Rule(Pat("reshape", Pat("sum", X, name="r", where=lambda n: n.attrs["keepdims"])), drop_kept_axes,
         "reshape of kept-axes sum"),
    # sum(x*s) -> sum(x)*s for a one-element s (one multiplication instead of one per element)
    Rule(Pat("sum", Pat("mul", X, S, name="m", where=single_use)), scale_after_sum, "sum(x*s) -> sum(x)*s",
         fast=True),
    # sum over no axes -> x
    Rule(Pat("sum", X, where=lambda n: not n.attrs["axes"]), lambda root, x: like(root, x), "empty sum"),
    # cast(x) to x's own dtype -> x
    Rule(Pat("cast", X, where=lambda n: n.dtype == n.inputs[0].dtype), lambda root, x: x, "identity cast"),
    # cast(cast(x)) -> cast(x) when the inner cast is lossless
    Rule(Pat("cast", Pat("cast", X, name="mid")), skip_cast_chain, "cast of cast"),
    # matmul(A^T, v) -> matmul(v, A) for a matrix A and a vector v
    Rule(Pat("matmul", MT, Pat(name="v", where=lambda n: n.ndim == 1)),
         lambda root, a, v: gc.matmul(v, a), "A^T v -> v A"),
    # matmul(v, A^T) -> matmul(A, v)
    Rule(Pat("matmul", Pat(name="v", where=lambda n: n.ndim == 1), MT),
         lambda root, a, v: gc.matmul(a, v), "v A^T -> A v"),
    # matmul(x*s, B) -> matmul(x, B)*s, matmul(A, x*s) -> matmul(A, x)*s (no more products)
    Rule(Pat("matmul", where=lambda n: any(_scaled(i, n) for i in n.inputs)), hoist_scale_out_of_matmul,
         "scalar out of matmul", fast=True),
    # M (a u + b w) -> a (M u) + b (M w) when both products exist already (up to rounding)
    Rule(Pat("matmul", where=lambda n: any(i.op in ("add", "sub") for i in n.inputs)),
         reuse_products_by_linearity, "product of a combination -> combination of existing products",
         fast=True),
    # matmul(A^T, B^T) -> (B A)^T
    Rule(Pat("matmul", MT, MT_B), lambda root, a, b: gc.transpose(gc.matmul(b, a)), "A^T B^T -> (B A)^T"),
    Rule(Pat("transpose", Pat("symmetrize", X, name="sym"), where=_swaps_last_two),
         lambda root, x, sym: sym, "symmetrize(x)^T -> symmetrize(x)"),
    Rule(Pat("symmetrize", Pat("symmetrize", X, name="inner")), lambda root, x, inner: inner,
         "symmetrize(symmetrize(x)) -> symmetrize(x)"),
    # scatters through one index merge (adjoints of gathers at fan-in), and sum over them
    Rule(Pat("add", Pat("scatter_add"), Pat("scatter_add")), merge_scatters, "two scatter_adds -> one"),
    Rule(Pat("mul", Pat("scatter_add", name="sc"), S), scale_into_scatter, "scatter_add(x, i, a)*s -> one",
         fast=True),
    Rule(Pat("scatter_add", Pat("scatter_add", name="inner"), Pat(), Pat()), nested_scatters,
         "scatter_add of a scatter_add -> one"),
    Rule(Pat("sum", Pat("scatter_add", name="sc")), sum_of_scatter,
         "sum(scatter_add(x, i, v)) -> sum(x) + sum(v)"),
    # take(x, arange(n)) -> x
    Rule(Pat("matmul", Pat("inv", name="inv"), Pat(name="b")), inverse_times, "inv(A) @ b -> solve(A, b)"),
    Rule(Pat("matmul", Pat("pos_inv", name="inv"), Pat(name="b")), inverse_times,
         "pos_inv(K, L) @ b -> pos_solve(K, L, b)"),
    *[Rule(Pat(op, *[Pat()] * k, Pat("mul", X, S, name="m")), scale_out_of_solve,
           f"{op}(.., x*s) -> {op}(.., x)*s", fast=True)
      for op, k in (("solve", 1), ("pos_solve", 2), ("lu_solve", 3))],
    Rule(Pat("take", X, Pat(), where=_identity_take), lambda root, x: x, "take of every index in order -> x"),
    # the adjoint of a slice read back where it was placed (a VJP of a VJP does this)
    Rule(Pat("slice", Pat("unslice", X, name="placed"), where=_reads_back_placed), lambda root, x, placed: x,
         "slice(unslice(x)) of x's own region -> x"),
]

RULES = ALGEBRA + STRUCTURE
IEEE_RULES = [rule.ieee() for rule in RULES]


def _simplify(graph: Graph) -> Graph:
    # folding runs inside the same fixpoint: rules make constant subexpressions (-c, c1*c2) that
    # other rules then need as constants
    return rewrite(graph, IEEE_RULES + FOLD_RULES, "simplify")


def _simplify_fast(graph: Graph) -> Graph:
    return rewrite(graph, RULES + FOLD_RULES, "simplify")


simplify = Pass("simplify", _simplify, "algebraic simplification by the rule table RULES (and folding), "
                "keeping IEEE results (the module's contract)")
simplify_fast = Pass("simplify", _simplify_fast, "algebraic simplification by every rule of RULES, those "
                     "that hold only in real arithmetic included (mode='fast')")
