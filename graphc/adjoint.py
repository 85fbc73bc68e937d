"""The adjoint pass (reverse mode): ``grad`` and ``vjp``.

The pass walks the forward graph in reverse topological order. Each node's adjoint is the sum of
the vector-Jacobian products its consumers sent it; the node then sends each of its operands
``rule(adjoint, node, *operands)``. Only nodes on a path from a ``wrt`` input to the output take
part, so no adjoint that is identically zero is ever built. Rules build ordinary op nodes, so the
result is an ordinary graph that can be differentiated again.
"""

from __future__ import annotations

from . import builder as gc
from .context import provenance, where
from .dtypes import is_float
from .errors import GraphError, GraphTypeError
from .ir import Graph, Node, require_graph
from .ops.core import check_rule_result, primitive


def resolve_wrt(graph: Graph, wrt, what: str = "differentiate") -> list[Node]:
    """Inputs named by ``wrt`` (names or placeholder nodes; None: every float input)."""
    if wrt is None:
        nodes = [p for p in graph.inputs if is_float(p.dtype)]
        if not nodes:
            raise GraphError(f"cannot {what}: the graph has no float inputs")
        return nodes
    if isinstance(wrt, (str, Node)):
        wrt = [wrt]
    if not isinstance(wrt, (list, tuple)):
        raise GraphTypeError(f"wrt must be an input name, a placeholder or a list of them, got {wrt!r}")
    nodes = []
    for w in wrt:
        if isinstance(w, str):
            node = graph.input(w)
        elif isinstance(w, Node):
            if not any(w is p for p in graph.inputs):
                label = w.meta.name or w.op
                raise GraphError(
                    f"cannot {what} with respect to {label!r} ({w.op} node{where(w.meta)}): "
                    f"only graph inputs can be differentiated against; inputs are "
                    f"{list(graph.input_names)}"
                )
            node = w
        else:
            raise GraphTypeError(f"wrt entries must be names or placeholders, got {w!r}")
        if not is_float(node.dtype):
            raise GraphError(
                f"cannot {what} with respect to input {node.attrs['name']!r} of dtype "
                f"{node.dtype}: only float inputs have derivatives"
            )
        if any(node is n for n in nodes):
            raise GraphError(f"input {node.attrs['name']!r} is named twice in wrt")
        nodes.append(node)
    return nodes


def carries_float(node: Node) -> bool:
    """Whether a node holds a float value (a tuple node: any of its results)."""
    if node.types is not None:
        return any(is_float(t) for _, t in node.types)
    return is_float(node.dtype)


def on_path(graph: Graph, sources: list[Node], targets) -> set[int]:
    """Serials of float nodes lying on some path from a source to a target (both included)."""
    import networkx as nx  # imported on first use: it is a third of graphc's import time

    targets = [targets] if isinstance(targets, Node) else list(targets)
    dag = graph.nx
    downstream = {s.serial for s in sources}
    for s in sources:
        downstream |= nx.descendants(dag, s.serial)
    upstream = set()
    for t in targets:
        upstream |= nx.ancestors(dag, t.serial) | {t.serial}
    by_serial = graph._by_serial()
    return {s for s in downstream & upstream if carries_float(by_serial[s])}


def _sum(contributions: list[Node]) -> Node:
    total = contributions[0]
    for c in contributions[1:]:
        total = gc.add(total, c)
    return total


