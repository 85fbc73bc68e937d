"""Graph surgery shared by passes: substitute nodes for placeholders and rebuild what depends on
them. Nodes are immutable, so "changing" an input means rebuilding every node downstream of it;
nodes that do not depend on a substituted input are shared, not copied."""

from __future__ import annotations

from .errors import GraphError
from .ir import Graph, Node
from .ops.core import bind


def inline(graph: Graph, replacements: dict[str, Node]) -> list[Node]:
    """The graph's outputs with each named input replaced by a node of the same shape and dtype.

    The rebuilt nodes keep their metadata (name, scope, location, provenance).
    """
    mapping: dict[int, Node] = {}
    for name, node in replacements.items():
        placeholder = graph.input(name)
        if node.shape != placeholder.shape or node.dtype != placeholder.dtype:
            raise GraphError(
                f"cannot substitute {node.type_string} for input {name!r} of type "
                f"{placeholder.type_string}"
            )
        mapping[placeholder.serial] = node
    for node in graph.nodes:
        if node.serial in mapping or not node.inputs:
            continue
        if not any(i.serial in mapping for i in node.inputs):
            continue
        operands = [mapping.get(i.serial, i) for i in node.inputs]
        mapping[node.serial] = bind(node.op, operands, dict(node.attrs), value=node.value, meta=node.meta)
    return [mapping.get(o.serial, o) for o in graph.outputs]
