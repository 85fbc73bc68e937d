"""GradBench's ``lse`` module against a numpy LogSumExp written here from the spec, and its
gradient against central differences of that numpy function (numba backend, as benchmarked)."""

import numpy as np
import pytest
from differences import central_differences

from benchmarks.gradbench import lse, runs, tool


def numpy_lse(x):
    shift = np.max(x)
    return shift + np.log(np.sum(np.exp(x - shift)))


def run(function, x):
    prepared = lse.FUNCTIONS[function]({"x": list(map(float, x))})
    return prepared.output(prepared.call())


def test_the_benchmark_runs_on_numba():
    assert runs.BACKEND == "numba"


@pytest.mark.parametrize("scale, offset", [(1.0, 0.0), (30.0, 700.0), (5.0, -900.0)])
def test_primal_and_gradient_match_numpy_and_central_differences(scale, offset):
    """Offsets of ±700 and more overflow or underflow exp without the shift: the spec's trick."""
    x = offset + scale * np.random.default_rng(3).standard_normal(9)
    value = run("primal", x)
    assert isinstance(value, float)
    assert value == pytest.approx(numpy_lse(x), rel=1e-14, abs=1e-13)
    gradient = run("gradient", x)
    assert isinstance(gradient, list) and len(gradient) == x.size
    expected = central_differences(numpy_lse, x, h=1e-6)
    rounding = 4 * np.finfo(float).eps * max(1.0, abs(value)) / 1e-6  # of f's values, divided by 2h
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=max(1e-8, rounding))
    assert sum(gradient) == pytest.approx(1.0, abs=1e-12)


def test_a_one_element_vector_and_tied_maxima():
    assert run("primal", [2.5]) == 2.5 and run("gradient", [2.5]) == [1.0]
    tied = np.array([1.0, 3.0, 3.0])
    np.testing.assert_allclose(run("gradient", tied), central_differences(numpy_lse, tied), rtol=1e-6)


def test_through_the_protocol():
    x = [0.25, -1.5, 2.0, 0.0]
    answer = tool.respond({"id": 7, "kind": "evaluate", "module": "lse", "function": "gradient",
                           "input": {"x": x, "min_runs": 3, "min_seconds": 0}})
    assert answer["success"], answer.get("error")
    np.testing.assert_allclose(answer["output"], central_differences(numpy_lse, np.array(x)), rtol=1e-6)
    assert [t["name"] for t in answer["timings"]].count("evaluate") >= 3
