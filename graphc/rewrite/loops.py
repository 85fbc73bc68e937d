"""The ``loops`` pass: rewrites of ``scan`` nodes, across the boundary of their bodies and inside.

In one walk over the graph, in order:

1. **merge**: a loop whose results another loop of the same steps also computes (same operands
   in the same roles, the same body inputs, its outputs among the other's) is replaced by that
   one. The loops derivatives build contain their primal: a gradient's forward loop with stored
   carries computes everything the original loop does, and a JVP's loop the primal beside the
   tangents, so each primal loop runs once;
2. **prune**: per-step outputs nobody reads are dropped (the stored states of a gradient that
   only reads the last one are never materialised), and so are carries whose final value nobody
   reads and that no kept output needs, per-step inputs and consts the body no longer reads;
3. **hoist**: body nodes that depend only on values from outside the loop are computed once,
   outside, and read by the body as consts; the other way round, small constants the body reads
   from outside become constants of the body (so they fold there: ``x ** 2`` becomes ``x * x``,
   ``x + 0.0`` goes), and an outside node read through several inputs is read through one;
4. **inside**: the body is optimized by :func:`graphc.rewrite.optimize` itself (CSE, folding,
   the rule table, this pass for nested loops, DCE).

Merging runs first, on the bodies as their construction left them (rewriting them first could
make two equal computations differ).
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..ops.core import bind
from ..ops.sources import constant, placeholder
from ..transform import substitute
from .driver import Pass, map_outputs, rebuild


def _roles(node: Node) -> list[str]:
    a = node.attrs
    n_in = len(node.inputs)
    return ["carry"] * a["n_carry"] + ["xs"] * a["n_xs"] + ["const"] * (n_in - a["n_carry"] - a["n_xs"])


def _embedding(a: Node, b: Node) -> dict[int, int] | None:
    """Result index of ``a`` -> result index of ``b`` when ``b`` computes every result of ``a``."""
    if a is b or a.attrs["length"] != b.attrs["length"] or a.attrs["reverse"] != b.attrs["reverse"]:
        return None
    ab, bb = a.attrs["body"], b.attrs["body"]
    ra, rb = _roles(a), _roles(b)
    where_b = {}
    for q, p in enumerate(bb.inputs):
        where_b.setdefault((p.digest, rb[q], b.inputs[q].serial), q)
    position = {}
    for i, p in enumerate(ab.inputs):
        q = where_b.get((p.digest, ra[i], a.inputs[i].serial))
        if q is None:
            return None
        position[i] = q
    n_a, n_b = a.attrs["n_carry"], b.attrs["n_carry"]
    result = {}
    for i in range(n_a):  # a carry of a is a carry of b evolving the same way
        q = position[i]
        if ab.outputs[i].digest != bb.outputs[q].digest:
            return None
        result[i] = q
    b_ys = {}
    for j, y in enumerate(bb.outputs[n_b:]):
        b_ys.setdefault(y.digest, n_b + j)
    for j, y in enumerate(ab.outputs[n_a:]):
        q = b_ys.get(y.digest)
        if q is None:
            return None
        result[n_a + j] = q
    for key, base_a, base_b in (("until", n_a, n_b), ("mask", None, None)):
        ka, kb = a.attrs[key], b.attrs[key]
        if key == "until":
            if (ka < 0) != (kb < 0) or (ka >= 0 and result[base_a + ka] != base_b + kb):
                return None
        elif (ka < 0) != (kb < 0) or (ka >= 0 and position[n_a + ka] != n_b + kb):
            return None
    return result


def _used_results(graph: Graph) -> dict[int, set[int]]:
    used: dict[int, set[int]] = {}
    for n in graph.nodes:
        if n.op == "item":
            used.setdefault(n.inputs[0].serial, set()).add(n.attrs["index"])
    return used


def _ancestors(outputs) -> set[int]:
    seen, stack = set(), list(outputs)
    while stack:
        n = stack.pop()
        if n.serial not in seen:
            seen.add(n.serial)
            stack.extend(n.inputs)
    return seen


def _prune(node: Node, used: set[int]) -> tuple[Node, dict[int, int]] | None:
    """The loop without the results nobody reads (and what only they needed): (new loop, old
    result index -> new), or None when nothing can go."""
    a = node.attrs
    body, n_carry, n_xs = a["body"], a["n_carry"], a["n_xs"]
    outs, ins = list(body.outputs), list(body.inputs)
    n_ys = len(outs) - n_carry
    keep_ys = {j for j in range(n_ys) if n_carry + j in used or j == a["until"]}
    keep_carry = {i for i in range(n_carry) if i in used}
    while True:  # a carry stays when something kept reads it
        needed = _ancestors([outs[i] for i in keep_carry] + [outs[n_carry + j] for j in keep_ys])
        more = {i for i in range(n_carry) if ins[i].serial in needed} - keep_carry
        if not more:
            break
        keep_carry |= more
    keep_xs = {j for j in range(n_xs) if ins[n_carry + j].serial in needed or j == a["mask"]}
    keep_consts = {j for j in range(len(ins) - n_carry - n_xs) if ins[n_carry + n_xs + j].serial in needed}
    carries, ys = sorted(keep_carry), sorted(keep_ys)
    xs, consts = sorted(keep_xs), sorted(keep_consts)
    if (len(carries), len(ys), len(xs), len(consts)) == (n_carry, n_ys, n_xs, len(ins) - n_carry - n_xs):
        return None
    new_ins = ([ins[i] for i in carries] + [ins[n_carry + j] for j in xs]
               + [ins[n_carry + n_xs + j] for j in consts])
    new_outs = [outs[i] for i in carries] + [outs[n_carry + j] for j in ys]
    operands = ([node.inputs[i] for i in carries] + [node.inputs[n_carry + j] for j in xs]
                + [node.inputs[n_carry + n_xs + j] for j in consts])
    attrs = dict(a)
    attrs.update(body=Graph(new_ins, new_outs, name=body.name), n_carry=len(carries), n_xs=len(xs),
                 until=ys.index(a["until"]) if a["until"] >= 0 else -1,
                 mask=xs.index(a["mask"]) if a["mask"] >= 0 else -1)
    new = bind("scan", operands, attrs, meta=node.meta)
    index = {i: k for k, i in enumerate(carries)}
    index.update({n_carry + j: len(carries) + k for k, j in enumerate(ys)})
    return new, index


SINK_LIMIT = 16  # elements: constants up to this size move into the bodies that read them


def _sink_constants(node: Node) -> Node | None:
    """The loop with the small constants among its consts made constants of its body, and every
    other outside node read through one input only; None when nothing changes."""
    a = node.attrs
    body, n_carry, n_xs = a["body"], a["n_carry"], a["n_xs"]
    ins, start = list(body.inputs), n_carry + n_xs
    replace: dict[int, Node] = {}
    kept_ins, kept_outer, first = list(ins[:start]), list(node.inputs[:start]), {}
    for p, x in zip(ins[start:], node.inputs[start:]):
        if x.op == "constant" and x.value.size <= SINK_LIMIT:
            replace[p.serial] = constant(x.value, dtype=x.dtype)
        elif x.serial in first:
            replace[p.serial] = first[x.serial]
        else:
            first[x.serial] = p
            kept_ins.append(p)
            kept_outer.append(x)
    if not replace:
        return None
    attrs = dict(a)
    attrs["body"] = Graph(kept_ins, substitute(list(body.outputs), replace), name=body.name)
    return bind("scan", kept_outer, attrs, meta=node.meta)


def _hoist(node: Node) -> Node | None:
    """The loop with its body's nodes that read only consts (and constants) computed outside."""
    a = node.attrs
    body, n_carry, n_xs = a["body"], a["n_carry"], a["n_xs"]
    ins = list(body.inputs)
    consts = ins[n_carry + n_xs:]
    outside = {p.serial: x for p, x in zip(consts, node.inputs[n_carry + n_xs:])}
    invariant = set(outside)
    for n in body.nodes:
        if n.op == "constant" or (n.inputs and all(i.serial in invariant for i in n.inputs)):
            invariant.add(n.serial)
    consumers = body.consumers()
    outputs = {o.serial for o in body.outputs}
    lift = [n for n in body.nodes if n.serial in invariant and n.inputs and n.types is None
            and (n.serial in outputs or any(c.serial not in invariant for c in consumers[n.serial]))]
    if not lift:
        return None
    names = {p.attrs["name"] for p in ins}
    stand_ins, values = [], []
    for k, n in enumerate(lift):
        name = f"hoisted{k}"
        while name in names:
            name += "'"
        names.add(name)
        stand_ins.append(placeholder(name, n.shape, n.dtype))
        values.append(substitute([n], {s: x for s, x in outside.items()})[0])
    new_outs = substitute(list(body.outputs), {n.serial: s for n, s in zip(lift, stand_ins)})
    attrs = dict(a)
    attrs["body"] = Graph(ins + stand_ins, new_outs, name=body.name)
    return bind("scan", list(node.inputs) + values, attrs, meta=node.meta)


