"""Numbers for pictures: the value of every node (numpy backend) and a finite-difference check of
every adjoint.

The check is what a student would do by hand: nudge one node's value, re-run what depends on it,
and compare the change of the output with the adjoint the graph computed. Inputs are checked with
:func:`graphc.checks.numeric_gradient` directly; an inner node is checked the same way on a copy
of the graph in which that node is cut out and made an input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from graphc.checks import numeric_gradient
from graphc.compile import compile as compile_graph
from graphc.dtypes import is_float
from graphc.errors import GraphTypeError
from graphc.ir import Graph, Node
from graphc.ops.core import bind

from .anatomy import Anatomy

CHECK_RTOL = 1e-4
CHECK_BUDGET = 200_000  # node evaluations the check may spend; the rest is reported unchecked


@dataclass
class Check:
    """The finite-difference verdict on one primal node's adjoint."""

    node: Node
    adjoint: np.ndarray
    numeric: np.ndarray
    ok: bool


@dataclass
class Numbers:
    values: dict[int, np.ndarray]  # serial -> value
    checks: dict[int, Check] = field(default_factory=dict)  # primal serial -> check
    unchecked: int = 0

    def bad(self, serial: int) -> bool:
        """NaN or infinite values, or a failed check: filled red in pictures."""
        v = self.values.get(serial)
        if v is not None and v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            return True
        c = self.checks.get(serial)
        return c is not None and not c.ok


def _as_inputs(graph: Graph, values) -> dict:
    if not isinstance(values, dict):
        raise GraphTypeError(f"values= must be a dict input name -> array, got {type(values).__name__}")
    named = {}
    for key, value in values.items():
        if isinstance(key, Node):
            if key.op != "placeholder":
                raise GraphTypeError(f"values= keys must be input names or placeholders, got a {key.op} node")
            key = key.attrs["name"]
        named[key] = value
    return named


def evaluate_all(graph: Graph, values) -> dict[int, np.ndarray]:
    """Every node's value, computed by the numpy backend (the reference); a loop's results are
    its items' (a loop's body has a value per step, none of its own)."""
    inputs = _as_inputs(graph, values)
    single = [(k, n) for k, n in enumerate(graph.nodes) if n.types is None]
    probe = Graph(graph.inputs, {f"n{k}": n for k, n in single})
    result = compile_graph(probe, backend="numpy", optimize=False)(**inputs)
    return {n.serial: np.asarray(result[f"n{k}"]) for k, n in single}


def _cut(graph: Graph, out: Node, node: Node) -> tuple[Graph, str]:
    """A graph computing ``out`` in which ``node`` is an input (named so no input clashes)."""
    name = f"_fd_cut_{node.serial}"
    while name in graph.input_names:
        name += "_"
    hole = bind("placeholder", [], {"name": name, "shape": node.shape, "dtype": str(node.dtype)},
                name=name)
    affected = nx.descendants(graph.nx, node.serial) & (nx.ancestors(graph.nx, out.serial) | {out.serial})
    new: dict[int, Node] = {node.serial: hole}
    for n in graph.nodes:
        if n.serial in affected:
            inputs = [new.get(i.serial, i) for i in n.inputs]
            new[n.serial] = bind(n.op, inputs, dict(n.attrs), meta=n.meta, value=n.value)
    return Graph(list(graph.inputs) + [hole], [new.get(out.serial, out)]), name


def check_adjoints(an: Anatomy, values: dict[int, np.ndarray], inputs: dict,
                   budget: int = CHECK_BUDGET) -> tuple[dict[int, Check], int]:
    """Compare each adjoint with central finite differences of the output it was seeded from."""
    graph = an.graph
    checks: dict[int, Check] = {}
    unchecked = 0
    size = len(graph)
    for seed in an.seeds:
        out = seed.meta.adjoint_of
        cot = np.asarray(values[seed.serial], dtype=np.float64)
        upstream = nx.ancestors(graph.nx, out.serial) | {out.serial}
        primal_inputs = [p for p in graph.inputs if p.serial in upstream]
        primal = Graph(primal_inputs, [out])
        given = {p.attrs["name"]: inputs[p.attrs["name"]] for p in primal_inputs}
        targets = [graph.node_by_serial(s) for s in an.adjoint if s in upstream]
        # inputs first, then the rest from the output backwards: what a student checks first
        targets.sort(key=lambda n: (n.op != "placeholder", -an.index[n.serial]))
        for node in targets:
            if node.types is not None or not is_float(node.dtype) or node.op == "constant":
                continue
            cost = 2 * max(1, node.size) * size
            if cost > budget:
                unchecked += 1
                continue
            budget -= cost
            if node.op == "placeholder" and any(node is p for p in primal_inputs):
                jac = numeric_gradient(primal, given, node.attrs["name"])
            else:
                cut, name = _cut(primal, out, node)
                jac = numeric_gradient(cut, {**given, name: values[node.serial]}, name)
            numeric = np.tensordot(cot, jac, axes=cot.ndim) if cot.ndim else cot * jac
            adj = np.asarray(values[an.adjoint[node.serial].serial], dtype=np.float64)
            scale = max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)
            ok = bool(np.all(np.isfinite(adj))) and bool(np.all(np.abs(adj - numeric) <= CHECK_RTOL * scale))
            checks[node.serial] = Check(node, adj, numeric, ok)
    return checks, unchecked


def numbers(an: Anatomy, values, check: bool = False) -> Numbers:
    computed = evaluate_all(an.graph, values)
    result = Numbers(computed)
    if check:
        result.checks, result.unchecked = check_adjoints(an, computed, _as_inputs(an.graph, values))
    return result
