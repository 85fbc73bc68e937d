"""Hardening: numerics at singular points, float32 kept end to end, concurrency (threads and
processes), a 100,000-node graph, labels with every awkward character, and properties of random
graphs (backends agree, gradients match finite differences, optimize and files keep results)."""

import json
import math
import os
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import graphviz
import numpy as np
import pytest
from graphgen import random_graphs
from hypothesis import given, settings
from ieee import assert_same_ieee_results, with_special_values

import graphc as gc
from graphc import examples, viz
from graphc.checks import numeric_gradient
from graphc.serialize import from_json, to_json

BACKENDS = ["numpy", "numba"]


def _run(graph, backend, **inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (divide by zero, invalid value) escapes
        return gc.compile(graph, backend=backend)(**inputs)


# ----------------------------------------------------------------------------------------------
# Numerics


@pytest.fixture(scope="module")
def singular():
    x = gc.placeholder("x", (3,))
    y = gc.placeholder("y", (3,))
    graph = gc.Graph([x, y], {"log": gc.sum(gc.log(x)), "sqrt": gc.sum(gc.sqrt(x)), "div": gc.sum(x / y)})
    return {out: gc.grad(graph, ["x", "y"], output=out) for out in ("log", "sqrt", "div")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_derivatives_at_singular_points_are_numpys_inf_and_nan(singular, backend):
    x = np.array([0.0, 1.0, -1.0])
    y = np.zeros(3)
    with np.errstate(all="ignore"):  # the expected values, written out with numpy
        expected = {
            "log": (np.sum(np.log(x)), 1 / x, np.zeros(3)),
            "sqrt": (np.sum(np.sqrt(x)), 0.5 / np.sqrt(x), np.zeros(3)),
            "div": (np.sum(x / y), 1 / y, -x / y**2),
        }
    assert np.isinf(expected["log"][1][0]) and np.isnan(expected["div"][2][0])  # the cases are singular
    for out, (value, gx, gy) in expected.items():
        got = _run(singular[out], backend, x=x, y=y)
        np.testing.assert_array_equal(got[out], value)
        np.testing.assert_array_equal(got["grad_x"], gx)
        np.testing.assert_array_equal(got["grad_y"], gy)


def _float32_model():
    x = gc.placeholder("x", (3,), "float32")
    A = gc.placeholder("A", (3, 3), "float32")
    f = gc.sum(2.0 * gc.tanh(A @ x)) + gc.sum(gc.exp(-x) / 3.0) + gc.mean(gc.sqrt(x * x + 1.0))
    return gc.Graph([x, A], {"f": f})


def _float32_reference(x, A):
    x, A = x.astype(np.float64), A.astype(np.float64)
    d = 2.0 * (1.0 - np.tanh(A @ x) ** 2)
    f = np.sum(2.0 * np.tanh(A @ x)) + np.sum(np.exp(-x) / 3.0) + np.mean(np.sqrt(x * x + 1.0))
    return f, A.T @ d - np.exp(-x) / 3.0 + x / np.sqrt(x * x + 1.0) / 3.0, np.outer(d, x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_graphs_stay_float32_end_to_end(backend):
    graph = _float32_model()
    derived = [gc.grad(graph, ["x", "A"]), gc.hvp(graph, "x"), gc.optimize(gc.grad(graph, ["x", "A"]))]
    for g in [graph, *derived, from_json(to_json(derived[0]))]:
        assert {str(n.dtype) for n in g.nodes if n.dtype.kind == "f"} == {"float32"}, g.name
    rng = np.random.default_rng(3)
    x = rng.normal(size=3).astype(np.float32)
    A = rng.normal(size=(3, 3)).astype(np.float32)
    got = _run(derived[0], backend, x=x, A=A)
    assert all(v.dtype == np.float32 for v in got.values())
    f, gx, gA = _float32_reference(x, A)
    np.testing.assert_allclose(got["f"], f, rtol=1e-5)
    np.testing.assert_allclose(got["grad_x"], gx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["grad_A"], gA, rtol=1e-5, atol=1e-6)
    hv = _run(derived[1], backend, x=x, A=A, direction=np.ones(3, np.float32))
    assert hv["hvp_x"].dtype == np.float32


# ----------------------------------------------------------------------------------------------
# Concurrency


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_compiled_function_called_from_8_threads(backend):
    ex = examples.quadratic(48)
    fn = gc.compile(gc.grad(ex.graph, ex.wrt), backend=backend)
    rng = np.random.default_rng(7)
    cases = [[ex.inputs(rng) for _ in range(25)] for _ in range(8)]
    start = threading.Barrier(8)

    def work(k):
        start.wait()  # every thread calls at once
        worst = 0.0
        for inputs in cases[k]:
            got = fn(**inputs)["grad_x"]
            expected = ex.gradient(**inputs)
            worst = max(worst, float(np.max(np.abs(got - expected)) / np.max(np.abs(expected))))
        return worst

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(work, range(8)))
    assert max(errors) < 1e-12, errors


_COMPILE_AND_RUN = """
import sys
import numpy as np
import graphc as gc
from graphc import examples
ex = examples.quadratic(6)
graph = gc.load(sys.argv[1])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # both processes start compiling at the same moment
fn = gc.compile(graph, backend="numba")
inputs = ex.inputs(np.random.default_rng(int(sys.argv[2])))
err = np.max(np.abs(fn(**inputs)["grad_x"] - ex.gradient(**inputs)))
print("ok" if err < 1e-12 else f"wrong by {err}")
"""


def test_two_processes_compile_and_cache_the_same_graph_at_once(tmp_path):
    graph = gc.grad(examples.quadratic(6).graph, "x")
    gc.save(graph, tmp_path / "g.json")
    cache = tmp_path / "cache"
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", _COMPILE_AND_RUN, str(tmp_path / "g.json"), str(seed)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for seed in (1, 2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0 and out.strip() == "ok", err
    assert list((cache / "numba").glob("graphc_*.py"))  # the kernel went to the shared cache


# ----------------------------------------------------------------------------------------------
# Scale


def test_a_100000_node_graph_saves_loads_differentiates_and_runs(tmp_path):
    x = gc.placeholder("x")
    y = x
    for _ in range(99_999):
        y = gc.sin(y)
    graph = gc.Graph([x], {"y": y})
    assert len(graph) == 100_000
    gc.save(graph, tmp_path / "chain.json")
    loaded = gc.load(tmp_path / "chain.json")
    assert loaded == graph and len(loaded) == 100_000
    g = gc.grad(loaded, "x")
    got = gc.compile(g, optimize=False)(x=1.0)
    value, slope = 1.0, 1.0  # the chain rule by hand: y_{k+1} = sin(y_k), dy/dx = Π cos(y_k)
    for _ in range(99_999):
        value, slope = math.sin(value), slope * math.cos(value)
    np.testing.assert_allclose(got["y"], value, rtol=1e-12)
    np.testing.assert_allclose(got["grad_x"], slope, rtol=1e-9)


# ----------------------------------------------------------------------------------------------
# Labels with quotes, braces, angle brackets, newlines, backslashes and non-ASCII characters

ODD = 'q"uo\'te {br}aces <angle> new\nline \\x41 \\N tab\t λ ✓ 😀 """'


@pytest.fixture(scope="module")
def odd_graph():
    x = gc.placeholder(ODD, (2,))
    with gc.scope(ODD):
        y = gc.exp(x, name=ODD)
    return gc.Graph([x], {ODD: gc.sum(y * 3.0, name=ODD + "2")}, name=ODD)


def test_odd_labels_keep_the_listing_one_line_per_node(odd_graph):
    lines = str(odd_graph).splitlines()
    assert len(lines) == 1 + (len(odd_graph) - len(odd_graph.inputs)) + 2  # header, nodes, return, }
    assert lines[-1] == "}" and lines[-2].lstrip().startswith("return ")
    for line in lines[:2]:  # the header (graph and input names) and the exp node (its name, its scope)
        assert 'q"uo' in line and "{br}aces <angle>" in line and "λ ✓ 😀" in line


def test_odd_labels_survive_json(odd_graph):
    loaded = from_json(to_json(odd_graph))
    assert loaded.name == ODD and loaded.input_names == (ODD,) and loaded.output_names == (ODD,)
    assert loaded.nodes[1].meta.name == ODD and loaded.nodes[1].meta.scope == (ODD,)
    json.loads(to_json(odd_graph, ensure_ascii=True))  # and as pure ASCII


def test_odd_labels_survive_generated_numba_source(odd_graph):
    fn = gc.compile(odd_graph, backend="numba")
    compile(fn.source, "<kernel>", "exec")  # valid Python: no label broke out of a comment or string
    got = fn(np.array([0.0, 1.0]))[ODD]
    np.testing.assert_allclose(got, 3.0 * (1.0 + math.e), rtol=1e-14)


def test_odd_labels_survive_dot(odd_graph):
    source = viz.to_dot(odd_graph).source
    svg = graphviz.Source(source).pipe(format="svg").decode("utf-8")  # dot accepts the file
    for piece in ("q&quot;uo", "{br}aces", "&lt;angle&gt;", "λ ✓ 😀"):
        assert piece in svg, piece


# ----------------------------------------------------------------------------------------------
# Random graphs


@settings(max_examples=8)
@given(random_graphs(max_steps=6))
def test_random_graphs_numpy_and_numba_agree(case):
    graph, sample = case
    inputs = sample(np.random.default_rng(0))
    want = gc.compile(graph, backend="numpy", optimize=False)(**inputs)
    got = gc.compile(graph, backend="numba")(**inputs)
    for key in want:
        assert got[key].dtype == want[key].dtype and got[key].shape == want[key].shape
        np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12)


@settings(max_examples=20)
@given(random_graphs(max_steps=6, smooth=True, scalar_output=True))
def test_random_graph_gradients_match_finite_differences(case):
    graph, sample = case
    inputs = sample(np.random.default_rng(1))
    got = gc.compile(gc.grad(graph), optimize=False)(**inputs)
    for name in graph.input_names:
        fd = numeric_gradient(graph, inputs, name)
        np.testing.assert_allclose(got[f"grad_{name}"], fd, rtol=1e-5, atol=1e-6)


@settings(max_examples=25)
@given(random_graphs())
def test_random_graphs_optimize_preserves_outputs(case):
    graph, sample = case
    inputs = sample(np.random.default_rng(2))
    want = gc.compile(graph, optimize=False)(**inputs)
    optimized = gc.optimize(graph)
    got = gc.compile(optimized, optimize=False)(**inputs)
    assert optimized.input_names == graph.input_names and optimized.output_names == graph.output_names
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-12)