_OPTIMIZED: dict[tuple, Graph] = {}


def _optimize_body(node: Node, mode: str) -> Node:
    from . import optimize  # the whole pipeline, this pass included, for nested loops

    body = node.attrs["body"]
    done = _OPTIMIZED.get((body.digest, mode))
    if done is None:
        done = optimize(body, mode=mode)
        if len(_OPTIMIZED) > 512:
            _OPTIMIZED.clear()
        _OPTIMIZED[body.digest, mode] = done
    if done is body:
        return node
    attrs = dict(node.attrs)
    attrs["body"] = done
    return bind("scan", list(node.inputs), attrs, meta=node.meta)


def _merge(graph: Graph, scans: list[Node]) -> Graph:
    """The graph with the items of every loop another loop computes too read from that one."""
    home: dict[int, tuple[Node, dict[int, int]]] = {}
    for a in scans:
        for b in scans:
            if b.serial not in home and a.serial not in home:
                found = _embedding(a, b)
                if found is not None:
                    home[a.serial] = (b, found)
                    break
    if not home:
        return graph
    for a_serial, (b, index) in list(home.items()):  # a chain a -> b -> c: straight to c
        while b.serial in home:
            c, further = home[b.serial]
            index = {i: further[k] for i, k in index.items()}
            b = c
        home[a_serial] = (b, index)
    # rebuild in an order where a redirected item comes after the loop it now reads
    memo: dict[int, Node] = {}
    for root in graph.outputs:
        stack = [(root, False)]
        while stack:
            n, ready = stack.pop()
            if n.serial in memo:
                continue
            source = [home[n.inputs[0].serial][0]] if n.op == "item" and n.inputs[0].serial in home \
                else list(n.inputs)
            if not ready:
                stack.append((n, True))
                stack.extend((d, False) for d in source if d.serial not in memo)
                continue
            if n.op == "item" and n.inputs[0].serial in home:
                b, index = home[n.inputs[0].serial]
                memo[n.serial] = bind("item", [memo[b.serial]], {"index": index[n.attrs["index"]]},
                                      meta=n.meta)
            else:
                memo[n.serial] = rebuild(n, [memo[d.serial] for d in n.inputs]) if n.inputs else n
    return map_outputs(graph, memo)


