"""``verify(graph)``: check that a graph is well formed, as every pass must leave it.

Checks, in one loop over the nodes: every op is a known primitive; each node's shape and dtype are
what its op's shape rule infers again from its operands and attributes; operands come before
their consumers (so the graph is acyclic); graph inputs are placeholders and every placeholder
reached is an input; constants hold a value of their declared type; graphs a node carries are
well formed too. Raises GraphError naming the
node and what was wrong; returns the graph so it can be used inline.
"""

from __future__ import annotations

import numpy as np

from ..context import where
from ..errors import GraphError
from ..ir import Graph, require_graph
from ..listing import format_node, node_labels
from ..ops.core import PRIMITIVES


def verify(graph: Graph) -> Graph:
    import networkx as nx  # imported on first use: it is a third of graphc's import time

    require_graph(graph, "verify")
    labels = node_labels(graph)
    position = {n.serial: i for i, n in enumerate(graph.nodes)}
    inputs = {p.serial for p in graph.inputs}
    for p in graph.inputs:
        if p.op != "placeholder":
            raise GraphError(f"graph input {labels[p.serial]} is a {p.op} node, not a placeholder")
    for node in graph.nodes:
        here = f"node {format_node(node, labels)!r}{where(node.meta)}"
        prim = PRIMITIVES.get(node.op)
        if prim is None:
            raise GraphError(f"{here}: unknown op {node.op!r}")
        if node.op == "placeholder" and node.serial not in inputs:
            raise GraphError(f"{here}: a placeholder that is not among the graph's inputs")
        for operand in node.inputs:
            if position.get(operand.serial, len(position)) >= position[node.serial]:
                raise GraphError(f"{here}: operand {labels.get(operand.serial, '?')} does not come before it")
        if prim.arity is not None and len(node.inputs) != prim.arity:
            raise GraphError(f"{here}: {node.op} takes {prim.arity} operand(s), has {len(node.inputs)}")
        try:
            inferred = prim.infer(*node.inputs, **node.attrs)
        except (GraphError, TypeError) as exc:
            raise GraphError(f"{here}: its shape rule rejects it: {exc}") from None
        types = [inferred] if not prim.multiple_results else list(inferred)
        recorded = [(node.shape, node.dtype)] if node.types is None else list(node.types)
        if [(tuple(s), np.dtype(t)) for s, t in types] != recorded:
            raise GraphError(
                f"{here}: recorded type {node.type_string}, but the shape rule infers "
                + ", ".join(f"{np.dtype(t)}{list(s)}" for s, t in types))
        for key, value in node.attrs.items():
            if isinstance(value, Graph):
                try:
                    verify(value)
                except GraphError as exc:
                    raise GraphError(f"{here}: its graph {key!r} is not well formed: {exc}") from None
        if node.op == "constant":
            v = node.value
            if not isinstance(v, np.ndarray) or v.shape != node.shape or v.dtype != node.dtype:
                raise GraphError(f"{here}: constant value does not have the declared type")
    if not nx.is_directed_acyclic_graph(graph.nx):
        raise GraphError("the graph has a cycle")
    return graph