def backpropagate(graph: Graph, output, seed, wrt: list[Node]) -> dict[int, Node]:
    """Adjoints (serial -> node) of every node on a path from ``wrt`` to the output(s).

    ``output`` and ``seed`` are a node and its cotangent, or lists of them (several outputs
    seeded at once, as a loop's reverse body needs). A node with several results gets a tuple
    of cotangents, one per result (None: zero), gathered from its ``item`` nodes; its adjoint in
    the result is that tuple.
    """
    outputs = [output] if isinstance(output, Node) else list(output)
    seeds = [seed] if isinstance(seed, Node) else list(seed)
    relevant = on_path(graph, wrt, outputs)
    pending: dict[int, list] = {}
    for out, s in zip(outputs, seeds):
        if out.serial in relevant and s is not None:
            pending.setdefault(out.serial, []).append(s)
    adjoints: dict[int, object] = {}
    for node in reversed(graph.nodes):
        contributions = pending.pop(node.serial, None)
        if not contributions:
            continue
        where_ = {"location": node.meta.location, "scope": node.meta.scope}
        with provenance(pass_name="adjoint", role="adjoint", rule="adjoint sum",
                        derived_from=(node,), **where_):
            if node.types is not None:  # (index, cotangent) pairs from the node's items
                parts: list[list[Node]] = [[] for _ in node.types]
                for index, c in contributions:
                    parts[index].append(c)
                total = tuple(_sum(p) if p else None for p in parts)
            else:
                total = _sum(contributions)
        if node.types is None and total.meta.adjoint_of is None:
            total._annotate(adjoint_of=node)
        adjoints[node.serial] = total
        if not node.inputs:
            continue
        if node.op == "item":  # the cotangent goes to its result of the tuple node
            operand = node.inputs[0]
            if operand.serial in relevant:
                pending.setdefault(operand.serial, []).append((node.attrs["index"], total))
            continue
        _send(node, total, relevant, pending, where_)
    return adjoints


def _send(node: Node, total, relevant: set[int], pending: dict, where_: dict) -> None:
    """The node's VJP rules applied to its adjoint, each contribution queued for its operand."""
    prim = primitive(node.op)
    wanted = [i for i, operand in enumerate(node.inputs) if operand.serial in relevant]
    if not wanted:
        return
    if prim.vjp_joint is not None:
        with provenance(pass_name="adjoint", role="adjoint", rule=f"vjp {node.op}",
                        derived_from=(node,), **where_):
            joint = prim.vjp_joint(total, node, *node.inputs, **node.attrs)
        found = [(i, joint[i]) for i in wanted]
    else:
        found = []
        for i in wanted:
            rule = prim.vjp_rule(i)
            if rule is None:
                continue
            extra = {"_operand": i} if prim.arity is None else {}
            with provenance(pass_name="adjoint", role="adjoint", rule=f"vjp {node.op}[{i}]",
                            derived_from=(node,), contributes_to=node.inputs[i], **where_):
                found.append((i, rule(total, node, *node.inputs, **node.attrs, **extra)))
    for i, c in found:
        if c is None:
            continue
        operand = node.inputs[i]
        check_rule_result(c, operand, f"VJP {node.op}[{i}]", prim)
        pending.setdefault(operand.serial, []).append(c)


def _adjoint_or_zero(adjoints: dict[int, object], node: Node) -> Node:
    found = adjoints.get(node.serial)
    return found if found is not None else _zero_adjoint(node)


def _zero_adjoint(node: Node) -> Node:
    with provenance(pass_name="adjoint", role="adjoint", rule="zero (no path to the output)",
                    derived_from=(node,), location=node.meta.location):
        z = gc.zeros_like(node)
    z._annotate(adjoint_of=node)
    return z


def _label(graph: Graph, index: int) -> str:
    if graph.output_names:
        return graph.output_names[index]
    return graph.outputs[index].meta.name or f"output {index}"


def extend_outputs(graph: Graph, new: list[tuple[str, Node]], name: str, new_inputs=()) -> Graph:
    """The graph's outputs followed by ``new`` (named when the outputs are named), with
    ``new_inputs`` appended to its inputs."""
    inputs = list(graph.inputs) + list(new_inputs)
    if graph.output_names is not None:
        outputs = dict(zip(graph.output_names, graph.outputs))
        for key, node in new:
            if key in outputs:
                raise GraphError(f"output name {key!r} already exists in the graph")
            outputs[key] = node
        return Graph(inputs, outputs, name=name)
    return Graph(inputs, list(graph.outputs) + [n for _, n in new], name=name)


