"""Loop fusion for the numba backend: which nodes share one loop nest.

A *loop* iterates over one shape and computes some nodes at each index of it. Its *roots* are
the nodes it materialises: elementwise nodes written to an array, or reductions accumulated while
the loop runs (the loop then iterates over the reduction's operand). Every other member is an
elementwise node of the loop's shape whose value is only ever used inside the loop: it lives in a
scalar local of the loop body and never becomes an array.

1. Producer-into-consumer fusion, decided consumer-first in reverse topological order (like
   XLA's): a node joins the loop of its consumers when it is elementwise, of the same shape as
   that loop (so it is never recomputed under broadcasting), all of its uses are in that one
   loop, and it is not a graph output. Each loop then has one root, the only value visible
   outside it, so loops never depend on each other in a cycle and each can be emitted where its
   root stands in the graph.
2. Multi-output fusion (:func:`_merge_loops`): a later loop of the same shape that reads an
   earlier loop's root runs inside the earlier loop when all else it reads is ready by then; a
   root whose uses all end up inside its loop stops being materialised. The loss of an MLP and the
   seed of its gradient, or ``R = AX - B`` and ``sum(R * R)``, become one pass over memory.

Zero-dimensional values are scalars of the generated code and need no loop; views (broadcast,
transpose, slices, ...) are index mappings that loops read through, so they never stop fusion on
the reading side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Node

from .lowering import check_lowerable, lowering


@dataclass(eq=False)  # loops compare by identity (Node == Node builds a graph node)
class Loop:
    shape: tuple[int, ...]
    root: Node  # the first root: the loop is emitted where it stands in the graph
    members: list[Node] = field(default_factory=list)  # topological order
    roots: list[Node] = field(default_factory=list)  # the materialised members

    def __post_init__(self):
        self.roots = self.roots or [self.root]


@dataclass(eq=False)
class Plan:
    """The fusion decisions for one graph: ``loop_of`` maps a member's serial to its loop."""

    loops: list[Loop]
    loop_of: dict[int, Loop]

    def inlined(self, node: Node, loop: Loop) -> bool:
        """True when ``node`` is a scalar local of ``loop`` (a member but not a root)."""
        return self.loop_of.get(node.serial) is loop and not any(node is r for r in loop.roots)


def kind(node: Node) -> str:
    return lowering(node.op).kind


def plan_fusion(graph: Graph, barrier: frozenset[int] = frozenset()) -> Plan:
    """Decide the loops of ``graph``. ``barrier`` holds serials that must not be fused into a
    loop of another batch class (batch-invariant nodes are computed once, outside the batch loop):
    a node joins its consumers' loop only when both sides are on the same side of the barrier."""
    check_lowerable(graph)
    users = graph.consumers()
    outputs = {o.serial for o in graph.outputs}
    loop_of: dict[int, Loop] = {}
    loops: list[Loop] = []
    for node in reversed(graph.nodes):
        k = kind(node)
        if k == "elementwise" and node.shape != ():
            loop = _consumer_loop(node, users[node.serial], loop_of, outputs, barrier)
            if loop is None:
                loop = Loop(node.shape, node)
                loops.append(loop)
            loop.members.append(node)
            loop_of[node.serial] = loop
        elif k == "reduction" and node.inputs[0].shape != ():
            loop = Loop(node.inputs[0].shape, node, [node])
            loops.append(loop)
            loop_of[node.serial] = loop
    for loop in loops:
        loop.members.reverse()
    loops.reverse()
    _merge_loops(graph, loops, loop_of, barrier, outputs, users)
    return Plan(loops, loop_of)


def _merge_loops(graph, loops, loop_of, barrier, outputs, users) -> None:
    """Multi-output fusion: a loop that reads the elementwise root of an earlier loop of the same
    shape runs inside that loop (the operand is read from a scalar local instead of memory, and
    one loop nest fewer is compiled) when everything else it reads is ready by then: computed at
    an earlier position of the graph, or known before the kernel runs (:func:`constant_like`).
    A root whose every use ends up inside its own loop then stops being materialised. Reductions
    may join a parallel loop: the code generator keeps per-chunk partial results for them."""
    index = {n.serial: i for i, n in enumerate(graph.nodes)}
    constant = constant_like(graph)
    for loop in list(loops):
        members = {m.serial for m in loop.members}
        external = [o for m in loop.members for o in m.inputs if o.serial not in members]
        for o in external:
            host = loop_of.get(o.serial)
            if host is None or host is loop or host.shape != loop.shape or not _ready(
                    external, host, index, constant, loop_of):
                continue
            side = loop.root.serial in barrier
            if any((m.serial in barrier) != side for m in host.members + loop.members):
                continue
            host.members = sorted(host.members + loop.members, key=lambda n: index[n.serial])
            host.roots = host.roots + loop.roots
            for m in loop.members:
                loop_of[m.serial] = host
            loops.remove(loop)
            break
    for loop in loops:
        keep = []
        for r in loop.roots:
            inside = all(loop_of.get(u.serial) is loop for u in users[r.serial])
            if kind(r) == "reduction" or r.serial in outputs or not users[r.serial] or not inside:
                keep.append(r)
        loop.roots = keep


def constant_like(graph: Graph) -> set[int]:
    """Serials of the values known before the kernel runs: constants, views of them, and 0-d
    elementwise ops of them. The code generator emits them first (folding the 0-d ones into
    literals), so any loop may read them wherever it stands."""
    found: set[int] = set()
    for n in graph.nodes:
        operands = all(i.serial in found for i in n.inputs)
        k = kind(n)
        if n.op == "constant" or operands and (k == "view" or (k == "elementwise" and n.shape == ())):
            found.add(n.serial)
    return found


def _ready(external, host, index, constant, loop_of) -> bool:
    """Whether every value in ``external`` can be read inside ``host``'s loop body."""
    start = index[host.root.serial]
    for o in external:
        if o.serial in constant:
            continue
        if loop_of.get(o.serial) is host:
            if kind(o) != "elementwise" or not any(o is r for r in host.roots):
                return False  # a reduction's result is only known once the loop has finished
        elif index[o.serial] >= start:
            return False
    return True


def _consumer_loop(node, uses, loop_of, outputs, barrier):
    """The one loop all uses of ``node`` belong to, when the node may be computed inside it."""
    if node.serial in outputs or not uses:
        return None
    first = loop_of.get(uses[0].serial)
    if first is None or first.shape != node.shape:
        return None
    side = node.serial in barrier
    for user in uses:
        if loop_of.get(user.serial) is not first or (user.serial in barrier) != side:
            return None
    return first
