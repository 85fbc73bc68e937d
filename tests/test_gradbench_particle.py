"""GradBench's ``particle`` module against a plain NumPy reading of evals/particle/README.md: the
field, the Euler path and the descent rewritten here with central differences for every
derivative (as the suite's ``finite`` tool does), and the eval's own expected output."""

import math

import numpy as np
import pytest

import graphc as gc
from benchmarks.gradbench import particle, tool

EXPECTED = 0.2071918746486116  # python/gradbench/gradbench/evals/particle/run.py, for w = 0
FUNCTIONS = ("rr", "ff", "fr", "rf")


def gradbench_difference(x, y):  # python/gradbench/gradbench/comparison.py
    return abs(x - y) / max(abs(x) + abs(y), 1.0)


def potential(x, y, w):
    return sum(1.0 / math.hypot(cx - x, cy - y) for cx, cy in ((10.0, 10.0 - w), (10.0, 0.0)))


def central(f, x, h):
    return (f(x + h) - f(x - h)) / (2.0 * h)


def field(x, y, w):
    """∇ₓp: the gradient of 1/|x − c| is −(x − c)/|x − c|³."""
    gx = gy = 0.0
    for cx, cy in ((10.0, 10.0 - w), (10.0, 0.0)):
        r3 = math.hypot(x - cx, y - cy) ** 3
        gx, gy = gx - (x - cx) / r3, gy - (y - cy) / r3
    return gx, gy


def field_by_differences(x, y, w, h=1e-6):
    return central(lambda t: potential(t, y, w), x, h), central(lambda t: potential(x, t, w), y, h)


def euler_loss(w):
    """x₀(t_f)² by naive Euler (Δt = 0.1) until the next position would leave y > 0."""
    x, y, vx, vy = 0.0, 8.0, 0.75, 0.0
    for _ in range(particle.EULER_STEPS):
        if not y + 0.1 * vy > 0.0:
            break
        gx, gy = field(x, y, w)
        x, y, vx, vy = x + 0.1 * vx, y + 0.1 * vy, vx - 0.1 * gx, vy - 0.1 * gy
    else:
        raise AssertionError(f"the path from w = {w} does not cross the axis")
    crossing = x - y / vy * vx
    return crossing * crossing


def descend(f, df, x):
    """cpp/gradbench/gd.hpp's multivariate_argmin, one coordinate."""
    fx, gx, eta, accepted = f(x), df(x), 1e-5, 0
    while abs(gx) > 1e-5:
        if accepted == 10:
            eta, accepted = 2 * eta, 0
            continue
        trial = x - eta * gx
        if abs(x - trial) <= 1e-5:
            break
        f_trial = f(trial)
        if f_trial < fx:
            x, fx, gx, accepted = trial, f_trial, df(trial), accepted + 1
        else:
            eta, accepted = eta / 2, 0
    return x


@pytest.fixture(scope="module")
def numpy_control():
    return {w0: descend(euler_loss, lambda w: central(euler_loss, w, 1e-6), w0) for w0 in (0.0, 0.5)}


@pytest.mark.parametrize("mode", ["r", "f"])
def test_the_field_gradient_matches_central_differences(mode):
    px, py, w = gc.placeholder("px"), gc.placeholder("py"), gc.placeholder("w")
    gx, gy = particle.field_gradient(mode)(px, py, w)
    fn = gc.compile(gc.Graph([px, py, w], {"gx": gx, "gy": gy}), backend="numba")
    for x, y, w in [(0.0, 8.0, 0.0), (3.5, 2.0, 0.3), (9.0, 1.0, -0.7)]:
        out = fn(px=x, py=y, w=w)
        ours = [out["gx"], out["gy"]]
        np.testing.assert_allclose(ours, field_by_differences(x, y, w), rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(ours, field(x, y, w), rtol=1e-12)


@pytest.mark.parametrize("inner", ["r", "f"])
def test_the_loss_is_the_euler_path_crossing_the_axis(inner):
    fn = gc.compile(particle.loss(inner), backend="numba")
    for w in (0.0, 0.2, 0.5):
        assert fn(w=w)["loss"] == pytest.approx(euler_loss(w), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_derivative_of_the_loss_matches_central_differences(name):
    outer, inner = name
    if outer == "r":
        fn = gc.compile(gc.grad(particle.loss(inner), "w", output="loss"), backend="numba")
        derivative = lambda w: fn(w=w)["grad_w"]  # noqa: E731
    else:
        fn = gc.compile(gc.jvp(particle.loss(inner), "w"), backend="numba")
        derivative = lambda w: fn(w=w, w_dot=1.0)["loss_dot"]  # noqa: E731
    for w in (0.0, 0.2, 0.5):
        assert derivative(w) == pytest.approx(central(euler_loss, w, 1e-6), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_reaches_the_numpy_descent_and_the_expected_output(name, numpy_control):
    for w0, reference in numpy_control.items():
        prepared = particle.FUNCTIONS[name]({"w": w0})
        w = prepared.output(prepared.call())
        assert isinstance(w, float)
        assert w == pytest.approx(reference, abs=1e-6)
    assert gradbench_difference(particle.FUNCTIONS[name]({"w": 0.0}).call(), EXPECTED) < 1e-4
    assert numpy_control[0.0] == pytest.approx(EXPECTED, abs=1e-6)


def _modes(graph, inside=()):
    """(the names of the enclosing loop bodies, reverse?, the roles of the body's nodes) for every
    loop body, however deep."""
    found = []
    for node in graph.nodes:
        if node.op == "scan":
            body = node.attrs["body"]
            found.append((inside + (body.name,), node.attrs["reverse"], {n.meta.role for n in body.nodes}))
            found += _modes(body, inside + (body.name,))
    return found


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_nests_the_modes_it_names(name):
    """Inside the descent's body (as built, before the optimizer merges loops): the derivative of
    the Euler loop is a reverse loop (outer r) or a loop carrying tangents (outer f), and the Euler
    step holds the adjoints (inner r) or the tangents (inner f) of the potential."""
    outer, inner = name
    in_descent = {path[1]: (rev, roles) for path, rev, roles in _modes(particle.control(outer, inner))
                  if path[0] == "descent" and len(path) == 2}
    assert set(in_descent) == {"euler", "vjp(euler)" if outer == "r" else "jvp(euler)"}
    assert in_descent.get("vjp(euler)", (True,))[0] and not in_descent.get("jvp(euler)", (False,))[0]
    roles = in_descent["euler"][1]
    assert ("tangent" in roles, "adjoint" in roles) == ((True, False) if inner == "f" else (False, True))


def test_through_the_protocol():
    assert tool.respond({"id": 0, "kind": "define", "module": "particle"})["success"] is True
    response = tool.respond({"id": 1, "kind": "evaluate", "module": "particle", "function": "rf",
                             "input": {"w": 0.0, "min_runs": 2, "min_seconds": 0}})
    assert response["success"], response.get("error")
    assert gradbench_difference(response["output"], EXPECTED) < 1e-4
    assert [t["name"] for t in response["timings"]].count("evaluate") == 2
