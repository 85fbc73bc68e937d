"""Second order: Hessian-vector products, full Hessians and Jacobians, Taylor approximations.

All of them are passes built from the two first-order passes (``grad`` and ``jvp``) and graph
substitution (``inline``); none of them ever builds the Hessian of a large problem implicitly.
"""

from __future__ import annotations

import numpy as np

from . import builder as gc
from .adjoint import extend_outputs, grad, resolve_wrt, vjp
from .context import provenance
from .errors import GraphError, GraphTypeError
from .forward import jvp
from .ir import Graph, Node
from .transform import inline

HVP_MODES = ("fwd-rev", "rev-rev")


def _single_wrt(graph: Graph, wrt) -> Node:
    nodes = resolve_wrt(graph, wrt)
    if len(nodes) != 1:
        raise GraphError(f"this pass differentiates with respect to one input, got {len(nodes)}")
    return nodes[0]


def hvp(graph: Graph, wrt=None, output=0, direction: str = "direction", mode: str = "fwd-rev") -> Graph:
    """H v: the Hessian of a scalar output with respect to ``wrt``, times a direction.

    The result has the original inputs plus ``direction`` (same shape and dtype as ``wrt``) and
    the single output H v. Two constructions, which agree:

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
    if not isinstance(graph, Graph):
        raise GraphTypeError(f"hvp takes a Graph, got {type(graph).__name__}")
    if mode not in HVP_MODES:
        raise GraphError(f"unknown hvp mode {mode!r}; choose one of {HVP_MODES}")
    w = _single_wrt(graph, wrt)
    wname = w.attrs["name"]
    if direction in graph.input_names:
        raise GraphError(f"direction input name {direction!r} is already an input; pass direction=")
    scalar = Graph(graph.inputs, [graph.outputs[graph.output_index(output)]])
    grad_node = grad(scalar, [w]).outputs[-1]
    if mode == "fwd-rev":
        of_grad = Graph(graph.inputs, [grad_node], name=f"grad({graph.name or 'f'})")
        tangent = jvp(of_grad, [w], tangents=[direction])
        v = tangent.inputs[-1]
        result = tangent.outputs[-1]
    else:
        with provenance(pass_name="hvp", role="tangent", rule="direction input", derived_from=(w,),
                        location=w.meta.location):
            v = gc.placeholder(direction, w.shape, w.dtype)
        v._annotate(tangent_of=w)
        with provenance(pass_name="hvp", role="tangent", rule="<grad f, v>", derived_from=(grad_node,),
                        location=grad_node.meta.location):
            inner = gc.vdot(grad_node, v)
        second = grad(Graph(list(graph.inputs) + [v], [inner]), [wname])
        result = second.outputs[-1]
    return Graph(list(graph.inputs) + [v], {f"hvp_{wname}": result},
                 name=f"hvp[{mode}]({graph.name or 'f'})")


def _basis(shape: tuple[int, ...], dtype) -> list[Node]:
    size = int(np.prod(shape, dtype=np.int64))
    eye = np.eye(size, dtype=dtype)
    return [gc.constant(eye[i].reshape(shape)) for i in range(size)]


def _stack_rows(rows: list[Node], shape: tuple[int, ...]) -> Node:
    return gc.reshape(gc.stack(rows), shape)


def hessian(graph: Graph, wrt=None, output=0, mode: str = "fwd-rev") -> Graph:
    """The full Hessian (shape wrt.shape * 2) as one H e_i per basis direction: for small problems
    and teaching. Outputs: the original outputs followed by ``hessian_<wrt>``."""
    w = _single_wrt(graph, wrt)
    h = hvp(graph, [w], output, direction="__basis__", mode=mode)
    columns = [inline(h, {"__basis__": e})[0] for e in _basis(w.shape, w.dtype)]
    with provenance(pass_name="hessian", rule="stack H e_i", location=w.meta.location):
        full = _stack_rows(columns, w.shape + w.shape)  # H is symmetric: rows == columns
    return extend_outputs(graph, [(f"hessian_{w.attrs['name']}", full)],
                          name=f"hessian({graph.name or 'f'})")


def jacobian(graph: Graph, wrt=None, output=0, mode: str | None = None) -> Graph:
    """The Jacobian d output / d wrt, shape ``output.shape + wrt.shape`` (row i is ∇ output_i).

    Like JAX's jacfwd/jacrev the construction is chosen by shape: one VJP per output element when
    the output is smaller than the input (``mode="rev"``), else one JVP per input element
    (``mode="fwd"``). Outputs: the original outputs followed by ``jacobian_<wrt>``.
    """
    w = _single_wrt(graph, wrt)
    index = graph.output_index(output)
    out = graph.outputs[index]
    if mode is None:
        mode = "rev" if out.size <= w.size else "fwd"
    if mode not in ("fwd", "rev"):
        raise GraphError(f"unknown jacobian mode {mode!r}; choose 'fwd' or 'rev'")
    if mode == "rev":
        single = Graph(graph.inputs, [out])
        pulled = vjp(single, [w], 0, cotangent="__basis__")
        rows = [inline(pulled, {"__basis__": e})[-1] for e in _basis(out.shape, out.dtype)]
        with provenance(pass_name="jacobian", rule="stack rows eᵢᵀJ", location=out.meta.location):
            full = _stack_rows(rows, out.shape + w.shape)
    else:
        pushed = jvp(Graph(graph.inputs, [out]), [w], tangents=["__basis__"])
        columns = [inline(pushed, {"__basis__": e})[-1] for e in _basis(w.shape, w.dtype)]
        with provenance(pass_name="jacobian", rule="stack columns J eⱼ", location=out.meta.location):
            stacked = gc.stack(columns, axis=-1) if out.ndim else gc.stack(columns)
            full = gc.reshape(stacked, out.shape + w.shape)
    return extend_outputs(graph, [(f"jacobian_{w.attrs['name']}", full)],
                          name=f"jacobian({graph.name or 'f'})")


def taylor(graph: Graph, wrt=None, order: int = 1, output=0, expansion_point: str | None = None) -> Graph:
    """The first- or second-order Taylor approximation of a scalar output, as a graph.

    With ``wrt = "x"`` the result has the original inputs, where ``x`` is now the point at which
    the approximation is evaluated, plus the expansion point ``x0`` (``expansion_point`` names it):

        f_x0^I(x)  = f(x0) + ∇f(x0)ᵀ(x - x0)
        f_x0^II(x) = f_x0^I(x) + ½ (x - x0)ᵀ ∇²f(x0) (x - x0)

    The Hessian is never formed: the quadratic term uses one Hessian-vector product.
    """
    if order not in (1, 2):
        raise GraphError(f"taylor order must be 1 or 2, got {order!r}")
    w = _single_wrt(graph, wrt)
    wname = w.attrs["name"]
    name0 = expansion_point or f"{wname}0"
    if name0 in graph.input_names:
        raise GraphError(f"expansion point name {name0!r} is already an input; pass expansion_point=")
    index = graph.output_index(output)
    gradient = grad(Graph(graph.inputs, [graph.outputs[index]]), [w])
    with provenance(pass_name="taylor", rule="expansion point", derived_from=(w,),
                    location=w.meta.location):
        x0 = gc.placeholder(name0, w.shape, w.dtype)
    with provenance(pass_name="taylor", rule=f"taylor order {order}", location=w.meta.location):
        step = gc.subtract(w, x0, name=f"{wname} - {name0}")
        f0, g0 = inline(gradient, {wname: x0})
        approx = f0 + gc.vdot(g0, step)
        if order == 2:
            h = hvp(graph, [w], output, direction="__step__")
            (h_step,) = inline(h, {wname: x0, "__step__": step})
            approx = approx + 0.5 * gc.vdot(step, h_step)
    return Graph(list(graph.inputs) + [x0], {f"taylor{order}": approx},
                 name=f"taylor{order}({graph.name or 'f'})")
