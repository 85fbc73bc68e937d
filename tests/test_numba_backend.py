"""The numba backend against the numpy backend (the reference): every op of the op table, the
notes' examples with their gradient and HVP graphs, random graphs, batch evaluation, the on-disk
cache, and the shape of the generated code (fusion, BLAS layouts).

numba compiles are the cost here, so checks are batched: one graph holds several random
instances of every op, and compiled kernels come from the on-disk cache on later runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from graphgen import random_graphs
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.core.errors import NumbaPerformanceWarning
from optable import OPS, sample

import graphc as gc
from graphc.backend_registry import get_backend
from graphc.backends.numba import codegen, kernel, rows
from graphc.backends.numba.codegen import PARALLEL_MIN_WORK, TRANSCENDENTAL_COST
from graphc.backends.numba.runtime import lapack, workspace
from graphc.examples import all_examples

ROOT = Path(__file__).resolve().parents[1]
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=3e-5, atol=3e-6)}


def both(graph, inputs, batch=()):
    """Outputs of the numba and the numpy backend, as lists, for the same inputs."""
    out = []
    for backend in ("numba", "numpy"):
        res = gc.compile(graph, backend=backend, batch=batch)(**inputs)
        out.append(list(res.values()) if isinstance(res, dict) else list(res))
    return out


def assert_agree(graph, inputs, dtype="float64", batch=()):
    got, expected = both(graph, inputs, batch)
    labels = graph.output_names or range(len(graph.outputs))
    for label, g, e, node in zip(labels, got, expected, graph.outputs):
        assert g.shape == e.shape, (label, g.shape, e.shape)
        assert g.dtype == e.dtype == node.dtype, (label, g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, err_msg=str(label), **TOL[dtype])


# --- the lowering table -------------------------------------------------------------------------


def test_an_op_without_a_numba_implementation_is_refused_at_compile_time_naming_it(declare):
    op = declare("tests.numpy_only_exp", elementwise=True, derivative=lambda g, out, x: g * out, impl=np.exp)
    x = gc.placeholder("x", (3,))
    graph = gc.Graph([x], [op(x, name="h")])
    np.testing.assert_allclose(gc.compile(graph)(x=np.zeros(3))[0], np.ones(3))
    with pytest.raises(gc.BackendError, match=r"cannot lower op 'tests.numpy_only_exp' \(node h.*scalar="):
        gc.compile(graph, backend="numba")


# --- every op of the op table, float64 and float32 ----------------------------------------------


def _op_table_graph(data, dtype, per_op=2):
    """One graph holding ``per_op`` random instances of every op of the table."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs, outputs, values = [], {}, {}
    for spec in OPS:
        for j in range(per_op):
            shapes, attrs = data.draw(spec.shapes)
            xs = [gc.placeholder(f"{spec.name}{j}_x{i}", s, dtype) for i, s in enumerate(shapes)]
            outputs[f"{spec.name}{j}"] = spec.build(*xs, **attrs)
            inputs += xs
            drawn = sample(spec, shapes, rng, np.dtype(dtype))
            values.update({f"{spec.name}{j}_{k}": v for k, v in drawn.items()})
    return gc.Graph(inputs, outputs), values, rng


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=1)
@given(data=st.data())
def test_every_op_agrees_with_numpy(dtype, data):
    graph, values, _ = _op_table_graph(data, dtype, per_op=2 if dtype == "float64" else 1)
    assert_agree(graph, values, dtype)


@settings(max_examples=1)
@given(data=st.data())
def test_gradient_of_every_op_agrees_with_numpy(data):
    graph, values, rng = _op_table_graph(data, "float64", per_op=1)
    loss = None
    for out in graph.outputs:  # a random linear functional of each output
        term = gc.sum(out * gc.constant(rng.normal(size=out.shape)))
        loss = term if loss is None else loss + term
    assert_agree(gc.grad(gc.Graph(graph.inputs, [loss])), values)


# --- the notes' examples, their gradients and HVPs ----------------------------------------------


@pytest.mark.parametrize("example", all_examples(), ids=lambda e: e.name)
def test_examples_gradients_and_hvps_agree_with_numpy(example):
    inputs = example.inputs(np.random.default_rng(0))
    w = inputs[example.wrt]
    h = gc.hvp(example.graph, example.wrt)
    direction = np.random.default_rng(1).normal(size=np.shape(w))
    for graph, values in ((example.graph, inputs), (gc.grad(example.graph, example.wrt), inputs),
                          (h, {**inputs, "direction": direction})):
        assert_agree(graph, values)
    if example.hessian is not None:  # and against the notes' closed form
        res = gc.compile(h, backend="numba")(**inputs, direction=direction)
        (hv,) = res.values() if isinstance(res, dict) else res
        np.testing.assert_allclose(hv, example.hessian(**inputs) @ direction, rtol=1e-10)


@settings(max_examples=6)
@given(drawn=random_graphs(max_steps=10), seed=st.integers(0, 2**16))
def test_random_graphs_agree_with_numpy(drawn, seed):
    graph, draw_inputs = drawn
    assert_agree(graph, draw_inputs(np.random.default_rng(seed)))


@settings(max_examples=10, deadline=None)
@given(drawn=random_graphs(max_steps=10, smooth=True, scalar_output=True), seed=st.integers(0, 2**16))
def test_random_gradient_graphs_agree_with_every_intermediate_in_the_workspace(drawn, seed):
    """With no size threshold every intermediate is a workspace array, so every loop that reads one
    for the last time writes its result over it (Generator._donors) and arrays share memory."""
    graph, draw_inputs = drawn
    inputs = draw_inputs(np.random.default_rng(seed))
    with mock.patch.object(codegen, "WORKSPACE_MIN_BYTES", 0):
        assert_agree(gc.grad(graph), inputs)


def test_a_reshape_keeps_the_workspace_array_it_views_alive():
    """``v6 = v5.reshape(...)`` read after v5's last mention: v5's memory must not go to another
    array before then (found in review: wrong results, in one kernel as in a row-blocked one)."""
    n = 512
    X3, W, D = gc.placeholder("X3", (n, 2, 4)), gc.placeholder("W", (8, 6)), gc.placeholder("D", (n, 8))
    R = gc.reshape(gc.tanh(X3 * 1.5), (n, 8))
    G = gc.tanh(R @ W)
    graph = gc.Graph([X3, W, D], [gc.transpose(R) @ G + gc.transpose(D) @ G])
    rng = np.random.default_rng(8)
    inputs = {"X3": rng.normal(size=(n, 2, 4)), "W": rng.normal(size=(8, 6)), "D": rng.normal(size=(n, 8))}
    with mock.patch.object(codegen, "WORKSPACE_MIN_BYTES", 0):  # one kernel, all in the workspace
        assert ".reshape(" in get_backend("numba").source(graph)
        assert isinstance(gc.compile(graph, backend="numba").kernel, kernel.NumbaKernel)
        assert_agree(graph, inputs)
    with mock.patch.object(rows, "MIN_ROW_BYTES", 0):  # in blocks of rows
        assert isinstance(gc.compile(graph, backend="numba").kernel, kernel.RowBlockedKernel)
        assert_agree(graph, inputs)


