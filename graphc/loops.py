"""Loops: ``gc.scan``, ``gc.fori_loop`` and ``gc.while_loop``, one ``scan`` node each.

A ``scan`` node runs its ``body`` graph ``length`` times. The body's inputs are the carries, one
slice of each per-step input (``xs``) and the values it reads from the enclosing graph
(closed-over nodes, "consts"); its outputs are the new carries and the per-step outputs
(``ys``). The node's operands are the initial carries, the stacked xs and the consts, in that
order (``n_carry`` and ``n_xs`` say where each group ends); its results, a tuple node, are the
final carries and the ys stacked along a new leading axis (``ys[t]`` is the step that read
``xs[t]``, whichever way the loop runs). Two attributes let a backend skip steps that are
provably the identity: ``until = j`` (``while_loop``: the body's y ``j`` says the step ran;
once it is False every later step leaves the carries as they are) and ``mask = k`` (the xs
``k`` says per step whether it runs; a step that does not leaves the carries and gives zero ys).

Derivatives are loops too:

* the **VJP** is a reverse ``scan`` whose body is the VJP of the forward body. The forward
  steps' carries are stored by a forward scan with those carries as extra ys (the residuals),
  each step's internals recomputed by the reverse body; with ``checkpoint=k`` only every k-th
  carry is stored and each segment of k steps is recomputed from it by a nested scan. The
  reverse loop of a ``while_loop`` runs only the steps that ran (``mask``);
* the **JVP** is a ``scan`` carrying tangents beside the primals, its body the body's JVP.

Both are ordinary graphs, so an HVP, a Hessian or a gradient of a gradient goes through loops.
"""

from __future__ import annotations

import numpy as np

from .adjoint import backpropagate
from .context import where
from .dtypes import is_float
from .errors import GraphError, GraphTypeError, ShapeError
from .forward import push_tangents
from .ir import Graph, Node, next_serial
from .ops.core import api as gc
from .ops.core import bind, current_meta, run_graph
from .ops.declare import defop
from .ops.notation import apply
from .ops.promotion import as_node
from .ops.sources import placeholder
from .transform import closed_over, substitute
from .trees import flatten, unflatten

# ----------------------------------------------------------------------------------------------
# The primitive


def _groups(operands, n_carry, n_xs):
    return operands[:n_carry], operands[n_carry:n_carry + n_xs], operands[n_carry + n_xs:]


def _infer_scan(*operands, body, length, reverse, n_carry, n_xs, until, mask, checkpoint):
    if len(operands) != len(body.inputs):
        raise ShapeError(f"the body takes {len(body.inputs)} inputs, the loop has {len(operands)} operands")
    if len(body.outputs) < n_carry:
        raise ShapeError(f"the body gives {len(body.outputs)} outputs for {n_carry} carries")
    carries, xs, consts = _groups(operands, n_carry, n_xs)
    ins = body.inputs
    for i, (c, p, o) in enumerate(zip(carries, ins[:n_carry], body.outputs[:n_carry])):
        if not (c.shape == p.shape == o.shape and c.dtype == p.dtype == o.dtype):
            raise ShapeError(f"carry {i}: initial {c.type_string}, the body takes {p.type_string} and gives "
                             f"{o.type_string}")
    for j, (x, p) in enumerate(zip(xs, ins[n_carry:n_carry + n_xs])):
        if x.shape != (length,) + p.shape or x.dtype != p.dtype:
            raise ShapeError(f"per-step input {j}: {x.type_string}, expected {length} steps of "
                             f"{p.type_string}")
    for j, (k, p) in enumerate(zip(consts, ins[n_carry + n_xs:])):
        if k.shape != p.shape or k.dtype != p.dtype:
            raise ShapeError(f"const {j}: {k.type_string} for a body input of type {p.type_string}")
    ys = body.outputs[n_carry:]
    if until >= 0 and (until >= len(ys) or ys[until].shape != () or ys[until].dtype != np.dtype(bool)):
        raise ShapeError(f"until={until} must name a 0-d bool per-step output")
    if mask >= 0 and (mask >= n_xs or xs[mask].dtype != np.dtype(bool) or xs[mask].shape != (length,)):
        raise ShapeError(f"mask={mask} must name a bool per-step input of shape ({length},)")
    return [(c.shape, c.dtype) for c in carries] + [((length,) + y.shape, y.dtype) for y in ys]


