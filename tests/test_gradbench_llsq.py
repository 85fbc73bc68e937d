"""GradBench's ``llsq`` module against a numpy evaluation of the spec's sum (powers of tᵢ, not
Horner's rule), and its gradient against central differences of that numpy function."""

import numpy as np
import pytest
from differences import central_differences

from benchmarks.gradbench import llsq, tool


def numpy_llsq(x, n):
    total = 0.0
    for i in range(n):
        t = -1 + i * 2 / (n - 1)
        residual = np.sign(t) - sum(x[j] * t**j for j in range(x.size))
        total += residual**2
    return total / 2


def run(function, x, n):
    prepared = llsq.FUNCTIONS[function]({"x": list(map(float, x)), "n": n})
    return prepared.output(prepared.call())


@pytest.mark.parametrize("n, m", [(9, 4), (16, 1), (2, 3)])
def test_primal_and_gradient_match_numpy_and_central_differences(n, m):
    """n = 9 puts a point at t = 0, where s = sign(0) = 0."""
    x = np.random.default_rng(n * 10 + m).uniform(-1, 1, m)
    value = run("primal", x, n)
    assert isinstance(value, float)
    assert value == pytest.approx(numpy_llsq(x, n), rel=1e-13)
    gradient = run("gradient", x, n)
    assert isinstance(gradient, list) and len(gradient) == m
    expected = central_differences(lambda v: numpy_llsq(v, n), x)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-8)


def test_a_known_value():
    """x = 0: every residual is sᵢ, so y = ½ · #{tᵢ ≠ 0} = 4 for n = 9."""
    assert run("primal", [0.0, 0.0], 9) == 4.0


def test_through_the_protocol():
    x, n = [0.5, -0.25, 0.125], 7
    answer = tool.respond({"id": 3, "kind": "evaluate", "module": "llsq", "function": "gradient",
                           "input": {"x": x, "n": n, "min_runs": 2, "min_seconds": 0}})
    assert answer["success"], answer.get("error")
    expected = central_differences(lambda v: numpy_llsq(v, n), np.array(x))
    np.testing.assert_allclose(answer["output"], expected, rtol=1e-6, atol=1e-8)
