"""Defects a hostile trial found (issue 21), each reproduced as it was reported: wrong numbers,
silent conversions, refusals numpy does not make, sizes that wrapped around, and races between
threads compiling in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.checks import numeric_gradient

BACKENDS = ["numpy", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_python_number_for_an_input_with_a_shape_is_an_input_error(backend):
    y = gc.placeholder("y", (3,))
    run = gc.compile(gc.Graph([y], [y * 2.0]), backend=backend)
    with pytest.raises(gc.InputError, match=r"input 'y': expected f64\[3\], got an array f64\[\]"):
        run(y=1.5)  # was a 0-d result on numpy, numba's own TypeError on numba
    assert run(y=[1.0, 2.0, 3.0])[0].tolist() == [2.0, 4.0, 6.0]


def test_integers_that_do_not_fit_are_refused_not_wrapped():
    i = gc.placeholder("i", (), "int32")
    with pytest.raises(gc.DTypeError, match="the Python integer 1099511627776 does not fit in int32"):
        i + 2**40
    assert (i + 2**30).dtype == np.int32
    with pytest.raises(gc.DTypeError, match="uint64 value 18446744073709551615 does not fit in int64"):
        gc.constant(np.uint64(2**64 - 1))
    assert gc.constant(np.uint64(7)).value.dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_relu_and_clip_differentiate_in_float32(backend):
    x = gc.placeholder("x", (3,), "float32")
    g = gc.grad(gc.Graph([x], [gc.sum(gc.maximum(x, 0.0) + gc.minimum(x, 0.5))]), wrt="x")
    _, grad = gc.compile(g, backend=backend)(x=np.array([1.0, -1.0, 0.0], np.float32))
    assert grad.dtype == np.float32 and grad.tolist() == [1.0, 1.0, 1.5]  # ties split evenly


def test_fused_float32_loops_keep_the_value_they_store():
    x = gc.placeholder("x", (2,), "float32")
    g = gc.grad(gc.Graph([x], [gc.max(gc.tanh(x))]), wrt="x")
    value = np.array([0.3, -0.7], np.float32)
    numba_grad = gc.compile(g, backend="numba")(x=value)[1]
    np.testing.assert_array_equal(numba_grad, gc.compile(g, backend="numpy")(x=value)[1])  # was [nan, nan]
    assert numba_grad[0] == pytest.approx(1 - np.tanh(0.3) ** 2, rel=1e-6) and numba_grad[1] == 0


def test_numpy_integers_are_axes_as_numpy_and_jax_take_them():
    x = gc.placeholder("x", (2, 3))
    assert gc.sum(x, axis=np.int64(1)).shape == (2,)
    assert gc.sum(x, axis=(np.int32(0), 1)).shape == ()
    assert gc.softmax(x, np.int64(-1)).shape == (2, 3)
    with pytest.raises(gc.GraphTypeError, match="axis must be an int, got np.True_"):
        gc.sum(x, axis=(np.True_,))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stack_of_matrices_solves_one_vector_as_numpy_2_does(backend):
    rng = np.random.default_rng(0)
    A0, b0 = rng.normal(size=(2, 3, 3)) + 3 * np.eye(3), rng.normal(size=3)
    a, b = gc.placeholder("a", (2, 3, 3)), gc.placeholder("b", (3,))
    x = gc.linalg.solve(a, b)
    assert x.shape == (2, 3)
    graph = gc.Graph([a, b], [gc.sum(x * x)])
    value, grad_a, grad_b = gc.compile(gc.grad(graph, ["a", "b"]), backend=backend)(a=A0, b=b0)
    assert value == pytest.approx(np.sum(np.linalg.solve(A0, b0) ** 2), rel=1e-12)
    for name, got in (("a", grad_a), ("b", grad_b)):
        np.testing.assert_allclose(got, numeric_gradient(graph, {"a": A0, "b": b0}, name), rtol=1e-6)


def test_element_counts_are_python_integers_and_never_wrap():
    empty = gc.placeholder("z", (0,))
    message = r"has 18446744073709551616 elements, more than an array can index"
    with pytest.raises(gc.ShapeError, match=message):
        gc.reshape(empty, (2**32, 2**32))  # the int64 count wrapped to 0 and the reshape was accepted
    with pytest.raises(gc.ShapeError, match="more than an array can index"):
        gc.placeholder("big", (2**63,))
    assert gc.placeholder("ok", (2**31, 2**31)).size == 2**62


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_compiling_one_new_graph_in_a_fresh_process_all_get_its_kernel(backend, tmp_path):
    script = textwrap.dedent(f"""
        import os
        os.environ["GRAPHC_CACHE_DIR"] = {str(tmp_path)!r}
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np, graphc as gc

        def job(_):
            x = gc.placeholder("x", (3,))
            try:
                f = gc.compile(gc.Graph([x], [gc.sum(gc.sin(x) * 2.0 + 0.25)]), backend={backend!r})
                return repr(float(f(x=np.ones(3))[0]))
            except Exception as exc:
                return type(exc).__name__ + ": " + str(exc)

        with ThreadPoolExecutor(16) as pool:
            print(sorted(set(pool.map(job, range(16)))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr([repr(float(np.sum(np.sin(np.ones(3)) * 2.0 + 0.25)))])


_x, _u, _s = gc.placeholder("x", (2, 3)), gc.placeholder("u", (3,)), gc.placeholder("s")
MISUSE = [
    (lambda: gc.einsum("->"), gc.GraphError, "einsum '->' needs at least one operand"),
    (lambda: gc.expand_dims(_x, 1.0), gc.GraphTypeError, "axis must be an int or a tuple of ints, got 1.0"),
    (lambda: gc.expand_dims(_x, None), gc.GraphTypeError, "axis must be an int or a tuple of ints, got None"),
    (lambda: gc.expand_dims(_x, "0"), gc.GraphTypeError, "axis must be an int or a tuple of ints, got '0'"),
    (lambda: gc.linalg.norm(_u, ord=[1]), gc.GraphTypeError, r"ord must be None, a number or a string"),
    (lambda: gc.diagonal(_x, offset="a"), gc.GraphTypeError, "offset must be an int, got 'a'"),
    (lambda: gc.diagonal(_x, offset=1.5), gc.GraphTypeError, "offset must be an int, got 1.5"),
    (lambda: gc.Graph(None, []), gc.GraphTypeError, "Graph inputs must be a list of placeholders, got None"),
    (lambda: gc.vjp(None), gc.GraphTypeError, "vjp takes a Graph, got NoneType"),
    (lambda: gc.hessian([1]), gc.GraphTypeError, "hessian takes a Graph, got list"),
    (lambda: gc.jacobian(None), gc.GraphTypeError, "jacobian takes a Graph, got NoneType"),
    (lambda: gc.taylor(None), gc.GraphTypeError, "taylor takes a Graph, got NoneType"),
    (lambda: gc.adjoints(None), gc.GraphTypeError, "adjoints takes a Graph, got NoneType"),
    (lambda: gc.compile(gc.Graph([_s], [_s * 2.0]), batch=3), gc.GraphTypeError, "batch must name inputs"),
    (lambda: gc.placeholder("z", (2**64,)), gc.ShapeError, "more than an array can index"),
    (lambda: gc.compile(gc.Graph([_s], [_s * 2.0]))(s=10**400), gc.InputError, "an int of 401 digits"),
    (lambda: np.sum(_x), gc.GraphTypeError, "np.sum cannot take a graph node .* use gc.sum"),
    (lambda: np.add(_u, 1.0, out=np.ones(3)), gc.GraphTypeError, r"np.add with \['out'\] cannot take"),
    (lambda: np.add.reduce(_u), gc.GraphTypeError, "np.add.reduce cannot take a graph node; use gc.add"),
]


@pytest.mark.parametrize("build, error, message", MISUSE)
def test_builder_misuse_is_one_of_graphcs_errors_naming_what_was_wrong(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_ufuncs_on_nodes_build_nodes(backend):
    u = gc.placeholder("u", (3,))
    graph = gc.Graph([u], [np.exp(u) + np.ones(3) * u, np.maximum(u, 0.0), np.ones((2, 3)) @ u])
    value = np.array([-1.0, 0.5, 2.0])
    got = gc.compile(graph, backend=backend)(u=value)
    np.testing.assert_allclose(got[0], np.exp(value) + value, rtol=1e-15)
    assert got[1].tolist() == [0.0, 0.5, 2.0] and got[2].tolist() == [1.5, 1.5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_readmes_safe_where_keeps_the_untaken_branch_finite(backend):
    x = gc.placeholder("x", (4,))
    naive = gc.where(x > 0, gc.sqrt(x), 0.0)
    safe = gc.where(x > 0, gc.sqrt(gc.where(x > 0, x, 1.0)), 0.0)
    value = np.array([-1.0, 0.0, 1.0, 4.0])
    for out, expected in ((naive, [np.nan, np.nan, 0.5, 0.25]), (safe, [0.0, 0.0, 0.5, 0.25])):
        grad = gc.compile(gc.grad(gc.Graph([x], [gc.sum(out)]), "x"), backend=backend)(x=value)[1]
        np.testing.assert_array_equal(grad, expected)