def _scan_impl(*values, body, length, reverse, n_carry, n_xs, until, mask, checkpoint):
    carry, xs, consts = _groups(list(values), n_carry, n_xs)
    ys = [np.zeros((length,) + y.shape, y.dtype) for y in body.outputs[n_carry:]]
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        if mask >= 0 and not xs[mask][t]:
            continue
        outs = run_graph(body, list(carry) + [x[t] for x in xs] + list(consts))
        carry = outs[:n_carry]
        for y, value in zip(ys, outs[n_carry:]):
            y[t] = value
        if until >= 0 and not outs[n_carry + until]:
            break
    return tuple(carry) + tuple(ys)


def _scan_formula(node, *args):
    n = node.attrs["n_carry"] + node.attrs["n_xs"]
    name = node.attrs["body"].name or "body"
    return apply(f"scan {name} ×{node.attrs['length']}", *args[:n])


def scan_node(operands, body: Graph, length: int, n_carry: int, n_xs: int, reverse: bool = False,
              until: int = -1, mask: int = -1, checkpoint: int = 0, name=None) -> Node:
    """The ``scan`` node (see the module docstring), a tuple node of its results."""
    return bind("scan", list(operands), {"body": body, "length": int(length), "reverse": bool(reverse),
                                         "n_carry": int(n_carry), "n_xs": int(n_xs), "until": int(until),
                                         "mask": int(mask), "checkpoint": int(checkpoint)}, name=name)


# ----------------------------------------------------------------------------------------------
# Derivatives


def _unique(names: set[str], base: str) -> str:
    name = base
    while name in names:
        name += "'"
    names.add(name)
    return name


def _residual_scan(node: Node, attrs: dict) -> tuple[Node, list[Node]]:
    """The forward loop again, with each step's carries (at its start) as extra per-step
    outputs: (the new loop, its stacked carries)."""
    body, n_carry = attrs["body"], attrs["n_carry"]
    carries_in = list(body.inputs[:n_carry])
    extended = Graph(body.inputs, list(body.outputs) + carries_in, name=body.name)
    forward = scan_node(node.inputs, extended, attrs["length"], n_carry, attrs["n_xs"], attrs["reverse"],
                        attrs["until"], attrs["mask"])
    n_ys = len(body.outputs) - n_carry
    residuals = [forward[n_carry + n_ys + i] for i in range(n_carry)]
    return forward, residuals


def _reverse_body(body: Graph, n_carry: int, n_xs: int, with_g_ys: list[int], flag: bool):
    """The VJP of one step: carries (ḡ of the new carries, the consts' running ḡ), per-step inputs
    (the step's carries at its start, its xs, the ḡ of its ys, and with ``flag`` a bool saying
    whether the forward step ran), consts (the forward's) -> (ḡ of the carries at the step's
    start, the consts' running ḡ plus this step's; the ḡ of its xs). Float carries, xs and consts
    only have ḡ."""
    names = {p.attrs["name"] for p in body.inputs}
    carries, xs, consts = _groups(list(body.inputs), n_carry, n_xs)
    outs = list(body.outputs)
    float_carries = [k for k, c in enumerate(carries) if is_float(c.dtype)]
    float_xs = [k for k, x in enumerate(xs) if is_float(x.dtype)]
    float_consts = [k for k, c in enumerate(consts) if is_float(c.dtype)]

    def bar_input(p, base=None):
        return placeholder(_unique(names, (base or p.attrs["name"]) + "_bar"), p.shape, p.dtype)

    g_carry = [bar_input(carries[k]) for k in float_carries]
    acc = [bar_input(consts[k]) for k in float_consts]
    g_ys = [bar_input(outs[n_carry + j], f"y{j}") for j in with_g_ys]
    ran = [placeholder(_unique(names, "ran"), (), "bool")] if flag else []
    seeds_for = [outs[k] for k in float_carries] + [outs[n_carry + j] for j in with_g_ys]
    wrt = [carries[k] for k in float_carries] + [xs[k] for k in float_xs] + [consts[k] for k in float_consts]
    adj = backpropagate(body, seeds_for, g_carry + g_ys, wrt) if wrt and seeds_for else {}

    def bar(p):
        found = adj.get(p.serial)
        return found if found is not None else gc.zeros_like(p)

    new_g = [bar(carries[k]) for k in float_carries]
    new_acc = [a + bar(consts[k]) for a, k in zip(acc, float_consts)]
    g_xs = [bar(xs[k]) for k in float_xs]
    inputs = g_carry + acc + list(carries) + list(xs) + g_ys + ran + list(consts)
    graph = Graph(inputs, new_g + new_acc + g_xs, name=f"vjp({body.name or 'body'})")
    return graph, float_carries, float_xs, float_consts


