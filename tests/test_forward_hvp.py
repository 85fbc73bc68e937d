"""Forward mode and second order, for every op of the table: JVP against central differences,
JVP against VJP (<u, J v> both ways), and HVP in both modes against each other, against the full
Hessian and against finite differences of the gradient."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optable import OPS, build, sample

import graphc as gc

ids = [spec.name for spec in OPS]


def _setup(spec, data):
    shapes, attrs = data.draw(spec.shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    xs, out = build(spec, shapes, attrs)
    return xs, out, sample(spec, shapes, rng), rng


def _run(graph, **inputs):
    result = gc.compile(graph)(**inputs)
    return list(result.values()) if isinstance(result, dict) else list(result)


@pytest.mark.parametrize("spec", OPS, ids=ids)
@given(data=st.data())
@settings(max_examples=15)
def test_jvp_matches_finite_differences_and_vjp(spec, data):
    xs, out, inputs, rng = _setup(spec, data)
    graph = gc.Graph(xs, [out])
    tangents = {f"{x.attrs['name']}_dot": rng.normal(size=x.shape) for x in xs}
    _, jv = _run(gc.jvp(graph), **inputs, **tangents)
    assert jv.shape == out.shape and jv.dtype == out.dtype
    if spec.zero_derivative:
        assert np.all(jv == 0)
        return
    if out.dtype.kind != "f":  # a boolean result: no tangent, and no cotangent to pull back
        assert not np.any(jv)
        with pytest.raises(gc.GraphError, match="vjp needs a float output"):
            gc.vjp(graph, cotangent="u")
        return
    eps = spec.fd_eps
    plus = {k: v + eps * tangents[f"{k}_dot"] for k, v in inputs.items()}
    minus = {k: v - eps * tangents[f"{k}_dot"] for k, v in inputs.items()}
    fd = (_run(graph, **plus)[0] - _run(graph, **minus)[0]) / (2 * eps)
    scale = max(1.0, float(np.max(np.abs(_run(graph, **inputs)[0]), initial=0.0)))
    tol = spec.fd_tolerance(1e-5)
    np.testing.assert_allclose(jv, fd, rtol=tol, atol=0.1 * tol * scale)
    # <u, J v> = <Jᵀ u, v>
    u = rng.normal(size=out.shape)
    pulled = _run(gc.vjp(graph, cotangent="u"), **inputs, u=u)[1:]
    lhs = float(np.sum(u * jv))
    rhs = sum(float(np.sum(p * tangents[f"{x.attrs['name']}_dot"])) for p, x in zip(pulled, xs))
    assert abs(lhs - rhs) <= max(1e-10, 100 * spec.precision) * max(1.0, abs(lhs), abs(rhs)), (lhs, rhs)


SECOND_ORDER = [s for s in OPS if s.second_order and s.differentiable and not s.zero_derivative]


@pytest.mark.parametrize("spec", SECOND_ORDER, ids=[s.name for s in SECOND_ORDER])
@given(data=st.data())
@settings(max_examples=10)
def test_hvp_modes_agree_with_hessian_and_finite_differences(spec, data):
    xs, out, inputs, rng = _setup(spec, data)
    # a scalar with curvature in every op: sum(w * out) + 0.5 sum(out²)/size
    w = gc.constant(rng.normal(size=out.shape))
    loss = gc.sum(w * out) + 0.5 * gc.sum(out * out) / max(1, out.size)
    graph = gc.Graph(xs, [loss])
    wrt = xs[0].attrs["name"]
    v = rng.normal(size=xs[0].shape)
    fwd_rev = _run(gc.hvp(graph, wrt, mode="fwd-rev"), **inputs, direction=v)[0]
    rev_rev = _run(gc.hvp(graph, wrt, mode="rev-rev"), **inputs, direction=v)[0]
    np.testing.assert_allclose(fwd_rev, rev_rev, rtol=1e-9, atol=1e-10)
    size = xs[0].size
    if size <= 16:
        hess = _run(gc.hessian(graph, wrt), **inputs)[-1].reshape(size, size)
        np.testing.assert_allclose(hess @ v.reshape(-1), fwd_rev.reshape(-1), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(hess, hess.T, rtol=1e-8, atol=1e-9)
    grad = gc.grad(graph, wrt)
    eps = 1e-6
    at = lambda sign: _run(grad, **{**inputs, wrt: inputs[wrt] + sign * eps * v})[-1]  # noqa: E731
    fd = (at(1) - at(-1)) / (2 * eps)
    scale = max(1.0, float(np.max(np.abs(fwd_rev), initial=0.0)))
    np.testing.assert_allclose(fwd_rev, fd, rtol=1e-5, atol=2e-6 * scale)


def test_jvp_names_tangents_and_never_builds_zero_tangents():
    x = gc.placeholder("x", (3,))
    c = gc.placeholder("c", (3,))
    independent = gc.exp(c)
    graph = gc.Graph([x, c], {"f": gc.sum(x * independent), "g": independent})
    j = gc.jvp(graph, "x")
    assert j.input_names == ("x", "c", "x_dot")
    assert j.output_names == ("f", "g", "f_dot", "g_dot")
    tangent_of = {n.meta.tangent_of.serial for n in j.nodes if n.meta.tangent_of is not None}
    assert independent.serial not in tangent_of and c.serial not in tangent_of
    out = gc.compile(j)(x=np.ones(3), c=np.zeros(3), x_dot=np.arange(3.0))
    np.testing.assert_allclose(out["f_dot"], 3.0)
    np.testing.assert_array_equal(out["g_dot"], np.zeros(3))


def test_hvp_signature_and_errors():
    x = gc.placeholder("x", (2,))
    graph = gc.Graph([x], [gc.sum(x**3)])
    h = gc.hvp(graph, "x")
    assert h.input_names == ("x", "direction") and h.output_names == ("hvp_x",)
    assert h.inputs[-1].shape == (2,) and h.inputs[-1].dtype == np.float64
    with pytest.raises(gc.GraphError, match="unknown hvp mode 'fwd-fwd'"):
        gc.hvp(graph, "x", mode="fwd-fwd")
    with pytest.raises(gc.GraphError, match="scalar output"):
        gc.hvp(gc.Graph([x], [x * 2]), "x")


def test_jacobian_chooses_the_mode_by_shape_and_both_modes_agree():
    x = gc.placeholder("x", (3,))
    A = np.arange(6.0).reshape(2, 3) / 5
    graph = gc.Graph([x], [gc.tanh(A @ x)])
    x0 = np.array([0.3, -0.1, 0.2])
    wide = gc.jacobian(graph, "x")  # 2 outputs < 3 inputs: reverse
    assert sum(1 for n in wide.nodes if n.meta.pass_name == "adjoint") > 0
    fwd = _run(gc.jacobian(graph, "x", mode="fwd"), x=x0)[-1]
    rev = _run(wide, x=x0)[-1]
    expected = (1 - np.tanh(A @ x0) ** 2)[:, None] * A
    np.testing.assert_allclose(fwd, expected, rtol=1e-13)
    np.testing.assert_allclose(rev, expected, rtol=1e-13)


def test_the_notes_jacobian_example():
    """f(x, y) = (x + y, x - y) has the Jacobian [[1, 1], [1, -1]]."""
    p = gc.placeholder("p", (2,))
    graph = gc.Graph([p], [gc.stack([p[0] + p[1], p[0] - p[1]])])
    np.testing.assert_array_equal(_run(gc.jacobian(graph, "p"), p=np.array([0.3, 2.0]))[-1],
                                  [[1.0, 1.0], [1.0, -1.0]])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_jacobian_of_many_directions_is_one_loop_over_them(backend):
    # from LOOP_MIN directions on, the JVPs (VJPs) are a scan over the basis, not one copy each:
    # unrolled, 28 JVPs of GradBench's hand model took numba minutes and 23 GB to compile
    x, A = gc.placeholder("x", (20,)), gc.placeholder("A", (30, 20))
    f = gc.Graph([x, A], {"y": gc.tanh(A @ x) * x[:1]})
    rng = np.random.default_rng(3)
    xv, Av = rng.normal(size=20), rng.normal(size=(30, 20))
    t = np.tanh(Av @ xv)
    want = (1 - t**2)[:, None] * Av * xv[0]
    want[:, 0] += t
    for mode in ("fwd", "rev"):
        j = gc.jacobian(f, "x", mode=mode)
        assert [n.op for n in j.nodes].count("scan") == 1 and len(j) < 20
        got = gc.compile(j, backend=backend)(x=xv, A=Av)["jacobian_x"]
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    u = gc.placeholder("u", (3,))
    small = gc.jacobian(gc.Graph([u], [gc.sin(u)]))
    assert "scan" not in [n.op for n in small.nodes]  # three directions: unrolled, as before