def test_linear_algebra_ops_agree_with_numpy():
    rng = np.random.default_rng(3)
    a = gc.placeholder("a", (2, 4, 4))
    b = gc.placeholder("b", (4, 3))
    m = gc.placeholder("m", (5, 3))
    spd = a @ gc.matrix_transpose(a) + 4.0 * gc.constant(np.eye(4))
    w, v = gc.eigh(spd)
    outputs = {
        "inv": gc.inv(spd), "solve": gc.solve(spd, b), "det": gc.det(spd),
        "logdet": gc.slogdet(spd)[1], "chol": gc.cholesky(spd), "eigvals": w,
        "eigvec_abs": gc.abs(v), "eigvalsh": gc.eigvalsh(spd), "svdvals": gc.svdvals(m),
        "trace": gc.trace(spd, axis1=-2, axis2=-1), "diag": gc.diag(b[:3, :3]),
        "einsum": gc.einsum("bij,jk->bik", spd, b), "norm": gc.norm(m),
        "solve_vec": gc.solve(spd[0], b[:, 0]),
    }
    graph = gc.Graph([a, b, m], outputs)
    values = {"a": rng.normal(size=(2, 4, 4)), "b": rng.normal(size=(4, 3)), "m": rng.normal(size=(5, 3))}
    assert_agree(graph, values)
    f = gc.Graph([a, b, m], [gc.sum(gc.slogdet(spd)[1]) + gc.sum(gc.solve(spd, b)) + gc.sum(gc.svdvals(m))])
    assert_agree(gc.grad(f), values)


def test_integer_and_boolean_graphs_agree_with_numpy():
    i = gc.placeholder("i", (3, 4), "int64")
    j = gc.placeholder("j", (4, 2), "int32")
    outputs = {"matmul": i @ gc.cast(j, "int64"), "sum": gc.sum(i, axis=1), "max": gc.max(i, axis=0),
               "cmp": gc.where(i > 2, i, -i), "bool_any": gc.max(i > 5), "mean": gc.mean(j)}
    values = {"i": np.arange(12).reshape(3, 4) - 4, "j": np.arange(8, dtype=np.int32).reshape(4, 2)}
    assert_agree(gc.Graph([i, j], outputs), values)


# --- the generated code ---------------------------------------------------------------------------


def test_an_elementwise_chain_and_its_sum_are_one_loop_without_temporaries():
    x = gc.placeholder("x", (100,))
    y = gc.placeholder("y", (100,))
    f = gc.sum(gc.exp(x) * y + 1.0)
    graph = gc.Graph([x, y], [f])
    backend = get_backend("numba")
    (group,) = backend.fusion_groups(graph)
    assert [n.op for n in group] == ["exp", "mul", "add", "sum"]
    source = backend.source(graph)
    assert source.count("for i0 in") == 1 and "np.empty" not in source, source
    assert "def kernel(in_x, in_y)" in source and "@numba.njit(" in source
    assert gc.compile(graph, backend="numba").source == source


def test_broadcasting_is_read_in_place_and_results_written_once():
    x = gc.placeholder("x", (30,))
    y = gc.placeholder("y", (20,))
    z = gc.tanh((x[:, None] + y[None, :]) * 2.0)
    graph = gc.Graph([x, y], [z])
    groups = get_backend("numba").fusion_groups(graph)
    assert [[n.op for n in g] for g in groups] == [["add", "mul", "tanh"]]
    source = get_backend("numba").source(graph)
    assert source.count("np.empty") == 1 and "in_x[i0]" in source and "in_y[i1]" in source, source
    assert_agree(graph, {"x": np.linspace(-1, 1, 30), "y": np.linspace(0, 2, 20)})


def test_transposed_and_batched_matmuls_keep_known_layouts():
    """BLAS must see C arrays (a transposed one by its flag): a layout-'A' view would make numba warn
    and loop slowly."""
    a = gc.placeholder("a", (6, 5))
    b = gc.placeholder("b", (6, 4))
    c = gc.placeholder("c", (3, 5, 6))
    outputs = [a.T @ b, b.T @ a, c @ a, gc.matrix_transpose(c) @ b[:5, :], a[:, 1:].T @ b]
    graph = gc.Graph([a, b, c], outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumbaPerformanceWarning)
        kernel = get_backend("numba").compile(graph, cache=False)
    assert "blas_dot(in_a, True, in_b, False" in kernel.source, kernel.source
    assert "blas_dot(in_b, True, in_a, False" in kernel.source, kernel.source
    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=(6, 5)), "b": rng.normal(size=(6, 4)), "c": rng.normal(size=(3, 5, 6))}
    got = kernel([values["a"], values["b"], values["c"]])
    expected = gc.compile(graph, backend="numpy")(**values)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_large_products_are_split_across_threads_and_agree_with_numpy(dtype):
    """Products of at least PARALLEL_MIN_WORK multiply-adds go to parallel_dot / parallel_matvec:
    every orientation of both operands (a transposed operand is passed as its C-contiguous
    parent), out's rows split (m >= n) or its columns (m < n), blocks that do not divide the axis."""
    m, k, n = 129, 257, 131
    assert m * k * n >= PARALLEL_MIN_WORK
    A, At = gc.placeholder("A", (m, k), dtype), gc.placeholder("At", (k, m), dtype)
    B, Bt = gc.placeholder("B", (k, n), dtype), gc.placeholder("Bt", (n, k), dtype)
    M = gc.placeholder("M", (700, 800), dtype)
    y, z = gc.placeholder("y", (800,), dtype), gc.placeholder("z", (700,), dtype)
    outputs = [A @ B, At.T @ B, A @ Bt.T, At.T @ Bt.T,  # m < n: columns split
               Bt @ At, B.T @ At, Bt @ A.T, B.T @ A.T,  # m > n: rows split
               M @ y, z @ M, M.T @ z]
    graph = gc.Graph([A, At, B, Bt, M, y, z], outputs)
    source = get_backend("numba").source(graph)
    assert source.count("parallel_dot(") == 8 and source.count("parallel_matvec(") == 3, source
    for flags in ("in_A, False, in_B, False", "in_At, True, in_B, False", "in_A, False, in_Bt, True",
                  "in_At, True, in_Bt, True", "in_M, False, in_y", "in_M, True, in_z"):
        assert flags in source, (flags, source)
    rng = np.random.default_rng(3)
    values = {p.attrs["name"]: rng.normal(size=p.shape).astype(dtype) for p in graph.inputs}
    got = gc.compile(graph, backend="numba", optimize=False)(**values)
    a, at, b, bt, mm, yy, zz = (values[p.attrs["name"]].astype(np.float64) for p in graph.inputs)
    pairs = [(a, b), (at.T, b), (a, bt.T), (at.T, bt.T), (bt, at), (b.T, at), (bt, a.T), (b.T, a.T),
             (mm, yy), (zz, mm), (mm.T, zz)]
    eps = np.finfo(dtype).eps
    for g, (left, right) in zip(got, pairs):
        # the rounding error bound of a sum of k products: k eps (|left| @ |right|)
        bound = left.shape[-1] * eps * (np.abs(left) @ np.abs(right))
        assert g.dtype == np.dtype(dtype) and g.shape == bound.shape
        assert np.all(np.abs(g - left @ right) <= bound), source


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_matrix_and_its_transpose_times_one_vector_read_the_matrix_once(dtype):
    """M @ x next to x @ M (or M.T @ x) is one both_matvecs call, a large one split across
    threads; a transposed or sliced matrix and a graph output as the second product included."""
    n, big = 37, 800
    assert 4 * big * big >= PARALLEL_MIN_WORK > 4 * n * n
    M, N = gc.placeholder("M", (n, n), dtype), gc.placeholder("N", (n, n), dtype)
    W, x = gc.placeholder("W", (n + 3, n + 3), dtype), gc.placeholder("x", (n,), dtype)
    L, y = gc.placeholder("L", (big, big), dtype), gc.placeholder("y", (big,), dtype)
    S = W[1:n + 1, 2:n + 2]  # a view: copied once, then read once
    outputs = [M @ x, x @ M, N.T @ x, N @ x, S @ x, S.T @ x, y @ L, L @ y, gc.sum(M @ x + x @ M)]
    graph = gc.Graph([M, N, W, x, L, y], outputs)
    source = get_backend("numba").source(graph)
    assert source.count("both_matvecs(in_") == 4 and source.count("parallel_both_matvecs(in_L, in_y") == 1
    assert "matvec(" not in source.replace("both_matvecs(", ""), source
    rng = np.random.default_rng(5)
    values = {p.attrs["name"]: rng.normal(size=p.shape).astype(dtype) for p in graph.inputs}
    got = gc.compile(graph, backend="numba", optimize=False)(**values)
    m, nn, w, xx, ll, yy = (values[p.attrs["name"]].astype(np.float64) for p in graph.inputs)
    s = w[1:n + 1, 2:n + 2]
    pairs = [(m, xx), (xx, m), (nn.T, xx), (nn, xx), (s, xx), (s.T, xx), (yy, ll), (ll, yy)]
    eps = np.finfo(dtype).eps
    for g, (left, right) in zip(got, pairs):
        product = left @ right
        bound = max(left.shape[-1], right.shape[0]) * eps * (np.abs(left) @ np.abs(right))
        assert g.dtype == np.dtype(dtype) and g.shape == product.shape
        assert np.all(np.abs(g - product) <= bound)
    np.testing.assert_allclose(got[-1], (m @ xx + xx @ m).sum(), rtol=50 * n * eps)


