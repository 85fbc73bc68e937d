"""The worked examples of the reference notes, as graphs with their closed-form derivatives.

Each example builds its graph with the public API and carries the notes' closed forms, written
out by hand in numpy (an oracle independent of graphc), plus a well-conditioned random point.
The demo, the tests and the renderer all use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import builder as gc
from .context import scope
from .ir import Graph


@dataclass
class Example:
    name: str
    title: str  # the formula, as the notes write it
    graph: Graph
    wrt: str  # the input the notes differentiate against
    inputs: Callable[[np.random.Generator], dict]
    gradient: Callable[..., np.ndarray]  # closed form, taking the inputs by keyword
    hessian: Callable[..., np.ndarray] | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def quadratic(n: int = 4) -> Example:
    """f(x) = 1/2 <Ax, x> - <b, x> + c with a non-symmetric A: the gradient is (A+Aᵀ)/2 x - b."""
    x = gc.placeholder("x", (n,))
    A = gc.placeholder("A", (n, n))
    b = gc.placeholder("b", (n,))
    c = gc.placeholder("c", ())
    f = 0.5 * (x @ (A @ x)) - b @ x + c
    graph = Graph([x, A, b, c], {"f": f}, name="quadratic")

    def inputs(rng):
        return {"x": rng.normal(size=n), "A": rng.normal(size=(n, n)), "b": rng.normal(size=n),
                "c": rng.normal()}

    return Example(
        "quadratic", "1/2 xᵀAx - bᵀx + c", graph, "x", inputs,
        gradient=lambda x, A, b, c: (A + A.T) / 2 @ x - b,
        hessian=lambda x, A, b, c: (A + A.T) / 2,
        notes="The notes' Taylor example states ∇f(x0) = Ax0 - b and ∇²f = A: true only for "
              "symmetric A; the correct forms are (A+Aᵀ)/2 x0 - b and (A+Aᵀ)/2.",
    )


def log_quadratic(n: int = 4) -> Example:
    """f(x) = ln <x, Ax> with A symmetric positive definite: ∇f = 2Ax / <x, Ax>."""
    x = gc.placeholder("x", (n,))
    A = gc.placeholder("A", (n, n))
    f = gc.log(x @ (A @ x))
    graph = Graph([x, A], {"f": f}, name="log_quadratic")

    def inputs(rng):
        M = rng.normal(size=(n, n))
        return {"x": rng.normal(size=n), "A": M @ M.T + n * np.eye(n)}

    def hessian(x, A):
        q = x @ A @ x
        Ax = A @ x
        return 2.0 / q**2 * (q * A - 2.0 * np.outer(Ax, Ax))

    return Example("log_quadratic", "ln(xᵀAx)", graph, "x", inputs,
                   gradient=lambda x, A: 2 * A @ x / (x @ A @ x), hessian=hessian)


def frobenius_residual(m: int = 4, n: int = 3, k: int = 2) -> Example:
    """f(X) = ||AX - B||_F: ∇f = Aᵀ(AX - B) / ||AX - B||_F."""
    X = gc.placeholder("X", (n, k))
    A = gc.placeholder("A", (m, n))
    B = gc.placeholder("B", (m, k))
    R = gc.subtract(A @ X, B, name="R")
    f = gc.sqrt(gc.sum(R * R))
    graph = Graph([X, A, B], {"f": f}, name="frobenius_residual")

    def inputs(rng):
        return {"X": rng.normal(size=(n, k)), "A": rng.normal(size=(m, n)),
                "B": rng.normal(size=(m, k))}

    def gradient(X, A, B):
        R = A @ X - B
        return A.T @ R / np.linalg.norm(R)

    return Example("frobenius_residual", "||AX - B||_F", graph, "X", inputs, gradient=gradient)


def logistic(n: int = 4) -> Example:
    """f(x) = ln(1 + exp<a, x>): ∇f = σ(<a,x>) a and ∇²f = σ(1-σ) a aᵀ."""
    x = gc.placeholder("x", (n,))
    a = gc.placeholder("a", (n,))
    f = gc.log(1.0 + gc.exp(a @ x))
    graph = Graph([x, a], {"f": f}, name="logistic")

    def inputs(rng):
        return {"x": rng.normal(size=n), "a": rng.normal(size=n)}

    def hessian(x, a):
        s = _sigmoid(a @ x)
        return s * (1 - s) * np.outer(a, a)

    return Example("logistic", "ln(1 + exp(aᵀx))", graph, "x", inputs,
                   gradient=lambda x, a: _sigmoid(a @ x) * a, hessian=hessian)


def logistic_least_squares(lam: float = 0.1) -> Example:
    """The univariate, regularized logistic least-squares model of the backpropagation section:
    z = wx + b, y = σ(z), L = ½(y - t)², R = ½w², 𝓛 = L + λR."""
    w = gc.placeholder("w")
    b = gc.placeholder("b")
    x = gc.placeholder("x")
    t = gc.placeholder("t")
    with scope("model"):
        z = gc.add(w * x, b, name="z")
        y = gc.sigmoid(z, name="y")
    with scope("loss"):
        L = gc.multiply(0.5, gc.square(y - t), name="L")
        R = gc.multiply(0.5, gc.square(w), name="R")
        total = gc.add(L, lam * R, name="𝓛")
    graph = Graph([w, b, x, t], {"loss": total}, name="logistic_least_squares")

    def inputs(rng):
        return {"w": rng.normal(), "b": rng.normal(), "x": rng.normal(), "t": rng.uniform()}

    def backward(w, b, x, t):
        """The notes' backward pass, step by step."""
        z = w * x + b
        y = _sigmoid(z)
        bars = {"𝓛": 1.0, "R": lam, "L": 1.0}
        bars["y"] = bars["L"] * (y - t)
        bars["z"] = bars["y"] * y * (1 - y)
        bars["w"] = bars["z"] * x + bars["R"] * w
        bars["b"] = bars["z"]
        bars["x"] = bars["z"] * w
        return bars

    return Example(
        "logistic_least_squares", "½(σ(wx+b) - t)² + λ·½w²", graph, "w", inputs,
        gradient=lambda w, b, x, t: np.asarray(backward(w, b, x, t)["w"]),
        extra={"backward": backward, "lambda": lam},
    )


def all_examples() -> list[Example]:
    return [quadratic(), log_quadratic(), frobenius_residual(), logistic(), logistic_least_squares()]
