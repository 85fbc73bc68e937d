"""Row-blocked kernels of the numba backend (graphc.backends.numba.rows): which graphs are
planned so and how their nodes are classified, agreement with the numpy backend (losses over
data rows, their gradients and HVPs, random graphs by hypothesis), thread counts, concurrent
callers, and the cache in a new process.

The size threshold (MIN_ROW_BYTES) is lowered here so that small graphs, quick to check, take the
row-blocked path; the benchmark sizes take it as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backend_registry import get_backend
from graphc.backends.numba import kernel, rows
from graphc.errors import BackendError

ROOT = Path(__file__).resolve().parents[1]
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}


@pytest.fixture(autouse=True)
def small_graphs_take_the_row_path():
    with mock.patch.object(rows, "MIN_ROW_BYTES", 0):
        yield


def mlp(n=512, d=16, h=32, k=3, dtype="float64"):
    X, Y = gc.placeholder("X", (n, d), dtype), gc.placeholder("Y", (n, k), dtype)
    W1, b1 = gc.placeholder("W1", (d, h), dtype), gc.placeholder("b1", (h,), dtype)
    W2, b2 = gc.placeholder("W2", (h, k), dtype), gc.placeholder("b2", (k,), dtype)
    loss = gc.mean((gc.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)
    graph = gc.Graph([W1, b1, W2, b2, X, Y], [loss], name="mlp")
    rng = np.random.default_rng(6)
    inputs = {"W1": rng.normal(size=(d, h)) / 4, "b1": rng.normal(size=h) * 0.1,
              "W2": rng.normal(size=(h, k)) / 4, "b2": rng.normal(size=k) * 0.1,
              "X": rng.normal(size=(n, d)), "Y": rng.normal(size=(n, k))}
    return graph, {key: v.astype(dtype) for key, v in inputs.items()}


def logistic(n=1024, d=8):
    w, A, y = gc.placeholder("w", (d,)), gc.placeholder("A", (n, d)), gc.placeholder("y", (n,))
    lam = gc.placeholder("lam")
    z = A @ w
    loss = gc.sum(gc.softplus(z) - y * z) + 0.5 * lam * (w @ w)
    graph = gc.Graph([w, A, y, lam], [loss], name="logistic")
    rng = np.random.default_rng(7)
    inputs = {"w": rng.normal(size=d) * 0.3, "A": rng.normal(size=(n, d)),
              "y": (rng.random(n) < 0.5).astype(float), "lam": 0.1}
    return graph, inputs


def outputs(compiled, inputs):
    res = compiled(**inputs)
    return list(res.values()) if isinstance(res, dict) else list(res)


def assert_rows_agree(graph, inputs, dtype="float64", blocked=True):
    """The graph compiles row-blocked (or, ``blocked=False``, as one kernel) and agrees with the
    numpy backend."""
    compiled = gc.compile(graph, backend="numba")
    kernel_type = kernel.RowBlockedKernel if blocked else kernel.NumbaKernel
    assert isinstance(compiled.kernel, kernel_type), compiled.source[:2000]
    got = outputs(compiled, inputs)
    expected = outputs(gc.compile(graph, backend="numpy"), inputs)
    for g, e, node in zip(got, expected, graph.outputs):
        assert g.shape == e.shape and g.dtype == e.dtype == node.dtype
        np.testing.assert_allclose(g, e, **TOL[dtype])
    return compiled


# --- planning -----------------------------------------------------------------------------------

def test_the_mlp_gradient_is_planned_in_blocks_with_its_nodes_classified():
    graph, _ = mlp()
    g = gc.optimize(gc.grad(graph, wrt=["W1", "b1", "W2", "b2"]))
    plan = rows.plan_rows(g, threads=2)
    assert plan is not None and plan.rows == 512 and plan.block == 128 and plan.n_blocks == 4
    kinds = {n.serial: plan.kinds[n.serial] for n in g.nodes}
    by_name = {p.attrs["name"]: kinds[p.serial] for p in g.inputs}
    assert by_name == {"W1": "shared", "b1": "shared", "W2": "shared", "b2": "shared",
                       "X": "row", "Y": "row"}
    # Xᵀ dZ, Hᵀ dO, the bias sums and the loss's sum are sums over the rows; the loss is post
    partials = [n for n in g.nodes if kinds[n.serial] == "partial"]
    assert sorted(n.op for n in partials) == ["matmul", "matmul", "sum", "sum", "sum"]
    assert kinds[g.outputs[0].serial] == "post"
    assert all(kinds[n.serial] == "rowT" for n in g.nodes
               if n.op == "transpose" and n.inputs[0].shape[0] == 512)


def test_block_size_divides_the_rows_and_leaves_two_blocks_per_thread():
    assert rows._block_size(4096, 4) == 128
    assert rows._block_size(512, 4) == 128
    assert rows._block_size(256, 4) == 64
    assert rows._block_size(10000, 4) == 125
    assert rows._block_size(4099, 4) is None  # a prime: no block size divides it
    assert rows._block_size(96, 4) is None  # 3 blocks of 32 at most


def _row_case(case):
    """A graph that runs in blocks ("control"), or one that must not, for the reason named."""
    n = {"prime rows": 1031, "few rows": 96}.get(case, 512)
    X = gc.placeholder("X", (n, 8))
    W = gc.placeholder("W", (n if case == "weights with the rows' length" else 8, 4))
    Z = X @ W if case != "weights with the rows' length" else X @ gc.transpose(X) @ W
    H = gc.tanh(Z)
    loss = gc.sum(H) + gc.sum(gc.transpose(X) @ H)  # a sum over the rows and a product over them
    outputs = {
        "centered": [loss + gc.sum((Z - gc.mean(Z, axis=0)) ** 2)],  # rows after a sum over the rows
        "row output": [loss, H],
        "no product over the rows": [gc.sum(H)],
        "max over rows": [loss + gc.sum(gc.max(Z, axis=0))],
    }.get(case, [loss])
    return gc.optimize(gc.Graph([X, W], outputs))


@pytest.mark.parametrize("case", ["centered", "row output", "prime rows", "few rows",
                                  "no product over the rows", "weights with the rows' length",
                                  "max over rows"])
def test_graphs_that_cannot_or_should_not_run_in_blocks_are_not_planned(case):
    graph = _row_case(case)
    assert rows.plan_rows(graph, threads=2) is None
    assert isinstance(gc.compile(graph, backend="numba").kernel, kernel.NumbaKernel)
    assert rows.plan_rows(_row_case("control"), threads=2) is not None


def test_large_row_sums_take_the_row_path_only_above_the_size_threshold():
    graph = gc.optimize(gc.grad(mlp()[0], wrt=["W1"]))
    with mock.patch.object(rows, "MIN_ROW_BYTES", 1 << 40):
        assert rows.plan_rows(graph, threads=2) is None
    assert rows.plan_rows(graph, threads=2) is not None


# --- agreement with the numpy backend ---------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_loss_gradient_and_hvp_agree_with_numpy(dtype):
    graph, inputs = mlp(dtype=dtype)
    wrt = ["W1", "b1", "W2", "b2"]
    assert_rows_agree(graph, inputs, dtype, blocked=False)  # a forward pass: no product over the rows
    compiled = assert_rows_agree(gc.grad(graph, wrt=wrt), inputs, dtype)
    source = compiled.source
    assert "row-blocked kernel" in source and "blas_dot_add(" in source
    assert "b_X = in_X[r0:r0 + 128]" in source
    blocks = source.split("===== blocks")[1].split("===== post")[0]
    assert "in prange(" not in blocks and "parallel=True" not in blocks
    rng = np.random.default_rng(3)
    direction = (rng.normal(size=(16, 32)) / 4).astype(dtype)
    hvp = assert_rows_agree(gc.hvp(graph, wrt="W1"), {**inputs, "direction": direction}, dtype)
    # the loss is computed after the blocks; the HVP is a product over the rows, returned as summed
    assert compiled.kernel.post is not None and hvp.kernel.post is None and "===== post" not in hvp.source


def test_mlp_gradient_matches_central_differences():
    graph, inputs = mlp(n=256)
    grad = gc.compile(gc.grad(graph, wrt=["W1"]), backend="numba")
    assert isinstance(grad.kernel, kernel.RowBlockedKernel)
    loss = gc.compile(graph, backend="numpy")
    _, g = grad(**inputs)
    rng = np.random.default_rng(0)
    for _ in range(5):
        i, j = rng.integers(16), rng.integers(32)
        e = np.zeros_like(inputs["W1"])
        e[i, j] = 1e-5
        up = loss(**{**inputs, "W1": inputs["W1"] + e})[0]
        down = loss(**{**inputs, "W1": inputs["W1"] - e})[0]
        assert abs((up - down) / 2e-5 - g[i, j]) < 1e-7 * max(1.0, abs(g[i, j]))


def test_logistic_loss_with_a_row_vector_and_a_scalar_input_agrees_with_numpy():
    """Row inputs of rank 1 (labels), y @ X and x @ y products over the rows, a 0-d shared input."""
    graph, inputs = logistic()
    assert_rows_agree(graph, inputs, blocked=False)
    assert_rows_agree(gc.grad(graph, wrt="w"), inputs)
    hvp = gc.hvp(graph, wrt="w")
    assert_rows_agree(hvp, {**inputs, "direction": np.linspace(-1, 1, 8)})


def _shared_product_graph(names=("U", "V", "X", "Y")):
    u, v, x, y = names
    X, Y = gc.placeholder(x, (512, 6)), gc.placeholder(y, (512, 5))
    U, V = gc.placeholder(u, (6, 7)), gc.placeholder(v, (7, 5))
    W = U @ V  # shared, not a view: computed by pre
    R = X @ W - Y
    graph = gc.Graph([U, V, X, Y], {"loss": gc.sum(R * R) * gc.sum(W), "cross": gc.transpose(X) @ R,
                                    "W": W, "count": gc.sum(R > 0.0)})
    rng = np.random.default_rng(2)
    inputs = {u: rng.normal(size=(6, 7)), v: rng.normal(size=(7, 5)),
              x: rng.normal(size=(512, 6)), y: rng.normal(size=(512, 5))}
    return graph, inputs


def test_shared_products_are_computed_once_before_the_blocks_and_reused_after():
    graph, inputs = _shared_product_graph()
    compiled = assert_rows_agree(graph, inputs)
    assert compiled.kernel.pre is not None and "===== pre" in compiled.source
    assert compiled(**inputs)["count"].dtype == np.int64


def test_the_parts_name_their_own_inputs_apart_from_the_graphs():
    graph, _ = _shared_product_graph()
    parts = rows.split(graph, rows.plan_rows(graph, threads=2))
    ours = [p.attrs["name"] for p in parts.post.inputs + parts.block.inputs
            if p.attrs["name"] not in ("U", "V", "X", "Y")]
    assert any(n.startswith("partial") for n in ours) and any(n.startswith("shared") for n in ours)
    clashing = (ours[0], ours[-1], "X", "Y")  # the user's inputs take the names the parts chose
    graph, inputs = _shared_product_graph(clashing)
    parts = rows.split(graph, rows.plan_rows(graph, threads=2))
    for part in (parts.block, parts.post):
        names = [p.attrs["name"] for p in part.inputs]
        assert len(names) == len(set(names))
    assert_rows_agree(graph, inputs)


@pytest.mark.parametrize("threads", [1, 3])
def test_results_do_not_depend_on_the_number_of_threads(threads):
    graph, inputs = mlp()
    g = gc.grad(graph, wrt=["W1", "b2"])
    with mock.patch.object(numba.config, "NUMBA_NUM_THREADS", threads):
        compiled = gc.compile(g, backend="numba")
    assert compiled.kernel.threads == threads
    expected = outputs(gc.compile(g, backend="numpy"), inputs)
    for got, want in zip(outputs(compiled, inputs), expected):
        np.testing.assert_allclose(got, want, **TOL["float64"])


def test_concurrent_callers_each_get_their_own_results():
    graph, inputs = mlp()
    compiled = gc.compile(gc.grad(graph, wrt=["W1"]), backend="numba")
    reference = gc.compile(gc.grad(graph, wrt=["W1"]), backend="numpy")
    rng = np.random.default_rng(5)
    cases = [{**inputs, "X": rng.normal(size=(512, 16))} for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda kw: compiled(**kw), cases * 3))
    for kw, result in zip(cases * 3, got):
        for a, b in zip(result, reference(**kw)):
            np.testing.assert_allclose(a, b, **TOL["float64"])
    assert compiled.kernel.workspace_bytes > 0


def test_rows_false_compiles_one_kernel_and_bad_option_values_are_refused():
    graph = gc.grad(mlp()[0], wrt=["W2"])
    inputs = mlp()[1]
    one = gc.compile(graph, backend="numba", rows=False)
    assert isinstance(one.kernel, kernel.NumbaKernel)
    for a, b in zip(one(**inputs), gc.compile(graph, backend="numba")(**inputs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    with pytest.raises(BackendError, match=r"option rows= must be True or False, got 'yes'"):
        gc.compile(graph, backend="numba", rows="yes")
    optimized = gc.optimize(graph)  # what gc.compile hands the backend
    assert "row-blocked" in get_backend("numba").source(optimized)
    assert "row-blocked" not in get_backend("numba").source(optimized, parallel=False)


# --- random graphs --------------------------------------------------------------------------------

UNARY = {"tanh": gc.tanh, "exp_neg_sq": lambda z: gc.exp(-(z * z)), "softplus": gc.softplus,
         "square": lambda z: z * z, "sin": gc.sin}


@st.composite
def row_graphs(draw):
    """A loss over the rows of X (N x d): layers Z = f(Z W_i + b_i), then a sum over the rows of
    a function of the last layer (maybe less Y). A product of two sums over the rows is one pass
    forward but not backward (its gradient scales every row by a sum over the rows): only the
    other losses are differentiated."""
    n = draw(st.sampled_from([256, 384, 512]))
    widths = draw(st.lists(st.integers(1, 9), min_size=2, max_size=4))
    X = gc.placeholder("X", (n, widths[0]))
    Y = gc.placeholder("Y", (n, widths[-1]))
    c = gc.placeholder("c", (widths[-1],))
    params, z = [], X
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        W, bias = gc.placeholder(f"W{i}", (a, b)), gc.placeholder(f"b{i}", (b,))
        params += [W, bias]
        z = UNARY[draw(st.sampled_from(sorted(UNARY)))](z @ W + bias)
    if draw(st.booleans()):
        z = z - Y
    form = draw(st.sampled_from(["squares", "mean", "weighted", "product of sums"]))
    loss = {"squares": lambda: gc.sum(z * z), "mean": lambda: gc.mean(gc.tanh(z)),
            "weighted": lambda: gc.sum(gc.exp(-(z @ c))) + gc.sum(c * c),
            "product of sums": lambda: gc.sum(gc.sum(z, axis=0) * gc.sum(gc.tanh(z), axis=0))}[form]()
    graph = gc.Graph(params + [X, Y, c], [loss])
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    inputs = {p.attrs["name"]: rng.normal(size=p.shape) * (0.5 if p.attrs["name"] != "X" else 1.0)
              for p in graph.inputs}
    return graph, [p.attrs["name"] for p in params] + ["c"], inputs, form != "product of sums"


@settings(max_examples=8)
@given(row_graphs())
def test_random_row_graphs_and_their_gradients_agree_with_numpy(case):
    graph, params, inputs, one_pass_backward = case
    assert_rows_agree(graph, inputs, blocked=False)  # forward: no product over the rows
    grad = gc.optimize(gc.grad(graph, wrt=params))
    if one_pass_backward:
        assert_rows_agree(grad, inputs)
    else:  # rows of the gradient depend on a sum over the rows: one kernel, still right
        assert rows.plan_rows(grad, threads=2) is None


# --- the cache --------------------------------------------------------------------------------

ROWS_SCRIPT = textwrap.dedent("""
    import json, numpy as np, graphc as gc
    from unittest import mock
    from graphc.backends.numba import rows
    n = 512
    X, W = gc.placeholder("X", (n, 8)), gc.placeholder("W", (8, 3))
    graph = gc.grad(gc.Graph([W, X], [gc.sum(gc.tanh(X @ W) ** 2)]), wrt="W")
    with mock.patch.object(rows, "MIN_ROW_BYTES", 0):
        compiled = gc.compile(graph, backend="numba")
    k = compiled.kernel
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(n, 8)), rng.normal(size=(8, 3))
    value, grad = compiled(W=w, X=x)
    t = np.tanh(x @ w)
    print(json.dumps({"kind": type(k).__name__, "hit": k.cache_hit,
                      "misses": sum(k.dispatcher.stats.cache_misses.values()),
                      "value": [float(value), float(np.sum(t ** 2))],
                      "grad": float(np.max(np.abs(grad - x.T @ (2 * t * (1 - t * t)))))}))
