"""Constant folding: a node whose operands are all constants becomes a constant, computed by its
op's numpy implementation (the reference semantics, so folding cannot disagree with running).

Folding is bounded: a result is folded only when it has no more elements than its largest
constant operand. ``broadcast_to(0.0, (1000, 1000))`` stays a one-number constant and a broadcast
(folding it would put a million numbers in the graph, and a splat is what the simplification
rules recognise). An elementwise op whose operands are constants or broadcasts of constants is
evaluated on the small operands and broadcast afterwards, so ``zeros * 2`` folds without growing.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.core import PRIMITIVES, apply_impl
from ..ops.core import api as gc
from .driver import Pass, Pat, Rule, rewrite


def _constant_under(node: Node) -> Node | None:
    """The constant itself, or the constant a broadcast_to spreads; else None."""
    if node.op == "constant":
        return node
    if node.op == "broadcast_to" and node.inputs[0].op == "constant":
        return node.inputs[0]
    return None


def _evaluate(root: Node, operands: list[Node]) -> np.ndarray | None:
    if PRIMITIVES[root.op].impl is None:
        return None
    with np.errstate(all="ignore"):
        try:
            return apply_impl(root, [o.value for o in operands])
        except (ValueError, ArithmeticError, TypeError):
            return None


def _fold(root: Node) -> Node | None:
    # constant operands -> constant (no larger than the largest operand)
    if root.inputs and all(i.op == "constant" for i in root.inputs):
        value = _evaluate(root, list(root.inputs))
        if value is None or value.shape != root.shape:
            return None
        if value.size > max(1, *(i.value.size for i in root.inputs)):
            return None
        return gc.constant(value)
    # elementwise on constants and broadcasts of constants -> broadcast of a small constant
    if PRIMITIVES[root.op].category != "elementwise" or not root.inputs:
        return None
    under = [_constant_under(i) for i in root.inputs]
    if any(u is None for u in under) or all(u is i for u, i in zip(under, root.inputs)):
        return None
    value = _evaluate(root, under)
    if value is None or value.size > max(1, *(u.value.size for u in under)):
        return None
    return gc.broadcast_to(gc.constant(value), root.shape)


def _all_constant(node: Node) -> bool:
    if node.types is not None or node.inputs and node.inputs[0].types is not None:
        return False  # several results (a loop), or one picked from them: no one constant
    return bool(node.inputs) and all(
        i.op == "constant" or (i.op == "broadcast_to" and i.inputs[0].op == "constant") for i in node.inputs)


FOLD_RULES = [
    # op(constants...) -> constant, evaluated by the op's numpy implementation (any op, users' too)
    Rule(Pat(where=_all_constant), _fold, "constant fold"),
]


def _fold_pass(graph: Graph) -> Graph:
    return rewrite(graph, FOLD_RULES, "fold")


fold = Pass("fold", _fold_pass, "constant folding by each op's numpy implementation (bounded in size)")
