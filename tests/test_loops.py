"""Loops (gc.scan, gc.fori_loop, gc.while_loop): equal to the unrolled graphs they stand for,
through derivatives of every order and both backends; while loops ending at any step; the
classic models against central differences; the loops pass; errors; files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readme import readme_block

import graphc as gc
from graphc import models
from graphc.checks import numeric_gradient
from graphc.rewrite import verify

# ----------------------------------------------------------------------------------------------
# Random bodies, and the loop against the same body unrolled

OPS = {
    "tanh": lambda a, b: gc.tanh(a),
    "sin": lambda a, b: gc.sin(a),
    "mul": lambda a, b: a * b,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "scale": lambda a, b: 0.7 * a,
    "sigmoid": lambda a, b: gc.sigmoid(a),
    "sq": lambda a, b: a * a * 0.5,
}


@st.composite
def bodies(draw):
    """A body (carry h, per-step x, const w) -> (new carry, per-step output), drawn as a short
    program over {h, x, w} with bounded values (tanh and sin keep the state moderate)."""
    program = [(draw(st.sampled_from(sorted(OPS))), draw(st.integers(0, 10)), draw(st.integers(0, 10)))
               for _ in range(draw(st.integers(1, 4)))]

    def body(h, x, w):
        values = [h, x, w]
        for op, i, j in program:
            values.append(OPS[op](values[i % len(values)], values[j % len(values)]))
        new = gc.tanh(values[-1] + 0.5 * h)
        return new, gc.sum(values[-1] * values[-1])

    return body


def loop_graph(body, n, steps, checkpoint=0, reverse=False):
    h0, w, xs = gc.placeholder("h0", (n,)), gc.placeholder("w", (n,)), gc.placeholder("xs", (steps, n))
    final, ys = gc.scan(lambda h, x: body(h, x, w), h0, xs=xs, checkpoint=checkpoint, reverse=reverse)
    r = gc.constant(np.linspace(0.5, 1.5, steps))
    return gc.Graph([h0, w, xs], {"f": gc.sum(final * final) + gc.sum(ys * r)})


def unrolled_graph(body, n, steps, reverse=False):
    h0, w, xs = gc.placeholder("h0", (n,)), gc.placeholder("w", (n,)), gc.placeholder("xs", (steps, n))
    h, total = h0, None
    r = np.linspace(0.5, 1.5, steps)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        h, y = body(h, xs[t], w)
        total = y * float(r[t]) if total is None else total + y * float(r[t])
    return gc.Graph([h0, w, xs], {"f": gc.sum(h * h) + total})


def evaluate_all(graph, inputs, direction, backend, optimize):
    g = gc.grad(graph, ["h0", "w", "xs"])
    h = gc.hvp(graph, "w")
    run = lambda graph, **extra: gc.compile(graph, backend=backend, optimize=optimize)(**inputs, **extra)  # noqa: E731
    return run(g), run(h, direction=direction)["hvp_w"]


def _inputs(n, steps, seed):
    rng = np.random.default_rng(seed)
    return {"h0": rng.normal(size=n) * 0.5, "w": rng.normal(size=n), "xs": rng.normal(size=(steps, n))}


@settings(max_examples=25)
@given(body=bodies(), n=st.integers(1, 3), steps=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       checkpoint=st.sampled_from([0, 2, 3]), reverse=st.booleans(), optimize=st.booleans())
def test_a_loop_equals_its_unrolled_graph_with_derivatives(body, n, steps, seed, checkpoint, reverse,
                                                          optimize):
    inputs = _inputs(n, steps, seed)
    v = np.random.default_rng(seed + 1).normal(size=n)
    got_g, got_h = evaluate_all(loop_graph(body, n, steps, checkpoint, reverse), inputs, v, "numpy", optimize)
    want_g, want_h = evaluate_all(unrolled_graph(body, n, steps, reverse), inputs, v, "numpy", True)
    for key in want_g:
        np.testing.assert_allclose(got_g[key], want_g[key], rtol=1e-13, atol=1e-13, err_msg=key)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-12, atol=1e-12)


@settings(max_examples=6)
@given(body=bodies(), seed=st.integers(0, 2**32 - 1), checkpoint=st.sampled_from([0, 2]),
       reverse=st.booleans())
def test_the_numba_loop_equals_the_unrolled_graph(body, seed, checkpoint, reverse):
    n, steps = 3, 5
    inputs = _inputs(n, steps, seed)
    v = np.random.default_rng(seed + 1).normal(size=n)
    got_g, got_h = evaluate_all(loop_graph(body, n, steps, checkpoint, reverse), inputs, v, "numba", True)
    want_g, want_h = evaluate_all(unrolled_graph(body, n, steps, reverse), inputs, v, "numpy", True)
    for key in want_g:
        np.testing.assert_allclose(got_g[key], want_g[key], rtol=1e-13, atol=1e-13, err_msg=key)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_hessians_jacobians_and_a_gradient_of_a_gradient_through_a_loop_equal_the_unrolled(backend):
    """Every derivative construction through loops: both HVP modes, the Hessian (per basis
    direction), the Jacobian by VJPs and by JVPs, and the gradient of a gradient's entry."""
    body = lambda h, x, w: (gc.tanh(w * h + x) * 0.9, gc.sum(h * h * w))  # noqa: E731
    n, steps = 3, 4
    inputs = _inputs(n, steps, 7)
    loop, unrolled = loop_graph(body, n, steps, 2, False), unrolled_graph(body, n, steps)

    def sum_of_gradient(graph):  # f -> Σ ∂f/∂w, differentiated again
        g = gc.grad(graph, "w")
        return gc.grad(gc.Graph(g.inputs, {"s": gc.sum(g.outputs[1])}), "h0")

    def vector_output(graph):  # h0·f: a vector function of h0
        return gc.Graph(graph.inputs, {"f": graph.inputs[0] * graph.outputs[0]})

    builds = {"hvp rev-rev": lambda g: gc.hvp(g, "w", mode="rev-rev"),
              "hessian": lambda g: gc.hessian(g, "h0"),
              "grad of grad": sum_of_gradient,
              "jacobian rev": lambda g: gc.jacobian(gc.Graph(g.inputs, {"f": gc.stack([g.outputs[0]] * 2)}),
                                                    "xs", mode="rev"),
              "jacobian fwd": lambda g: gc.jacobian(vector_output(g), "h0", mode="fwd")}
    direction = {"hvp rev-rev": {"direction": np.array([0.3, -1.0, 2.0])}}
    for name, build in builds.items():
        extra = direction.get(name, {})
        got = gc.compile(build(loop), backend=backend)(**inputs, **extra)
        want = gc.compile(build(unrolled))(**inputs, **extra)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-12, err_msg=f"{name}: {key}")