def _check_scalar_output(graph: Graph, index: int) -> Node:
    out = graph.outputs[index]
    if out.shape != ():
        raise GraphError(
            f"grad needs a scalar output, but {_label(graph, index)!r} has type {out.type_string}"
            f"{where(out.meta)}; reduce it (gc.sum, gc.mean) or use gc.vjp for a non-scalar output"
        )
    if not is_float(out.dtype):
        raise GraphError(f"grad needs a float output, but {_label(graph, index)!r} is {out.type_string}")
    return out


def grad(graph: Graph, wrt=None, output=0) -> Graph:
    """The gradient graph: same inputs; outputs are the original outputs followed by
    ``d output / d w`` for each ``w`` in ``wrt`` (named ``grad_<w>`` when outputs are named)."""
    require_graph(graph, "grad")
    index = graph.output_index(output)
    out = _check_scalar_output(graph, index)
    wrt_nodes = resolve_wrt(graph, wrt)
    with provenance(pass_name="adjoint", role="adjoint", rule="seed", derived_from=(out,),
                    location=out.meta.location):
        seed = gc.constant(1.0, dtype=out.dtype)
    seed._annotate(adjoint_of=out)
    adj = backpropagate(graph, out, seed, wrt_nodes)
    grads = [(f"grad_{w.attrs['name']}", _adjoint_or_zero(adj, w)) for w in wrt_nodes]
    return extend_outputs(graph, grads, name=f"grad({graph.name or 'f'})")


def vjp(graph: Graph, wrt=None, output=0, cotangent: str | None = None) -> Graph:
    """Reverse mode for any output: adds a cotangent input (default name ``<output>_bar``, the
    shape of the output) and returns the outputs followed by ``cotangentᵀ · d output / d w``."""
    require_graph(graph, "vjp")
    index = graph.output_index(output)
    out = graph.outputs[index]
    if not is_float(out.dtype):
        raise GraphError(f"vjp needs a float output, got {out.type_string}")
    wrt_nodes = resolve_wrt(graph, wrt)
    base = graph.output_names[index] if graph.output_names else (out.meta.name or f"out{index}")
    name = cotangent or f"{base}_bar"
    if name in graph.input_names:
        raise GraphError(f"the cotangent input name {name!r} is already an input; pass cotangent=")
    with provenance(pass_name="adjoint", role="adjoint", rule="cotangent input",
                    derived_from=(out,), location=out.meta.location):
        seed = gc.placeholder(name, out.shape, out.dtype)
    seed._annotate(adjoint_of=out)
    adj = backpropagate(graph, out, seed, wrt_nodes)
    grads = [(f"vjp_{w.attrs['name']}", _adjoint_or_zero(adj, w)) for w in wrt_nodes]
    return extend_outputs(graph, grads, name=f"vjp({graph.name or 'f'})", new_inputs=[seed])


def adjoints(graph: Graph, output=0, wrt=None) -> Graph:
    """For teaching: the outputs followed by the adjoint of every *named* node on a path from
    ``wrt`` to the (scalar) output, keyed ``<name>_bar`` (the notes' v̄ᵢ = ∂𝓛/∂vᵢ)."""
    require_graph(graph, "adjoints")
    index = graph.output_index(output)
    out = graph.outputs[index]
    _check_scalar_output(graph, index)
    with provenance(pass_name="adjoint", role="adjoint", rule="seed", derived_from=(out,),
                    location=out.meta.location):
        seed = gc.constant(1.0, dtype=out.dtype)
    seed._annotate(adjoint_of=out)
    adj = backpropagate(graph, out, seed, resolve_wrt(graph, wrt))
    new = []
    for node in graph.nodes:
        label = node.attrs["name"] if node.op == "placeholder" else node.meta.name
        if label and node.serial in adj:
            new.append((f"{label}_bar", adj[node.serial]))
    if graph.output_names is None:
        graph = Graph(graph.inputs, {f"out{i}": o for i, o in enumerate(graph.outputs)}, graph.name)
    return extend_outputs(graph, new, name=f"adjoints({graph.name or 'f'})")