def _scan_vjp(gs, out, *operands, body, length, reverse, n_carry, n_xs, until, mask, checkpoint):
    """Cotangents of the operands from those of the results, by the reverse loop."""
    attrs = dict(body=body, length=length, reverse=reverse, n_carry=n_carry, n_xs=n_xs, until=until,
                 mask=mask, checkpoint=checkpoint)
    if 1 < checkpoint < length and until < 0:
        return _checkpointed_vjp(gs, operands, attrs)
    carries, xs, consts = _groups(list(operands), n_carry, n_xs)
    n_ys = len(body.outputs) - n_carry
    g_final, g_ys = list(gs[:n_carry]), list(gs[n_carry:])
    with_g_ys = [j for j in range(n_ys)
                 if g_ys[j] is not None and is_float(body.outputs[n_carry + j].dtype)]
    forward, residuals = _residual_scan(out, attrs)
    rev_body, float_carries, float_xs, float_consts = _reverse_body(body, n_carry, n_xs, with_g_ys,
                                                                    until >= 0)
    init = [g_final[k] if g_final[k] is not None else gc.zeros_like(carries[k]) for k in float_carries]
    init += [gc.zeros_like(consts[k]) for k in float_consts]
    rev_xs = residuals + list(xs) + [g_ys[j] for j in with_g_ys]
    rev_mask = -1
    if until >= 0:  # the reverse loop runs the steps that ran: the forward's flags say which
        rev_xs.append(forward[n_carry + until])
        rev_mask = len(rev_xs) - 1
    elif mask >= 0:  # the forward's own mask, among the reverse loop's xs
        rev_mask = n_carry + mask
    n_rev_carry = len(float_carries) + len(float_consts)
    rev = scan_node(init + rev_xs + list(consts), rev_body, length, n_rev_carry, len(rev_xs),
                    reverse=not reverse, mask=rev_mask)
    cotangents: list = [None] * len(operands)
    for i, k in enumerate(float_carries):
        cotangents[k] = rev[i]
    for i, k in enumerate(float_consts):
        cotangents[n_carry + n_xs + k] = rev[len(float_carries) + i]
    for i, k in enumerate(float_xs):
        cotangents[n_carry + k] = rev[n_rev_carry + i]
    return cotangents


def _with_flag(body: Graph, n_carry: int, n_xs: int) -> Graph:
    """``body`` taking one more per-step input after its xs, a bool it ignores: the flag by which
    a masked loop skips a step."""
    names = {p.attrs["name"] for p in body.inputs}
    flag = placeholder(_unique(names, "ran"), (), "bool")
    ins = list(body.inputs)
    return Graph(ins[:n_carry + n_xs] + [flag] + ins[n_carry + n_xs:], list(body.outputs), name=body.name)


