"""Dead-code elimination: keep only the nodes the outputs depend on, and every input.

A :class:`~graphc.ir.Graph` is defined by its outputs, so a rewrite that stops using a node already
drops it; this pass makes the step explicit (a stage of the pipeline) and works from the dependency
DAG with networkx: the live nodes are the ancestors of the outputs. Inputs are always kept, even
unused ones, so the graph's signature (the arguments a compiled graph takes) never changes.
"""

from __future__ import annotations

from ..ir import Graph
from .driver import Pass, map_outputs


def _dce(graph: Graph) -> Graph:
    live = {o.serial for o in graph.outputs} | {p.serial for p in graph.inputs}
    for node in reversed(graph.nodes):  # consumers come after their operands: one backward sweep
        if node.serial in live:
            live.update(i.serial for i in node.inputs)
    if len(live) == len(graph):
        return graph
    return map_outputs(graph, {})


dce = Pass("dce", _dce, "dead-code elimination: only what the outputs depend on (and every input)")