def test_the_hvp_of_a_general_log_quadratic_reads_the_matrix_twice():
    """A x, A d and Aᵀ(a x + b d): the last is split into a Aᵀx + b Aᵀd, which pair with A x and
    A d (graphc.backends.numba.pairing), so the kernel makes two passes over A; only where such
    pairs exist."""
    n = 9
    x, A = gc.placeholder("x", (n,)), gc.placeholder("A", (n, n))
    hvp = gc.hvp(gc.Graph([x, A], [gc.log(x @ (A @ x))]), "x")
    kernel = gc.compile(hvp, backend="numba")
    assert kernel.source.count("both_matvecs(in_A") == 2, kernel.source
    assert "matvec(" not in kernel.source.replace("both_matvecs(", ""), kernel.source
    rng = np.random.default_rng(7)
    a = rng.normal(size=(n, n)) + n * np.eye(n)
    xv, v = rng.normal(size=n), rng.normal(size=n)
    s = a + a.T
    q = xv @ a @ xv
    expected = s @ v / q - (s @ xv) * ((s @ xv) @ v) / q**2
    (got,) = kernel(x=xv, A=a, direction=v).values()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    d = gc.placeholder("d", (n,))
    alone = gc.Graph([x, d, A], [(x * 2.0 - d) @ A])  # no A x, A d to pair with: one product
    source = gc.compile(alone, backend="numba").source
    assert source.count("matvec(") == 1 and "both_matvecs" not in source, source
    # a tall matrix (logistic loss): Aᵀ(a u + b w) has no A u, A w to pair with
    B, w = gc.placeholder("B", (3 * n, n)), gc.placeholder("w", (n,))
    tall = gc.Graph([w, B], [gc.sum(gc.softplus(B @ w)) + 0.05 * (w @ w)])
    values = {"w": rng.normal(size=n), "B": rng.normal(size=(3 * n, n))}
    assert_agree(gc.grad(tall, "w"), values)  # its product is Bᵀ(1 - sigmoid(...)): a difference
    assert_agree(gc.hvp(tall, "w"), {**values, "direction": rng.normal(size=n)})


def test_both_products_inside_a_batch_loop_equal_single_calls():
    n = 9
    M, x = gc.placeholder("M", (n, n)), gc.placeholder("x", (n,))
    graph = gc.grad(gc.Graph([x, M], [gc.log(x @ (M @ x))]), "x")  # needs M x and Mᵀx
    # Mᵀ(x ḡ) is (Mᵀx) ḡ, next to M x, only when the fast mode takes the scale out of the product
    kernel = gc.compile(graph, backend="numba", batch=("x",), optimize="fast")
    assert "both_matvecs(in_M" in kernel.source
    rng = np.random.default_rng(6)
    m = rng.normal(size=(n, n))
    m = m @ m.T + n * np.eye(n)
    xs = rng.normal(size=(50, n))
    value, grad = kernel(x=xs, M=m)
    for i, xi in enumerate(xs):
        q = xi @ m @ xi
        np.testing.assert_allclose(value[i], np.log(q), rtol=1e-14)
        np.testing.assert_allclose(grad[i], (m + m.T) @ xi / q, rtol=1e-12, atol=1e-14)


def test_scipy_blas_has_one_thread_while_a_kernel_runs_and_its_count_is_restored():
    """Kernels parallelise across numba's threads; an OpenBLAS pool besides would compete for the
    cores. The count goes back only when the last of several concurrent kernels returns."""
    assert lapack.BLAS_THREAD_CONTROL, "SciPy's OpenBLAS thread count is out of reach"
    get, put = lapack._THREADS
    seen = []
    started, release = threading.Barrier(3), threading.Event()

    def kernel(label):
        seen.append((label, get()))
        if label != "single":
            started.wait(timeout=60)
            release.wait(timeout=60)
        return label

    before = get()
    put(2)
    try:
        assert lapack.with_one_blas_thread(kernel, "single") == "single"
        assert get() == 2
        threads = [threading.Thread(target=lapack.with_one_blas_thread, args=(kernel, i))
                   for i in range(2)]
        for t in threads:
            t.start()
        started.wait(timeout=60)  # both kernels are running
        assert get() == 1
        release.set()
        for t in threads:
            t.join(timeout=60)
        assert get() == 2
        assert all(count == 1 for _, count in seen), seen
        with pytest.raises(ZeroDivisionError):  # a failing kernel restores the count too
            lapack.with_one_blas_thread(lambda: 1 / 0)
        assert get() == 2
    finally:
        put(before)
    X, W = gc.placeholder("X", (256, 256)), gc.placeholder("W", (256, 64))
    parallel_blas = gc.compile(gc.Graph([X, W], [gc.sum(X @ W)]), backend="numba").kernel
    serial_blas = gc.compile(gc.Graph([X, W], [gc.sum(X[:8] @ W)]), backend="numba").kernel
    no_blas = gc.compile(gc.Graph([X], [gc.sum(X * X)]), backend="numba").kernel
    assert parallel_blas._run.func is lapack.with_one_blas_thread
    # no parallel work: OpenBLAS keeps its threads (a large inv alone still uses them)
    assert "blas_dot(" in serial_blas.source and serial_blas._run is serial_blas.dispatcher
    assert no_blas._run is no_blas.dispatcher