def _checkpointed_vjp(gs, operands, attrs):
    """The VJP storing only the carries at the start of each segment of ``checkpoint`` steps: a
    forward loop over the segments (each an inner loop over its steps) stores them, and a reverse
    loop over the segments recomputes each segment's steps from its start (an inner forward loop
    storing that segment's carries) and runs the segment's reverse steps (an inner reverse
    loop).
    The steps are padded to a whole number of segments; padding steps are masked."""
    body, length, k = attrs["body"], attrs["length"], attrs["checkpoint"]
    n_carry, n_xs = attrs["n_carry"], attrs["n_xs"]
    carries, xs, consts = _groups(list(operands), n_carry, n_xs)
    n_ys = len(body.outputs) - n_carry
    segments = -(-length // k)
    padding = segments * k - length
    flip = (lambda v: v[::-1]) if attrs["reverse"] else (lambda v: v)  # then run forward in time

    def per_segment(v, fill=0):
        v = flip(v)
        if padding:
            pad = gc.broadcast_to(gc.constant(np.asarray(fill, v.dtype)), (padding,) + v.shape[1:])
            v = gc.concatenate([v, pad])
        return gc.reshape(v, (segments, k) + v.shape[1:])

    if attrs["mask"] >= 0:  # the forward's own mask, padded with False, masks the inner loops
        inner_body, flag_at = body, attrs["mask"]
        seg_xs = [per_segment(x, False if j == flag_at else 0) for j, x in enumerate(xs)]
    else:
        inner_body, flag_at = _with_flag(body, n_carry, n_xs), n_xs
        ran = np.arange(segments * k).reshape(segments, k) < length
        seg_xs = [per_segment(x) for x in xs] + [gc.constant(ran)]
    n_inner_xs = len(seg_xs)
    # the forward loop over the segments: each segment's start
    c_in = [placeholder(f"carry{i}", c.shape, c.dtype) for i, c in enumerate(carries)]
    x_in = [placeholder(f"x{j}", x.shape[1:], x.dtype) for j, x in enumerate(seg_xs)]
    k_in = [placeholder(f"const{j}", c.shape, c.dtype) for j, c in enumerate(consts)]
    inner = scan_node(c_in + x_in + k_in, inner_body, k, n_carry, n_inner_xs, mask=flag_at)
    outer_body = Graph(c_in + x_in + k_in, [inner[i] for i in range(n_carry)] + c_in,
                       name=f"segments({body.name})")
    outer = scan_node(list(carries) + seg_xs + list(consts), outer_body, segments, n_carry, n_inner_xs)
    starts = [outer[n_carry + i] for i in range(n_carry)]
    # the reverse loop over the segments
    g_final, g_ys = list(gs[:n_carry]), list(gs[n_carry:])
    with_g_ys = [j for j in range(n_ys) if g_ys[j] is not None and is_float(body.outputs[n_carry + j].dtype)]
    rev_body, float_carries, float_xs, float_consts = _reverse_body(inner_body, n_carry, n_inner_xs,
                                                                    with_g_ys, False)
    seg_g_ys = [per_segment(g_ys[j]) for j in with_g_ys]
    g_c = [placeholder(f"carry{i}_bar", carries[i].shape, carries[i].dtype) for i in float_carries]
    acc = [placeholder(f"const{j}_bar", consts[j].shape, consts[j].dtype) for j in float_consts]
    start_in = [placeholder(f"start{i}", c.shape, c.dtype) for i, c in enumerate(carries)]
    gy_in = [placeholder(f"y{j}_bar", g.shape[1:], g.dtype) for j, g in zip(with_g_ys, seg_g_ys)]
    carries_in = list(inner_body.inputs[:n_carry])
    extended = Graph(inner_body.inputs, list(inner_body.outputs) + carries_in, name=inner_body.name)
    replay = scan_node(start_in + x_in + k_in, extended, k, n_carry, n_inner_xs, mask=flag_at)
    residuals = [replay[n_carry + n_ys + i] for i in range(n_carry)]
    back = scan_node(g_c + acc + residuals + x_in + gy_in + k_in, rev_body, k, len(g_c) + len(acc),
                     n_carry + n_inner_xs + len(gy_in), reverse=True, mask=n_carry + flag_at)
    n_back = len(g_c) + len(acc)
    seg_rev = Graph(g_c + acc + start_in + x_in + gy_in + k_in,
                    [back[i] for i in range(n_back)] + [back[n_back + i] for i in range(len(float_xs))],
                    name=f"vjp(segments({body.name}))")
    init = [g_final[i] if g_final[i] is not None else gc.zeros_like(carries[i]) for i in float_carries]
    init += [gc.zeros_like(consts[j]) for j in float_consts]
    rev = scan_node(init + starts + seg_xs + seg_g_ys + list(consts), seg_rev, segments, n_back,
                    n_carry + n_inner_xs + len(seg_g_ys), reverse=True)
    cotangents: list = [None] * len(operands)
    for i, c in enumerate(float_carries):
        cotangents[c] = rev[i]
    for i, j in enumerate(float_consts):
        cotangents[n_carry + n_xs + j] = rev[len(float_carries) + i]
    for i, j in enumerate(float_xs):
        if j < n_xs:  # not the added flag
            stacked = gc.reshape(rev[n_back + i], (segments * k,) + xs[j].shape[1:])
            cotangents[n_carry + j] = flip(stacked[:length])
    return cotangents


def _scan_jvp(tangents, out, *operands, body, length, reverse, n_carry, n_xs, until, mask, checkpoint):
    """Tangents of the results: a loop carrying the tangents beside the primals. Its carries are
    the primal carries then the float carries' tangents; its xs the primal xs then the tangents
    of those that have one; its ys the primal ys then the float ys' tangents (so ``until`` and
    ``mask`` keep their positions)."""
    carries, xs, consts = _groups(list(operands), n_carry, n_xs)
    t_carries, t_xs, t_consts = _groups(list(tangents), n_carry, n_xs)
    c_in, x_in, k_in = _groups(list(body.inputs), n_carry, n_xs)
    names = {p.attrs["name"] for p in body.inputs}
    float_carries = [k for k, c in enumerate(c_in) if is_float(c.dtype)]
    dot_x = [k for k, t in enumerate(t_xs) if t is not None]
    dot_k = [k for k, t in enumerate(t_consts) if t is not None]

    def dot(p):
        return placeholder(_unique(names, p.attrs["name"] + "_dot"), p.shape, p.dtype)

    c_dot = [dot(c_in[k]) for k in float_carries]
    x_dot = [dot(x_in[k]) for k in dot_x]
    k_dot = [dot(k_in[k]) for k in dot_k]
    seeds = {c_in[k].serial: d for k, d in zip(float_carries, c_dot)}
    seeds.update({x_in[k].serial: d for k, d in zip(dot_x, x_dot)})
    seeds.update({k_in[k].serial: d for k, d in zip(dot_k, k_dot)})
    pushed = push_tangents(body, seeds)
    outs = list(body.outputs)
    n_ys = len(outs) - n_carry
    float_ys = [j for j in range(n_ys) if is_float(outs[n_carry + j].dtype)]

    def tangent_of(node):
        t = pushed.get(node.serial)
        return t if t is not None else gc.zeros_like(node)

    new_outs = (outs[:n_carry] + [tangent_of(outs[k]) for k in float_carries] + outs[n_carry:]
                + [tangent_of(outs[n_carry + j]) for j in float_ys])
    graph = Graph(list(c_in) + c_dot + list(x_in) + x_dot + list(k_in) + k_dot, new_outs,
                  name=f"jvp({body.name or 'body'})")
    init_dot = [t_carries[k] if t_carries[k] is not None else gc.zeros_like(carries[k])
                for k in float_carries]
    loop = scan_node(list(carries) + init_dot + list(xs) + [t_xs[k] for k in dot_x] + list(consts)
                     + [t_consts[k] for k in dot_k], graph, length, n_carry + len(float_carries),
                     len(xs) + len(dot_x), reverse, until, mask)
    results: list = [None] * (n_carry + n_ys)
    for i, k in enumerate(float_carries):
        results[k] = loop[n_carry + i]
    base = n_carry + len(float_carries) + n_ys
    for i, j in enumerate(float_ys):
        results[n_carry + j] = loop[base + i]
    return tuple(results)


defop("scan", _infer_scan, arity=None, category="loop", multiple_results=True,
      vjp_joint=_scan_vjp, jvp_joint=_scan_jvp, impl=_scan_impl, formula=_scan_formula,
      doc="a loop: its body graph run `length` times over carries and per-step inputs", _builtin=True)


# ----------------------------------------------------------------------------------------------
# The builder API


def _leaves(tree, root: str):
    leaves, paths, structure = flatten(tree, root)
    return [as_node(v) for v in leaves], paths, structure


def _check_carry(paths, init: list[Node], new: list, meta) -> None:
    for path, a, b in zip(paths, init, new):
        if not isinstance(b, Node):
            raise GraphTypeError(f"the loop body's {path} must be a graph node, got {type(b).__name__}"
                                 f"{where(meta)}")
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ShapeError(f"the loop body returns {path} as {b.type_string}, but it enters the loop as "
                             f"{a.type_string}: a carry keeps its shape and dtype{where(meta)}")


def _count(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise GraphTypeError(f"{what} must be a non-negative int, got {value!r}")
    return int(value)


def _length(xs_leaves, xs_paths, length, meta) -> int:
    for path, x in zip(xs_paths, xs_leaves):
        if x.ndim == 0:
            raise ShapeError(f"scan: {path} is a 0-d {x.type_string}; per-step inputs have the steps on "
                             f"their leading axis{where(meta)}")
    lengths = {x.shape[0] for x in xs_leaves}
    if length is None:
        if not lengths:
            raise GraphError(f"scan: give length= when there are no per-step inputs xs{where(meta)}")
        if len(lengths) > 1:
            steps = [f"{p}: {x.shape[0]}" for p, x in zip(xs_paths, xs_leaves)]
            raise ShapeError(f"scan: the xs have different numbers of steps {steps}{where(meta)}")
        return lengths.pop()
    length = _count("scan: length", length)
    if lengths - {length}:
        raise ShapeError(f"scan: length={length}, but the xs have {sorted(lengths)} steps{where(meta)}")
    return length


def _loop(body, init, xs, length, reverse, checkpoint, name, until, meta):
    """Trace ``body`` into a graph and build the scan node: (node, final carry tree, ys tree)."""
    init_leaves, init_paths, init_structure = _leaves(init, "carry")
    xs_leaves, xs_paths, xs_structure = _leaves(xs, "x")
    length = _length(xs_leaves, xs_paths, length, meta)
    checkpoint = _count("scan: checkpoint", checkpoint)
    carry_params = [placeholder(p, c.shape, c.dtype) for p, c in zip(init_paths, init_leaves)]
    x_params = [placeholder(p, x.shape[1:], x.dtype) for p, x in zip(xs_paths, xs_leaves)]
    start = next_serial()  # what is made from here on is the body's
    result = body(unflatten(init_structure, carry_params), unflatten(xs_structure, x_params))
    if not isinstance(result, tuple) or len(result) != 2:
        raise GraphTypeError(f"scan: the body must return (carry, y) (y may be None), got "
                             f"{type(result).__name__}{where(meta)}")
    new_carry, ys = result
    new_leaves, _, new_structure = flatten(new_carry, "carry")
    if new_structure != init_structure:
        raise GraphTypeError(f"scan: the body returns a carry of structure {new_structure.describe()}, "
                             f"but the loop starts from {init_structure.describe()}{where(meta)}")
    new_leaves = [v if isinstance(v, Node) else as_node(v) for v in new_leaves]
    _check_carry(init_paths, init_leaves, new_leaves, meta)
    y_leaves = [as_node(v) for v in flatten(ys, "y")[0]]
    y_structure = flatten(ys, "y")[2]
    params = carry_params + x_params
    captured = closed_over(new_leaves + y_leaves, start, params)
    consts = [placeholder(f"const{j}", c.shape, c.dtype) for j, c in enumerate(captured)]
    outs = substitute(new_leaves + y_leaves, {c.serial: k for c, k in zip(captured, consts)})
    graph = Graph(params + consts, outs, name=name or _name_of(body))
    node = scan_node(init_leaves + xs_leaves + captured, graph, length, len(init_leaves), len(xs_leaves),
                     reverse, until=until, checkpoint=checkpoint, name=name)
    n = len(init_leaves)
    final = unflatten(init_structure, [node[i] for i in range(n)])
    return node, final, unflatten(y_structure, [node[n + j] for j in range(len(y_leaves))])


def _name_of(fn) -> str:
    return getattr(fn, "__name__", "body").strip("<>")


def scan(body, init, xs=None, length: int | None = None, reverse: bool = False, checkpoint: int = 0,
         name: str | None = None):
    """``jax.lax.scan``: ``body(carry, x) -> (carry, y)`` run over the steps, a native loop.

    ``init`` and ``xs`` are trees (nodes, tuples, lists, dicts); each leaf of ``xs`` has the steps
    on its leading axis (``length`` of them; give ``length`` when there are no xs). ``body`` is
    called once, on placeholders: it builds the step's graph, and the nodes of the enclosing graph
    it reads become inputs of the loop. Returns ``(final carry, ys)``, ys stacked along a new
    leading axis (``ys[t]`` the step that read ``xs[t]``, also with ``reverse=True``, which runs
    the steps from the last to the first). A carry keeps its shape and dtype, or the body's
    return raises a ShapeError naming the carry entry.

    ``checkpoint=k`` (k > 1): the gradient stores every k-th carry instead of every carry and
    recomputes the steps between, memory for time (k about √length is the usual choice).
    """
    _, final, ys = _loop(body, init, xs, length, reverse, checkpoint, name, -1, current_meta())
    return final, ys


def fori_loop(lower: int, upper: int, body, init, checkpoint: int = 0, name: str | None = None):
    """``jax.lax.fori_loop`` with a static trip count: ``body(i, carry) -> carry`` for i in
    [lower, upper), as a scan over the step index (an int64 node)."""
    for what, v in (("lower", lower), ("upper", upper)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise GraphTypeError(f"fori_loop: {what} must be a static int, got {v!r}")
    steps = gc.constant(np.arange(int(lower), int(upper), dtype=np.int64))
    final, _ = scan(lambda carry, i: (body(i, carry), None), init, xs=steps, checkpoint=checkpoint,
                    name=name or _name_of(body))
    return final


def while_loop(cond, body, init, max_steps: int, name: str | None = None):
    """``jax.lax.while_loop`` with a bound: ``carry = body(carry)`` while ``cond(carry)`` holds, at
    most ``max_steps`` times. Differentiable in reverse and forward mode: after the loop ends
    the steps are the identity, and the backends skip them, forward and reverse."""
    max_steps = _count("while_loop: max_steps", max_steps)
    meta = current_meta()

    def step(carry, _):
        go = as_node(cond(carry))
        if go.shape != () or go.dtype != np.dtype(bool):
            raise ShapeError(f"while_loop: cond must give a 0-d bool, got {go.type_string}{where(meta)}")
        old, _, structure = flatten(carry, "carry")
        new, _, new_structure = flatten(body(carry), "carry")
        if new_structure != structure:
            raise GraphTypeError(f"while_loop: the body returns a carry of structure "
                                 f"{new_structure.describe()}, but the loop starts from "
                                 f"{structure.describe()}{where(meta)}")
        kept = []
        for n, o in zip((as_node(v) for v in new), old):
            same = n.shape == o.shape and n.dtype == o.dtype
            kept.append(gc.where(go, n, o) if same else n)  # a mismatch is reported by the loop
        return unflatten(structure, kept), go

    _, final, _ = _loop(step, init, None, max_steps, False, 0, name or _name_of(body), 0, meta)
    return final