""")


def _rows_run(cache):
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", ROWS_SCRIPT], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_row_blocked_kernel_loads_from_the_cache_in_a_new_process(tmp_path):
    first, second = _rows_run(tmp_path), _rows_run(tmp_path)
    for run in (first, second):
        assert run["kind"] == "RowBlockedKernel"
        assert abs(run["value"][0] - run["value"][1]) < 1e-9 * abs(run["value"][1])
        assert run["grad"] < 1e-9
    assert not first["hit"] and first["misses"] >= 1
    assert second["hit"] and second["misses"] == 0


# --- found in review ------------------------------------------------------------------------------

def test_zero_d_inputs_of_other_dtypes_given_as_0d_arrays_reach_the_block_function():
    X, W = gc.placeholder("X", (512, 8), "float32"), gc.placeholder("W", (8, 4), "float32")
    s, k = gc.placeholder("s", (), "float32"), gc.placeholder("k", (), "int32")
    graph = gc.Graph([X, W, s, k], [gc.transpose(X) @ gc.tanh(X @ W * s), gc.sum(X @ W) * k])
    rng = np.random.default_rng(4)
    inputs = {"X": rng.normal(size=(512, 8)).astype("float32"),
              "W": rng.normal(size=(8, 4)).astype("float32"),
              "s": np.array(2, np.float32), "k": np.array(3, np.int32)}
    assert_rows_agree(graph, inputs, "float32")
    for scalars in ({"s": np.float32(2), "k": np.int32(3)}, {"s": 2.0, "k": 3}):
        compiled = gc.compile(graph, backend="numba")
        expected = outputs(gc.compile(graph, backend="numpy"), inputs)
        for got, want in zip(outputs(compiled, {**inputs, **scalars}), expected):
            np.testing.assert_allclose(got, want, **TOL["float32"])


def test_a_transpose_that_keeps_the_axes_is_not_taken_for_one_over_the_rows():
    A, Y = gc.placeholder("A", (256, 256)), gc.placeholder("Y", (256, 3))
    graph = gc.Graph([A, Y], [gc.transpose(A, (0, 1), name="same") @ gc.tanh(Y)])
    assert rows.plan_rows(graph, threads=2) is None
    rng = np.random.default_rng(1)
    inputs = {"A": rng.normal(size=(256, 256)), "Y": rng.normal(size=(256, 3))}
    got = gc.compile(graph, backend="numba", optimize=False)(**inputs)[0]
    np.testing.assert_allclose(got, inputs["A"] @ np.tanh(inputs["Y"]), **TOL["float64"])


def classifier(n=512, d=8, h=16, k=4):
    """A softmax cross-entropy loss with integer labels (a gather along the classes per row)."""
    X, labels = gc.placeholder("X", (n, d)), gc.placeholder("labels", (n,), "int64")
    W1, W2 = gc.placeholder("W1", (d, h)), gc.placeholder("W2", (h, k))
    z = gc.tanh(X @ W1) @ W2
    loss = gc.mean(gc.logsumexp(z, axis=1) - gc.take_along_axis(z, gc.expand_dims(labels, 1), axis=1)[:, 0])
    rng = np.random.default_rng(8)
    inputs = {"X": rng.normal(size=(n, d)), "labels": rng.integers(0, k, size=n),
              "W1": rng.normal(size=(d, h)) / 3, "W2": rng.normal(size=(h, k)) / 3}
    return gc.Graph([W1, W2, X, labels], [loss], name="classifier"), inputs


def test_a_classifier_with_integer_labels_runs_in_blocks_and_a_bad_label_is_an_input_error():
    graph, inputs = classifier()
    g = gc.grad(graph, ["W1", "W2"])
    compiled = assert_rows_agree(g, inputs)  # the gather, its scatter and the seed broadcast per block
    optimized = gc.optimize(g)
    plan = rows.plan_rows(optimized, threads=2)
    ops = {n.op: plan.kinds[n.serial] for n in optimized.nodes}
    assert ops["take_along_axis"] == ops["scatter_add_along_axis"] == "row"
    assert_rows_agree(gc.hvp(graph, ["W1", "W2"]), {**inputs, "direction_W1": np.ones((8, 16)),
                                                     "direction_W2": np.ones((16, 4))})
    bad = dict(inputs, labels=inputs["labels"].copy())
    bad["labels"][300] = 4
    message = "index 4 is out of range for axis 1 of size 4 in take_along_axis"
    with pytest.raises(gc.InputError, match=message):
        compiled(**bad)
