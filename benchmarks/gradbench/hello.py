"""GradBench's ``hello``: ``square`` is x², ``double`` its gradient, derived by ``gc.grad``."""

from __future__ import annotations

import graphc as gc

from .runs import Prepared, compiled


def _square() -> gc.Graph:
    x = gc.placeholder("x")
    return gc.Graph([x], {"y": x * x})


def square(message: float) -> Prepared:
    fn, ns = compiled(("hello", "square"), _square)
    x = float(message)
    return Prepared(lambda: fn(x=x)["y"], float, ns)


def double(message: float) -> Prepared:
    fn, ns = compiled(("hello", "double"), lambda: gc.grad(_square(), "x", output="y"))
    x = float(message)
    return Prepared(lambda: fn(x=x)["grad_x"], float, ns)


FUNCTIONS = {"square": square, "double": double}
