"""GradBench's ``saddle`` module against a plain NumPy reading of evals/saddle/README.md: f, the
nested descents (cpp/gradbench/gd.hpp's rules) rewritten here with central differences for every
derivative, and the eval's own expected output."""

import functools

import numpy as np
import pytest

import graphc as gc
from benchmarks.gradbench import saddle, tool

EXPECTED = [8.246324826140356e-06] * 4  # python/gradbench/gradbench/evals/saddle/run.py, start (1, 1)
FUNCTIONS = ("rr", "ff", "fr", "rf")


def gradbench_difference(x, y):  # python/gradbench/gradbench/comparison.py
    return np.abs(np.subtract(x, y)) / np.maximum(np.abs(x) + np.abs(y), 1.0)


def f(p1, p2):
    return (p1[0] ** 2 + p1[1] ** 2) - (p2[0] ** 2 + p2[1] ** 2)


def gradient(fn, x, h):
    x = np.asarray(x, float)
    return np.array([(fn(x + h * e) - fn(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def argmin(fn, x, h):
    """gd.hpp's multivariate_argmin, the gradient by central differences."""
    x = np.asarray(x, float)
    fx, gx, eta, accepted = fn(x), gradient(fn, x, h), 1e-5, 0
    while np.linalg.norm(gx) > 1e-5:
        if accepted == 10:
            eta, accepted = 2 * eta, 0
            continue
        trial = x - eta * gx
        if np.linalg.norm(x - trial) <= 1e-5:
            break
        f_trial = fn(trial)
        if f_trial < fx:
            x, fx, gx, accepted = trial, f_trial, gradient(fn, trial, h), accepted + 1
        else:
            eta, accepted = eta / 2, 0
    return x


def best_response(p1, start):
    """max over p2 of f(p1, p2) by the descent on −f from ``start``."""
    return f(p1, argmin(lambda p2: -f(p1, p2), start, 1e-4))


@functools.cache
def numpy_saddle(start):
    p1 = argmin(lambda p: best_response(p, start), start, 1e-4)
    return list(p1) + list(argmin(lambda p2: -f(p1, p2), start, 1e-4))


@pytest.mark.parametrize("mode", ["r", "f"])
def test_the_gradient_of_f_in_p2_matches_central_differences(mode):
    x1, y1, x2, y2 = (gc.placeholder(n) for n in ("x1", "y1", "x2", "y2"))
    value, (gx, gy) = saddle.value_and_gradient(saddle.objective(), ("x2", "y2"), "f", mode)(
        x1=x1, y1=y1, x2=x2, y2=y2)
    fn = gc.compile(gc.Graph([x1, y1, x2, y2], {"f": value, "gx": gx, "gy": gy}), backend="numba")
    for p1, p2 in [((1.0, 2.0), (-0.5, 3.0)), ((0.3, -0.1), (2.0, 1e-3))]:
        out = fn(x1=p1[0], y1=p1[1], x2=p2[0], y2=p2[1])
        assert out["f"] == pytest.approx(f(p1, p2), rel=1e-15)
        by_differences = gradient(functools.partial(f, p1), p2, 1e-5)
        np.testing.assert_allclose([out["gx"], out["gy"]], by_differences, rtol=1e-8)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_inner_maximum_and_its_derivative_match_numpy(name):
    """best_response holds the inner descent; its derivative in p1 goes through that loop."""
    outer, inner = name
    start = (1.0, 1.0)
    graph = saddle.best_response(inner)
    if outer == "r":
        fn = gc.compile(gc.grad(graph, ["x1", "y1"], output="max"), backend="numba")

        def evaluate(p1):
            out = fn(x1=p1[0], y1=p1[1], s1=start[0], s2=start[1])
            return out["max"], [out["grad_x1"], out["grad_y1"]]
    else:
        fn = gc.compile(gc.jvp(graph, ["x1", "y1"]), backend="numba")

        def evaluate(p1):
            along = [fn(x1=p1[0], y1=p1[1], s1=start[0], s2=start[1], x1_dot=t, y1_dot=1.0 - t)
                     for t in (1.0, 0.0)]
            return along[0]["max"], [out["max_dot"] for out in along]
    for p1 in [(1.0, 1.0), (0.25, -2.0)]:
        value, derivative = evaluate(p1)
        assert value == pytest.approx(best_response(p1, start), rel=1e-10)
        np.testing.assert_allclose(derivative, gradient(lambda p: best_response(p, start), p1, 1e-4),
                                   rtol=1e-7)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_reaches_the_numpy_saddle_and_the_expected_output(name):
    for start in ([1.0, 1.0], [0.5, -2.0]):
        prepared = saddle.FUNCTIONS[name]({"start": start})
        point = prepared.output(prepared.call())
        assert len(point) == 4 and all(isinstance(v, float) for v in point)
        np.testing.assert_allclose(point, numpy_saddle(tuple(start)), rtol=1e-6, atol=1e-12)
        if start == [1.0, 1.0]:
            assert gradbench_difference(point, EXPECTED).max() < 1e-4
            np.testing.assert_allclose(point, EXPECTED, rtol=1e-6)


def _loops(graph, inside=()):
    found = []
    for node in graph.nodes:
        if node.op == "scan":
            body = node.attrs["body"]
            found.append((inside + (body.name,), node.attrs["reverse"], {n.meta.role for n in body.nodes}))
            found += _loops(body, inside + (body.name,))
    return found


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_nests_the_modes_it_names(name):
    """In the outer descent's body (as built, before the optimizer merges loops): the derivative of
    the inner descent is a reverse loop (outer r) or loops carrying tangents, one per coordinate
    (outer f); the inner descent's step holds adjoints (inner r) or tangents (inner f) of f."""
    outer, inner = name
    in_argmin = [(path[1], rev, roles) for path, rev, roles in _loops(saddle.saddle(outer, inner))
                 if path[0] == "argmin" and len(path) == 2]
    derivatives = sorted(n for n, _, _ in in_argmin if n != "argmax")
    assert derivatives == (["vjp(argmax)"] if outer == "r" else ["jvp(argmax)", "jvp(argmax)"])
    assert all(rev == n.startswith("vjp") for n, rev, _ in in_argmin)
    for n, _, roles in in_argmin:
        if n == "argmax":
            assert ("tangent" in roles) == (inner == "f") and ("adjoint" in roles) == (inner == "r")


def test_through_the_protocol():
    assert tool.respond({"id": 0, "kind": "define", "module": "saddle"})["success"] is True
    response = tool.respond({"id": 1, "kind": "evaluate", "module": "saddle", "function": "fr",
                             "input": {"start": [1.0, 1.0], "min_runs": 2, "min_seconds": 0}})
    assert response["success"], response.get("error")
    assert gradbench_difference(response["output"], EXPECTED).max() < 1e-4
    assert [t["name"] for t in response["timings"]].count("evaluate") == 2