def test_a_fork_while_kernels_run_leaves_the_child_with_its_blas_threads_and_a_free_lock(monkeypatch):
    get, put = lapack._THREADS
    before = get()
    try:
        put(1)
        monkeypatch.setattr(lapack, "_running", 1)
        monkeypatch.setattr(lapack, "_saved", 2)
        held = lapack._threads_lock
        held.acquire()  # as if another thread held it at the fork
        lapack._after_fork_in_child()
        held.release()
        assert get() == 2 and lapack._running == 0
        assert lapack._threads_lock is not held and not lapack._threads_lock.locked()
    finally:
        put(before)


def test_a_large_batch_of_products_runs_its_batch_loop_across_threads():
    A, B = gc.placeholder("A", (8, 130, 120)), gc.placeholder("B", (8, 120, 140))
    v = gc.placeholder("v", (120,))
    graph = gc.Graph([A, B, v], [A @ B, A @ v])
    source = get_backend("numba").source(graph)
    assert "for i0 in prange(8):" in source and "blas_dot(in_A[i0], False, in_B[i0], False" in source, source
    rng = np.random.default_rng(1)
    values = {"A": rng.normal(size=(8, 130, 120)), "B": rng.normal(size=(8, 120, 140)),
              "v": rng.normal(size=120)}
    compiled = gc.compile(graph, backend="numba")
    assert compiled.kernel._run.func is lapack.with_one_blas_thread
    got = compiled(**values)
    np.testing.assert_allclose(got[0], values["A"] @ values["B"], rtol=1e-12)
    np.testing.assert_allclose(got[1], values["A"] @ values["v"], rtol=1e-12)


WORKQUEUE_SCRIPT = textwrap.dedent("""
    import threading, numpy as np, numba, graphc as gc
    X, W = gc.placeholder("X", (256, 256)), gc.placeholder("W", (256, 64))
    compiled = gc.compile(gc.Graph([X, W], [X @ W]), backend="numba")
    assert "parallel_dot(" in compiled.kernel.source and numba.threading_layer() == "workqueue"
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(256, 256)), rng.normal(size=(256, 64))
    errors = []
    def work():
        for _ in range(30):
            if not np.allclose(compiled(X=x, W=w)[0], x @ w):
                errors.append("wrong")
    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert not errors, errors
    print("ok")
""")


def test_parallel_kernels_called_from_several_threads_survive_numbas_workqueue_layer(tmp_path):
    """numba's workqueue layer aborts the process ("Concurrent access has been detected") when two
    threads run parallel regions at once: such kernels then run one at a time."""
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path), "NUMBA_THREADING_LAYER": "workqueue"}
    done = subprocess.run([sys.executable, "-c", WORKQUEUE_SCRIPT], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), (done.returncode, done.stderr[-2000:])


def test_large_loops_run_in_parallel_and_agree():
    n = PARALLEL_MIN_WORK // (128 * TRANSCENDENTAL_COST)  # the tanh loop reaches the threshold
    x = gc.placeholder("x", (n, 128))
    b = gc.placeholder("b", (128,))
    h = gc.tanh(x + b)
    graph = gc.Graph([x, b], {"h": h, "total": gc.sum(h * h), "cols": gc.sum(h, axis=0),
                              "colmax": gc.max(h, axis=0), "rowmin": gc.min(h, axis=1)})
    source = get_backend("numba").source(graph)
    assert "prange(" in source and "parallel=True" in source
    assert source.count("for i1 in range(128)") == 1, source  # one pass: h and all four reductions
    rng = np.random.default_rng(0)
    assert_agree(graph, {"x": rng.normal(size=(n, 128)), "b": rng.normal(size=128)})


def test_cheap_loops_of_the_same_size_stay_serial():
    n = PARALLEL_MIN_WORK // (128 * TRANSCENDENTAL_COST)
    x = gc.placeholder("x", (n, 128))
    b = gc.placeholder("b", (128,))
    source = get_backend("numba").source(gc.Graph([x, b], [(x + b) * 2.0]))
    assert "prange(" not in source and "parallel=True" not in source


def _workspace_graph():
    """Intermediates of 128 KiB (above WORKSPACE_MIN_BYTES), products on them, and outputs that
    are views of them (a transpose, a reshape) or the intermediates' own nodes' consumers."""
    x = gc.placeholder("x", (128, 128))
    w = gc.placeholder("w", (128, 128))
    h = gc.tanh(x @ w)
    loss = gc.sum((h @ w.T) ** 2)
    graph = gc.grad(gc.Graph([x, w], {"loss": loss, "h_t": h.T, "h_flat": gc.reshape(h, (128 * 128,))}),
                    wrt=["w"])
    return graph


def test_large_intermediates_live_in_a_workspace_that_outputs_never_alias():
    graph = _workspace_graph()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumbaPerformanceWarning)  # BLAS on workspace arrays: known layouts
        fn = gc.compile(graph, backend="numba", cache=False)
    assert fn.kernel.workspace_bytes >= 3 * 128 * 128 * 8
    rng = np.random.default_rng(5)
    first = {"x": rng.normal(size=(128, 128)), "w": rng.normal(size=(128, 128)) / 8}
    second = {"x": rng.normal(size=(128, 128)), "w": rng.normal(size=(128, 128)) / 8}
    out1 = fn(**first)
    kept = {k: np.copy(v) for k, v in out1.items()}
    out2 = fn(**second)  # the same workspace is written again
    reference = gc.compile(graph, backend="numpy")
    for inputs, got in ((first, out1), (second, out2)):
        for key, expected in reference(**inputs).items():
            np.testing.assert_allclose(got[key], expected, rtol=1e-12, atol=1e-12, err_msg=key)
    for key in kept:
        np.testing.assert_array_equal(out1[key], kept[key], err_msg=key)  # untouched by the 2nd call