@settings(max_examples=30)
@given(random_graphs())
def test_random_graphs_round_trip_through_files_exactly(case):
    graph, sample = case
    loaded = from_json(to_json(graph))
    assert loaded.digest == graph.digest and to_json(loaded) == to_json(graph)
    inputs = sample(np.random.default_rng(3))
    want = gc.compile(graph, optimize=False)(**inputs)
    got = gc.compile(loaded, optimize=False)(**inputs)
    for key in want:
        assert got[key].tobytes() == want[key].tobytes()  # bit for bit


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_integer_to_a_negative_power_fails_on_both_backends_as_numpy_does(backend):
    # numba computed 0 (2 ** -1 in integer arithmetic) where numpy raises
    a, e = gc.placeholder("a", (3,), "int64"), gc.placeholder("e", (3,), "int64")
    fused = gc.compile(gc.Graph([a, e], {"p": a ** e * 2}), backend=backend)
    np.testing.assert_array_equal(fused(a=np.array([2, 3, -1]), e=np.array([3, 0, 5]))["p"], [16, 2, -2])
    message = "Integers to negative integer powers are not allowed"
    with pytest.raises(gc.GraphError, match=message):
        fused(a=np.array([2, 3, 1]), e=np.array([2, -1, 3]))
    s, t = gc.placeholder("s", (), "int64"), gc.placeholder("t", (), "int64")
    scalar = gc.Graph([s, t], {"p": s ** t + 1})
    with pytest.raises(gc.GraphError, match=message):
        gc.compile(scalar, backend=backend)(s=2, t=-3)
    batched = gc.compile(scalar, backend=backend, batch=("s", "t"))
    np.testing.assert_array_equal(batched(s=np.array([2, 3]), t=np.array([2, 3]))["p"], [5, 28])
    with pytest.raises(gc.GraphError, match=message):
        batched(s=np.array([2, 3]), t=np.array([2, -3]))


