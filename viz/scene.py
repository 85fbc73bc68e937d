"""The drawing, before it is DOT: which boxes, which arrows, which clusters, what each one says.

:func:`build_scene` turns an :class:`~viz.anatomy.Anatomy` (and optionally the numbers of a run)
into a :class:`Scene`: one :class:`Item` per drawn box (a node, the Σ of a fan-in, a folded
scope, or a faded copy of a primal value the adjoint view reads) and one :class:`Link` per arrow.
Item ids come from node positions in the graph, so the same graph always draws the same picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from graphc.ir import Graph, Node

from .anatomy import Anatomy, analyse
from .labels import array_text, bar, full_text, number, shape_text
from .style import ROLES
from .values import Numbers

MARK_ORDER = ("current", "term", "new", "faded")


@dataclass
class Item:
    id: str
    kind: str  # op | input | constant | sum | scope | ghost
    role: str
    members: list[Node]
    title: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (text, kind of line)
    cluster: tuple[str, ...] = ()
    tooltip: str = ""
    output: bool = False
    bad: bool = False
    mark: str | None = None
    cluster_role: str | None = None  # "kernel": the cluster is a fusion group, not a scope


@dataclass
class Link:
    tail: str
    head: str
    kind: str  # data | adjoint | tangent | read | pair | loop (a carry fed to the next step)
    label: str = ""
    align: bool = False  # a pair drawn on the same rank


@dataclass
class Scene:
    title: list[str]
    items: list[Item]
    links: list[Link]
    anatomy: Anatomy
    item_of: dict[int, str]  # node serial -> id of the item drawing it
    view: str
    numbers: Numbers | None = None
    loops: dict[int, LoopDrawing] = field(default_factory=dict)  # scan serial -> its drawn body

    @property
    def roles(self) -> set[str]:
        return {i.role for i in self.items if i.kind != "ghost"}


@dataclass
class LoopDrawing:
    """A loop node drawn as a cluster holding its body once: the item ids its operands flow into
    (the body's inputs, in the loop's operand order) and its results come from (the body's outputs)."""

    label: str
    inputs: list[str]
    outputs: list[str]
    n_carry: int
    n_xs: int
    length: int


MAX_LOOP_DEPTH = 8  # loops inside loops drawn expanded (graph files allow no deeper nesting)
BODY_LETTERS = "uwzpqrst"  # a body's unnamed values: u₁ in a loop, w₁ in a loop inside it, ...


def _loop_label(an: Anatomy, n: Node) -> str:
    a = n.attrs
    body = a["body"]
    how = ["reverse" if a["reverse"] else "", "while" if a["until"] >= 0 else "",
           f"checkpoint {a['checkpoint']}" if a.get("checkpoint") else "",
           "steps masked" if a["mask"] >= 0 else ""]
    extra = ", ".join(h for h in how if h)
    return (f"loop %{an.index[n.serial]} {body.name or 'scan'}: body × {a['length']} steps"
            + (f" ({extra})" if extra else ""))


def _expand_loop(an: Anatomy, n: Node, outer: Item, edge_labels: bool, depth: int):
    """The items and links of a loop's body, ids prefixed by the loop's item id, inside a cluster."""
    a = n.attrs
    body: Graph = a["body"]
    inner = build_scene(analyse(body, BODY_LETTERS[depth]),  # the body's own anatomy names its nodes
                         view="both", edge_labels=edge_labels, depth=depth + 1)
    label = _loop_label(an, n)
    cluster = outer.cluster + (label,)
    prefix = outer.id + "b"  # ids stay one word: edge ids are e<k>_<tail>_<head>
    n_carry, n_xs = a["n_carry"], a["n_xs"]
    by_id = {item.id: item for item in inner.items}
    for item in inner.items:  # the body's own output names say less than the lines added below
        item.lines = [line for line in item.lines if line[1] != "output"]
    item_id = {serial: prefix + iid for serial, iid in inner.item_of.items()}
    for k, p in enumerate(body.inputs):
        what = ("carry in: the initial value at step 0, then the previous step's" if k < n_carry else
                f"row t of per-step input {k - n_carry}" if k < n_carry + n_xs else "loop constant")
        by_id[inner.item_of[p.serial]].lines.insert(1, (what, "alias"))
    for k, o in enumerate(body.outputs):
        what = ("carry out → next step; after the last: final" if k < n_carry
                else f"output y{k - n_carry}: stacked over the steps")
        by_id[inner.item_of[o.serial]].lines.append((what, "output"))
    derived = any(m.meta.role != "primal" for m in body.nodes)
    role = outer.role if derived else "primal"  # a gradient's forward loop computes primal values
    for item in inner.items:
        item.id = prefix + item.id
        item.cluster = cluster + item.cluster
        item.cluster_role = item.cluster_role if item.cluster_role == "kernel" else role
    for link in inner.links:
        link.tail, link.head = prefix + link.tail, prefix + link.head
    inputs = [item_id[p.serial] for p in body.inputs]
    outputs = [item_id[o.serial] for o in body.outputs]
    back = [Link(outputs[k], inputs[k], "loop", "next step" if edge_labels else "") for k in range(n_carry)]
    drawing = LoopDrawing(label, inputs, outputs, n_carry, n_xs, a["length"])
    return inner.items, inner.links + back, drawing


def _collapse_key(node: Node, collapse) -> tuple[str, ...] | None:
    """The scope prefix this node is folded into, or None."""
    scope = node.meta.scope
    if not scope or collapse in (None, False):
        return None
    if collapse is True:
        return scope[:1]
    if isinstance(collapse, int):
        return scope[:collapse] if len(scope) >= collapse else None
    for depth in range(1, len(scope) + 1):
        if "/".join(scope[:depth]) in collapse:
            return scope[:depth]
    return None


def _cluster(role: str, scope: Iterable[str]) -> tuple[str, ...]:
    prefix = ROLES[role].cluster_prefix if role in ROLES else ""
    return tuple(prefix + s for s in scope)


def _visible(an: Anatomy, view: str) -> tuple[list[Node], set[int]]:
    """Nodes drawn in full, and serials of primal nodes drawn as faded references."""
    nodes = an.graph.nodes
    if view == "primal":
        return [n for n in nodes if n.meta.role == "primal"], set()
    if view == "both":
        return nodes, set()
    derived = [n for n in nodes if n.meta.role != "primal"]
    ghosts = {i.serial for n in derived for i in n.inputs if i.meta.role == "primal"}
    return derived, ghosts


def _kind(an: Anatomy, n: Node) -> str:
    if n.op == "placeholder":
        return "input"
    if n.serial in an.sums and n.serial in an.adjoint_for:
        return "sum"
    if n.op == "constant":
        return "constant"
    return "op"


def _tooltip(an: Anatomy, n: Node, nums: Numbers | None) -> str:
    m = n.meta
    lines = [an.titles[n.serial], f"%{an.index[n.serial]} = {n.op} : {n.type_string}", f"role: {m.role}"]
    if m.pass_name or m.rule:
        lines.append(f"made by: {m.pass_name or '?'} pass, rule {m.rule or '?'}")
    if m.derived_from:
        lines.append("derived from: " + ", ".join(
            f"{an.names.get(d.serial, d.op)} ({d.op})" for d in m.derived_from))
    owners = an.adjoint_for.get(n.serial) or []
    if owners:
        lines.append("adjoint of: " + ", ".join(an.names.get(p.serial, p.op) for p in owners))
    c = an.result_of.get(n.serial)
    if c is not None:
        lines.append(f"chain-rule term: {c.formula}")
    if m.scope:
        lines.append("scope: " + " / ".join(m.scope))
    if m.location is not None:
        lines.append(f"source: {m.location}")
    if nums is not None and n.serial in nums.values:
        lines.append("value: " + full_text(nums.values[n.serial]))
    return "\n".join(lines)


def _value_lines(an: Anatomy, n: Node, nums: Numbers | None, view: str) -> list[tuple[str, str]]:
    if nums is None or n.serial not in nums.values:
        return []
    scalar_constant = n.op == "constant" and n.ndim == 0  # its title is its value already
    lines = [] if scalar_constant else [(f"= {array_text(nums.values[n.serial])}", "value")]
    holder = an.adjoint.get(n.serial)
    if view == "primal" and holder is not None and holder.serial in nums.values:
        text = f"{bar(an.names[n.serial])} = {array_text(nums.values[holder.serial])}"
        lines.append((text, "adjoint value"))
    owners = [n] if view == "primal" else an.adjoint_for.get(n.serial, [])
    checks = [(p, nums.checks[p.serial]) for p in owners if p.serial in nums.checks]
    if checks and all(c.ok for _, c in checks):
        lines.append(("✓ finite differences agree", "check ok"))
    for p, c in checks:
        if not c.ok:
            who = bar(an.names[p.serial]) + ": " if len(owners) > 1 else ""
            lines.append((f"✗ {who}finite differences give {array_text(c.numeric)}", "check bad"))
    return lines


def build_scene(an: Anatomy, *, view: str, nums: Numbers | None = None, collapse=None,
                marks: dict[int, str] | None = None, title: list[str] | None = None,
                edge_labels: bool = True, groups: list | None = None, depth: int = 0) -> Scene:
    """``groups``: lists of nodes computed together (a backend's fusion groups), drawn as clusters
    in place of scopes. Each loop is drawn as a cluster holding its body once (``depth``: how
    many loops this graph is the body of)."""
    marks = marks or {}
    kernel_of = {}
    for k, group in enumerate(groups or []):
        for member in getattr(group, "nodes", group):
            kernel_of[getattr(member, "serial", member)] = k
    shown, ghosts = _visible(an, view)
    outputs: dict[int, list[str]] = {}
    g = an.graph
    for k, o in enumerate(g.outputs):
        outputs.setdefault(o.serial, []).append(g.output_names[k] if g.output_names else str(k))

    items: dict[str, Item] = {}
    item_of: dict[int, str] = {}
    groups: dict[tuple, str] = {}
    for n in g.nodes:
        s = n.serial
        if s in ghosts:
            iid = f"n{an.index[s]}"
            lines = [(f"= {array_text(nums.values[s])}", "value")] if nums and s in nums.values else []
            items[iid] = Item(iid, "ghost", "primal", [n], an.names[s], lines,
                              tooltip=_tooltip(an, n, nums))
            item_of[s] = iid
    shown_set = {n.serial for n in shown}
    for n in shown:
        s = n.serial
        role = n.meta.role if n.meta.role in ROLES else "primal"
        key = _collapse_key(n, collapse)
        if key is not None:
            gkey = (role, key)
            if gkey not in groups:
                groups[gkey] = f"g{an.index[s]}"
                cl = _cluster(role, key)
                items[groups[gkey]] = Item(groups[gkey], "scope", role, [], cl[-1], cluster=cl[:-1])
            item = items[groups[gkey]]
            item.members.append(n)
            item_of[s] = item.id
            continue
        if s in an.partial_of:
            continue
        iid = f"n{an.index[s]}"
        kind = _kind(an, n)
        meta = {"input": f"input · {n.type_string}", "constant": f"%{an.index[s]} const · {n.type_string}",
                "sum": f"Σ of {len(an.sums.get(s, ())) + 1} terms · {n.type_string}"}.get(kind) \
            or f"%{an.index[s]} {n.op} · {n.type_string}"
        lines = [(meta, "meta")]
        if an.aliases.get(s):
            lines.append(("also " + ", ".join(an.aliases[s]), "alias"))
        lines += [(f"output {name!r}", "output") for name in outputs.get(s, [])]
        lines += _value_lines(an, n, nums, view)
        owners = [n] if view == "primal" else [n] + an.adjoint_for.get(s, [])
        bad = nums is not None and any(nums.bad(p.serial) for p in owners)
        items[iid] = Item(iid, kind, role, [n], an.titles[s], lines, _cluster(role, n.meta.scope),
                          _tooltip(an, n, nums), output=s in outputs, bad=bad)
        if s in kernel_of:
            items[iid].cluster = (f"fused kernel {kernel_of[s]}",)
            items[iid].cluster_role = "kernel"
        item_of[s] = iid
    for s, final in an.partial_of.items():
        if s in shown_set and final in item_of and s not in item_of:
            item_of[s] = item_of[final]
    for item in items.values():
        if item.kind == "scope":
            item.lines = [(f"{len(item.members)} nodes folded", "meta")]
            item.tooltip = f"scope {' / '.join(item.cluster + (item.title,))}: {len(item.members)} nodes"
            item.output = any(m.serial in outputs for m in item.members)
        present = [marks[m.serial] for m in item.members if m.serial in marks]
        for mark in MARK_ORDER:
            if mark in present:
                item.mark = mark
                break

    loops: dict[int, LoopDrawing] = {}
    body_links: list[Link] = []
    for n in shown:
        iid = item_of.get(n.serial)
        if n.op != "scan" or depth >= MAX_LOOP_DEPTH or iid is None or items[iid].kind != "op":
            continue  # folded into a scope, or too deep: one box
        inner_items, inner_links, loops[n.serial] = _expand_loop(an, n, items.pop(iid), edge_labels, depth)
        del item_of[n.serial]
        items.update((i.id, i) for i in inner_items)
        body_links += inner_links
    links = _links(an, shown, item_of, items, edge_labels, loops)
    links += _pairs(an, item_of, items)
    return Scene(title or [], list(items.values()), links + body_links, an, item_of, view, nums, loops)


def _links(an: Anatomy, shown: list[Node], item_of: dict[int, str], items: dict[str, Item],
           edge_labels: bool, loops: dict[int, LoopDrawing]) -> list[Link]:
    links: list[Link] = []
    seen: set[tuple] = set()
    for n in shown:
        loop = loops.get(n.serial)
        head = item_of.get(n.serial)
        if head is None and loop is None:
            continue
        final = an.partial_of.get(n.serial, n.serial)
        for k, inp in enumerate(n.inputs):
            if an.partial_of.get(inp.serial) == final or (inp.serial == final and inp is not n):
                continue  # inside one fan-in sum
            if loop is not None:  # an operand flows into the body's input it stands for
                head = loop.inputs[k]
            tail = item_of.get(inp.serial)
            if inp.serial in loops and n.op == "item":  # a result comes out of the body's output
                tail = loops[inp.serial].outputs[n.attrs["index"]]
            if tail is None or tail == head:
                continue
            head_role, tail_role = n.meta.role, inp.meta.role
            if tail_role == "primal" and head_role == "primal":
                kind = "data"
            elif tail_role == "primal":
                kind = "read"
            elif head_role == "tangent" or tail_role == "tangent":
                kind = "tangent"
            else:
                kind = "adjoint"
            folded = "scope" in (items[tail].kind, items[head].kind)
            key = (tail, head, kind)
            if folded and key in seen:
                continue
            seen.add(key)
            label = shape_text(inp.shape) if edge_labels and inp.shape else ""  # scalars: no label
            if edge_labels and loop is not None:
                label = ("initial " if k < loop.n_carry else "row t of " if k < loop.n_carry + loop.n_xs
                         else "") + label
            elif edge_labels and inp.serial in loops:
                label = "final" if n.attrs["index"] < loops[inp.serial].n_carry else \
                    f"stacked ×{loops[inp.serial].length}"
            links.append(Link(tail, head, kind, label.strip()))
    return links


def _pairs(an: Anatomy, item_of: dict[int, str], items: dict[str, Item]) -> list[Link]:
    """Dashed links from each primal node to the node holding its adjoint (or tangent)."""
    links = []
    done = set()
    for holder_serial, prims in list(an.adjoint_for.items()) + list(an.tangent_for.items()):
        head = item_of.get(holder_serial)
        if head is None:
            continue
        holder = an.graph.node_by_serial(holder_serial)
        main = holder.meta.adjoint_of if holder.meta.role == "adjoint" else holder.meta.tangent_of
        for p in prims:
            # only the node it was made for: the others are named on the node ("also b̄")
            if len(prims) > 1 and p is not main:
                continue
            tail = item_of.get(p.serial)
            if tail is None or tail == head or items[tail].kind == "ghost" or (tail, head) in done:
                continue
            done.add((tail, head))
            align = "scope" not in (items[tail].kind, items[head].kind)
            links.append(Link(tail, head, "pair", align=align))
    return links


def default_title(an: Anatomy, nums: Numbers | None, values: dict | None) -> list[str]:
    g = an.graph
    passes = sorted({n.meta.pass_name for n in g.nodes if n.meta.role != "primal" and n.meta.pass_name})
    described = {"adjoint": "adjoint pass (reverse mode)", "jvp": "JVP pass (forward mode)",
                 "hvp": "HVP (forward over reverse)"}
    what = ", ".join(described.get(p, f"{p} pass") for p in passes) or "forward graph"
    lines = [f"{g.name or 'graph'} — {what}"]
    if values:
        shown = []
        for k, v in values.items():
            key = k if isinstance(k, str) else getattr(k, "attrs", {}).get("name", str(k))
            arr = array_text(v, max_items=3, digits=4)
            shown.append(f"{key} = {arr}")
        lines.append("at " + ", ".join(shown))
    if nums is not None and nums.checks:
        bad = sum(not c.ok for c in nums.checks.values())
        total = len(nums.checks)
        verdict = (f"finite differences agree with all {total} adjoints" if not bad
                   else f"finite differences DISAGREE with {bad} of {total} adjoints (red)")
        if nums.unchecked:
            verdict += f"; {nums.unchecked} too large to check"
        lines.append(verdict + f" (rtol {number(1e-4)})")
    return lines
