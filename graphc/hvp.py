"""Second order: Hessian-vector products, full Hessians and Jacobians, Taylor approximations.

All of them are passes built from the two first-order passes (``grad`` and ``jvp``) and graph
substitution (``inline``); none of them ever builds the Hessian of a large problem implicitly.
"""

from __future__ import annotations

import numpy as np

from . import builder as gc
from .adjoint import extend_outputs, grad, resolve_wrt, vjp
from .context import provenance
from .dtypes import is_float
from .errors import GraphError, GraphTypeError
from .forward import jvp
from .ir import Graph, Node, require_graph
from .transform import inline

HVP_MODES = ("fwd-rev", "rev-rev")


def _single_wrt(graph: Graph, wrt) -> Node:
    nodes = resolve_wrt(graph, wrt)
    if len(nodes) != 1:
        raise GraphError(f"this pass differentiates with respect to one input, got {len(nodes)}")
    return nodes[0]


def _float_wrt(graph: Graph, wrt, what: str) -> list[Node]:
    nodes = resolve_wrt(graph, wrt)
    for w in nodes:
        if not is_float(w.dtype):
            raise GraphError(f"{what} needs float inputs, but {w.attrs['name']!r} is {w.type_string}")
    return nodes


def _direction_names(graph: Graph, nodes: list[Node], direction) -> list[str]:
    """One direction input name per wrt input: ``direction`` itself for one input (default
    "direction"), ``direction_<w>`` for several; or the names a list or a dict {wrt: name} gives."""
    names = [w.attrs["name"] for w in nodes]
    if direction is None:
        direction = "direction" if len(nodes) == 1 else [f"direction_{n}" for n in names]
    if isinstance(direction, str):
        if len(nodes) != 1:
            raise GraphTypeError(f"hvp with respect to {names} needs one direction name per input "
                                 f"(a list or a dict), got {direction!r}")
        direction = [direction]
    elif isinstance(direction, dict):
        missing = [n for n in names if n not in direction]
        if missing or len(direction) != len(names):
            raise GraphTypeError(f"direction must name one input per wrt input {names}, got {direction!r}")
        direction = [direction[n] for n in names]
    if not isinstance(direction, (list, tuple)) or len(direction) != len(nodes) \
            or not all(isinstance(d, str) for d in direction):
        raise GraphTypeError(f"direction must name one input per wrt input {names}, got {direction!r}")
    for d in direction:
        if d in graph.input_names:
            raise GraphError(f"direction input name {d!r} is already an input; pass direction=")
    if len(set(direction)) != len(direction):
        raise GraphError(f"direction names must differ, got {list(direction)}")
    return list(direction)


