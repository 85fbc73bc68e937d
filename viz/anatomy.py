"""What each node of a derived graph *means*, read from node metadata: the anatomy of a graph.

For a graph made by the adjoint pass (``gc.grad``, ``gc.vjp``, ``gc.adjoints``) this finds, for
every primal node, the node holding its adjoint (also when a rule passed an adjoint through
unchanged, as ``add`` does: then z̄ is also b̄); every chain-rule contribution with the consumer and
operand it came from; the sums built where contributions meet at fan-in; and the helper nodes each
derivative rule built. From these it names every node (``x̄``, ``v̄₇``, the seed ``f̄ = 1``) and
writes its formula (``w̄ += z̄·x``). Drawing code only reads an :class:`Anatomy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx

from graphc.dtypes import is_float
from graphc.errors import GraphError
from graphc.ir import Graph, Node

from . import formulas
from .formulas import Expr, atom
from .labels import bar, clip, number, shape_text, subscript, tangent

_RULE = re.compile(r"^(vjp|jvp) ([\w.]+)(?:\[(\d+)\])?$")
SEED_RULES = ("seed", "cotangent input")
TANGENT_SEED_RULES = ("tangent input", "direction input")
EXPRESSION_LIMIT = 32  # longer helper expressions are named by their listing number instead
REPLAY_LIMIT = 20_000  # nodes; above, pass-through adjoints are found from metadata only


@dataclass
class Contribution:
    """One chain-rule term v̄ⱼ ∂vⱼ/∂vᵢ (or, forward, ∂vⱼ/∂vᵢ v̇ᵢ) and where it goes."""

    node: Node  # the node holding the term
    consumer: Node  # vⱼ, whose rule sent it
    operand: int  # i: which operand of the consumer
    target: Node  # the node whose adjoint (or, forward, the consumer whose tangent) it adds to
    mode: str  # "vjp" or "jvp"
    passthrough: bool  # the rule returned the incoming adjoint unchanged (no node of its own)
    formula: str = ""  # "x̄ += ȳ·w"
    term: str = ""  # "ȳ·w"


@dataclass
class Anatomy:
    graph: Graph
    index: dict[int, int]  # serial -> position in the graph (the listing's %k)
    adjoint: dict[int, Node]  # primal serial -> the node holding its adjoint
    adjoint_for: dict[int, list[Node]]  # adjoint node serial -> the nodes it is the adjoint of
    tangent_for: dict[int, list[Node]]
    contributions: dict[int, list[Contribution]]  # target serial -> terms, in order
    result_of: dict[int, Contribution]  # serial of a node holding a term -> that term
    sums: dict[int, list[Node]]  # serial of a fan-in sum -> its chain of adds (partials first)
    partial_of: dict[int, int]  # serial of a partial sum -> serial of the final sum
    helper_of: dict[int, Node]  # serial of a node a rule built on the way -> the rule's result
    seeds: list[Node]
    names: dict[int, str] = field(default_factory=dict)  # short names used inside formulas
    titles: dict[int, str] = field(default_factory=dict)  # the first line of each node's label
    aliases: dict[int, list[str]] = field(default_factory=dict)  # other names of an adjoint node
    exprs: dict[int, Expr] = field(default_factory=dict)  # helper nodes named by what they compute
    output_names: dict[int, str] = field(default_factory=dict)  # unnamed primal outputs: "f"
    tangent: dict[int, Node] = field(default_factory=dict)  # differentiated serial -> its tangent
    letter: str = "v"  # unnamed values are v₁, v₂, ...; a loop's body uses another letter

    def role(self, node: Node) -> str:
        return node.meta.role or "primal"

    def is_seed(self, node: Node) -> bool:
        return node.meta.rule in SEED_RULES

    @property
    def derived(self) -> bool:
        return any(n.meta.role != "primal" for n in self.graph.nodes)


def _user_name(node: Node) -> str | None:
    if node.op == "placeholder":
        return node.attrs["name"]
    return node.meta.name


def _replay(graph: Graph, seed: Node, by_digest: dict[bytes, list[Node]], helpers) -> dict[int, Node]:
    """The adjoint pass run again from ``seed``: primal serial -> the graph node with the same
    content as the replayed adjoint. Identifies adjoints that rules passed through unchanged."""
    from graphc.adjoint import backpropagate

    out = seed.meta.adjoint_of
    upstream = nx.ancestors(graph.nx, out.serial) | {out.serial}
    inputs = [p for p in graph.inputs if p.serial in upstream]
    wrt = [p for p in inputs if is_float(p.dtype)]
    if not wrt:
        return {}
    try:
        replayed = backpropagate(Graph(inputs, [out]), out, seed, wrt)
    except GraphError:
        return {}
    found = {}
    for serial, node in replayed.items():
        if not isinstance(node, Node):  # a loop's tuple of cotangents: its items hold them
            continue
        candidates = by_digest.get(node.digest, [])
        if not candidates:
            continue

        def rank(c: Node, serial=serial, node=node) -> tuple:
            owner = c.meta.adjoint_of
            return (c is node, owner is not None and owner.serial == serial, owner is not None,
                    c.serial not in helpers and c.meta.role != "primal", c.serial)

        found[serial] = max(candidates, key=rank)
    return found


def _relevant(graph: Graph, adjoint: dict[int, Node], outputs: set[int], out: Node) -> set[int] | None:
    """Nodes whose adjoint the graph was built to compute: on a path from an input whose adjoint
    is an output of the graph (``grad_w``) to the differentiated output; None: all of them."""
    sources = [p for p in graph.inputs if p.serial in adjoint and adjoint[p.serial].serial in outputs]
    if not sources:
        return None
    dag = graph.nx
    down = set()
    for s in sources:
        down |= nx.descendants(dag, s.serial) | {s.serial}
    return down & (nx.ancestors(dag, out.serial) | {out.serial})


def _adjoint_map(graph: Graph, in_graph: dict[int, Node], helpers) -> tuple[dict[int, Node], list[Node]]:
    adjoint: dict[int, Node] = {}
    for n in graph.nodes:
        target = n.meta.adjoint_of
        if n.meta.role == "adjoint" and target is not None and target.serial in in_graph:
            adjoint.setdefault(target.serial, n)
    seeds = [n for n in graph.nodes if n.meta.rule in SEED_RULES and n.meta.adjoint_of is not None
             and n.meta.adjoint_of.serial in in_graph]
    by_digest: dict[bytes, list[Node]] = {}
    for n in graph.nodes:
        by_digest.setdefault(n.digest, []).append(n)
    outputs = {o.serial for o in graph.outputs}
    for seed in seeds if len(graph) <= REPLAY_LIMIT else ():
        found = _replay(graph, seed, by_digest, helpers)
        keep = _relevant(graph, found, outputs, seed.meta.adjoint_of)
        for serial, node in found.items():
            if keep is None or serial in keep:
                adjoint.setdefault(serial, node)
    return adjoint, seeds


def _tangent_map(graph: Graph, in_graph: dict[int, Node], helpers) -> dict[int, Node]:
    """Differentiated node serial -> the node holding its tangent (meta, then a replay of the JVP
    pass from the tangent inputs, which finds tangents that rules passed through unchanged)."""
    from graphc.forward import push_tangents

    tangent: dict[int, Node] = {}
    for n in graph.nodes:
        t = n.meta.tangent_of
        if n.meta.role == "tangent" and t is not None and t.serial in in_graph:
            tangent.setdefault(t.serial, n)
    seeds = {n.meta.tangent_of.serial: n for n in graph.nodes if n.meta.rule in TANGENT_SEED_RULES
             and n.meta.tangent_of is not None and n.meta.tangent_of.serial in in_graph}
    if not seeds or len(graph) > REPLAY_LIMIT:
        return tangent
    base = [n for n in graph.nodes if n.meta.role != "tangent"]
    by_digest: dict[bytes, list[Node]] = {}
    for n in graph.nodes:
        if n.meta.role == "tangent":
            by_digest.setdefault(n.digest, []).append(n)
    try:
        inputs = [p for p in graph.inputs if p.meta.role != "tangent"]
        replayed = push_tangents(Graph(inputs, base), seeds)
    except GraphError:
        return tangent
    for serial, node in replayed.items():
        found = by_digest.get(node.digest)
        if found:
            tangent.setdefault(serial, max(found, key=lambda c: (c is node, c.serial not in helpers)))
    return tangent


def _rule_groups(graph: Graph, consumers: dict[int, list[Node]]):
    """The nodes each derivative rule built, grouped per (rule, consumer, operand); the group's
    result is the member no other member consumes."""
    groups: dict[tuple, list[Node]] = {}
    for n in graph.nodes:
        m = n.meta
        if m.role == "primal" or not m.rule or not _RULE.match(m.rule) or not m.derived_from:
            continue
        target = m.contributes_to.serial if isinstance(m.contributes_to, Node) else None
        key = (m.rule, tuple(d.serial for d in m.derived_from), target)
        groups.setdefault(key, []).append(n)
    results: dict[int, tuple] = {}
    helpers: dict[int, Node] = {}
    for key, members in groups.items():
        inside = {n.serial for n in members}
        ends = [n for n in members if not any(c.serial in inside for c in consumers[n.serial])]
        holders = [n for n in members
                   if n.meta.tangent_of is not None and n.meta.tangent_of.serial == key[1][0]]
        result = holders[-1] if holders else ends[-1]
        results[result.serial] = key
        for n in members:
            if n is not result:
                helpers[n.serial] = result
    return results, helpers


def _sum_chains(graph: Graph, consumers: dict[int, list[Node]]):
    """Fan-in sums: the adds the adjoint pass chained for one node, final sum -> chain, leaves."""
    def is_sum_for(n: Node, target: Node) -> bool:
        return n.meta.rule == "adjoint sum" and bool(n.meta.derived_from) and \
            n.meta.derived_from[0] is target

    chains, leaves_of, partial_of = {}, {}, {}
    for n in graph.nodes:
        if n.meta.rule != "adjoint sum" or not n.meta.derived_from:
            continue
        target = n.meta.derived_from[0]
        if any(is_sum_for(c, target) for c in consumers[n.serial]):
            continue  # a partial sum
        chain, leaves, stack = [], [], [n]
        while stack:
            s = stack.pop()
            chain.append(s)
            for inp in reversed(s.inputs):
                (stack if is_sum_for(inp, target) else leaves).append(inp)
        chain.sort(key=lambda s: s.serial)
        leaves.sort(key=lambda s: s.serial)
        chains[n.serial] = chain
        leaves_of[n.serial] = leaves
        for s in chain[:-1]:
            partial_of[s.serial] = n.serial
    return chains, leaves_of, partial_of


def analyse(graph: Graph, letter: str = "v") -> Anatomy:
    """Read the meaning of every node of ``graph`` (linear in its size). ``letter`` names its
    unnamed values (a loop's body drawn inside a graph needs names of its own)."""
    nodes = graph.nodes
    in_graph = {n.serial: n for n in nodes}
    index = {n.serial: i for i, n in enumerate(nodes)}
    consumers = graph.consumers()
    results, helpers = _rule_groups(graph, consumers)
    adjoint, seeds = _adjoint_map(graph, in_graph, helpers)
    chains, leaves_of, partial_of = _sum_chains(graph, consumers)

    adjoint_for: dict[int, list[Node]] = {}
    for serial in sorted(adjoint, key=lambda s: index[s]):
        adjoint_for.setdefault(adjoint[serial].serial, []).append(in_graph[serial])
    tangent = _tangent_map(graph, in_graph, helpers)
    tangent_for: dict[int, list[Node]] = {}
    for serial in sorted(tangent, key=lambda s: index[s]):
        tangent_for.setdefault(tangent[serial].serial, []).append(in_graph[serial])

    an = Anatomy(graph, index, adjoint, adjoint_for, tangent_for, {}, {}, chains, partial_of,
                 {s: in_graph[r.serial] for s, r in helpers.items()}, seeds, tangent=tangent, letter=letter)
    if graph.output_names:
        for name, o in zip(graph.output_names, graph.outputs):
            if o.meta.role == "primal" and not _user_name(o):
                an.output_names.setdefault(o.serial, name)
    _collect_contributions(an, results, leaves_of, consumers, in_graph)
    _name_everything(an)
    return an


def _collect_contributions(an: Anatomy, results, leaves_of, consumers, in_graph) -> None:
    for serial, (rule, derived, target) in results.items():
        mode, _, i = _RULE.match(rule).groups()
        consumer = in_graph.get(derived[0]) if derived else None
        node = in_graph[serial]
        if consumer is None or (mode == "vjp" and i is None):
            continue
        into = in_graph.get(target) if target is not None else consumer
        if into is None:
            continue
        c = Contribution(node, consumer, int(i) if i is not None else -1, into, mode, passthrough=False)
        an.result_of[serial] = c
        an.contributions.setdefault(into.serial, []).append(c)
    # adjoints a rule passed through unchanged: leaves of a fan-in sum, or the whole adjoint
    for p_serial, holder in an.adjoint.items():
        p = in_graph[p_serial]
        if holder.meta.rule in SEED_RULES and holder.meta.adjoint_of is p:
            continue
        is_final_sum = holder.serial in an.sums and holder.meta.derived_from[0] is p
        leaves = leaves_of[holder.serial] if is_final_sum else [holder]
        used: set[tuple[int, int]] = set()
        for leaf in leaves:
            known = an.result_of.get(leaf.serial)
            if known is not None and known.target is p:
                continue
            for q in consumers[p_serial]:
                if an.adjoint.get(q.serial) is not leaf:
                    continue
                spots = [k for k, inp in enumerate(q.inputs) if inp is p and (q.serial, k) not in used]
                if spots:
                    used.add((q.serial, spots[0]))
                    an.contributions.setdefault(p_serial, []).append(
                        Contribution(leaf, q, spots[0], p, "vjp", passthrough=True))
                    break
    for terms in an.contributions.values():
        terms.sort(key=lambda c: (an.index.get(c.node.serial, 0), c.operand))


def _primal_name(an: Anatomy, n: Node) -> str:
    user = _user_name(n) or an.output_names.get(n.serial)
    if user:
        return user
    if n.op == "constant":
        if n.value is not None and n.value.ndim == 0:
            return number(n.value[()], 4)
        return f"c{subscript(an.index[n.serial])}"
    return f"{an.letter}{subscript(an.index[n.serial])}"


def _preferred(holder: Node, prims: list[Node], own: Node | None) -> Node:
    """Which node an adjoint (or tangent) node is named after: the one it was made for when the
    user named it, else the latest user-named one (ȳ rather than v̄₇), else the one it was made for."""
    own = own if own is not None and any(own is p for p in prims) else prims[-1]
    if _user_name(own):
        return own
    named = [p for p in prims if _user_name(p)]
    return named[-1] if named else own


def _name_everything(an: Anatomy) -> None:
    """Names in topological order (a name only uses the names of earlier nodes), then formulas."""
    names = an.names
    for n in an.graph.nodes:
        s = n.serial
        if s in an.adjoint_for or s in an.tangent_for:
            adjoint = s in an.adjoint_for
            prims = an.adjoint_for[s] if adjoint else an.tangent_for[s]
            mark = bar if adjoint else tangent
            main = _preferred(n, prims, n.meta.adjoint_of if adjoint else n.meta.tangent_of)
            names[s] = mark(names.get(main.serial) or _primal_name(an, main))
            an.aliases[s] = [mark(names.get(p.serial) or _primal_name(an, p)) for p in prims if p is not main]
        elif an.is_seed(n) and n.meta.adjoint_of is not None:  # its output is not in this graph
            names[s] = bar(_user_name(n.meta.adjoint_of) or "f")
        elif n.meta.role == "primal" or n.op == "constant":
            names[s] = _primal_name(an, n)
        elif s in an.result_of:
            names[s] = f"%{an.index[s]}"
        elif n.op == "placeholder":
            names[s] = n.attrs["name"]
        else:
            expr = formulas.op_expression(n, [_operand(an, i) for i in n.inputs])
            if len(expr.text) <= EXPRESSION_LIMIT:
                names[s], an.exprs[s] = expr.text, expr
            else:
                names[s] = f"%{an.index[s]}"
    for target, terms in an.contributions.items():
        holder = an.adjoint.get(target)
        # a sum at fan-in means several terms, also when a pass hid some of them from us
        count = len(an.sums[holder.serial]) + 1 if holder is not None and holder.serial in an.sums else 0
        for c in terms:
            _write_formula(an, c, max(count, len(terms)))
    an.titles = _Titles(an)


class _Titles(dict):
    """Titles written when first asked for: a folded picture of a huge graph needs few."""

    def __init__(self, an: Anatomy):
        super().__init__()
        self.an = an

    def __missing__(self, serial: int) -> str:
        title = self[serial] = _title(self.an, self.an.graph.node_by_serial(serial))
        return title


def _operand(an: Anatomy, n: Node) -> Expr:
    if n.serial in an.exprs:
        return an.exprs[n.serial]
    if n.op == "constant" and n.value is not None and n.value.ndim == 0:
        return atom(number(n.value[()], 4))  # by value, also when a pass merged it with a seed
    return atom(an.names.get(n.serial) or f"%{an.index[n.serial]}")


def _write_formula(an: Anatomy, c: Contribution, count: int) -> None:
    q = c.consumer
    args = [_operand(an, i) for i in q.inputs]
    out = _operand(an, q)
    if c.mode == "vjp":
        incoming = an.adjoint.get(q.serial)
        if incoming is None or incoming is an.adjoint.get(c.target.serial):
            g = atom(bar(an.names.get(q.serial) or _primal_name(an, q)))  # passed through: ȳ = v̄₇
        else:
            g = atom(an.names[incoming.serial])
        term = formulas.vjp_term(q, c.operand, g, out, args)
        lhs = bar(an.names.get(c.target.serial) or _primal_name(an, c.target))
    else:  # forward mode: one node holds the whole linearisation q̇ = Σᵢ ∂q/∂vᵢ v̇ᵢ
        terms = []
        for i, operand in enumerate(q.inputs):
            held = an.tangent.get(operand.serial)
            if held is None:
                continue
            t = atom(an.names.get(held.serial) or tangent(an.names.get(operand.serial, "?")))
            terms.append(formulas.jvp_term(q, i, t, out, args).text)
        lhs = an.names.get(c.node.serial) or tangent(an.names.get(q.serial) or _primal_name(an, q))
        c.term = " + ".join(terms) or "0"
        c.formula = f"{lhs} = {c.term}"
        return
    c.term = term.text
    c.formula = f"{lhs} {'=' if count == 1 else '+='} {term.text}"


def _title(an: Anatomy, n: Node) -> str:
    s = n.serial
    name = an.names[s]
    if an.is_seed(n):
        if n.op == "constant" and n.value is not None and n.value.ndim == 0:
            return f"{name} = {number(n.value[()])}"
        return f"{name} (cotangent input)"
    if s in an.sums and s in an.adjoint_for:
        return f"{name} = Σ"
    if s in an.result_of:
        c = an.result_of[s]
        return c.formula
    if n.op == "placeholder":
        return name
    if n.op == "constant":
        scalar = n.value is not None and n.value.ndim == 0
        if scalar and (s in an.adjoint_for or s in an.tangent_for):  # an adjoint a pass folded
            return f"{name} = {number(n.value[()])}"
        return name if scalar else f"{name} = const {shape_text(n.shape)}"
    if n.meta.role == "primal":
        expr = formulas.op_expression(n, [_operand(an, i) for i in n.inputs]).text
        return f"{name} = {clip(expr, 48)}"
    if s in an.adjoint_for or s in an.tangent_for:
        expr = formulas.op_expression(n, [_operand(an, i) for i in n.inputs]).text
        return f"{name} = {clip(expr, 48)}"
    if name.startswith("%"):  # a helper whose expression is too long to be its name
        return clip(formulas.op_expression(n, [_operand(an, i) for i in n.inputs]).text, 48)
    return name
