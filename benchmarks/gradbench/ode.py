"""GradBench's ``ode``: y' = f(x, y) with f(x, y)₀ = x₀ and f(x, y)ᵢ = xᵢ yᵢ₋₁ (the reference
``ode_fun``), integrated from y(0) = 0 to t = 2 by ``s`` classic Runge-Kutta 4 steps; ``primal`` is
y(2), ``gradient`` the gradient of its last element with respect to x, derived by ``gc.grad``.

The steps are one ``gc.scan``, so the graph (and its compile time) is the same size for every s;
the reverse loop of the gradient reads the carry stored at each step and recomputes the four
stages from it. f is written as x ⊙ [1, y₀, …, yₙ₋₂], one product with a shifted copy of y: the
same arithmetic as [x₀, x₁y₀, …] (x₀ · 1 is x₀) in fewer loops, because the numba backend fuses
more of each stage into one pass (at n = 100,000, s = 100: 10 loops per step instead of 14 in the
primal, 32 instead of 47 in the gradient, about 1.4x faster both)."""

from __future__ import annotations

import numpy as np

import graphc as gc

from .runs import Prepared, compiled

FINAL_TIME = 2.0


def _ode(n: int, s: int) -> gc.Graph:
    x = gc.placeholder("x", (n,))
    h = FINAL_TIME / s
    one = gc.constant(np.ones(1))

    def f(y):
        if n == 1:  # no yᵢ₋₁ term at all: y[:-1] would be empty
            return x
        return x * gc.concatenate([one, y[:-1]])

    def rk4_step(y, _):
        k1 = f(y)
        k2 = f(y + (h / 2) * k1)
        k3 = f(y + (h / 2) * k2)
        k4 = f(y + h * k3)
        return y + (h / 6) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

    y, _ = gc.scan(rk4_step, gc.zeros_like(x), length=s, name="rk4")
    return gc.Graph([x], {"y": y}, name=f"ode(n={n}, s={s})")


def _last_element(n: int, s: int) -> gc.Graph:
    """The scalar the gradient is of: y(2)ₙ₋₁."""
    ode = _ode(n, s)
    return gc.Graph(ode.inputs, {"y_last": ode.outputs[0][n - 1]}, name=f"ode_last(n={n}, s={s})")


def _input(message: dict) -> tuple[np.ndarray, int]:
    x = np.asarray(message["x"], dtype=np.float64)
    s = int(message["s"])
    if x.ndim != 1 or x.size == 0 or s < 1:
        raise ValueError(f"ode needs a non-empty vector x and s >= 1, got x of shape {x.shape} and s={s}")
    return x, s


def primal(message: dict) -> Prepared:
    x, s = _input(message)
    fn, ns = compiled(("ode", "primal", x.size, s), lambda: _ode(x.size, s))
    return Prepared(lambda: fn(x=x)["y"], lambda y: y.tolist(), ns)


def gradient(message: dict) -> Prepared:
    x, s = _input(message)
    fn, ns = compiled(("ode", "gradient", x.size, s),
                      lambda: gc.grad(_last_element(x.size, s), "x", output="y_last"))
    return Prepared(lambda: fn(x=x)["grad_x"], lambda g: g.tolist(), ns)


FUNCTIONS = {"primal": primal, "gradient": gradient}