def _both(graph, inputs):
    """The numpy backend's outputs (unoptimized: the reference) and the numba backend's, or the
    GraphError each raised."""
    results = []
    for backend, optimize in (("numpy", False), ("numba", True)):
        try:
            with np.errstate(all="ignore"):
                out = gc.compile(graph, backend=backend, optimize=optimize)(**inputs)
            results.append([np.asarray(v) for v in out.values()])
        except gc.GraphError as exc:
            results.append(exc)
    return results


@settings(max_examples=20)
@given(random_graphs(max_steps=8))
def test_random_graphs_agree_across_backends_at_special_values(case):
    graph, sample = case
    rng = np.random.default_rng(11)
    want, got = _both(graph, with_special_values(rng, sample(rng)))
    if isinstance(want, Exception):  # e.g. an svd of a matrix holding an inf: refused on both
        assert isinstance(got, gc.GraphError), f"numpy refused ({want}), numba did not"
        return
    assert not isinstance(got, Exception), got
    assert_same_ieee_results(want, got, rtol=1e-9, atol=1e-300)


@settings(max_examples=20)
@given(random_graphs(max_steps=12, empty=True))
def test_random_graphs_with_an_empty_axis_agree_across_backends(case):
    graph, sample = case
    want, got = _both(graph, sample(np.random.default_rng(12)))
    assert isinstance(want, Exception) == isinstance(got, Exception), (want, got)
    if not isinstance(want, Exception):
        assert_same_ieee_results(want, got, rtol=1e-10)


