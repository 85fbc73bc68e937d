"""The text listing of a graph: one line per node, e.g. ``%4 = matmul(%A, %x) : f64[3]``."""

from __future__ import annotations

import numpy as np

from .ir import Graph, Node


def printable(text: str) -> str:
    """User text on one line: newlines and other control characters escaped as in Python."""
    return text if text.isprintable() else repr(text)[1:-1]


def node_labels(graph: Graph) -> dict[int, str]:
    """serial -> ``%name`` for placeholders, ``%i`` (position in the graph) for the rest."""
    labels = {}
    for i, n in enumerate(graph.nodes):
        labels[n.serial] = f"%{printable(n.attrs['name'])}" if n.op == "placeholder" else f"%{i}"
    return labels


def _format_attr(value) -> str:
    if isinstance(value, Graph):
        return f"<graph {printable(value.name or '')}: {len(value)} nodes>".replace("graph :", "graph:")
    if isinstance(value, tuple):
        return "(" + ",".join(_format_attr(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return repr(value)  # quoted and escaped
    return str(value)


def _constant_text(node: Node) -> str:
    v = node.value
    if v.size <= 4:
        text = np.array2string(v, separator=",", threshold=4).replace("\n", "")
        return f"const {text}"
    return f"const <{v.size} values>"


def format_node(node: Node, labels: dict[int, str]) -> str:
    lhs = labels[node.serial]
    if node.op == "placeholder":
        rhs = "input"
    elif node.op == "constant":
        rhs = _constant_text(node)
    else:
        args = ", ".join(labels[i.serial] for i in node.inputs)
        attrs = {k: v for k, v in node.attrs.items()}
        attr_text = ""
        if attrs:
            attr_text = " {" + ", ".join(f"{k}={_format_attr(v)}" for k, v in attrs.items()) + "}"
        rhs = f"{node.op}({args}){attr_text}"
    comment = []
    if node.meta.name and node.op != "placeholder":
        comment.append(printable(node.meta.name))
    if node.meta.scope:
        comment.append("/".join(printable(s) for s in node.meta.scope))
    if node.meta.role != "primal":
        comment.append(node.meta.rule or node.meta.role)
    text = f"{lhs} = {rhs} : {node.type_string}"
    if comment:
        text = f"{text:<48}  # " + "; ".join(comment)
    return text


def format_graph(graph: Graph, indent: str = "") -> str:
    """The listing; the graphs a node carries (a ``custom`` function's, its rules') follow its
    line, indented, each under the name of its attribute."""
    labels = node_labels(graph)
    head = ", ".join(f"{labels[p.serial]}: {p.type_string}" for p in graph.inputs)
    title = f"graph {printable(graph.name)}" if graph.name else "graph"
    lines = [f"{title}({head}) {{"]
    for n in graph.nodes:
        if n.op == "placeholder":
            continue
        lines.append("  " + format_node(n, labels))
        for key, value in n.attrs.items():
            if isinstance(value, Graph):
                nested = format_graph(value, "      ").lstrip()
                lines.append(f"    {key} = {nested}")
    if graph.output_names:
        outs = ", ".join(f"{printable(k)}={labels[o.serial]}"
                         for k, o in zip(graph.output_names, graph.outputs))
    else:
        outs = ", ".join(labels[o.serial] for o in graph.outputs)
    lines.append(f"  return {outs}")
    lines.append("}")
    return "\n".join(indent + line for line in lines)