def _rewrite_each(graph: Graph, scans: list[Node], mode: str) -> Graph:
    """Each loop pruned, its invariants hoisted and its body optimized."""
    used = _used_results(graph)
    env: dict[int, Node] = {}
    moved_of: dict[int, tuple[Node, dict[int, int]]] = {}
    for node in graph.nodes:
        if node.op == "item" and node.inputs[0].serial in moved_of:
            new_loop, moved = moved_of[node.inputs[0].serial]
            env[node.serial] = bind("item", [new_loop], {"index": moved[node.attrs["index"]]}, meta=node.meta)
            continue
        operands = [env.get(i.serial, i) for i in node.inputs]
        new = rebuild(node, operands) if node.inputs else node
        if node.op == "scan":
            moved = {i: i for i in range(len(node.types))}
            pruned = _prune(new, used.get(node.serial, set()))
            if pruned is not None:
                new, moved = pruned
            hoisted = _hoist(new)
            new = hoisted if hoisted is not None else new
            sunk = _sink_constants(new)
            new = _optimize_body(sunk if sunk is not None else new, mode)
            again = _prune(new, {moved[i] for i in used.get(node.serial, set()) if i in moved})
            if again is not None:  # the optimized body reads fewer inputs, or computes less
                new, further = again
                moved = {i: further[k] for i, k in moved.items() if k in further}
            if new is not node:
                moved_of[node.serial] = (new, moved)
        if new is not node:
            env[node.serial] = new
    return map_outputs(graph, env) if env else graph


MAX_WALKS = 6


def _loops(graph: Graph, mode: str = "ieee") -> Graph:
    """Walks until one changes nothing, so that the pass is idempotent, as ``optimize`` assumes: a
    walk can leave work for the next one (a reverse loop whose optimized body no longer reads a
    stored carry drops that input, and only then is the forward loop's stored output unread)."""
    for _ in range(MAX_WALKS):
        if not any(n.op == "scan" for n in graph.nodes):
            return graph
        merged = _merge(graph, [n for n in graph.nodes if n.op == "scan"])
        walked = _rewrite_each(merged, [n for n in merged.nodes if n.op == "scan"], mode)
        if walked is graph:
            return graph
        graph = walked
    return graph


def _holds_a_loop(graph: Graph) -> bool:
    return any(n.op == "scan" for n in graph.nodes)


loops = Pass("loops", _loops, "loops: merge loops another computes, prune unread results, hoist "
                              "invariants, optimize bodies", applies=_holds_a_loop)
loops_fast = Pass("loops", lambda graph: _loops(graph, "fast"), "loops, with bodies optimized in mode='fast'",
                  applies=_holds_a_loop)
