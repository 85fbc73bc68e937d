"""Every identity of the reference notes, as a graph derived by graphc and checked against the
closed form (computed here with numpy, independently of graphc). Where the notes are wrong, the
test says so."""

import numpy as np
import pytest

import graphc as gc
from graphc import examples

rng = np.random.default_rng(42)


def run(graph, **inputs):
    out = gc.compile(graph)(**inputs)
    return list(out.values()) if isinstance(out, dict) else list(out)


def spd(n):
    m = rng.normal(size=(n, n))
    return m @ m.T + n * np.eye(n)


@pytest.mark.parametrize("example", [e for e in examples.all_examples() if e.hessian],
                         ids=lambda e: e.name)
def test_hessians_of_the_worked_examples(example):
    inputs = example.inputs(rng)
    got = run(gc.hessian(example.graph, example.wrt), **inputs)[-1]
    np.testing.assert_allclose(got, example.hessian(**inputs), rtol=1e-11, atol=1e-12)


def test_hessian_of_the_quadratic_is_the_symmetric_part_even_for_nonsymmetric_A():
    ex = examples.quadratic()
    inputs = ex.inputs(rng)
    A = inputs["A"]
    got = run(gc.hessian(ex.graph, "x"), **inputs)[-1]
    np.testing.assert_allclose(got, (A + A.T) / 2, rtol=1e-13)
    assert not np.allclose(got, A)  # the notes' Taylor example says ∇²f = A: wrong here


def test_gradient_of_inner_product_minus_logdet_is_S_minus_X_inverse_transpose():
    n = 4
    X = gc.placeholder("X", (n, n))
    S = gc.placeholder("S", (n, n))
    graph = gc.Graph([X, S], [gc.sum(S * X) - gc.logdet(X)])
    X0, S0 = spd(n) + 0.3 * rng.normal(size=(n, n)), rng.normal(size=(n, n))
    assert np.linalg.det(X0) > 0
    got = run(gc.grad(graph, "X"), X=X0, S=S0)[-1]
    np.testing.assert_allclose(got, S0 - np.linalg.inv(X0).T, rtol=1e-12)


def test_differential_of_det_is_det_times_trace_of_inverse_times_dX():
    X = gc.placeholder("X", (3, 3))
    X0, dX = spd(3), rng.normal(size=(3, 3))
    _, d = run(gc.jvp(gc.Graph([X], [gc.det(X)])), X=X0, X_dot=dX)
    np.testing.assert_allclose(d, np.linalg.det(X0) * np.trace(np.linalg.inv(X0) @ dX), rtol=1e-12)


def test_differential_of_the_inverse():
    X = gc.placeholder("X", (3, 3))
    X0, dX = spd(3), rng.normal(size=(3, 3))
    _, d = run(gc.jvp(gc.Graph([X], [gc.inv(X)])), X=X0, X_dot=dX)
    Xi = np.linalg.inv(X0)
    np.testing.assert_allclose(d, -Xi @ dX @ Xi, rtol=1e-11, atol=1e-14)


def test_gradient_of_the_trace_is_the_identity():
    X = gc.placeholder("X", (4, 4))
    got = run(gc.grad(gc.Graph([X], [gc.trace(X)])), X=rng.normal(size=(4, 4)))[-1]
    np.testing.assert_array_equal(got, np.eye(4))


def test_sum_of_squared_singular_values_is_the_squared_frobenius_norm_with_gradient_2A():
    A = gc.placeholder("A", (4, 3))
    s = gc.svdvals(A)
    graph = gc.Graph([A], {"sigma2": gc.sum(s * s), "fro2": gc.sum(A * A)})
    A0 = rng.normal(size=(4, 3))
    out = gc.compile(gc.grad(graph, "A", output="sigma2"))(A=A0)
    np.testing.assert_allclose(out["sigma2"], out["fro2"], rtol=1e-13)
    np.testing.assert_allclose(out["sigma2"], np.linalg.norm(A0, "fro") ** 2, rtol=1e-13)
    np.testing.assert_allclose(out["grad_A"], 2 * A0, rtol=1e-12)


def test_hessian_of_log_one_plus_exp():
    ex = examples.logistic()
    inputs = ex.inputs(rng)
    a, x = inputs["a"], inputs["x"]
    s = 1 / (1 + np.exp(-a @ x))
    got = run(gc.hessian(ex.graph, "x"), **inputs)[-1]
    np.testing.assert_allclose(got, s * (1 - s) * np.outer(a, a), rtol=1e-12, atol=1e-15)