def test_the_gradient_matches_central_differences():
    body = lambda h, x, w: (gc.tanh(w * h + x), gc.sum(gc.sin(h)))  # noqa: E731
    graph = loop_graph(body, 3, 6)
    inputs = _inputs(3, 6, 0)
    g = gc.compile(gc.grad(graph, ["h0", "w", "xs"]))(**inputs)
    for key in ("h0", "w", "xs"):
        np.testing.assert_allclose(g[f"grad_{key}"], numeric_gradient(graph, inputs, key), rtol=1e-7,
                                   atol=1e-9)


# ----------------------------------------------------------------------------------------------
# while loops


def _countdown(max_steps):
    """x ← x/2 + step while x > 1: returns (x, steps); the number of steps depends on x0."""
    x0, s = gc.placeholder("x0"), gc.placeholder("s")
    x, count = gc.while_loop(lambda c: c[0] > 1.0, lambda c: (c[0] * 0.5 + s, c[1] + 1),
                             (x0, gc.constant(0)), max_steps=max_steps)
    return gc.Graph([x0, s], {"x": x * x, "steps": count})


def _countdown_numpy(x0, s, max_steps):
    x, count = x0, 0
    while count < max_steps and x > 1.0:
        x, count = x * 0.5 + s, count + 1
    return x * x, count


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize(("x0", "max_steps"), [(0.5, 10), (3.0, 10), (100.0, 10), (100.0, 3), (5.0, 0)])
def test_a_while_loop_ends_at_step_zero_in_the_middle_or_at_its_bound(backend, x0, max_steps):
    graph = _countdown(max_steps)
    out = gc.compile(graph, backend=backend)(x0=x0, s=0.1)
    want, steps = _countdown_numpy(x0, 0.1, max_steps)
    assert int(out["steps"]) == steps
    assert float(out["x"]) == pytest.approx(want, rel=1e-14)
    value_graph = gc.Graph(graph.inputs, [graph.outputs[0]])
    g = gc.compile(gc.grad(value_graph), backend=backend)(x0=x0, s=0.1)
    for key in ("x0", "s"):
        fd = numeric_gradient(value_graph, {"x0": x0, "s": 0.1}, key)
        assert float(g[1 if key == "x0" else 2]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


def test_gradient_descent_is_a_while_loop_whose_body_calls_a_gradient():
    """A derivative inside a loop that is differentiated: the minimiser of a quadratic
    (a - x)·Q(a - x) reached from x0, differentiated with respect to x0 and a."""
    x, a = gc.placeholder("x", (2,)), gc.placeholder("a", (2,))
    q = gc.constant([[2.0, 0.5], [0.5, 1.0]])
    f = gc.Graph([x, a], [gc.sum((x - a) * (q @ (x - a)))])
    df = gc.grad(f, ["x"])  # a graph: called below on the loop's nodes
    x0, target = gc.placeholder("x0", (2,)), gc.placeholder("a", (2,))

    def step(c):
        return c[0] - 0.1 * df(c[0], target)[1], c[1] + 1

    def go(c):
        return gc.sum(df(c[0], target)[1] ** 2) > 1e-4

    end, count = gc.while_loop(go, step, (x0, gc.constant(0)), max_steps=200)
    graph = gc.Graph([x0, target], {"loss": gc.sum(end * end)})
    inputs = {"x0": np.array([3.0, -1.0]), "a": np.array([1.0, 2.0])}
    for backend in ("numpy", "numba"):
        out = gc.compile(gc.grad(graph, ["x0", "a"]), backend=backend)(**inputs)
        for key in ("x0", "a"):
            np.testing.assert_allclose(out[f"grad_{key}"], numeric_gradient(graph, inputs, key), rtol=1e-6,
                                       atol=1e-8)
    gd = models.gradient_descent(gc.Graph([x], [gc.sum((x - gc.constant([1.0, 2.0])) ** 2)]), lr=0.1)
    out = gc.compile(gd, backend="numba")(x0=np.zeros(2))
    np.testing.assert_allclose(out["x"], [1.0, 2.0], atol=1e-5)
    assert 30 < int(out["steps"]) < 200


# ----------------------------------------------------------------------------------------------
# The classic models


def _ode_numpy(x, s):
    n = len(x)
    y = np.zeros(n)
    h = 2.0 / s

    def f(y):
        return np.concatenate([x[:1], x[1:] * y[:-1]])

    for _ in range(s):
        k1 = f(y)
        k2 = f(y + h / 2 * k1)
        k3 = f(y + h / 2 * k2)
        k4 = f(y + h * k3)
        y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return y


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_rk4_is_gradbench_s_ode(backend):
    x = np.linspace(0.5, 1.5, 5)
    graph = models.rk4_ode(5, 20)
    np.testing.assert_allclose(gc.compile(graph, backend=backend)(x=x)["y"], _ode_numpy(x, 20), rtol=1e-14)
    last = gc.Graph(graph.inputs, {"last": graph.outputs[0][-1]})
    for checkpoint in (0, 5):
        ode = models.rk4_ode(5, 20, checkpoint)
        g = gc.grad(gc.Graph(ode.inputs, {"last": ode.outputs[0][-1]}))
        got = gc.compile(g, backend=backend)(x=x)["grad_x"]
        np.testing.assert_allclose(got, numeric_gradient(last, {"x": x}, "x"), rtol=1e-7)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_pendulum_the_elman_rnn_and_the_lstm_against_central_differences(backend):
    rng = np.random.default_rng(3)
    cases = [
        (models.damped_pendulum(200, 0.02), {"theta0": 1.0, "omega0": 0.0, "k": 9.81, "c": 0.3}),
        (models.elman_rnn(12, 3, 4), {"W": rng.normal(size=(4, 4)) * 0.4, "U": rng.normal(size=(4, 3)),
                                      "b": rng.normal(size=4) * 0.1, "V": rng.normal(size=(1, 4)),
                                      "xs": rng.normal(size=(12, 3)), "ys": rng.normal(size=(12, 1))}),
        (models.lstm(10, 2, 3, checkpoint=3),
         {"W": rng.normal(size=(12, 5)) * 0.5, "b": rng.normal(size=12) * 0.1, "V": rng.normal(size=(2, 3)),
          "xs": rng.normal(size=(10, 2)), "ys": rng.normal(size=(10, 2))}),
    ]
    for graph, inputs in cases:
        wrt = [p.attrs["name"] for p in graph.inputs if p.attrs["name"] not in ("xs", "ys")]
        out = gc.compile(gc.grad(graph, wrt), backend=backend)(**inputs)
        for key in wrt:
            np.testing.assert_allclose(out[f"grad_{key}"], numeric_gradient(graph, inputs, key), rtol=2e-6,
                                       atol=1e-8, err_msg=f"{graph.name} {key}")


def test_the_kernel_does_not_grow_with_the_steps():
    sources = [gc.compile(gc.grad(gc.Graph(g.inputs, [g.outputs[0][-1]])), backend="numba").source
               for g in (models.rk4_ode(8, 10), models.rk4_ode(8, 1000))]
    assert len(sources[0].splitlines()) == len(sources[1].splitlines())
    assert "range(1000)" in sources[1] and "range(1000 - 1, -1, -1)" in sources[1]


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_a_large_carry_kept_in_the_workspace_outlives_the_arrays_after_its_loop(steps):
    """A large carry's two buffers are workspace arrays whose names swap at every step: after an
    odd number of steps the final carry is in the second buffer, which an array written after the
    loop must not share (it did: 50 off after one step)."""
    x, A = gc.placeholder("x", (30_000,)), gc.placeholder("A", (30_000, 2))
    final, _ = gc.scan(lambda c, _: (gc.sin(c) + x, None), x, length=steps)
    graph = gc.Graph([x, A], [final * (A @ gc.constant(np.ones(2)))])
    rng = np.random.default_rng(steps)
    inputs = {"x": rng.normal(size=30_000), "A": rng.normal(size=(30_000, 2))}
    compiled = gc.compile(graph, backend="numba")
    assert compiled.kernel.workspace_bytes >= 3 * 30_000 * 8  # both buffers and the product's array
    carry = inputs["x"]
    for _ in range(steps):
        carry = np.sin(carry) + inputs["x"]
    np.testing.assert_allclose(compiled(**inputs)[0], carry * inputs["A"].sum(axis=1), rtol=1e-13)


def test_batches_of_loops_on_the_numba_backend():
    graph = gc.grad(models.damped_pendulum(50, 0.05), ["k", "c"])
    thetas = np.linspace(0.1, 1.5, 7)
    batched = gc.compile(graph, backend="numba", batch=("theta0",))(theta0=thetas, omega0=0.0, k=9.81, c=0.2)
    for i, theta in enumerate(thetas):
        one = gc.compile(graph)(theta0=theta, omega0=0.0, k=9.81, c=0.2)
        for key in one:
            np.testing.assert_allclose(batched[key][i], one[key], rtol=1e-13)


# ----------------------------------------------------------------------------------------------
# The loops pass


def _scans(graph):
    return [n for n in graph.nodes if n.op == "scan"]


def test_a_gradient_runs_its_forward_loop_once_and_stores_only_what_it_reads():
    h0, xs = gc.placeholder("h0", (3,)), gc.placeholder("xs", (50, 3))
    final, ys = gc.scan(lambda h, x: (gc.tanh(h + x), gc.sum(h * h)), h0, xs=xs)
    g = gc.optimize(gc.grad(gc.Graph([h0, xs], [gc.sum(final)]), "h0"))
    forward, backward = _scans(g)
    assert forward.type_string == "(f64[3], f64[50,3])"  # the final state and the stored states: no ys
    assert backward.attrs["reverse"] and backward.type_string == "(f64[3])"  # no xs cotangents: not asked
    h = gc.optimize(gc.hvp(gc.Graph([h0, xs], [gc.sum(final)]), "h0"))
    assert len(_scans(h)) == 2  # forward-over-reverse: the tangent loops hold their primal loops


def test_the_loops_pass_hoists_invariants_and_optimizes_bodies():
    h0, w = gc.placeholder("h0", (3,)), gc.placeholder("w", (3,))
    final, _ = gc.scan(lambda h, _: (h * gc.exp(w) * 1.0 - 0.0, None), h0, length=4)
    (loop,) = _scans(gc.optimize(gc.Graph([h0, w], [final])))
    body_ops = [n.op for n in loop.attrs["body"].nodes]
    assert "exp" not in body_ops and body_ops.count("mul") == 1 and "add" not in body_ops
    out = gc.compile(gc.Graph([h0, w], [final]))(h0=np.ones(3), w=np.zeros(3) + 0.5)
    np.testing.assert_allclose(out[0], np.exp(0.5) ** 4 * np.ones(3), rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# Errors, listing and files


def test_a_carry_that_changes_type_is_a_shape_error_naming_it_and_the_line():
    h = gc.placeholder("h", (3,))
    carry_error = r"returns carry\['c'\] as f64\[1\], but it enters the loop as f64\[3\].*test_loops.py:\d+"
    with pytest.raises(gc.ShapeError, match=carry_error):
        gc.scan(lambda c, _: ({"c": gc.sum(c["c"], keepdims=True), "k": c["k"]}, None),
                {"c": h, "k": gc.constant(1)}, length=2)
    with pytest.raises(gc.GraphTypeError, match=r"structure \(\*, \*\), but the loop starts from \*"):
        gc.scan(lambda c, _: ((c, c), None), h, length=2)
    with pytest.raises(gc.GraphTypeError, match=r"must return \(carry, y\)"):
        gc.scan(lambda c, _: c, h, length=2)
    with pytest.raises(gc.ShapeError, match=r"the xs have different numbers of steps"):
        gc.scan(lambda c, x: (c, None), h, xs=(gc.placeholder("a", (2,)), gc.placeholder("b", (3,))))
    with pytest.raises(gc.GraphError, match="give length="):
        gc.scan(lambda c, x: (c, None), h)
    with pytest.raises(gc.GraphTypeError, match="checkpoint must be a non-negative int"):
        gc.scan(lambda c, x: (c, None), h, length=3, checkpoint=-1)
    with pytest.raises(gc.ShapeError, match="cond must give a 0-d bool, got f64"):
        gc.while_loop(lambda c: c, lambda c: c, h, max_steps=3)
    loop = gc.scan(lambda c, _: (c, None), h, length=2)[0].inputs[0]
    with pytest.raises(gc.GraphError, match="is a scan node of several results"):
        gc.Graph([h], [loop])
    with pytest.raises(gc.GraphTypeError, match="several results"):
        loop.size  # noqa: B018


def test_the_listing_shows_the_body_and_a_loop_survives_a_file(tmp_path):
    graph = gc.grad(models.lstm(6, 2, 3, checkpoint=2), ["W"])
    text = str(graph)
    assert "scan(" in text and "body = graph lstm(" in text
    gc.save(graph, tmp_path / "g.json")
    loaded = gc.load(tmp_path / "g.json")
    assert loaded.digest == graph.digest
    verify(loaded)
    nodes = json.loads((tmp_path / "g.json").read_text())["nodes"]
    assert any("types" in n for n in nodes)


# ----------------------------------------------------------------------------------------------
# The README's example


def test_the_readme_loops_run_as_written_and_match_a_python_loop_and_finite_differences():
    namespace: dict = {}
    exec(compile(readme_block("Loops"), "README.md", "exec"), namespace)  # noqa: S102
    out, sqrt, f = namespace["out"], namespace["sqrt"], namespace["f"]

    def simulate(theta, k):
        omega, path = 0.0, []
        for _ in range(1000):
            omega = omega - 0.01 * k * np.sin(theta)
            path.append(theta)
            theta = theta + 0.01 * omega
        return 0.5 * omega * omega + k * (1.0 - np.cos(theta)), np.array(path)

    energy, path = simulate(0.5, 9.81)
    assert out["energy"] == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(out["path"], path, rtol=1e-12)
    for name, (t, k) in {"grad_theta0": ((0.5 + 1e-6, 9.81), (0.5 - 1e-6, 9.81)),
                         "grad_k": ((0.5, 9.81 + 1e-6), (0.5, 9.81 - 1e-6))}.items():
        assert out[name] == pytest.approx((simulate(*t)[0] - simulate(*k)[0]) / 2e-6, rel=1e-6)
    assert f.outputs[1].shape == (1000,)
    assert sqrt["root"] == pytest.approx(np.sqrt(2.0), rel=1e-15)
    assert sqrt["grad_a"] == pytest.approx(0.5 / np.sqrt(2.0), rel=1e-12)


def test_a_gradient_stores_no_carry_its_reverse_loop_does_not_read():
    # Horner's rule p <- p*t + c: the VJP of the step needs t, never p, so the forward loop of the
    # gradient must not store p at every step (an m x n array: 16 MB per call for GradBench's llsq)
    t = gc.constant(np.linspace(-1, 1, 7))
    c = gc.placeholder("c", (5,))
    poly, _ = gc.scan(lambda p, ci: (p * t + ci, None), gc.zeros_like(t), xs=c, reverse=True)
    g = gc.optimize(gc.grad(gc.Graph([c], {"y": gc.sum(poly * poly)}), "c"))
    per_step = [len(n.attrs["body"].outputs) - n.attrs["n_carry"] for n in g.nodes if n.op == "scan"]
    assert sorted(per_step) == [0, 1]  # the reverse loop's gradient of each c alone
    tv, cv = np.linspace(-1, 1, 7), np.array([0.5, -1.0, 2.0, 0.25, 1.5])
    p = sum(cv[j] * tv**j for j in range(5))
    want = np.array([2 * np.sum(p * tv**j) for j in range(5)])
    np.testing.assert_allclose(gc.compile(g)(c=cv)["grad_c"], want, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_new_carry_that_is_also_the_step_output_or_another_carry_is_stored_everywhere(backend):
    # numba wrote such a node only where the first of its places wanted it: the stacked outputs
    # (uninitialised memory) or the second carry (never updated) were left unwritten
    xs = gc.placeholder("xs", (5, 3))

    def step(carry, x):
        h, _ = carry
        h = gc.tanh(h + x)
        return (h, h), h

    (h, k), ys = gc.scan(step, (gc.zeros_like(xs[0]), gc.zeros_like(xs[0])), xs=xs)
    x = np.arange(15.0).reshape(5, 3) / 10
    out = gc.compile(gc.Graph([xs], {"h": h, "k": k, "ys": ys}), backend=backend)(xs=x)
    want, state = [], np.zeros(3)
    for row in x:
        state = np.tanh(state + row)
        want.append(state)
    np.testing.assert_allclose(out["ys"], want, rtol=1e-14)
    np.testing.assert_allclose(out["h"], want[-1], rtol=1e-14)
    np.testing.assert_allclose(out["k"], want[-1], rtol=1e-14)


def test_small_constants_from_outside_fold_inside_the_body_and_a_node_read_twice_is_one_input():
    x0, w = gc.placeholder("x0"), gc.placeholder("w")
    ten, two = gc.constant(10.0), gc.constant(2.0)

    def step(c, _):
        return (ten - c) ** two * w + c * w, None  # 10 and 2 read from outside, w twice

    final, _ = gc.scan(step, x0, length=3)
    (loop,) = _scans(gc.optimize(gc.Graph([x0, w], [final])))
    body = loop.attrs["body"]
    assert len(body.inputs) == 2  # the carry and w: the constants are the body's own now
    assert "pow" not in [n.op for n in body.nodes]  # (10 - c) ** 2 became a product
    value, wv = 1.5, 0.25
    for _ in range(3):
        value = (10.0 - value) ** 2 * wv + value * wv
    got = gc.compile(gc.Graph([x0, w], [final]), backend="numba")(x0=1.5, w=wv)[0]
    assert got == pytest.approx(value, rel=1e-14)
