"""Forward mode: the JVP pass.

The pass walks the graph in topological order carrying one tangent per node that depends on a
``wrt`` input. Each op's tangent is the sum of its JVP rules applied to its operands' tangents
(the rules sit next to the VJP rules in ``graphc.ops``). Nodes that do not depend on ``wrt`` carry
no tangent: zero tangents are never built.
"""

from __future__ import annotations

from . import builder as gc
from .adjoint import carries_float, extend_outputs, resolve_wrt
from .context import provenance
from .errors import GraphError, GraphTypeError
from .ir import Graph, Node, require_graph
from .ops.core import check_rule_result, check_rule_type, primitive


def _tangent_names(wrt_nodes: list[Node], tangents) -> list[str]:
    if tangents is None:
        return [f"{w.attrs['name']}_dot" for w in wrt_nodes]
    if isinstance(tangents, str):
        tangents = [tangents]
    if not isinstance(tangents, (list, tuple)) or len(tangents) != len(wrt_nodes):
        raise GraphTypeError(
            f"tangents must name one tangent input per wrt input ({len(wrt_nodes)}), got {tangents!r}"
        )
    return list(tangents)


def push_tangents(graph: Graph, tangents: dict[int, Node]) -> dict[int, object]:
    """Tangents (serial -> node) of every node downstream of the seeded ones. A node with several
    results gets a tuple of tangents, one per result (None: zero); its items pick them."""
    tangents = dict(tangents)
    for node in graph.nodes:
        if node.serial in tangents or not node.inputs or not carries_float(node):
            continue
        operand_tangents = [tangents.get(i.serial) for i in node.inputs]
        if all(t is None for t in operand_tangents):
            continue
        if node.op == "item":
            total = operand_tangents[0][node.attrs["index"]]
            if total is not None:
                tangents[node.serial] = total
            continue
        prim = primitive(node.op)
        with provenance(pass_name="jvp", role="tangent", rule=f"jvp {node.op}", derived_from=(node,),
                        location=node.meta.location, scope=node.meta.scope):
            if prim.jvp_joint is not None:
                total = prim.jvp_joint(operand_tangents, node, *node.inputs, **node.attrs)
            else:
                total = None
                for i, t in enumerate(operand_tangents):
                    rule = prim.jvp_rule(i)
                    if t is None or rule is None:
                        continue
                    part = rule(t, node, *node.inputs, **node.attrs)
                    if part is None:
                        continue
                    if part.shape != node.shape:
                        part = gc.broadcast_to(part, node.shape)
                    total = part if total is None else gc.add(total, part)
        if total is None:
            continue
        if node.types is not None:
            if all(t is None for t in total):
                continue
            for t, (shape, dtype) in zip(total, node.types):
                if t is not None:
                    check_rule_type(t, shape, dtype, f"JVP {node.op}", prim)
            tangents[node.serial] = tuple(total)
            continue
        check_rule_result(total, node, f"JVP {node.op}", prim)
        if total.meta.tangent_of is None:
            total._annotate(tangent_of=node)
        tangents[node.serial] = total
    return tangents


def jvp(graph: Graph, wrt=None, tangents=None) -> Graph:
    """Forward mode: adds one tangent input per ``wrt`` input (named ``<name>_dot`` unless
    ``tangents`` names them) and returns the outputs followed by their directional derivatives
    (named ``<output>_dot`` when the outputs are named)."""
    require_graph(graph, "jvp")
    wrt_nodes = resolve_wrt(graph, wrt)
    names = _tangent_names(wrt_nodes, tangents)
    seeds = []
    for w, name in zip(wrt_nodes, names):
        if name in graph.input_names or name in [s.attrs["name"] for s in seeds]:
            raise GraphError(f"tangent input name {name!r} is already taken; pass tangents=[...]")
        with provenance(pass_name="jvp", role="tangent", rule="tangent input", derived_from=(w,),
                        location=w.meta.location):
            seed = gc.placeholder(name, w.shape, w.dtype)
        seed._annotate(tangent_of=w)
        seeds.append(seed)
    pushed = push_tangents(graph, {w.serial: s for w, s in zip(wrt_nodes, seeds)})
    out_tangents = []
    for i, out in enumerate(graph.outputs):
        t = pushed.get(out.serial)
        if t is None:
            with provenance(pass_name="jvp", role="tangent", rule="zero (independent of wrt)",
                            derived_from=(out,), location=out.meta.location):
                t = gc.zeros_like(out)
        label = graph.output_names[i] if graph.output_names else str(i)
        out_tangents.append((f"{label}_dot", t))
    return extend_outputs(graph, out_tangents, name=f"jvp({graph.name or 'f'})", new_inputs=seeds)
