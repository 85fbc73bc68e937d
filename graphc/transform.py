"""Graph surgery shared by passes: substitute nodes for placeholders (or for any nodes) and rebuild
what depends on them, and inline the graphs that call nodes carry.

Nodes are immutable, so "changing" an input means rebuilding every node downstream of it; nodes
that do not depend on a substituted node are shared, not copied.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import GraphError
from .ir import Graph, Node
from .ops.core import PRIMITIVES, bind


def substitute(outputs: Sequence[Node], mapping: dict[int, Node], keep_meta: bool = True) -> list[Node]:
    """``outputs`` rebuilt with every node whose serial ``mapping`` holds replaced by its node
    there (of the same shape and dtype). Rebuilt nodes keep their metadata, or with
    ``keep_meta=False`` get the build context's (a derivative rule's provenance)."""
    found: dict[int, Node] = {}
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node.serial in found or node.serial in mapping:
            continue
        found[node.serial] = node
        stack.extend(node.inputs)
    env = dict(mapping)
    for serial in sorted(found):  # creation order is a topological order
        node = found[serial]
        if not node.inputs or not any(i.serial in env for i in node.inputs):
            continue
        operands = [env.get(i.serial, i) for i in node.inputs]
        env[serial] = bind(node.op, operands, dict(node.attrs), value=node.value,
                           meta=node.meta if keep_meta else None, name=None if keep_meta else node.meta.name)
    return [env.get(o.serial, o) for o in outputs]


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
    return substitute(graph.outputs, mapping)


def call_graph(graph: Graph, operands: Sequence[Node], keep_meta: bool = False) -> list[Node]:
    """The outputs of ``graph`` computed from ``operands`` (one per input, in order): the graph
    inlined where it is called, its nodes tagged by the build context (a rule's provenance) unless
    ``keep_meta``."""
    if len(operands) != len(graph.inputs):
        raise GraphError(f"graph {graph.name or ''!r} takes {len(graph.inputs)} inputs, got {len(operands)}")
    for p, x in zip(graph.inputs, operands):
        if x.shape != p.shape or x.dtype != p.dtype:
            raise GraphError(f"cannot substitute {x.type_string} for input {p.attrs['name']!r} of type "
                             f"{p.type_string}")
    return substitute(graph.outputs, {p.serial: x for p, x in zip(graph.inputs, operands)}, keep_meta)


def call(graph: Graph, *args, **kwargs):
    """``graph`` inlined on nodes: its outputs computed from ``args`` (its inputs by position) and
    ``kwargs`` (by name), as a node when it has one output, else a tuple, or a dict when its
    outputs are named. So a derived graph is a function: ``gc.grad(potential)(x)`` is the
    gradient's nodes built on ``x``, inside a loop's body or anywhere, and differentiable again."""
    from .ops.promotion import as_node

    names = graph.input_names
    if len(args) > len(names):
        raise GraphError(f"graph {graph.name or ''!r} takes {len(names)} inputs {list(names)}, got "
                         f"{len(args)}")
    given = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise GraphError(f"graph {graph.name or ''!r} has no input {key!r}; its inputs are {list(names)}")
        if key in given:
            raise GraphError(f"input {key!r} given both by position and by keyword")
        given[key] = value
    missing = [n for n in names if n not in given]
    if missing:
        raise GraphError(f"graph {graph.name or ''!r} needs input(s) {missing}")
    outputs = inline(graph, {n: as_node(given[n]) for n in names})
    if graph.output_names is not None:
        return dict(zip(graph.output_names, outputs))
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def inline_calls(graph: Graph) -> Graph:
    """``graph`` with every node of a call op (``custom``: a function with a derivative of its own)
    replaced by the graph it calls, computed from its operands: what runs, once no pass will
    differentiate the graph again (backends call this before they lower a graph)."""
    if not any(PRIMITIVES[n.op].category == "call" for n in graph.nodes):
        return graph
    env: dict[int, Node] = {}
    for node in graph.nodes:
        operands = [env.get(i.serial, i) for i in node.inputs]
        if PRIMITIVES[node.op].category == "call":
            (env[node.serial],) = call_graph(inline_calls(node.attrs["fn"]), operands, keep_meta=True)
        elif any(a is not b for a, b in zip(operands, node.inputs)):
            env[node.serial] = bind(node.op, operands, dict(node.attrs), value=node.value, meta=node.meta)
    outputs = [env.get(o.serial, o) for o in graph.outputs]
    if graph.output_names is not None:
        return Graph(graph.inputs, dict(zip(graph.output_names, outputs)), name=graph.name)
    return Graph(graph.inputs, outputs, name=graph.name)


def closed_over(traced: Sequence[Node], start: int, params: Sequence[Node]) -> list[Node]:
    """The nodes made before tracing began (serial below ``start``) that the traced code reads,
    other than its parameters: nodes of the enclosing graph a traced function (a loop's body, a
    custom function) closes over, which become operands of the node that calls it."""
    own = {p.serial for p in params}
    found, seen, stack = {}, set(), list(traced)
    while stack:
        n = stack.pop()
        if n.serial in seen:
            continue
        seen.add(n.serial)
        if n.serial < start and n.serial not in own:
            found[n.serial] = n
            continue
        stack.extend(n.inputs)
    return [found[s] for s in sorted(found)]
