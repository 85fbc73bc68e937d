"""GradBench's ``det`` module against a numpy determinant by the plain recursive expansion by
minors (written here from the spec; also checked against LAPACK's), and its row-major gradient
against central differences of that function (det is linear in each entry, so they are exact up
to rounding)."""

import numpy as np
import pytest
from differences import central_differences

from benchmarks.gradbench import det, tool


def det_by_minors(matrix):
    if len(matrix) == 1:
        return matrix[0, 0]
    total = 0.0
    for j in range(len(matrix)):
        minor = np.delete(matrix[1:], j, axis=1)
        total += (-1) ** j * matrix[0, j] * det_by_minors(minor)
    return total


def run(function, flat, ell):
    prepared = det.FUNCTIONS[function]({"A": list(map(float, flat)), "ell": ell})
    return prepared.output(prepared.call())


@pytest.mark.parametrize("ell", [1, 2, 3, 4, 6])
def test_primal_and_gradient_match_the_expansion_and_central_differences(ell):
    flat = np.random.default_rng(ell).uniform(-1, 1, ell * ell)
    matrix = flat.reshape(ell, ell)
    value = run("primal", flat, ell)
    assert isinstance(value, float)
    assert value == pytest.approx(det_by_minors(matrix), rel=1e-12, abs=1e-14)
    assert value == pytest.approx(np.linalg.det(matrix), rel=1e-10, abs=1e-14)
    gradient = run("gradient", flat, ell)
    assert isinstance(gradient, list) and len(gradient) == ell * ell
    expected = central_differences(lambda v: det_by_minors(v.reshape(ell, ell)), flat, h=1e-3)
    np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-12)


def test_the_gradient_is_row_major():
    """d det / d A[0, 1] of [[1, 2], [3, 4]] is -A[1, 0] = -3, d / d A[1, 0] is -A[0, 1] = -2."""
    assert run("gradient", [1.0, 2.0, 3.0, 4.0], 2) == [4.0, -3.0, -2.0, 1.0]


def test_a_singular_matrix_has_determinant_zero_and_the_cofactors_as_gradient():
    flat = np.array([1.0, 2, 3, 2, 4, 6, 0, 1, 5])  # the second row is twice the first
    assert run("primal", flat, 3) == 0.0
    expected = central_differences(lambda v: det_by_minors(v.reshape(3, 3)), flat, h=1e-3)
    np.testing.assert_allclose(run("gradient", flat, 3), expected, atol=1e-12)


def test_through_the_protocol():
    flat = [2.0, -1.0, 0.5, 1.0, 3.0, -2.0, 0.25, 1.5, 1.0]
    answer = tool.respond({"id": 11, "kind": "evaluate", "module": "det", "function": "primal",
                           "input": {"A": flat, "ell": 3, "min_runs": 1, "min_seconds": 0}})
    assert answer["success"], answer.get("error")
    assert answer["output"] == pytest.approx(det_by_minors(np.array(flat).reshape(3, 3)), rel=1e-14)
    bad = tool.respond({"id": 12, "kind": "evaluate", "module": "det", "function": "primal",
                        "input": {"A": flat, "ell": 2}})
    assert bad["success"] is False and "ell² = 4" in bad["error"]
