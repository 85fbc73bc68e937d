"""GradBench's ``lse``: LSE(x) = a + log Σ exp(xᵢ - a) with a = max x, built from its primitives
(a max, an exp, a sum) as the spec asks, and its gradient derived by ``gc.grad``.

The shift a is wrapped in ``gc.stop_gradient``: LSE does not depend on it (∂LSE/∂a = 1 - Σ softmax
= 0 exactly), so its adjoint is a sum of rounding errors; without the wrapper the gradient graph
spends two more passes over x on the max's tie mask to add that zero (JAX's ``logsumexp`` shifts
the same way). The derivative itself is still graphc's adjoint of the graph."""

from __future__ import annotations

import numpy as np

import graphc as gc

from .runs import Prepared, compiled


def _lse(n: int) -> gc.Graph:
    x = gc.placeholder("x", (n,))
    shift = gc.stop_gradient(gc.max(x))
    return gc.Graph([x], {"lse": shift + gc.log(gc.sum(gc.exp(x - shift)))})


def primal(message: dict) -> Prepared:
    x = np.asarray(message["x"], dtype=np.float64)
    fn, ns = compiled(("lse", "primal", x.size), lambda: _lse(x.size))
    return Prepared(lambda: fn(x=x)["lse"], float, ns)


def gradient(message: dict) -> Prepared:
    x = np.asarray(message["x"], dtype=np.float64)
    fn, ns = compiled(("lse", "gradient", x.size), lambda: gc.grad(_lse(x.size), "x", output="lse"))
    return Prepared(lambda: fn(x=x)["grad_x"], lambda g: g.tolist(), ns)


FUNCTIONS = {"primal": primal, "gradient": gradient}
