"""GradBench's ``ode`` module against a plain numpy RK4 written from the eval's specification, the
exact solution (RK4 is exact while the solution is a polynomial of degree <= 4) and central
differences; on the numba backend, which the benchmark runs."""

import math

import numpy as np
import pytest

from benchmarks.gradbench import ode, tool


def numpy_ode(x: np.ndarray, s: int) -> np.ndarray:
    """y(2) for y₀' = x₀, yᵢ' = xᵢ yᵢ₋₁, y(0) = 0, by s classic Runge-Kutta 4 steps."""
    def f(y):
        return np.concatenate([x[:1], x[1:] * y[:-1]])

    h = 2.0 / s
    y = np.zeros_like(x)
    for _ in range(s):
        k1 = f(y)
        k2 = f(y + h * k1 / 2)
        k3 = f(y + h * k2 / 2)
        k4 = f(y + h * k3)
        y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return y


def run(function: str, x: np.ndarray, s: int) -> np.ndarray:
    prepared = ode.FUNCTIONS[function]({"x": x.tolist(), "s": s})
    return np.asarray(prepared.output(prepared.call()))


def central_differences(x: np.ndarray, s: int, eps: float = 1e-6) -> np.ndarray:
    steps = np.eye(x.size) * eps
    return np.array([(numpy_ode(x + e, s)[-1] - numpy_ode(x - e, s)[-1]) / (2 * eps) for e in steps])


@pytest.mark.parametrize("n, s", [(7, 1), (7, 10), (12, 3)])
def test_primal_matches_numpy_rk4(n, s):
    x = np.random.default_rng(n * 100 + s).uniform(0.2, 1.5, n)
    np.testing.assert_allclose(run("primal", x, s), numpy_ode(x, s), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("n, s", [(7, 10), (12, 3)])
def test_gradient_matches_central_differences(n, s):
    x = np.random.default_rng(n * 100 + s).uniform(0.2, 1.5, n)
    gradient = run("gradient", x, s)
    assert gradient.shape == (n,)
    np.testing.assert_allclose(gradient, central_differences(x, s), rtol=1e-7, atol=1e-9)


def test_rk4_is_exact_for_a_cubic_solution():
    """With n = 3 the solution yᵢ(t) = x₀⋯xᵢ tⁱ⁺¹/(i + 1)! is a cubic: RK4 reproduces it at any s,
    and the gradient of y₂ is y₂ / xᵢ (what the eval's manual tool computes)."""
    x = np.array([0.5, 0.7, 0.9])
    exact = np.array([np.prod(x[:i + 1]) * 2.0 ** (i + 1) / math.factorial(i + 1) for i in range(3)])
    np.testing.assert_allclose(run("primal", x, 10), exact, rtol=1e-14)
    np.testing.assert_allclose(run("gradient", x, 10), exact[-1] / x, rtol=1e-14)


def test_a_single_equation():
    """n = 1: y₀(2) = 2x₀, whose gradient is 2."""
    assert run("primal", np.array([0.75]), 4).tolist() == pytest.approx([1.5], rel=1e-15)
    assert run("gradient", np.array([0.75]), 4).tolist() == pytest.approx([2.0], rel=1e-15)


def test_the_graph_does_not_grow_with_the_steps():
    assert len(ode._ode(5, 2)) == len(ode._ode(5, 1000))


def test_through_the_protocol():
    x = np.random.default_rng(3).uniform(0.2, 1.5, 7)
    message = {"id": 1, "kind": "evaluate", "module": "ode", "function": "gradient",
               "input": {"x": x.tolist(), "s": 10, "min_runs": 3, "min_seconds": 0}}
    response = tool.respond(message)
    assert response["success"], response.get("error")
    assert isinstance(response["output"], list) and all(isinstance(v, float) for v in response["output"])
    np.testing.assert_allclose(response["output"], central_differences(x, 10), rtol=1e-7, atol=1e-9)
    assert [t["name"] for t in response["timings"]].count("evaluate") == 3