def test_a_loop_writes_its_result_over_an_intermediate_it_reads_for_the_last_time():
    """tanh(R) is written over R = x @ w (read for the last time there), after the reduction of
    the same loop has read R at that index; R2 = x @ w.T, read again later, is not written over,
    nor R3 = x @ c under a loop that reads it through a reshape."""
    n = 128
    x, w, c = (gc.placeholder(k, (n, n)) for k in "xwc")
    r, r2 = x @ w, x @ w.T
    t = gc.tanh(r)
    u = gc.sum(t * r)  # the same loop reads r after computing t
    v = gc.exp(r2 * 0.01)
    r3 = x @ c
    e = gc.exp(gc.reshape(r3, (n * n,)) * 0.01)  # reads r3's memory through a reshape: r3 stays
    graph = gc.Graph([x, w, c], {"u": u, "tc": t @ c, "vc": v @ c, "r2": gc.sum(r2 @ c),
                                 "ec": gc.reshape(e, (n, n)) @ c, "r3c": r3 @ c})
    fn = gc.compile(graph, backend="numba", cache=False, optimize=False)
    source = fn.source
    assert source.count("# in place of") == 1, source
    (line,) = [text for text in source.splitlines() if "# in place of" in text]
    assert "tanh" not in line and line.strip().startswith("v"), line  # the store, after the loop's reads
    rng = np.random.default_rng(8)
    values = {k: rng.normal(size=(n, n)) / 8 for k in "xwc"}
    got, expected = fn(**values), gc.compile(graph, backend="numpy")(**values)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert fn.kernel.workspace_bytes < 6 * n * n * 8  # r, r2, t, v, r3, e: t shares r's memory


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 30), st.integers(0, 10)), max_size=25))
def test_workspace_arrays_share_memory_only_when_their_lifetimes_do_not_touch(arrays):
    sizes = [size for size, _, _ in arrays]
    spans = [(first, first + length) for _, first, length in arrays]
    offsets, total = workspace.plan(sizes, spans)
    for i in range(len(arrays)):
        assert offsets[i] % workspace.ALIGN == 0 and offsets[i] + sizes[i] <= total
        for j in range(i):
            overlap_in_time = spans[i][0] <= spans[j][1] and spans[j][0] <= spans[i][1]
            overlap_in_memory = offsets[i] < offsets[j] + sizes[j] and offsets[j] < offsets[i] + sizes[i]
            assert not (overlap_in_time and overlap_in_memory), (i, j)
    if len(arrays) > 1 and all(s[1] < t[0] for s, t in zip(sorted(spans), sorted(spans)[1:])):
        assert total == -(-max(sizes) // workspace.ALIGN) * workspace.ALIGN  # one after another


def test_a_loop_that_reads_one_array_for_the_last_time_never_writes_into_it():
    body = textwrap.dedent("""\
        def kernel(a, v1, v2, v3):
            np.dot(a, a, v1)
            for i0 in range(4):
                for i1 in range(4):
                    v2[i0, i1] = v1[i0, i1] * 2.0
            np.dot(v2, a, v3)
            return (v3[0, 0], )
        """)
    assert workspace.lifetimes(body, ["v1", "v2", "v3"]) == [(0, 1), (1, 2), (2, 3)]
    offsets, total = workspace.plan([128, 128, 128], [(0, 1), (1, 2), (2, 3)])
    assert offsets[0] != offsets[1] and offsets[1] != offsets[2] and offsets[0] == offsets[2]
    assert total == 256


def test_concurrent_calls_never_share_a_workspace():
    graph = _workspace_graph()
    fn = gc.compile(graph, backend="numba")
    reference = gc.compile(graph, backend="numpy")
    rng = np.random.default_rng(8)
    cases = [{"x": rng.normal(size=(128, 128)), "w": rng.normal(size=(128, 128)) / 8} for _ in range(8)]
    expected = [reference(**c) for c in cases]
    start = threading.Barrier(8)

    def work(k):
        start.wait()
        return [fn(**cases[k]) for _ in range(20)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for k, runs in enumerate(results):
        for got in runs:
            for key, want in expected[k].items():
                np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-12, err_msg=f"{k} {key}")


def test_outputs_never_alias_inputs_or_constants():
    x = gc.placeholder("x", (2, 3))
    c = gc.constant(np.ones((3, 2)))
    graph = gc.Graph([x], {"same": gc.stop_gradient(x), "t": x.T, "r": gc.reshape(x, (6,)), "c": c})
    value = np.arange(6.0).reshape(2, 3)
    out = gc.compile(graph, backend="numba")(x=value)
    out["same"][0, 0] = out["r"][1] = out["c"][0, 0] = 99.0
    assert value[0, 0] == 0.0 and value[0, 1] == 1.0
    np.testing.assert_array_equal(gc.compile(graph, backend="numba")(x=value)["c"], np.ones((3, 2)))


# --- errors -----------------------------------------------------------------------------------------


def test_unknown_or_malformed_options_raise_backend_error():
    graph = gc.Graph([x := gc.placeholder("x")], [x * 2.0])
    with pytest.raises(gc.BackendError, match=r"does not take option\(s\) \['fastmath'\]"):
        gc.compile(graph, backend="numba", fastmath=True)
    with pytest.raises(gc.BackendError, match="parallel= must be True or False"):
        gc.compile(graph, backend="numba", parallel="yes")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lapack_helpers_match_numpy_on_general_matrices(dtype):
    """solve, inv, det and slogdet call LAPACK directly (backends/lapack.py): signs from
    pivoting and negative pivots, a batch of matrices, a vector right-hand side, and a matrix with
    an exact zero pivot (numpy's slogdet gives (0, -inf) there, its det 0)."""
    rng = np.random.default_rng(11)
    a = gc.placeholder("a", (3, 5, 5), dtype)
    b = gc.placeholder("b", (5, 2), dtype)
    first = a[0]
    graph = gc.Graph([a, b], {"det": gc.det(a), "sign": gc.slogdet(a)[0], "logabs": gc.slogdet(a)[1],
                              "inv": gc.inv(first), "solve": gc.solve(first, b),
                              "solve_vec": gc.solve(first, b[:, 1])})
    mats = rng.normal(size=(3, 5, 5))
    mats[1] = mats[0][[1, 0, 2, 3, 4]]  # a row swap: the determinant changes sign
    mats[2] = [[0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [0, 9, 1, 2, 3], [0, 4, 5, 6, 7], [0, 8, 9, 1, 2]]
    values = {"a": mats.astype(dtype), "b": rng.normal(size=(5, 2)).astype(dtype)}
    dets = np.linalg.det(mats[:2])
    assert (dets < 0).any() and (dets > 0).any(), dets  # both signs are exercised
    got = gc.compile(graph, backend="numba")(**values)
    with np.errstate(divide="ignore"):
        want = {"det": np.linalg.det(values["a"]), "sign": np.linalg.slogdet(values["a"])[0],
                "logabs": np.linalg.slogdet(values["a"])[1], "inv": np.linalg.inv(values["a"][0]),
                "solve": np.linalg.solve(values["a"][0], values["b"]),
                "solve_vec": np.linalg.solve(values["a"][0], values["b"][:, 1])}
    assert got["sign"][2] == 0 and got["logabs"][2] == -np.inf and got["det"][2] == 0
    for key, expected in want.items():
        assert got[key].dtype == np.dtype(dtype), key
        np.testing.assert_allclose(got[key], expected, err_msg=key, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_with_a_symmetrized_matrix_use_blas_symmetric_routines_in_place(dtype):
    """S @ x, x @ S, S @ B and B @ S with S = symmetrize(A) call ?symv / ?symm on A itself (its
    lower triangle); the upper triangle of A must not matter."""
    rng = np.random.default_rng(4)
    A, x = gc.placeholder("A", (6, 6), dtype), gc.placeholder("x", (6,), dtype)
    B, C = gc.placeholder("B", (6, 3), dtype), gc.placeholder("C", (2, 6), dtype)
    S = gc.symmetrize(A)
    graph = gc.Graph([A, x, B, C], {"Sx": S @ x, "xS": x @ S, "SB": S @ B, "CS": C @ S, "xSx": x @ S @ x})
    kernel = get_backend("numba").compile(gc.optimize(graph), cache=False)
    body = kernel.source.split("def kernel")[1]
    assert body.count("symmetric_dot(in_A, ") == 4 and " else in_A[" not in body  # S is never copied
    values = {"A": rng.normal(size=(6, 6)), "x": rng.normal(size=6), "B": rng.normal(size=(6, 3)),
              "C": rng.normal(size=(2, 6))}
    values = {k: v.astype(dtype) for k, v in values.items()}
    other_upper = dict(values, A=np.tril(values["A"]) + np.triu(rng.normal(size=(6, 6)), 1).astype(dtype))
    lower = np.tril(values["A"].astype(np.float64))
    sym = lower + np.tril(lower, -1).T
    xs, bs, cs = (values[k].astype(np.float64) for k in "xBC")
    want = {"Sx": sym @ xs, "xS": xs @ sym, "SB": sym @ bs, "CS": cs @ sym, "xSx": xs @ sym @ xs}
    for inputs in (values, other_upper):
        got = gc.compile(graph, backend="numba")(**inputs)
        for key, expected in want.items():
            assert got[key].dtype == np.dtype(dtype)
            np.testing.assert_allclose(got[key], expected, err_msg=key, **TOL[dtype])


def test_the_gradient_of_a_symmetric_quadratic_form_needs_one_product():
    A, x = gc.placeholder("A", (5, 5)), gc.placeholder("x", (5,))
    S = gc.symmetrize(A)
    grad = gc.optimize(gc.grad(gc.Graph([x, A], [gc.log(x @ (S @ x))]), "x"), mode="fast")
    products = [n for n in grad.nodes if n.op == "matmul"]
    assert len(products) == 2  # S x, then x · (S x); the gradient 2 S x / q reuses S x
    # the IEEE mode keeps S (x / q): a third product (the scale may not leave it, as it may overflow)
    assert sum(n.op == "matmul" for n in gc.optimize(gc.grad(gc.Graph([x, A], [gc.log(x @ (S @ x))]),
                                                             "x")).nodes) == 3
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 5))
    a = a @ a.T + 5 * np.eye(5)
    xv = rng.normal(size=5)
    q = xv @ a @ xv
    np.testing.assert_allclose(gc.compile(grad, backend="numba")(x=xv, A=a)[1], 2 * a @ xv / q, rtol=1e-13)


def test_generated_tanh_is_within_two_ulp_of_numpy():
    """The kernel's tanh is its own vectorizable arithmetic (backends/numba/runtime/tanh.py)."""
    grid = np.concatenate([np.linspace(-30, 30, 2_000_001), np.geomspace(1e-300, 1, 100_000),
                           -np.geomspace(1e-300, 1, 100_000), np.geomspace(0.5, 0.75, 100_000),
                           np.nextafter(0.625, [0, 1]), [0.0, -0.0, 19.9, 20.1, 1e300, -1e300,
                                                          np.inf, -np.inf, np.nan, 5e-324]])
    x = gc.placeholder("x", grid.shape)
    got, want = gc.compile(gc.Graph([x], [gc.tanh(x)]), backend="numba")(x=grid)[0], np.tanh(grid)
    finite = np.isfinite(want)
    ulps = np.abs(got[finite] - want[finite]) / np.spacing(np.abs(want[finite]))
    assert ulps.max() <= 2.0, (ulps.max(), grid[finite][ulps.argmax()])
    assert np.isnan(got[~finite]).all()
    assert np.signbit(got[grid.size - 9]) and not np.signbit(got[grid.size - 10])  # tanh(-0.0) = -0.0


def test_generated_exp_and_sigmoid_are_within_a_few_ulp_of_numpy_and_scipy():
    """The kernel's exp and sigmoid are vectorizable arithmetic (backends/numba/runtime/exp.py):
    against numpy's exp and SciPy's expit over the float64 range, the subnormals, the bounds of
    overflow and underflow, infinities and NaN."""
    from scipy.special import expit

    grid = np.concatenate([np.linspace(-745, 709.78, 2_000_001), np.linspace(-30, 30, 1_000_001),
                           np.geomspace(1e-300, 1, 10_000), -np.geomspace(1e-300, 1, 10_000),
                           [0.0, -0.0, 709.78, 709.79, 710.0, 1e300, -745.1, -745.14, -746.0, -1e300,
                            np.inf, -np.inf, np.nan]])
    x = gc.placeholder("x", grid.shape)
    compiled = gc.compile(gc.Graph([x], [gc.exp(x), gc.sigmoid(x)]), backend="numba")
    assert "math.exp" not in compiled.source  # no libm call left in the loop
    got_exp, got_sigmoid = compiled(x=grid)
    with np.errstate(over="ignore"):
        want_exp, want_specials = np.exp(grid), np.exp(grid[-13:-1])
    for got, want, bound in [(got_exp, want_exp, 2.0), (got_sigmoid, expit(grid), 4.0)]:
        normal = np.isfinite(want) & (np.abs(want) >= np.finfo(float).tiny)
        ulps = np.abs(got[normal] - want[normal]) / np.spacing(np.abs(want[normal]))
        assert ulps.max() <= bound, (ulps.max(), grid[normal][ulps.argmax()])
    tiny = (want_exp < np.finfo(float).tiny) & (want_exp > 0)  # subnormal results: within one step
    assert np.abs(got_exp[tiny] - want_exp[tiny]).max() <= 5e-324
    np.testing.assert_allclose(got_exp[-13:], want_specials.tolist() + [np.nan], rtol=3e-16, atol=0)
    np.testing.assert_array_equal(got_sigmoid[-13:], [0.5, 0.5, 1, 1, 1, 1, 5e-324, 0, 0, 0, 1, 0, np.nan])
    # e / (1 + e) on the negative side: sigmoid(-740) is e^-740, which 1 / (1 + e^740) loses
    assert got_sigmoid[np.searchsorted(grid[:2_000_001], -740.0)] > 0


def test_tanh_intrinsics_pow2_is_exact_and_fma_rounds_once():
    """pow2 writes n + 1023 into the exponent bits; fma is LLVM's fused multiply-add."""
    import numba

    from graphc.backends.numba.runtime.tanh import fma, pow2

    @numba.njit
    def powers(n):
        out = np.empty(n.size)
        for i in range(n.size):
            out[i] = pow2(n[i])
        return out

    n = np.arange(-1022, 1024, dtype=np.float64)
    np.testing.assert_array_equal(powers(n), np.ldexp(1.0, n.astype(np.int64)))
    a = 1.0 + 2.0 ** -30  # a * a = 1 + 2^-29 + 2^-60: the last term is lost when rounded first
    assert numba.njit(lambda a, b, c: fma(a, b, c))(a, a, -(1.0 + 2.0 ** -29)) == 2.0 ** -60
    assert a * a - (1.0 + 2.0 ** -29) == 0.0


def test_a_singular_matrix_raises_graph_error_not_a_numba_traceback():
    a = gc.placeholder("a", (2, 2))
    run = gc.compile(gc.Graph([a], [gc.inv(a), gc.solve(a, a)]), backend="numba")
    with pytest.raises(gc.GraphError, match="numba kernel .* failed: Singular matrix"):
        run(a=np.zeros((2, 2)))
    b = gc.placeholder("b", (2,))
    one_scalar = gc.compile(gc.Graph([a, b], [gc.sum(gc.solve(a, b))]), backend="numba")  # the lean call
    assert one_scalar(a=np.eye(2), b=np.array([1.0, 2.0]))[0] == 3.0
    with pytest.raises(gc.GraphError, match="numba kernel .* failed: Singular matrix"):
        one_scalar(a=np.zeros((2, 2)), b=np.array([1.0, 2.0]))


# --- batch evaluation -------------------------------------------------------------------------------


def _loop_reference(graph, inputs, batch):
    """The batch semantics by definition: one single-sample numba call per sample, stacked."""
    single = gc.compile(graph, backend="numba")
    size = len(inputs[batch[0]])
    rows = []
    for k in range(size):
        res = single(**{n: v[k] if n in batch else v for n, v in inputs.items()})
        rows.append(list(res.values()) if isinstance(res, dict) else list(res))
    return [np.stack([r[i] for r in rows]) for i in range(len(rows[0]))]


BATCH_CASES = {
    "forward": lambda: (all_examples()[0].graph, ("x", "c")),
    "gradient": lambda: (gc.grad(all_examples()[4].graph), ("w", "x", "t")),
    "hvp": lambda: (gc.hvp(all_examples()[1].graph, "x"), ("x", "direction")),
    "per-sample matrices": lambda: (gc.grad(all_examples()[2].graph, "X"), ("A",)),
}


@pytest.mark.parametrize("case", sorted(BATCH_CASES))
def test_batch_equals_a_loop_of_single_sample_calls(case):
    graph, batch = BATCH_CASES[case]()
    rng = np.random.default_rng(5)
    size = 7
    inputs = {}
    for p in graph.inputs:
        name = p.attrs["name"]
        shape = ((size,) if name in batch else ()) + p.shape
        inputs[name] = rng.normal(size=shape)
    if case == "hvp":  # ln(xᵀAx) needs xᵀAx > 0: a positive definite A
        inputs["A"] = inputs["A"] @ inputs["A"].T + 4 * np.eye(len(inputs["A"]))
    got, by_numpy = both(graph, inputs, batch)
    expected = _loop_reference(graph, inputs, batch)
    for g, n, e in zip(got, by_numpy, expected):
        assert g.shape == e.shape == (size,) + g.shape[1:]
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(n, e, rtol=1e-12, atol=1e-14)


def test_batch_computes_shared_work_once_outside_the_sample_loop():
    x = gc.placeholder("x", (3,))
    A = gc.placeholder("A", (3, 3))
    graph = gc.Graph([x, A], [gc.sum(gc.exp(A) @ x)])
    source = get_backend("numba").source(graph, batch=("x",))
    before_loop = source.split("for k in prange")[0]
    assert "ex2_x = in_A[i0, i1]" in before_loop and "np.dot" not in before_loop, source  # exp(A), once


# --- the on-disk cache --------------------------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, graphc as gc
    scale = float(sys.argv[1])
    x = gc.placeholder("x", (4,))
    graph = gc.Graph([x], [gc.sum(gc.tanh(x * scale) ** 2)])
    compiled = gc.compile(graph, backend="numba")
    k = compiled.kernel
    print(json.dumps({"hit": k.cache_hit, "misses": sum(k.dispatcher.stats.cache_misses.values()),
                      "seconds": k.compile_seconds, "value": float(compiled(x=np.arange(4.0))[0]),
                      "path": str(k.path)}))
""")


PARALLEL_SCRIPT = textwrap.dedent("""
    import json, numpy as np, graphc as gc
    X, W = gc.placeholder("X", (256, 256)), gc.placeholder("W", (256, 64))
    A, x = gc.placeholder("A", (1024, 1024)), gc.placeholder("x", (1024,))
    graph = gc.Graph([X, W, A, x], [gc.sum(X @ W), gc.sum(A @ x)])
    compiled = gc.compile(graph, backend="numba")
    k = compiled.kernel
    assert "parallel_dot(" in k.source and "parallel_matvec(" in k.source, k.source
    rng = np.random.default_rng(0)
    values = {n: rng.normal(size=s) for n, s in (("X", (256, 256)), ("W", (256, 64)),
                                                  ("A", (1024, 1024)), ("x", (1024,)))}
    got = compiled(**values)
    print(json.dumps({"hit": k.cache_hit, "got": [float(v) for v in got],
                      "expected": [float(np.sum(values["X"] @ values["W"])),
                                   float(np.sum(values["A"] @ values["x"]))]}))
""")


def _run_script(cache, scale, script=SCRIPT):
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache)}
    return subprocess.Popen([sys.executable, "-c", script, str(scale)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_a_second_process_loads_the_kernel_without_compiling(tmp_path):
    first, second = _run_script(tmp_path, 2.0), _run_script(tmp_path, 2.0)  # concurrently
    first, second = _result(first), _result(second)
    expected = float(np.sum(np.tanh(np.arange(4.0) * 2.0) ** 2))
    assert first["value"] == pytest.approx(expected) and second["value"] == pytest.approx(expected)
    assert first["path"] == second["path"]
    assert not list(tmp_path.glob("numba/*.tmp")), "a temporary file was left behind"
    warm = _result(_run_script(tmp_path, 2.0))
    assert warm["hit"] and warm["misses"] == 0 and warm["value"] == first["value"]
    changed = _result(_run_script(tmp_path, 3.0))  # another constant: another graph
    assert not changed["hit"] and changed["path"] != first["path"]
    assert changed["value"] == pytest.approx(float(np.sum(np.tanh(np.arange(4.0) * 3.0) ** 2)))


def test_a_cached_kernel_calling_the_parallel_blas_helpers_loads_in_a_new_process(tmp_path):
    """numba starts its thread pool before loading a cached parallel function, not before a
    cached kernel that links one in: the generated module must (else LLVM cannot find the
    pool's symbols and the process aborts)."""
    cold = _result(_run_script(tmp_path, 0, PARALLEL_SCRIPT))
    warm = _result(_run_script(tmp_path, 0, PARALLEL_SCRIPT))
    assert not cold["hit"] and warm["hit"]
    for run in (cold, warm):
        np.testing.assert_allclose(run["got"], run["expected"], rtol=1e-10)


def test_a_changed_blas_helper_module_changes_every_kernel_key(monkeypatch):
    """A cached kernel holds the machine code of the lapack helpers it links in: loading it
    after a helper changed would run the old code (or call a symbol that is gone)."""
    from graphc.backends.numba import cache

    args = ("digest", ("x",), {"parallel": True}, "def kernel(): pass\n")
    before = cache.kernel_key(*args)
    monkeypatch.setattr(cache, "_HELPERS_DIGEST", "another helper source")
    assert cache.kernel_key(*args) != before


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 9), k=st.integers(0, 9), n=st.integers(0, 9), a_t=st.booleans(), b_t=st.booleans(),
       blocks=st.integers(1, 5), dtype=st.sampled_from(["float64", "float32"]), seed=st.integers(0, 2**16))