@settings(max_examples=20)
@given(random_graphs(max_steps=10, integers=True))
def test_random_graphs_of_int_and_bool_inputs_agree_across_backends(case):
    graph, sample = case
    want, got = _both(graph, sample(np.random.default_rng(13)))
    assert isinstance(want, Exception) == isinstance(got, Exception), (want, got)
    if not isinstance(want, Exception):
        assert_same_ieee_results(want, got, rtol=1e-10, atol=1e-12)


@settings(max_examples=15)
@given(random_graphs(max_steps=6, smooth=True, scalar_output=True))
def test_random_graph_hvps_match_central_differences_of_the_gradient(case):
    graph, sample = case
    rng = np.random.default_rng(14)
    inputs = sample(rng)
    name = graph.input_names[0]
    v = rng.normal(size=np.shape(inputs[name]))
    hv = gc.compile(gc.hvp(graph, name), optimize=False)(**inputs, direction=v)[f"hvp_{name}"]
    grad = gc.compile(gc.grad(graph, name), optimize=False)
    h = 1e-5
    plus = grad(**{**inputs, name: inputs[name] + h * v})[f"grad_{name}"]
    minus = grad(**{**inputs, name: inputs[name] - h * v})[f"grad_{name}"]
    np.testing.assert_allclose(hv, (plus - minus) / (2 * h), rtol=1e-5, atol=1e-6)
