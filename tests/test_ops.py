"""Every op of the table: forward values, shapes and dtypes equal numpy's, and gradients equal
central finite differences (float64) over random shapes that exercise broadcasting and axes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from optable import OPS, build, sample

import graphc as gc
from graphc.checks import numeric_gradient

ids = [spec.name for spec in OPS]


@pytest.mark.parametrize("spec", OPS, ids=ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@given(data=st.data())
def test_forward_matches_numpy(spec, dtype, data):
    shapes, attrs = data.draw(spec.shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    xs, out = build(spec, shapes, attrs, dtype)
    inputs = sample(spec, shapes, rng, np.dtype(dtype))
    expected = np.asarray(spec.reference(*inputs.values(), **attrs))
    (got,) = gc.compile(gc.Graph(xs, [out]))(**inputs)
    assert out.shape == expected.shape == got.shape
    assert out.dtype == got.dtype == spec.dtype_of_output(dtype), (out.dtype, got.dtype)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(got, expected.astype(got.dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("spec", OPS, ids=ids)
@given(data=st.data())
def test_gradient_matches_finite_differences(spec, data):
    shapes, attrs = data.draw(spec.shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    xs, out = build(spec, shapes, attrs)
    # a random linear functional of the output, so every output element matters
    loss = gc.sum(out * gc.constant(rng.normal(size=out.shape)))
    graph = gc.Graph(xs, [loss])
    inputs = sample(spec, shapes, rng)
    results = gc.compile(gc.grad(graph))(**inputs)
    scale = max(1.0, abs(float(results[0])))
    for x, got in zip(xs, results[1:]):
        name = x.attrs["name"]
        assert got.shape == x.shape
        if spec.zero_derivative:  # declared zero: finite differences see the function itself
            assert np.all(got == 0.0)
            continue
        expected = numeric_gradient(graph, inputs, name, eps=spec.fd_eps)
        tol = spec.fd_tolerance(1e-6)
        np.testing.assert_allclose(got, expected, rtol=tol, atol=0.1 * tol * scale, err_msg=name)
        if not spec.differentiable:
            assert np.all(got == 0.0)


def test_cast_gradient_flows_back_in_the_operand_dtype():
    x = gc.placeholder("x", (3,), "float32")
    y = gc.cast(x, "float64") * 2.0
    g = gc.grad(gc.Graph([x], [gc.sum(y)]))
    _, gx = gc.compile(g)(x=np.ones(3, np.float32))
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, np.full(3, 2.0, np.float32))


def test_float32_graph_stays_float32_end_to_end():
    x = gc.placeholder("x", (4,), "float32")
    f = gc.sum(gc.tanh(x) * 3.0 + gc.exp(x) / 2)
    g = gc.grad(gc.Graph([x], [f]))
    assert all(n.dtype != np.float64 for n in g.nodes), [n for n in g.nodes if n.dtype == np.float64]
    value, gx = gc.compile(g)(x=np.linspace(-1, 1, 4, dtype=np.float32))
    assert value.dtype == gx.dtype == np.float32


def test_max_gradient_is_shared_evenly_among_ties():
    x = gc.placeholder("x", (4,))
    g = gc.grad(gc.Graph([x], [gc.max(x)]))
    _, gx = gc.compile(g)(x=np.array([1.0, 3.0, 3.0, 0.0]))
    np.testing.assert_array_equal(gx, [0.0, 0.5, 0.5, 0.0])


def test_maximum_gradient_splits_at_ties_like_jax():
    x = gc.placeholder("x", (2,))
    y = gc.placeholder("y", (2,))
    g = gc.grad(gc.Graph([x, y], [gc.sum(gc.maximum(x, y))]))
    _, gx, gy = gc.compile(g)(x=np.array([1.0, 2.0]), y=np.array([1.0, 0.0]))
    np.testing.assert_array_equal(gx, [0.5, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0])


def test_numerics_follow_numpy_without_raising():
    x = gc.placeholder("x", (3,))
    f = gc.sum(gc.log(x)) + gc.sum(gc.sqrt(x)) + gc.sum(1.0 / x)
    g = gc.grad(gc.Graph([x], [f]))
    value, gx = gc.compile(g)(x=np.array([0.0, 1.0, 4.0]))
    assert np.isnan(value) or np.isinf(value)
    assert not np.isfinite(gx[0]) and np.all(np.isfinite(gx[1:]))


def test_logsumexp_does_not_overflow():
    x = gc.placeholder("x", (3,))
    g = gc.grad(gc.Graph([x], [gc.logsumexp(x)]))
    value, gx = gc.compile(g)(x=np.array([1000.0, 1000.0, -np.inf]))
    np.testing.assert_allclose(value, 1000.0 + np.log(2.0))
    np.testing.assert_allclose(gx, [0.5, 0.5, 0.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_is_accurate_over_the_whole_range_without_overflow(dtype):
    """The reference backend's sigmoid against SciPy's expit: within 3 eps relative (about an ulp
    each way) wherever the result is a normal number, no overflow warning at large |x|, and exact
    limits."""
    import warnings

    import scipy.special

    x = gc.placeholder("x", (20008,), dtype)
    fn = gc.compile(gc.Graph([x], [gc.sigmoid(x)]), backend="numpy")
    values = np.concatenate([np.linspace(-800, 800, 20001), [0.0, -0.0, 1e-300, -1e-300, np.inf, -np.inf,
                                                               np.nan]]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fn(x=values)[0]
    with np.errstate(all="ignore"):
        expected = scipy.special.expit(values)
    normal = np.abs(expected) >= np.finfo(dtype).tiny
    relative = np.abs(got[normal] - expected[normal]) / (np.abs(expected[normal]) * np.finfo(dtype).eps)
    assert got.dtype == np.dtype(dtype) and relative.max() <= 3, relative.max()
    assert got[-3] == 1.0 and got[-2] == 0.0 and np.isnan(got[-1]) and got[-7] == got[-6] == 0.5


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_solve_triangular_reads_one_triangle_and_refuses_a_zero_on_the_diagonal(backend):
    a = gc.placeholder("a", (3, 3))
    b = gc.placeholder("b", (3,))
    fn = gc.compile(gc.Graph([a, b], [gc.solve_triangular(a, b, lower=True)]), backend=backend)
    lower = np.array([[2.0, 9.0, 9.0], [1.0, 3.0, 9.0], [4.0, 5.0, 6.0]])  # the 9s are never read
    (x,) = fn(a=lower, b=np.array([2.0, 4.0, 15.0]))
    np.testing.assert_allclose(np.tril(lower) @ x, [2.0, 4.0, 15.0], rtol=1e-14)
    singular = lower.copy()
    singular[1, 1] = 0.0
    with pytest.raises(gc.GraphError, match="singular"):
        fn(a=singular, b=np.ones(3))