def test_blas_helpers_agree_with_numpy_on_random_shapes(m, k, n, a_t, b_t, blocks, dtype, seed):
    """blas_dot / parallel_dot / blas_matvec / parallel_matvec / both_matvecs on every shape, empty
    ones included, both orientations of each operand and any block count (more blocks than rows
    too)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if a_t else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if b_t else (k, n)).astype(dtype)
    x = rng.normal(size=k).astype(dtype)
    op_a, op_b = (a.T if a_t else a).astype(np.float64), (b.T if b_t else b).astype(np.float64)
    eps = np.finfo(dtype).eps
    for got_of, left, right in (
            (lambda out: lapack.blas_dot(a, a_t, b, b_t, out), op_a, op_b),
            (lambda out: lapack.parallel_dot(a, a_t, b, b_t, out, blocks), op_a, op_b),
            (lambda out: lapack.blas_matvec(a, a_t, x, out), op_a, x.astype(np.float64)),
            (lambda out: lapack.parallel_matvec(a, a_t, x, out, blocks), op_a, x.astype(np.float64))):
        expected = left @ right
        out = np.full(expected.shape, np.nan, dtype)  # every element must be written
        got_of(out)
        bound = max(k, 1) * eps * (np.abs(left) @ np.abs(right))
        assert np.all(np.abs(out - expected) <= bound), (out, expected)
    square = rng.normal(size=(k, k)).astype(dtype)
    for run in (lambda y, z: lapack.both_matvecs(square, x, y, z),
                lambda y, z: lapack.parallel_both_matvecs(square, x, y, z, blocks)):
        y, z = np.full(k, np.nan, dtype), np.full(k, np.nan, dtype)
        run(y, z)
        for got, left in ((y, square), (z, square.T)):
            left = left.astype(np.float64)
            bound = max(k, 1) * eps * (np.abs(left) @ np.abs(x.astype(np.float64)))
            assert np.all(np.abs(got - left @ x.astype(np.float64)) <= bound), (got, left @ x)


def test_without_control_of_blas_threads_products_stay_single_calls(monkeypatch):
    """If SciPy's BLAS is not an OpenBLAS whose thread count graphc can set, splitting a product
    across numba's threads would oversubscribe the cores: large products stay one BLAS call."""
    from graphc.backends.numba import statements

    monkeypatch.setattr(statements, "BLAS_THREAD_CONTROL", False)
    X, W = gc.placeholder("X", (256, 256)), gc.placeholder("W", (256, 64))
    source = get_backend("numba").source(gc.Graph([X, W], [X @ W]))
    assert "blas_dot(in_X, False, in_W, False" in source and "parallel_dot" not in source, source


