"""The compilation pipeline as data: the ordered stages a graph goes through, each a named Graph.

``trace_pipeline(graph, wrt=...)`` returns the forward graph, its adjoint (``gc.grad``), optionally
its Hessian-vector product, the graph after each optimization pass, and, when the backend has
one, its lowered form (for numba: the fusion groups). ``print(stage)`` shows a stage as a listing;
the renderer draws the same stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backend_registry import get_backend
from .ir import Graph, Node, require_graph
from .listing import node_labels

KINDS = ("forward", "adjoint", "hvp", "pass", "lowered")


@dataclass
class Stage:
    """One stage of compilation: a name (``"adjoint"``, ``"simplify"``, ...), its kind (one of
    :data:`KINDS`), the graph, and for a ``"lowered"`` stage the backend's fusion groups."""

    name: str
    kind: str
    graph: Graph
    groups: list | None = None

    def __str__(self) -> str:
        head = f"# stage {self.name} ({self.kind}): {len(self.graph)} nodes"
        text = f"{head}\n{self.graph}"
        if self.groups is not None:
            labels = node_labels(self.graph)
            lines = [f"# {len(self.groups)} fusion groups"]
            for i, group in enumerate(self.groups):
                lines.append(f"  group {i}: {_group_text(group, labels)}")
            text += "\n" + "\n".join(lines)
        return text


def _group_text(group, labels: dict[int, str]) -> str:
    """A group listed by node labels; a group may hold nodes, node serials, or be any object."""
    items = getattr(group, "nodes", group)
    if isinstance(items, (list, tuple, set, frozenset)):
        names = []
        for item in items:
            if isinstance(item, Node):
                names.append(labels.get(item.serial, repr(item)))
            elif isinstance(item, int) and item in labels:
                names.append(labels[item])
            else:
                names.append(str(item))
        return ", ".join(names)
    return str(group)


def trace_pipeline(graph: Graph, wrt=None, output=0, hvp: bool = False, optimize: bool | str = True,
                   backend=None) -> list[Stage]:
    """The stages of compiling the gradient (or, with ``hvp=True``, the Hessian-vector product) of
    ``graph``: forward, adjoint, [hvp], one stage per optimization pass, [lowered].

    The hvp stage is ``gc.hvp(graph, wrt, output)`` (one ``wrt`` input; a ``direction`` input is
    added); the passes then optimize it instead of the adjoint.
    ``wrt=False`` skips differentiation (the passes then run on the forward graph). ``backend`` is a
    backend name or object; when it has ``fusion_groups(graph)`` a final "lowered" stage holds the
    groups of the last graph.
    """
    from .adjoint import grad
    from .hvp import hvp as hvp_pass
    from .rewrite import run_passes

    require_graph(graph, "trace_pipeline")
    stages = [Stage("forward", "forward", graph)]
    current = graph
    if wrt is not False:
        current = grad(graph, wrt, output)
        stages.append(Stage("adjoint", "adjoint", current))
        if hvp:
            current = hvp_pass(graph, wrt=wrt, output=output)
            stages.append(Stage("hvp", "hvp", current))
    if optimize:
        for name, g in run_passes(current, mode="fast" if optimize == "fast" else "ieee"):
            stages.append(Stage(name, "pass", g))
            current = g
    if backend is not None:
        impl = get_backend(backend) if isinstance(backend, str) else backend
        groups_of = getattr(impl, "fusion_groups", None)
        if groups_of is not None:
            label = getattr(impl, "name", type(impl).__name__)
            stages.append(Stage(f"lowered ({label})", "lowered", current, list(groups_of(current))))
    return stages
