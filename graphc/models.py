"""Classic models with loops, as graphs: what a loop is for.

* :func:`rk4_ode` — GradBench's ``ode``: ``y' = f(x, y)`` integrated by Runge-Kutta 4 over
  ``s`` steps from y(0) = 0 to t = 2, where f(x, y)₀ = x₀ and f(x, y)ᵢ = xᵢ yᵢ₋₁;
* :func:`damped_pendulum` — θ'' = −(g/L) sin θ − c θ', explicit Euler;
* :func:`elman_rnn` — hₜ = tanh(W hₜ₋₁ + U xₜ + b), the squared error of V hₜ;
* :func:`lstm` — an LSTM cell over a sequence, the squared error of its outputs;
* :func:`gradient_descent` — x ← x − η ∇f(x) while |∇f(x)| > tol, as a bounded while loop whose
  body calls the gradient graph of ``f``: a derivative inside a loop that is differentiated too.

Each returns a :class:`~graphc.ir.Graph`; the tests and benchmarks run them.
"""

from __future__ import annotations

from .adjoint import grad
from .ir import Graph
from .loops import scan, while_loop
from .ops.core import api as gc
from .ops.sources import placeholder


def rk4_ode(n: int, s: int, checkpoint: int = 0) -> Graph:
    """GradBench's ode: input x (n,), output the solution y (n,) at t = 2 after s RK4 steps."""
    x = placeholder("x", (n,))
    h = 2.0 / s

    def f(y):
        return gc.concatenate([x[:1], x[1:] * y[:-1]]) if n > 1 else x[:1]

    def step(y, _):
        k1 = f(y)
        k2 = f(y + (0.5 * h) * k1)
        k3 = f(y + (0.5 * h) * k2)
        k4 = f(y + h * k3)
        return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

    y, _ = scan(step, gc.zeros_like(x), length=s, checkpoint=checkpoint, name="rk4")
    return Graph([x], {"y": y}, name=f"ode(n={n}, s={s})")


def damped_pendulum(steps: int, dt: float = 0.01) -> Graph:
    """Inputs θ₀, ω₀, g/L (``k``) and damping ``c``; output the final energy-like ½ω² + k(1 − cos θ)."""
    theta0, omega0 = placeholder("theta0"), placeholder("omega0")
    k, c = placeholder("k"), placeholder("c")

    def step(state, _):
        theta, omega = state
        return (theta + dt * omega, omega - dt * (k * gc.sin(theta) + c * omega)), None

    (theta, omega), _ = scan(step, (theta0, omega0), length=steps, name="euler")
    energy = 0.5 * omega * omega + k * (1.0 - gc.cos(theta))
    return Graph([theta0, omega0, k, c], {"energy": energy}, name=f"pendulum({steps})")


def elman_rnn(steps: int, n_in: int, n_h: int) -> Graph:
    """Σₜ |V hₜ − yₜ|² for hₜ = tanh(W hₜ₋₁ + U xₜ + b), h₀ = 0."""
    W, U, b = placeholder("W", (n_h, n_h)), placeholder("U", (n_h, n_in)), placeholder("b", (n_h,))
    V = placeholder("V", (1, n_h))
    xs, ys = placeholder("xs", (steps, n_in)), placeholder("ys", (steps, 1))

    def step(h, xy):
        x, y = xy
        h = gc.tanh(W @ h + U @ x + b)
        err = V @ h - y
        return h, gc.sum(err * err)

    _, errors = scan(step, gc.zeros_like(b), xs=(xs, ys), name="elman")
    return Graph([W, U, b, V, xs, ys], {"loss": gc.sum(errors)}, name=f"elman({steps})")


def lstm(steps: int, n_in: int, n_h: int, checkpoint: int = 0) -> Graph:
    """An LSTM over a sequence: gates from [xₜ, hₜ₋₁] by one (4 n_h, n_in + n_h) matrix W and bias
    b; the loss is Σₜ |V hₜ − yₜ|²."""
    W, b = placeholder("W", (4 * n_h, n_in + n_h)), placeholder("b", (4 * n_h,))
    V = placeholder("V", (n_in, n_h))
    xs, ys = placeholder("xs", (steps, n_in)), placeholder("ys", (steps, n_in))

    def step(state, xy):
        h, c = state
        x, y = xy
        z = W @ gc.concatenate([x, h]) + b
        i, f, o = gc.sigmoid(z[:n_h]), gc.sigmoid(z[n_h:2 * n_h]), gc.sigmoid(z[2 * n_h:3 * n_h])
        g = gc.tanh(z[3 * n_h:])
        c = f * c + i * g
        h = o * gc.tanh(c)
        err = V @ h - y
        return (h, c), gc.sum(err * err)

    zero = gc.zeros_like(b[:n_h])
    _, errors = scan(step, (zero, zero), xs=(xs, ys), checkpoint=checkpoint, name="lstm")
    return Graph([W, b, V, xs, ys], {"loss": gc.sum(errors)}, name=f"lstm({steps})")


def gradient_descent(f: Graph, lr: float = 0.1, tol: float = 1e-6, max_steps: int = 1000) -> Graph:
    """The minimiser gradient descent reaches on ``f`` (one input, scalar output) from an input
    ``x0``: x ← x − lr ∇f(x) while |∇f(x)|² > tol², at most ``max_steps`` times; outputs the
    point and the number of steps."""
    (x,) = f.inputs
    df = grad(f, [x])
    x0 = placeholder("x0", x.shape, x.dtype)

    def go(state):
        point, _ = state
        g = df(point)[1]
        return gc.sum(g * g) > tol * tol

    def step(state):
        point, count = state
        return point - lr * df(point)[1], count + 1

    point, count = while_loop(go, step, (x0, gc.constant(0)), max_steps=max_steps, name="descent")
    return Graph([x0], {"x": point, "steps": count}, name=f"descent({f.name or 'f'})")
