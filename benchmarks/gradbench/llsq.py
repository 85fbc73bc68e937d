"""GradBench's ``llsq``: y(x) = ½ Σᵢ (sᵢ - Σⱼ xⱼ tᵢʲ)² with tᵢ = -1 + 2i/(n-1) and sᵢ = sign(tᵢ),
and its gradient derived by ``gc.grad``.

The polynomial Σⱼ xⱼ tᵢʲ is evaluated for all n points at once by Horner's rule, a ``gc.scan``
over the m coefficients from the last (p ← p·t + xⱼ) carrying the n-vector p: no n×m matrix of
powers is formed, each step is one fused pass over n values, and the gradient is the scan's
reverse loop (x̄ⱼ = Σᵢ p̄ᵢ, p̄ ← p̄·t). The points t and signs s depend on n only, so they are
constants of the graph compiled for that n."""

from __future__ import annotations

import numpy as np

import graphc as gc

from .runs import Prepared, compiled


def _llsq(n: int, m: int) -> gc.Graph:
    t_values = -1.0 + np.arange(n) * 2.0 / (n - 1)
    t = gc.constant(t_values, name="t")
    s = gc.constant(np.sign(t_values), name="s")
    x = gc.placeholder("x", (m,))

    def horner(poly, coefficient):
        return poly * t + coefficient, None

    poly, _ = gc.scan(horner, gc.zeros_like(t), xs=x, reverse=True)
    residual = s - poly
    return gc.Graph([x], {"y": 0.5 * gc.sum(residual * residual)})


def _workload(message: dict) -> tuple[np.ndarray, int]:
    return np.asarray(message["x"], dtype=np.float64), int(message["n"])


def primal(message: dict) -> Prepared:
    x, n = _workload(message)
    fn, ns = compiled(("llsq", "primal", n, x.size), lambda: _llsq(n, x.size))
    return Prepared(lambda: fn(x=x)["y"], float, ns)


def gradient(message: dict) -> Prepared:
    x, n = _workload(message)
    fn, ns = compiled(("llsq", "gradient", n, x.size), lambda: gc.grad(_llsq(n, x.size), "x", output="y"))
    return Prepared(lambda: fn(x=x)["grad_x"], lambda g: g.tolist(), ns)


FUNCTIONS = {"primal": primal, "gradient": gradient}