def hvp(graph: Graph, wrt=None, output=0, direction=None, mode: str = "fwd-rev") -> Graph:
    """H v: the Hessian of a scalar output with respect to ``wrt``, times a direction.

    ``wrt`` is one input or several (a list of names or placeholders, as for ``grad``; None: every
    float input). The result has the original inputs plus one direction input per ``wrt`` input
    (same shape and dtype), and one output per ``wrt`` input: the block of H v that belongs to it.

    * Names: one input ``w`` gives the input ``direction`` and the output ``hvp_w``; several give
      the inputs ``direction_<w>`` and the outputs ``hvp_<w>``, in ``wrt``'s order, so for
      ``wrt=["W1", "b1"]`` ``hvp_W1 = H₁₁ v_W1 + H₁₂ v_b1``. ``direction=`` renames the inputs
      (a name for one input; a list, or a dict {wrt name: direction name}, for several).

    Two constructions, which agree:

    * ``"rev-rev"`` — the notes' way: the gradient of <∇f, v>, reverse mode over reverse mode;
    * ``"fwd-rev"`` (the default) — the JVP of the gradient graph in direction v.

    fwd-rev is the default because it is the faster of the two where speed matters, on the MLP
    loss of ``benchmarks/hvp_cost.py`` (1.78x the forward time against 2.06x, numpy backend,
    quiet machine), and it is the construction whose cost does not grow with a second reverse
    sweep over the whole forward-plus-adjoint graph. On the notes' small examples the two are
    within 20% and rev-rev is a few percent ahead (1.6-3.1x forward against 1.65-3.1x) although its
    optimized graphs are as large or larger (24 nodes against 22 for ln(xᵀAx), 28 against 24 for
    ||AX - B||_F): at sub-millisecond sizes per-call overhead and noise decide. Both are exact;
    pick with ``mode=``.
    """
    require_graph(graph, "hvp")
    if mode not in HVP_MODES:
        raise GraphError(f"unknown hvp mode {mode!r}; choose one of {HVP_MODES}")
    nodes = _float_wrt(graph, wrt, "hvp")
    names = [w.attrs["name"] for w in nodes]
    directions = _direction_names(graph, nodes, direction)
    scalar = Graph(graph.inputs, [graph.outputs[graph.output_index(output)]])
    grad_nodes = grad(scalar, nodes).outputs[1:]
    if mode == "fwd-rev":
        of_grad = Graph(graph.inputs, list(grad_nodes), name=f"grad({graph.name or 'f'})")
        tangent = jvp(of_grad, nodes, tangents=directions)
        vs = tangent.inputs[len(graph.inputs):]
        results = tangent.outputs[len(grad_nodes):]
    else:
        vs = []
        for w, d in zip(nodes, directions):
            with provenance(pass_name="hvp", role="tangent", rule="direction input", derived_from=(w,),
                            location=w.meta.location):
                v = gc.placeholder(d, w.shape, w.dtype)
            v._annotate(tangent_of=w)
            vs.append(v)
        with provenance(pass_name="hvp", role="tangent", rule="<grad f, v>", derived_from=tuple(grad_nodes),
                        location=grad_nodes[0].meta.location):
            inner = gc.vdot(grad_nodes[0], vs[0])
            for g, v in zip(grad_nodes[1:], vs[1:]):
                inner = inner + gc.vdot(g, v)
        second = grad(Graph(list(graph.inputs) + vs, [inner]), names)
        results = second.outputs[1:]
    return Graph(list(graph.inputs) + list(vs), {f"hvp_{n}": r for n, r in zip(names, results)},
                 name=f"hvp[{mode}]({graph.name or 'f'})")


def _basis(shape: tuple[int, ...], dtype) -> list[Node]:
    size = int(np.prod(shape, dtype=np.int64))
    eye = np.eye(size, dtype=dtype)
    return [gc.constant(eye[i].reshape(shape)) for i in range(size)]


LOOP_MIN = 16  # basis directions from which jacobian builds one loop over them, not one copy each


def _basis_stack(shape: tuple[int, ...], dtype) -> Node:
    """Every basis direction of ``shape``, stacked along a new leading axis: a loop's xs."""
    size = int(np.prod(shape, dtype=np.int64))
    return gc.constant(np.eye(size, dtype=dtype).reshape((size,) + tuple(shape)))


def _stack_rows(rows: list[Node], shape: tuple[int, ...]) -> Node:
    return gc.reshape(gc.stack(rows), shape)


def _zeros_for(w: Node) -> Node:
    return gc.constant(np.zeros(w.shape, dtype=w.dtype))


def hessian(graph: Graph, wrt=None, output=0, mode: str = "fwd-rev") -> Graph:
    """The full Hessian as one H e_i per basis direction: for small problems and teaching.

    Outputs: the original outputs followed by, for one ``wrt`` input ``w``, ``hessian_<w>`` (shape
    ``w.shape * 2``); for several, one block per pair in ``wrt``'s order, ``hessian_<a>_<b>`` =
    ∂²f/∂a∂b of shape ``a.shape + b.shape`` (JAX's ``hessian`` of a tuple of arguments gives the
    same blocks nested)."""
    nodes = _float_wrt(require_graph(graph, "hessian"), wrt, "hessian")
    names = [w.attrs["name"] for w in nodes]
    directions = [f"__basis_{i}__" for i in range(len(nodes))]
    h = hvp(graph, nodes, output, direction=directions, mode=mode)
    blocks = []
    for j, wj in enumerate(nodes):
        zeros = {d: _zeros_for(w) for d, w in zip(directions, nodes) if d != directions[j]}
        columns = [inline(h, {**zeros, directions[j]: e}) for e in _basis(wj.shape, wj.dtype)]
        for i, wi in enumerate(nodes):  # row b of (∂²f/∂wj∂wi) is H e_b's block i: H is symmetric
            label = f"hessian_{names[0]}" if len(nodes) == 1 else f"hessian_{names[j]}_{names[i]}"
            with provenance(pass_name="hessian", rule="stack H e_i", location=wj.meta.location):
                blocks.append((j, i, label, _stack_rows([c[i] for c in columns], wj.shape + wi.shape)))
    blocks.sort(key=lambda b: (b[0], b[1]))
    return extend_outputs(graph, [(label, full) for _, _, label, full in blocks],
                          name=f"hessian({graph.name or 'f'})")


