"""GradBench's ``particle`` (evals/particle/README.md): the control w for which a charged particle,
pushed by the field of charges at (10, 10 − w) and (10, 0), crosses the x axis at the origin.

The particle's path is naive Euler integration (Δt = 0.1 from x = (0, 8), ẋ = (0.75, 0)), its
acceleration −∇ₓp(x; w) for the potential p(x; w) = Σ 1/|x − charge|: a ``while_loop`` that steps
while the next position stays above the axis, its body calling the gradient graph of p. The
crossing point is the linear interpolation along the last velocity, and the loss its x², so
``loss(w)`` holds a derivative. The argmin over w is gd.hpp's gradient descent (``descent``) on
``loss``, its body calling the derivative graph of ``loss``: AD of a loop that itself holds AD.

The four functions pick the mode of each derivative, outer (the argmin's) then inner (the
field's): ``r`` is ``gc.grad`` (reverse), ``f`` is ``gc.jvp`` (forward: ∂loss/∂w is one JVP with
tangent 1, ∇ₓp one JVP per coordinate). The whole descent is one compiled kernel; its input is
the starting w, its output the final w."""

from __future__ import annotations

import graphc as gc

from . import descent
from .runs import Prepared, compiled

DT = 0.1
START = (0.0, 8.0)
VELOCITY = (0.75, 0.0)
EULER_STEPS = 2000  # w near 0.2 crosses after ~350 steps, w = 1 after 1143; some w never cross
DESCENT_STEPS = 1000  # the descent from w = 0 stops after about 90 steps


def potential() -> gc.Graph:
    """p(x; w) = 1/|x − (10, 10 − w)| + 1/|x − (10, 0)|, a point as its two coordinates."""
    px, py, w = gc.placeholder("px"), gc.placeholder("py"), gc.placeholder("w")
    charges = ((10.0, 10.0 - w), (10.0, 0.0))
    p = sum(1.0 / gc.sqrt((cx - px) * (cx - px) + (cy - py) * (cy - py)) for cx, cy in charges)
    return gc.Graph([px, py, w], {"p": p}, name="potential")


def field_gradient(mode: str):
    """(px, py, w) -> ∇ₓp at that point, by the pass ``mode`` names."""
    if mode == "r":
        reverse = gc.grad(potential(), ["px", "py"], output="p")

        def gradient(px, py, w):
            out = reverse(px, py, w)
            return out["grad_px"], out["grad_py"]
    else:
        forward = gc.jvp(potential(), ["px", "py"])

        def gradient(px, py, w):
            return (forward(px, py, w, 1.0, 0.0)["p_dot"], forward(px, py, w, 0.0, 1.0)["p_dot"])
    return gradient


def loss(inner: str) -> gc.Graph:
    """x₀(t_f)² for the control w, the field's gradient taken in mode ``inner``."""
    w = gc.placeholder("w")
    gradient = field_gradient(inner)

    def above_axis_next(state):
        (_, py), (_, vy) = state
        return py + DT * vy > 0.0

    def euler(state):
        (px, py), (vx, vy) = state
        gx, gy = gradient(px, py, w)
        return (px + DT * vx, py + DT * vy), (vx - DT * gx, vy - DT * gy)

    start = (tuple(gc.constant(c) for c in START), tuple(gc.constant(v) for v in VELOCITY))
    (px, py), (vx, vy) = gc.while_loop(above_axis_next, euler, start, max_steps=EULER_STEPS, name="euler")
    to_axis = -py / vy
    crossing = px + to_axis * vx
    return gc.Graph([w], {"loss": crossing * crossing}, name=f"particle_loss_{inner}")


def control(outer: str, inner: str) -> gc.Graph:
    """The argmin's graph: start w0 -> the final w, ∂loss/∂w taken in mode ``outer``."""
    if outer == "r":
        derivative = gc.grad(loss(inner), "w", output="loss")

        def value_and_grad(point):
            out = derivative(point[0])
            return out["loss"], (out["grad_w"],)
    else:
        derivative = gc.jvp(loss(inner), "w")

        def value_and_grad(point):
            out = derivative(point[0], 1.0)
            return out["loss"], (out["loss_dot"],)
    w0 = gc.placeholder("w0")
    (w,) = descent.argmin(value_and_grad, (w0,), DESCENT_STEPS, name="descent")
    return gc.Graph([w0], {"w": w}, name=f"particle_{outer}{inner}")


def _function(outer: str, inner: str):
    def prepare(message: dict) -> Prepared:
        fn, ns = compiled(("particle", outer + inner), lambda: control(outer, inner))
        w0 = float(message["w"])
        return Prepared(lambda: fn(w0=w0)["w"], float, ns)

    prepare.__name__ = outer + inner
    return prepare


FUNCTIONS = {name: _function(name[0], name[1]) for name in ("rr", "ff", "fr", "rf")}
