"""Common-subexpression elimination: nodes with equal digests become one node.

``Node.digest`` hashes a node's op, attributes, type, constant value and its operands' digests, so
two nodes with the same digest compute the same value. One walk in topological order maps each
node to the first node seen with its digest (rebuilt on merged operands when needed); the
survivor keeps its own metadata.
"""

from __future__ import annotations

from ..ir import Graph, Node
from .driver import Pass, map_outputs, rebuild


def _cse(graph: Graph) -> Graph:
    canonical: dict[bytes, Node] = {}
    env: dict[int, Node] = {}
    merged = False
    for node in graph.nodes:
        first = canonical.get(node.digest)
        if first is not None:
            env[node.serial] = first
            merged = True
            continue
        new = rebuild(node, [env[i.serial] for i in node.inputs]) if node.inputs else node
        canonical[node.digest] = new
        env[node.serial] = new
    if not merged:
        return graph
    return map_outputs(graph, env)


cse = Pass("cse", _cse, "common-subexpression elimination: merge nodes of equal digest")
