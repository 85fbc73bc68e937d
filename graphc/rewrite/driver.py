"""Passes, patterns and the one rewrite driver.

A *pass* is a pure function ``Graph -> Graph`` with a name (:class:`Pass`). Rewrites are written as
tables of ``(pattern, replacement)`` entries (see :mod:`graphc.rewrite.rules`); :func:`rewrite` applies
a table to a graph until nothing changes. The driver walks the nodes in topological order (a loop,
never a recursion over the graph), so it handles graphs of any depth; each sweep costs one
``bind`` per rebuilt node.

Nodes are immutable, so rewriting means rebuilding: a node whose operands were replaced is rebuilt
with the same op, attributes and metadata; a node made by a rule carries the metadata of the node
it replaces (name, scope, location, role, derived_from) plus the pass and rule that made it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..context import reset_provenance, set_provenance
from ..errors import GraphError
from ..ir import Graph, Node, next_serial
from ..ops.core import PRIMITIVES, bind

# ----------------------------------------------------------------------------------------------
# Passes


@dataclass(frozen=True)
class Pass:
    """A named, pure graph-to-graph function: ``Pass("dce", fn)(graph)``. ``applies(graph)``
    says whether the pass has anything to look at in a graph (the loops pass: whether it holds a
    loop); a trace of the pipeline leaves out the passes that do not apply."""

    name: str
    fn: Callable[[Graph], Graph]
    doc: str = ""
    applies: Callable[[Graph], bool] | None = None

    def __call__(self, graph: Graph) -> Graph:
        return self.fn(graph)

    def __repr__(self) -> str:
        return f"<Pass {self.name}>"


def pass_name(p) -> str:
    """The name of a pass, or of a plain function used as one."""
    return getattr(p, "name", None) or getattr(p, "__name__", None) or repr(p)


def rebuild(node: Node, inputs: Sequence[Node]) -> Node:
    """``node`` with new operands, or ``node`` itself when none changed.

    When the new operands have the old ones' shapes and dtypes the op's shape rule would give the
    same answer, so it is not run again (rebuilding is most of a pass's work); otherwise the node
    is bound afresh, which checks it."""
    old = node.inputs
    if all(a is b for a, b in zip(inputs, old)):
        return node
    if all(a.shape == b.shape and a.dtype == b.dtype and a.types == b.types for a, b in zip(inputs, old)):
        return Node(node.op, inputs, node.attrs, node.shape, node.dtype, node.meta, value=node.value,
                    types=node.types)
    new = bind(node.op, inputs, dict(node.attrs), value=node.value, meta=node.meta)
    if new.shape != node.shape or new.dtype != node.dtype or new.types != node.types:
        raise GraphError(
            f"internal error: rebuilding {node.op} changed its type from {node.type_string} to "
            f"{new.type_string}"
        )
    return new


def map_outputs(graph: Graph, env: dict[int, Node], name: str | None = None) -> Graph:
    """The graph with every output replaced by ``env[serial]``; inputs, output order and output
    names are kept (the graph's signature never changes)."""
    outs = [env.get(o.serial, o) for o in graph.outputs]
    if graph.output_names is not None:
        return Graph(graph.inputs, dict(zip(graph.output_names, outs)), name=name or graph.name)
    return Graph(graph.inputs, outs, name=name or graph.name)


# ----------------------------------------------------------------------------------------------
# Patterns

def commutative(op: str) -> bool:
    """Whether the op's declaration flags it commutative (patterns then try both operand orders)."""
    prim = PRIMITIVES.get(op)
    return prim is not None and "commutative" in prim.flags


class Pat:
    """A pattern over nodes: ``Pat("mul", Pat(name="x"), ONE)``.

    ``op`` is an op name, a set of op names or None (any node); ``srcs`` are the operand patterns
    (None: operands are not looked at); ``name`` binds the matched node for the replacement
    function; ``where`` is a predicate the node must satisfy. Operands of commutative ops are tried
    in both orders. A name bound twice must bind the same node (``x - x``).
    """

    __slots__ = ("ops", "srcs", "name", "where")

    def __init__(self, op=None, *srcs: Pat, name: str | None = None, where=None):
        self.ops = frozenset([op]) if isinstance(op, str) else (frozenset(op) if op else None)
        self.srcs = tuple(srcs) if srcs else None
        self.name = name
        self.where = where

    def match(self, node: Node, bound: dict) -> dict | None:
        """The bindings extended by this match, or None (``bound`` itself is never changed)."""
        if self.ops is not None and node.op not in self.ops:
            return None
        if self.where is not None and not self.where(node):
            return None
        if self.name is not None:
            prev = bound.get(self.name)
            if prev is not None and prev is not node:
                return None
            bound = {**bound, self.name: node}
        if self.srcs is None:
            return bound
        if len(self.srcs) != len(node.inputs):
            return None
        orders = [node.inputs]
        if len(node.inputs) == 2 and commutative(node.op) and node.inputs[0] is not node.inputs[1]:
            orders.append(node.inputs[::-1])
        for operands in orders:
            result = bound
            for pat, operand in zip(self.srcs, operands):
                # operand patterns without operands of their own are matched here (most are)
                if pat.ops is not None and operand.op not in pat.ops:
                    result = None
                elif pat.srcs is not None:
                    result = pat.match(operand, result)
                elif pat.where is not None and not pat.where(operand):
                    result = None
                elif pat.name is not None:
                    prev = result.get(pat.name)
                    if prev is None:
                        result = {**result, pat.name: operand}
                    elif prev is not operand:
                        result = None
                if result is None:
                    break
            if result is not None:
                return result
        return None


@dataclass(frozen=True)
class Rule:
    """One table entry: a pattern, a replacement ``fn(root=node, **bindings) -> Node | None``,
    and the one-line description shown in the ``rule`` metadata of the nodes it makes.

    ``fast`` marks a rule that holds in real arithmetic but not in IEEE arithmetic (it may create
    or remove an overflow, turn an inf into a NaN or flip the sign of a zero): ``optimize`` applies
    it in full only with ``mode="fast"``. The IEEE mode applies it on integers, where the ring
    laws it relies on are exact (wrapping included), and where ``exact(root, **bindings)`` says
    the bound nodes make it exact (``x + 0`` when the zero is -0.0)."""

    pattern: Pat
    fn: Callable[..., Node | None]
    text: str
    fast: bool = False
    exact: Callable[..., bool] | None = None

    def ieee(self) -> Rule:
        """This rule as the IEEE mode applies it (itself, unless it is ``fast``)."""
        if not self.fast:
            return self
        fn, exact = self.fn, self.exact

        def where_exact(root, **bound):
            if root.dtype.kind in "iu" or (exact is not None and exact(root, **bound)):
                return fn(root, **bound)
            return None

        return Rule(self.pattern, where_exact, self.text)


# ----------------------------------------------------------------------------------------------
# The driver

class _Uses:
    """Use counts during a sweep: those of the graph being rewritten (counted on first request;
    few rules ask), kept up to date as rewrites drop uses and add new ones."""

    def __init__(self, graph: Graph, origin: dict[int, int]):
        self.graph = graph
        self.origin = origin  # serial of a node made in this sweep -> serial of the node it replaces
        self.counts: dict[int, int] | None = None
        self.delta: dict[int, int] = {}  # changes made by the rewrites of this sweep so far
        self.consulted = False  # whether a rule asked since the flag was last cleared

    def _key(self, node: Node) -> int:
        return self.origin.get(node.serial, node.serial)

    def moved(self, dropped: Sequence[Node], added: Sequence[Node]) -> None:
        """A node using ``dropped`` was replaced by one using ``added``."""
        delta = self.delta
        for n in dropped:
            k = self._key(n)
            delta[k] = delta.get(k, 0) - 1
        for n in added:
            k = self._key(n)
            delta[k] = delta.get(k, 0) + 1

    def __call__(self, node: Node) -> int:
        self.consulted = True
        if self.counts is None:
            counts: dict[int, int] = {}
            for n in self.graph.nodes:
                for i in n.inputs:
                    counts[i.serial] = counts.get(i.serial, 0) + 1
            for o in self.graph.outputs:
                counts[o.serial] = counts.get(o.serial, 0) + 1
            self.counts = counts
        k = self._key(node)
        if k in self.counts:
            return self.counts[k] + self.delta.get(k, 0)
        return max(1, self.delta.get(k, 0))  # made in this sweep: used by what made it


_uses: contextvars.ContextVar[_Uses | None] = contextvars.ContextVar("graphc_uses", default=None)
_placed: contextvars.ContextVar[dict | None] = contextvars.ContextVar("graphc_placed", default=None)


def placed(node: Node) -> Node | None:
    """The node equal to ``node`` (same op, operands and attributes) that the graph being
    rewritten already computes before the node being rewritten, or None. Rules that replace
    work by work the graph does anyway ask it."""
    canon = _placed.get()
    return None if canon is None else canon.get(node.digest)


def uses(node: Node) -> int:
    """How many times the graph being rewritten uses ``node`` (its consumers, outputs counted);
    1 for nodes the current sweep has just made. Rules that would duplicate work shared by several
    consumers (reassociation, pushing a negation outwards) check it."""
    state = _uses.get()
    return 1 if state is None else state(node)


MAX_SWEEPS = 20  # a safety net: every rule makes the graph smaller or more canonical
MAX_LOCAL = 16  # rules applied in a row to one node within a sweep


def _index(rules: Iterable[Rule]) -> tuple[dict[str, list[Rule]], list[Rule]]:
    by_op: dict[str, list[Rule]] = {}
    anywhere: list[Rule] = []
    for r in rules:
        if r.pattern.ops is None:
            anywhere.append(r)
        else:
            for op in r.pattern.ops:
                by_op.setdefault(op, []).append(r)
    return by_op, anywhere


def _operands_fit(pattern: Pat, op: str, operand_ops: tuple[str, ...]) -> bool:
    """Whether the operand ops allow ``pattern`` to match (in either order for commutative ops)."""
    if pattern.srcs is None:
        return True
    if len(pattern.srcs) != len(operand_ops):
        return False
    orders = [operand_ops]
    if len(operand_ops) == 2 and commutative(op):
        orders.append(operand_ops[::-1])
    return any(all(p.ops is None or o in p.ops for p, o in zip(pattern.srcs, ops)) for ops in orders)


def _apply_one(node: Node, candidates: list[Rule], pass_name: str) -> tuple[Node, int] | None:
    """The replacement made by the first rule that applies to ``node`` and the serial above which
    nodes were made by that rule; None when no rule applies."""
    for r in candidates:
        bound = r.pattern.match(node, {})
        if bound is None:
            continue
        first_new = next_serial()  # nodes with a higher serial were made by the rule
        meta = node.meta
        # what ``with provenance(...)`` does, without its cost (this runs for every match)
        token = set_provenance({
            "pass_name": pass_name, "rule": r.text, "role": meta.role, "scope": meta.scope,
            "location": meta.location, "derived_from": meta.derived_from,
            "adjoint_of": meta.adjoint_of, "tangent_of": meta.tangent_of,
        })
        try:
            new = r.fn(**{**bound, "root": node})
        finally:
            reset_provenance(token)
        if new is None or new is node:
            continue
        if new.shape != node.shape or new.dtype != node.dtype or new.types != node.types:
            raise GraphError(
                f"internal error: rewrite rule {r.text!r} replaced {node.type_string} by "
                f"{new.type_string}"
            )
        if new.serial > first_new:  # made by the rule: it stands for the node it replaces
            new._annotate(name=meta.name, extra=meta.extra)
        return new, first_new
    return None


class _Rewriter:
    """The state of one :func:`rewrite` call: the indexed table, the nodes known to be final
    (``stable``) and, within a sweep, the hash-consing table and the use counts."""

    def __init__(self, rules: Sequence[Rule], pass_name: str):
        self.by_op, self.anywhere = _index(rules)
        self.pass_name = pass_name
        self.cache: dict[tuple, list[Rule]] = {}
        self.stable: set[int] = set()  # no rule applies; operands (so whole subtrees) are fixed
        self.canon: dict[bytes, Node] = {}
        self.counter = _Uses(Graph([], []), {})
        self.changed = False

    def candidates(self, node: Node) -> list[Rule]:
        """The rules whose pattern can match a node with this op and these operand ops (cached:
        graphs have few distinct combinations), so most rules are never tried at all."""
        key = (node.op,) + tuple(i.op for i in node.inputs)
        found = self.cache.get(key)
        if found is None:
            rules = self.by_op.get(node.op, []) + self.anywhere
            found = [r for r in rules if _operands_fit(r.pattern, node.op, key[1:])]
            self.cache[key] = found
        return found

    def normalize(self, cur: Node) -> Node:
        """Apply rules to ``cur`` until none applies (or it equals a node already placed)."""
        for _ in range(MAX_LOCAL):
            if cur.digest in self.canon or cur.serial in self.stable:
                break
            self.counter.consulted = False
            found = _apply_one(cur, self.candidates(cur), self.pass_name)
            if found is None:
                if not self.counter.consulted:  # use counts change as the graph does: ask again
                    self.stable.add(cur.serial)
                break
            self.changed = True
            new = self.settle(*found)
            self.counter.moved(cur.inputs, new.inputs)
            cur = new
        return cur

    def settle(self, new: Node, first_new: int) -> Node:
        """Normalize the nodes a rule has just made below its result, bottom up, so the sweep
        never has to come back for them (a walk over the few new nodes, not over the graph)."""
        made: dict[int, Node] = {}
        stack = [new]
        while stack:
            for i in stack.pop().inputs:
                if i.serial > first_new and i.serial not in made:
                    made[i.serial] = i
                    stack.append(i)
        if not made:
            return new
        env: dict[int, Node] = {}
        for serial in sorted(made):
            n = made[serial]
            cur = rebuild(n, [env.get(i.serial, i) for i in n.inputs]) if n.inputs else n
            cur = self.normalize(cur) if cur.inputs else cur
            env[serial] = self.canon.setdefault(cur.digest, cur)
        return rebuild(new, [env.get(i.serial, i) for i in new.inputs])

    def sweep(self, graph: Graph, env: dict[int, Node]) -> bool:
        """One topological pass over ``graph``, filling ``env`` (old serial -> replacement).

        Nodes are hash-consed on their digest as they are placed, so equal subexpressions become
        one node and patterns such as ``x + x`` see it. A node in ``stable`` is not matched again:
        nodes are immutable, so what a pattern sees below it is what it saw."""
        self.changed = False
        self.canon = {}
        self.counter = counter = _Uses(graph, {})
        token, placed_token = _uses.set(counter), _placed.set(self.canon)
        try:
            for node in graph.nodes:
                cur = rebuild(node, [env[i.serial] for i in node.inputs]) if node.inputs else node
                if cur is not node:
                    counter.origin[cur.serial] = node.serial
                    origin = counter.origin
                    moved = [(a, b) for a, b in zip(node.inputs, cur.inputs)
                             if b is not a and origin.get(b.serial) != a.serial]
                    if moved:  # an operand was replaced by another node (x*1 -> x): uses move
                        counter.moved([a for a, _ in moved], [b for _, b in moved])
                if cur.inputs:
                    first = next_serial()
                    cur = self.normalize(cur)
                    if cur.serial > first:
                        counter.origin.setdefault(cur.serial, node.serial)
                placed = self.canon.setdefault(cur.digest, cur)
                if placed is not cur:
                    self.changed = True
                env[node.serial] = placed
        finally:
            _uses.reset(token)
            _placed.reset(placed_token)
        return self.changed


def rewrite(graph: Graph, rules: Sequence[Rule], pass_name: str) -> Graph:
    """Apply ``rules`` everywhere in ``graph`` until none applies.

    One sweep visits the nodes in topological order: operands are rewritten before their consumers,
    and each node is rewritten until no rule applies to it (the nodes a rule makes are rewritten
    at once). Sweeps repeat until one changes nothing.
    """
    rewriter = _Rewriter(rules, pass_name)
    for _ in range(MAX_SWEEPS):
        env: dict[int, Node] = {}
        if not rewriter.sweep(graph, env):
            return graph
        graph = map_outputs(graph, env)
    return graph