def test_gradient_and_hessian_of_log_quadratic():
    ex = examples.log_quadratic()
    inputs = ex.inputs(rng)
    x, A = inputs["x"], inputs["A"]
    q = x @ A @ x
    out = run(gc.hessian(gc.grad(ex.graph, "x"), "x"), **inputs)
    np.testing.assert_allclose(out[1], 2 * A @ x / q, rtol=1e-13)
    np.testing.assert_allclose(out[-1], 2 / q**2 * (q * A - 2 * np.outer(A @ x, A @ x)), rtol=1e-11)


@pytest.mark.parametrize("order, expected", [(1, lambda x: 1 + x), (2, lambda x: 1 + x + x**2 / 2)])
def test_taylor_approximations_of_exp_at_zero(order, expected):
    x = gc.placeholder("x")
    t = gc.taylor(gc.Graph([x], [gc.exp(x)]), "x", order=order)
    assert t.input_names == ("x", "x0")
    for point in (-0.5, 0.1, 2.0):
        (value,) = run(t, x=point, x0=0.0)
        np.testing.assert_allclose(value, expected(point), rtol=1e-15)


def test_second_order_taylor_of_a_quadratic_is_exact_anywhere():
    ex = examples.quadratic()
    inputs = ex.inputs(rng)
    t = gc.taylor(ex.graph, "x", order=2)
    x0 = rng.normal(size=4) * 3
    (approx,) = run(t, **inputs, x0=x0)
    (exact,) = run(ex.graph, **inputs)
    np.testing.assert_allclose(approx, exact, rtol=1e-12)


def test_the_notes_eigenvalue_example_is_wrong():
    """The notes claim [[2, 1], [1, 3]] has eigenvalues 1 and 4. Its characteristic polynomial
    λ² - 5λ + 5 has roots (5 ± √5)/2 ≈ 1.382 and 3.618; det = 5 and tr = 5 are right."""
    A = gc.placeholder("A", (2, 2))
    graph = gc.Graph([A], {"w": gc.eigvalsh(A), "det": gc.det(A), "tr": gc.trace(A)})
    out = gc.compile(graph)(A=np.array([[2.0, 1.0], [1.0, 3.0]]))
    np.testing.assert_allclose(out["w"], [(5 - 5**0.5) / 2, (5 + 5**0.5) / 2], rtol=1e-14)
    assert not np.allclose(out["w"], [1.0, 4.0])
    np.testing.assert_allclose([out["det"], out["tr"]], [5.0, 5.0], rtol=1e-14)


def test_the_notes_svd_example():
    """B = diag(4, 2): singular values 4 and 2, equal to its eigenvalues (B is SPD)."""
    B = gc.placeholder("B", (2, 2))
    out = gc.compile(gc.Graph([B], [gc.svdvals(B), gc.eigvalsh(B)]))(B=np.diag([4.0, 2.0]))
    np.testing.assert_allclose(out[0], [4.0, 2.0])
    np.testing.assert_allclose(np.sort(out[1])[::-1], out[0])


def test_trace_identity_sum_of_quadratic_forms_is_n():
    """Σᵢ aᵢᵀ S⁻¹ aᵢ = tr(Aᵀ S⁻¹ A) = n for S = A Aᵀ (the notes' opening exercise)."""
    n, m = 3, 5
    A = gc.placeholder("A", (n, m))
    S = A @ A.T
    graph = gc.Graph([A], [gc.sum(A * gc.solve(S, A)), gc.trace(A.T @ gc.solve(S, A))])
    a, b = run(graph, A=rng.normal(size=(n, m)))
    np.testing.assert_allclose([a, b], [n, n], rtol=1e-12)


def test_rayleigh_quotient_is_bounded_by_the_extreme_eigenvalues():
    x = gc.placeholder("x", (4,))
    A = gc.placeholder("A", (4, 4))
    w = gc.eigvalsh(A)
    graph = gc.Graph([x, A], [(x @ (A @ x)) / (x @ x), w[0], w[-1]])
    A0 = spd(4)
    for _ in range(5):
        q, lo, hi = run(graph, x=rng.normal(size=4), A=A0)
        assert lo <= q <= hi


def test_second_differential_matches_hessian_bilinear_form():
    """d²f = <∇²f dx₁, dx>: the HVP in direction dx₁ dotted with dx."""
    ex = examples.log_quadratic()
    inputs = ex.inputs(rng)
    dx1, dx = rng.normal(size=4), rng.normal(size=4)
    (hv,) = run(gc.hvp(ex.graph, "x"), **inputs, direction=dx1)
    np.testing.assert_allclose(hv @ dx, dx1 @ ex.hessian(**inputs) @ dx, rtol=1e-12)
