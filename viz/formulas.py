"""Formulas for pictures: what an op computes (``z = v₄ + b``) and what each derivative rule
contributes (``x̄ += ȳ·w``, ``W̄ = ȳ xᵀ``, ``ẏ += ẋ·w``).

Both come from the op's declaration, so a picture can never restate a rule differently from the
rule itself: the op's own ``formula`` writes what it computes (:mod:`graphc.ops.notation`), and a
derivative term is the graph its rule builds, written out. The rule is run once per kind of node
(op, attributes, operand types, operand, mode) on stand-ins for the cotangent, the output and the
operands; the expression it builds is then written with the names of the node at hand.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import Node
from graphc.ops.core import PRIMITIVES, bind
from graphc.ops.notation import ATOM, POSTFIX, PRODUCT, Expr, apply, atom, juxtapose, transposed
from graphc.ops.sources import placeholder

from .labels import number

TERM_LIMIT = 96  # a derived term longer than this is written as the rule's name applied to ḡ


def op_expression(node: Node, args: list[Expr]) -> Expr:
    """What ``node`` computes, in terms of its operands' expressions (``y − t``, ``A x``, ``σ(z)``)."""
    formula = PRIMITIVES[node.op].formula
    return formula(node, *args) if formula is not None else apply(node.op, *args)


def vjp_term(node: Node, i: int, g: Expr, out: Expr, args: list[Expr]) -> Expr:
    """The contribution ``g · ∂node/∂operand_i`` sent back to operand ``i`` (reverse mode)."""
    return _term(node, i, "vjp", g, out, args)


def jvp_term(node: Node, i: int, t: Expr, out: Expr, args: list[Expr]) -> Expr:
    """The tangent of ``node`` caused by the tangent ``t`` of operand ``i`` (forward mode)."""
    return _term(node, i, "jvp", t, out, args)


# ----------------------------------------------------------------------------------------------
# Derivative terms from the rules' own graphs

_DERIVED: dict[tuple, tuple | None] = {}


def _key(node: Node, i: int, mode: str) -> tuple:
    operands = tuple((x.shape, x.dtype.str) for x in node.inputs)
    return node.op, tuple(sorted(node.attrs.items())), operands, i, mode


def _derive(node: Node, i: int, mode: str):
    """(the rule's result, stand-in serials of the operands, the output and the seed), or None
    when the rule builds nothing for this operand."""
    prim = PRIMITIVES[node.op]
    xs = [placeholder(f"__operand{k}", x.shape, x.dtype) for k, x in enumerate(node.inputs)]
    out = bind(node.op, xs, dict(node.attrs))
    seed_like = node if mode == "vjp" else node.inputs[i]
    seed = placeholder("__seed", seed_like.shape, seed_like.dtype)
    attrs = dict(node.attrs)
    if mode == "vjp":
        rule = prim.vjp_rule(i)
        extra = {"_operand": i} if prim.arity is None else {}
        result = rule(seed, out, *xs, **attrs, **extra) if rule is not None else None
    elif prim.jvp_joint is not None:
        tangents = [seed if k == i else None for k in range(len(xs))]
        result = prim.jvp_joint(tangents, out, *xs, **attrs)
    else:
        rule = prim.jvp_rule(i)
        result = rule(seed, out, *xs, **attrs) if rule is not None else None
    if result is None:
        return None
    return result, [x.serial for x in xs], out.serial, seed.serial


def _term(node: Node, i: int, mode: str, g: Expr, out: Expr, args: list[Expr]) -> Expr:
    key = _key(node, i, mode)
    if key not in _DERIVED:
        try:
            _DERIVED[key] = _derive(node, i, mode)
        except Exception:  # noqa: BLE001 - a rule that cannot run on stand-ins is named, not drawn
            _DERIVED[key] = None
    derived = _DERIVED[key]
    if derived is None:
        return apply(f"{mode} {node.op}[{i}]", g)
    result, operands, out_serial, seed_serial = derived
    names = {seed_serial: g, out_serial: out, **dict(zip(operands, args))}
    expr = write(result, names)
    if len(expr.text) > TERM_LIMIT:
        return apply(f"{mode} {node.op}[{i}]", g)
    return expr


def write(node: Node, names: dict[int, Expr]) -> Expr:
    """``node`` written out over the nodes ``names`` gives expressions for; constants by value.
    Reshapes that only add or drop axes of length 1 are left out (the notes' notation broadcasts
    them implicitly), and a product of a column and a row is written as an outer product."""
    memo: dict[int, Expr] = dict(names)

    def visit(n: Node) -> Expr:
        found = memo.get(n.serial)
        if found is not None:
            return found
        if n.op == "constant":
            expr = _constant(n)
        elif n.op == "reshape" and _unit_axes_only(n.inputs[0].shape, n.shape):
            expr = visit(n.inputs[0])
        elif n.op == "broadcast_to" and n.inputs[0].op == "constant" and n.inputs[0].value.size == 1:
            expr = visit(n.inputs[0])  # a number, broadcast implicitly
        elif n.op == "mul" and _outer(n):
            col, row = (n.inputs if n.inputs[0].ndim >= 2 and n.inputs[0].shape[-1] == 1 else n.inputs[::-1])
            expr = juxtapose(visit(col), transposed(visit(row)))
        else:
            expr = op_expression(n, [visit(x) for x in n.inputs])
        memo[n.serial] = expr
        return expr

    return visit(node)


def _constant(n: Node) -> Expr:
    value = n.value
    if value.size and np.all(value == value.flat[0]):
        return atom(number(value.flat[0].item(), 4))
    return atom(f"c{list(n.shape)}")


def _unit_axes_only(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def _outer(n: Node) -> bool:
    """``u[:, None] * v``: a column (…, m, 1) times a vector or row (…, 1, n) or (n,)."""
    a, b = n.inputs
    def column(x):
        return x.ndim >= 2 and x.shape[-1] == 1 and x.shape[-2] != 1

    def row(x):
        return (x.ndim == 1 and x.shape[0] != 1) or (x.ndim >= 2 and x.shape[-2] == 1 and x.shape[-1] != 1)

    return (column(a) and row(b)) or (column(b) and row(a))


__all__ = ["ATOM", "POSTFIX", "PRODUCT", "Expr", "atom", "jvp_term", "op_expression", "vjp_term", "write"]