# --- piecewise loops and small products ----------------------------------------------------------


def test_a_loop_reading_a_concatenate_or_padding_is_split_where_the_pieces_meet():
    """One loop per piece (backends/numba/segments.py): no per-element branch left to stop LLVM
    vectorizing, and the same numbers as numpy."""
    a, b = gc.placeholder("a", (3,)), gc.placeholder("b", (5,))
    M = gc.placeholder("M", (4, 6))
    both = gc.concatenate([a, b]) * 2.0 + 1.0
    wide = gc.concatenate([M, gc.exp(M[:, :2])], axis=1) * 3.0  # split along the inner axis
    f = gc.Graph([a, b, M], {"both": both, "wide": wide, "s": gc.sum(gc.sin(M[1:3, 2:5]))})
    grad = gc.grad(f, wrt="M", output="s")  # the slice's VJP pads with zeros: three pieces per axis
    rng = np.random.default_rng(3)
    inputs = {"a": rng.normal(size=3), "b": rng.normal(size=5), "M": rng.normal(size=(4, 6))}
    for graph in (f, grad):
        compiled = gc.compile(graph, backend="numba")
        kernel = compiled.source.split("def kernel(")[1]
        assert " if i0 < " not in kernel and " if i1 < " not in kernel and "<= i0 <=" not in kernel, kernel
        expected = gc.compile(graph, backend="numpy")(**inputs)
        for name, value in compiled(**inputs).items():
            np.testing.assert_allclose(value, expected[name], rtol=1e-14, atol=1e-15)
    kernel = gc.compile(f, backend="numba").source
    assert "for i0 in range(3, 8):" in kernel and "for i1 in range(6, 8):" in kernel
    g_M = gc.compile(grad, backend="numba")(**inputs)["grad_M"]
    np.testing.assert_array_equal(g_M[[0, 3]], 0.0)
    np.testing.assert_allclose(g_M[1:3, 2:5], np.cos(inputs["M"][1:3, 2:5]), rtol=1e-15)