def jacobian(graph: Graph, wrt=None, output=0, mode: str | None = None) -> Graph:
    """The Jacobian d output / d wrt, shape ``output.shape + wrt.shape`` (row i is ∇ output_i).

    Like JAX's jacfwd/jacrev the construction is chosen by shape: one VJP per output element when
    the output is smaller than the inputs (``mode="rev"``), else one JVP per input element
    (``mode="fwd"``). From ``LOOP_MIN`` directions on, the VJPs (or JVPs) are one ``scan`` over
    the basis directions, whose body is the VJP (JVP) graph once: the graph, and a backend's
    compile time, stay the size of one of them (28 unrolled JVPs of GradBench's hand model took
    numba minutes and 23 GB), and the loops pass hoists the primal computations out of the loop.
    Outputs: the original outputs followed by ``jacobian_<w>`` for each ``wrt`` input ``w`` (one
    or several, as for ``grad``).
    """
    from .loops import scan

    nodes = _float_wrt(require_graph(graph, "jacobian"), wrt, "jacobian")
    index = graph.output_index(output)
    out = graph.outputs[index]
    if not is_float(out.dtype):
        raise GraphError(f"jacobian needs a float output, got {out.type_string}")
    if mode is None:
        mode = "rev" if out.size <= sum(w.size for w in nodes) else "fwd"
    if mode not in ("fwd", "rev"):
        raise GraphError(f"unknown jacobian mode {mode!r}; choose 'fwd' or 'rev'")
    blocks = []
    if mode == "rev":
        single = Graph(graph.inputs, [out])
        pulled = vjp(single, nodes, 0, cotangent="__basis__")
        if out.size >= LOOP_MIN:
            with provenance(pass_name="jacobian", rule="a loop of rows eᵢᵀJ", location=out.meta.location):
                _, rows = scan(lambda carry, e: (carry, tuple(inline(pulled, {"__basis__": e})[1:])), (),
                               xs=_basis_stack(out.shape, out.dtype))
                blocks = [gc.reshape(r, out.shape + w.shape) for r, w in zip(rows, nodes)]
        else:
            rows = [inline(pulled, {"__basis__": e})[1:] for e in _basis(out.shape, out.dtype)]
            for i, w in enumerate(nodes):
                with provenance(pass_name="jacobian", rule="stack rows eᵢᵀJ", location=out.meta.location):
                    blocks.append(_stack_rows([r[i] for r in rows], out.shape + w.shape))
    else:
        seeds = [f"__basis_{i}__" for i in range(len(nodes))]
        pushed = jvp(Graph(graph.inputs, [out]), nodes, tangents=seeds)
        for i, w in enumerate(nodes):
            zeros = {d: _zeros_for(v) for d, v in zip(seeds, nodes) if d != seeds[i]}
            if w.size >= LOOP_MIN:
                rule = "a loop of columns J eⱼ"
                with provenance(pass_name="jacobian", rule=rule, location=out.meta.location):
                    def column(carry, e, zeros=zeros, seed=seeds[i]):
                        return carry, inline(pushed, {**zeros, seed: e})[-1]

                    _, columns = scan(column, (), xs=_basis_stack(w.shape, w.dtype))  # (n,) + out.shape
                    last = gc.transpose(columns, tuple(range(1, columns.ndim)) + (0,))
                    blocks.append(gc.reshape(last, out.shape + w.shape))
                continue
            columns = [inline(pushed, {**zeros, seeds[i]: e})[-1] for e in _basis(w.shape, w.dtype)]
            with provenance(pass_name="jacobian", rule="stack columns J eⱼ", location=out.meta.location):
                stacked = gc.stack(columns, axis=-1) if out.ndim else gc.stack(columns)
                blocks.append(gc.reshape(stacked, out.shape + w.shape))
    return extend_outputs(graph, [(f"jacobian_{w.attrs['name']}", b) for w, b in zip(nodes, blocks)],
                          name=f"jacobian({graph.name or 'f'})")


