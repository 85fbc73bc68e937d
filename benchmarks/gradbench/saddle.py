"""GradBench's ``saddle`` (evals/saddle/README.md): min over p1 of max over p2 of
f(p1, p2) = (p1₀² + p1₁²) − (p2₀² + p2₁²), both by gd.hpp's gradient descent (``descent``)
from the given start.

The inner maximum is a ``while_loop`` whose body calls the gradient graph of f in p2; the outer
descent's body calls the derivative graph of that maximum (in p1), so the outer derivative
differentiates through the inner descent: AD of a loop that itself holds AD. Then the argmax in
p2 at the minimiser p1, not nested, with the outer mode (the README: "the argmax of step 2 must
use the same mode of AD as the argmin of step 1").

The four functions pick the mode of each derivative, outer then inner: ``r`` is ``gc.grad``
(reverse), ``f`` is ``gc.jvp`` (forward: a gradient is one JVP per coordinate). The whole
computation is one compiled kernel from the start to the four numbers [p1, p2]."""

from __future__ import annotations

import graphc as gc

from . import descent
from .runs import Prepared, compiled

# gd.hpp's descent on this f stops after 155 to 170 steps from any start of size 1e-3 to 1e6 (eta
# doubles every ten steps). The bound is not looser because a reverse-mode derivative of a
# while_loop costs O(max_steps) per call in graphc (its residuals are zero-filled and its reverse
# loop visits every step), and here that derivative runs in each step of the outer descent.
DESCENT_STEPS = 400
OUTPUTS = ("x1", "y1", "x2", "y2")  # the eval's output: p1 then p2


def objective() -> gc.Graph:
    """f(p1, p2), p1 = (x1, y1) and p2 = (x2, y2) as in the suite's saddle.hpp."""
    x1, y1, x2, y2 = (gc.placeholder(n) for n in ("x1", "y1", "x2", "y2"))
    return gc.Graph([x1, y1, x2, y2], {"f": (x1 * x1 + y1 * y1) - (x2 * x2 + y2 * y2)}, name="saddle_f")


def value_and_gradient(graph: gc.Graph, wrt: tuple[str, str], output: str, mode: str):
    """(inputs by name) -> (the output, its gradient in the two ``wrt`` inputs), by ``gc.grad``
    (``mode`` "r") or by one ``gc.jvp`` per coordinate ("f")."""
    if mode == "r":
        reverse = gc.grad(graph, list(wrt), output=output)

        def evaluate(**inputs):
            out = reverse(**inputs)
            return out[output], tuple(out[f"grad_{w}"] for w in wrt)
    else:
        forward = gc.jvp(graph, list(wrt))
        tangents = [f"{w}_dot" for w in wrt]

        def evaluate(**inputs):
            along = [forward(**inputs, **{t: float(t == seed) for t in tangents}) for seed in tangents]
            return along[0][output], tuple(out[f"{output}_dot"] for out in along)
    return evaluate


def best_response(inner: str) -> gc.Graph:
    """max over p2 of f(p1, ·), by the descent from the start (s1, s2), f's gradient in p2 taken
    in mode ``inner``: inputs x1, y1, s1, s2, output ``max``."""
    x1, y1, s1, s2 = (gc.placeholder(n) for n in ("x1", "y1", "s1", "s2"))
    f = value_and_gradient(objective(), ("x2", "y2"), "f", inner)
    x2, y2 = descent.argmax(lambda p2: f(x1=x1, y1=y1, x2=p2[0], y2=p2[1]), (s1, s2), DESCENT_STEPS,
                            name="argmax")
    value = f(x1=x1, y1=y1, x2=x2, y2=y2)[0]
    return gc.Graph([x1, y1, s1, s2], {"max": value}, name=f"best_response_{inner}")


def saddle(outer: str, inner: str) -> gc.Graph:
    """Start (s1, s2) -> the saddle point's p1 (``x1``, ``y1``) and p2 (``x2``, ``y2``)."""
    s1, s2 = gc.placeholder("s1"), gc.placeholder("s2")
    worst = value_and_gradient(best_response(inner), ("x1", "y1"), "max", outer)
    x1, y1 = descent.argmin(lambda p1: worst(x1=p1[0], y1=p1[1], s1=s1, s2=s2), (s1, s2), DESCENT_STEPS,
                            name="argmin")
    f = value_and_gradient(objective(), ("x2", "y2"), "f", outer)
    x2, y2 = descent.argmax(lambda p2: f(x1=x1, y1=y1, x2=p2[0], y2=p2[1]), (s1, s2), DESCENT_STEPS,
                            name="argmax")
    return gc.Graph([s1, s2], dict(zip(OUTPUTS, (x1, y1, x2, y2))), name=f"saddle_{outer}{inner}")


def _function(outer: str, inner: str):
    def prepare(message: dict) -> Prepared:
        fn, ns = compiled(("saddle", outer + inner), lambda: saddle(outer, inner))
        s1, s2 = (float(s) for s in message["start"])
        return Prepared(lambda: fn(s1=s1, s2=s2), lambda out: [float(out[k]) for k in OUTPUTS], ns)

    prepare.__name__ = outer + inner
    return prepare


FUNCTIONS = {name: _function(name[0], name[1]) for name in ("rr", "ff", "fr", "rf")}