def test_a_piecewise_read_in_a_reduction_splits_it_and_at_a_fixed_index_is_a_conditional():
    """A reduction's outer loop running over the concatenated axis (of a transpose) is split too;
    a read at a fixed index is the conditional expression it stands for."""
    a, b = gc.placeholder("a", (2, 3)), gc.placeholder("b", (2, 4))
    f = gc.Graph([a, b], [gc.sum(gc.concatenate([a, b], axis=1).T * 2.0, axis=1),
                          gc.concatenate([a, b], axis=1)[1, 4] * 1.0])
    rng = np.random.default_rng(4)
    inputs = {"a": rng.normal(size=(2, 3)), "b": rng.normal(size=(2, 4))}
    compiled = gc.compile(f, backend="numba")
    assert "for i0 in range(3, 7):" in compiled.source and "(0 + 4) < 3 else" in compiled.source
    got = compiled(**inputs)
    both = np.concatenate([inputs["a"], inputs["b"]], axis=1)
    np.testing.assert_allclose(got[0], 2.0 * both.sum(axis=0), rtol=1e-15)
    assert got[1] == both[1, 4]


@pytest.mark.parametrize("shape", [(5, 7), (16, 64), (63, 65), (300, 300)])
@pytest.mark.parametrize("transposed", [False, True])
def test_matrix_vector_products_small_by_loops_and_large_by_blas_agree_with_numpy(shape, transposed):
    """blas_matvec and blas_matvec_add: loops of their own up to SMALL_GEMV elements (rows not
    a multiple of four included), one ?gemv call above (300x300)."""
    from graphc.backends.numba.runtime.lapack import SMALL_GEMV, blas_matvec, blas_matvec_add

    rng = np.random.default_rng(shape[0])
    a = rng.normal(size=shape)
    x = rng.normal(size=shape[0] if transposed else shape[1])
    want = (a.T if transposed else a) @ x
    out = np.full(want.shape, np.nan)
    blas_matvec(a, transposed, x, out)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    start = rng.normal(size=want.shape)
    total = start.copy()
    blas_matvec_add(a, transposed, x, total)
    np.testing.assert_allclose(total, start + want, rtol=1e-12, atol=1e-12)
    assert (a.size <= SMALL_GEMV) == (shape != (300, 300))


def test_a_merged_loop_is_written_once():
    # the gradient of ½|s - Mx|²: one loop computes the residual, its square's sum and -r; the
    # merged loop's first node stays a scalar local, and the kernel once wrote the loop a second
    # time (dead work, reading a buffer another loop may have overwritten in place)
    x, M, s = gc.placeholder("x", (4,)), gc.placeholder("M", (50, 4)), gc.placeholder("s", (50,))
    r = s - M @ x
    fn = gc.compile(gc.grad(gc.Graph([x, M, s], {"y": 0.5 * gc.sum(r * r)}), "x"), backend="numba")
    assert fn.source.count("for i0 in range(50)") == 1
    rng = np.random.default_rng(0)
    Mv, sv, xv = rng.random((50, 4)), rng.random(50), rng.random(4)
    np.testing.assert_allclose(fn(x=xv, M=Mv, s=sv)["grad_x"], -Mv.T @ (sv - Mv @ xv), rtol=1e-12)


@pytest.mark.parametrize("n", [2048, 5000, 70_001])
def test_float_reductions_of_a_long_loop_run_in_blocks_and_agree_with_numpy(n):
    # a fused loop ending in a float sum does not vectorize (the sum's order is fixed): the kernel
    # writes blocks of the summed values through views into a buffer, then adds the buffer up
    # (sum(exp(x - s)) over 10^6 values: 5.2 ms one loop, 0.8 ms in blocks, single-threaded)
    x, s = gc.placeholder("x", (n,)), gc.placeholder("s")
    g = gc.Graph([x, s], {"lse": gc.sum(gc.exp(x - s)), "max": gc.max(x * s), "min": gc.min(gc.sin(x)),
                          "mean": gc.mean(gc.tanh(x) * x)})
    fn = gc.compile(g, backend="numba")
    assert "x_blk" in fn.source
    rng = np.random.default_rng(n)
    xv = rng.normal(size=n)
    want = gc.compile(g, optimize=False)(x=xv, s=0.5)
    got = fn(x=xv, s=0.5)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12)
    xv[n // 3] = np.nan
    assert all(np.isnan(v) for v in fn(x=xv, s=0.5).values())