def taylor(graph: Graph, wrt=None, order: int = 1, output=0, expansion_point=None) -> Graph:
    """The first- or second-order Taylor approximation of a scalar output, as a graph.

    With ``wrt = "x"`` the result has the original inputs, where ``x`` is now the point at which
    the approximation is evaluated, plus the expansion point ``x0`` (``expansion_point`` names it):

        f_x0^I(x)  = f(x0) + ∇f(x0)ᵀ(x - x0)
        f_x0^II(x) = f_x0^I(x) + ½ (x - x0)ᵀ ∇²f(x0) (x - x0)

    Several ``wrt`` inputs expand in all of them at once: one expansion point ``<w>0`` per input
    (``expansion_point``: a list of names, or a dict {wrt name: name}), the steps of all of them in
    the gradient term and in one Hessian-vector product. The output is ``taylor1`` or ``taylor2``.
    The Hessian is never formed: the quadratic term uses one Hessian-vector product.
    """
    if order not in (1, 2):
        raise GraphError(f"taylor order must be 1 or 2, got {order!r}")
    nodes = _float_wrt(require_graph(graph, "taylor"), wrt, "taylor")
    names = [w.attrs["name"] for w in nodes]
    if expansion_point is None:
        points = [f"{n}0" for n in names]
    elif isinstance(expansion_point, str) and len(nodes) == 1:
        points = [expansion_point]
    elif isinstance(expansion_point, dict) and sorted(expansion_point) == sorted(names):
        points = [expansion_point[n] for n in names]
    elif isinstance(expansion_point, (list, tuple)) and len(expansion_point) == len(nodes):
        points = list(expansion_point)
    else:
        raise GraphTypeError(f"expansion_point must name one input per wrt input {names}, "
                             f"got {expansion_point!r}")
    for name0 in points:
        if name0 in graph.input_names:
            raise GraphError(f"expansion point name {name0!r} is already an input; pass expansion_point=")
    index = graph.output_index(output)
    gradient = grad(Graph(graph.inputs, [graph.outputs[index]]), nodes)
    x0s, steps = [], []
    for w, name, name0 in zip(nodes, names, points):
        with provenance(pass_name="taylor", rule="expansion point", derived_from=(w,),
                        location=w.meta.location):
            x0s.append(gc.placeholder(name0, w.shape, w.dtype))
        with provenance(pass_name="taylor", rule=f"taylor order {order}", location=w.meta.location):
            steps.append(gc.subtract(w, x0s[-1], name=f"{name} - {name0}"))
    at_x0 = dict(zip(names, x0s))
    with provenance(pass_name="taylor", rule=f"taylor order {order}", location=nodes[0].meta.location):
        f0, *g0 = inline(gradient, at_x0)
        approx = f0
        for g, step in zip(g0, steps):
            approx = approx + gc.vdot(g, step)
        if order == 2:
            directions = [f"__step_{i}__" for i in range(len(nodes))]
            h = hvp(graph, nodes, output, direction=directions)
            h_steps = inline(h, {**at_x0, **dict(zip(directions, steps))})
            curvature = gc.vdot(steps[0], h_steps[0])
            for step, h_step in zip(steps[1:], h_steps[1:]):
                curvature = curvature + gc.vdot(step, h_step)
            approx = approx + 0.5 * curvature
    return Graph(list(graph.inputs) + x0s, {f"taylor{order}": approx},
                 name=f"taylor{order}({graph.name or 'f'})")
