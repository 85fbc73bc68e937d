"""GradBench's ``kmeans`` module against a numpy cost written here from the spec (direct
differences, not the module's expanded form), and ``dir`` = J ⊘ diag(H) against central first
and second differences of that numpy cost (it is quadratic near a point without ties, so the
differences are exact up to rounding)."""

import numpy as np
import pytest

from benchmarks.gradbench import kmeans, tool


def numpy_cost(points, centroids):
    squared = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return squared.min(axis=1).sum()


def newton_direction_by_differences(points, centroids, h=1e-3):
    jacobian, hessian_diagonal = np.empty_like(centroids), np.empty_like(centroids)
    center = numpy_cost(points, centroids)
    for index in np.ndindex(centroids.shape):
        step = np.zeros_like(centroids)
        step[index] = h
        up, down = numpy_cost(points, centroids + step), numpy_cost(points, centroids - step)
        jacobian[index] = (up - down) / (2 * h)
        hessian_diagonal[index] = (up - 2 * center + down) / h**2
    return jacobian / hessian_diagonal


def workload(n, k, d, seed):
    """As the eval builds it: uniform points, the last k of them as centroids (no empty cluster)."""
    points = np.random.default_rng(seed).random((n, d))
    return points, points[-k:].copy()


def run(function, points, centroids):
    prepared = kmeans.FUNCTIONS[function]({"points": points.tolist(), "centroids": centroids.tolist()})
    return prepared.output(prepared.call())


@pytest.mark.parametrize("n, k, d", [(12, 3, 2), (20, 4, 3)])
def test_cost_and_dir_match_numpy_and_differences(n, k, d):
    points, centroids = workload(n, k, d, seed=n)
    centroids += 0.01  # off the points, so no distance is exactly 0
    cost = run("cost", points, centroids)
    assert isinstance(cost, float)
    assert cost == pytest.approx(numpy_cost(points, centroids), rel=1e-12)
    direction = run("dir", points, centroids)
    assert isinstance(direction, list) and len(direction) == k and all(len(row) == d for row in direction)
    expected = newton_direction_by_differences(points, centroids)
    np.testing.assert_allclose(direction, expected, rtol=1e-6, atol=1e-9)


def test_dir_is_the_step_to_the_cluster_means():
    """One Newton step lands each centroid on its cluster's mean: C - dir."""
    points = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [6.0, 5.0], [6.0, 7.0]])
    centroids = np.array([[0.2, 0.1], [5.0, 4.0]])
    direction = np.array(run("dir", points, centroids))
    np.testing.assert_allclose(centroids - direction, [[0.5, 0.0], [17 / 3, 17 / 3]], atol=1e-12)
    assert run("cost", points, centroids) == pytest.approx(numpy_cost(points, centroids), rel=1e-13)


def test_through_the_protocol():
    points, centroids = workload(10, 2, 2, seed=5)
    answer = tool.respond({"id": 9, "kind": "evaluate", "module": "kmeans", "function": "dir",
                           "input": {"points": points.tolist(), "centroids": centroids.tolist(),
                                     "min_runs": 2, "min_seconds": 0}})
    assert answer["success"], answer.get("error")
    np.testing.assert_allclose(answer["output"], newton_direction_by_differences(points, centroids),
                               rtol=1e-6, atol=1e-9)
