"""Shared factorizations: positive-definite solves, inverses and log-determinants on one Cholesky
factor, and the ``factorizations`` pass that factors a general matrix once (LU) for all its solves,
inverses and determinants; their values against closed forms and numpy, their derivatives against
central differences, on both backends. (The op table checks every op over random shapes.)"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import graphc as gc
from graphc.checks import numeric_gradient

BACKENDS = ["numpy", "numba"]
LINALG_OPS = {"solve", "inv", "slogdet", "det", "cholesky", "lu_factor", "lu_solve", "lu_inv", "lu_slogdet",
              "pos_solve", "pos_inv", "pos_logdet", "solve_triangular", "matmul"}


def ops_of(graph):
    return Counter(n.op for n in gc.optimize(graph).nodes if n.op in LINALG_OPS)


def rbf_problem(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3, 3, n))
    k = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2) + 0.1 * np.eye(n)
    return k, np.sin(x) + 0.1 * rng.normal(size=n)


def general_problem(n, seed):
    """A well-conditioned A (eigenvalues near n), a right-hand side, and their placeholders."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, n)) + n * np.eye(n), rng.normal(size=n), gc.placeholder("a", (n, n)),
            gc.placeholder("b", (n,)))


def gp_nll(n, assume_a):
    k, y = gc.placeholder("K", (n, n)), gc.placeholder("y", (n,))
    alpha = gc.linalg.solve(k, y, assume_a=assume_a)
    nll = 0.5 * gc.sum(y * alpha) + 0.5 * gc.linalg.logdet(k, assume_a=assume_a) \
        + 0.5 * n * np.log(2 * np.pi)
    return gc.Graph([k, y], {"nll": nll})


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gaussian_process_likelihood_and_its_gradient_share_one_cholesky_factor(backend):
    n = 12
    K, y = rbf_problem(n)
    g = gc.grad(gp_nll(n, "pos"), "K")
    # the adjoint solves with the cotangent 0.5 y: one solve more, unless the fast mode may take
    # the scale out of it (exact but where a solve's intermediates come within 2x of overflowing)
    assert ops_of(g) == {"cholesky": 1, "pos_solve": 2, "pos_logdet": 1, "pos_inv": 1}
    fast = Counter(n.op for n in gc.optimize(g, mode="fast").nodes if n.op in LINALG_OPS)
    assert fast == {"cholesky": 1, "pos_solve": 1, "pos_logdet": 1, "pos_inv": 1}
    result = gc.compile(g, backend=backend)(K=K, y=y)
    nll, grad = result["nll"], result["grad_K"]
    alpha = np.linalg.solve(K, y)
    assert nll == pytest.approx(0.5 * y @ alpha + 0.5 * np.linalg.slogdet(K)[1] + 0.5 * n * np.log(2 * np.pi),
                                rel=1e-12)
    # the derivative for symmetric perturbations (K's lower triangle, as cholesky reads it)
    np.testing.assert_allclose(grad, 0.5 * (np.linalg.inv(K) - np.outer(alpha, alpha)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_general_matrix_read_by_solves_and_determinants_is_factored_once(backend):
    n = 6
    A, b, a, v = general_problem(n, seed=3)
    x = gc.linalg.solve(a, v)
    loss = gc.sum(x * x) + gc.linalg.slogdet(a)[1] + 1e-3 * gc.linalg.det(a) + gc.sum(gc.linalg.inv(a) ** 2)
    graph = gc.Graph([a, v], {"loss": loss})
    g = gc.grad(graph, ["a", "b"])
    assert ops_of(g) == {"lu_factor": 1, "lu_solve": 2, "lu_inv": 1, "lu_slogdet": 1, "matmul": 2}
    result = gc.compile(g, backend=backend)(a=A, b=b)
    loss_value, grad_a, grad_b = result["loss"], result["grad_a"], result["grad_b"]
    inverse = np.linalg.inv(A)
    xs = np.linalg.solve(A, b)
    assert loss_value == pytest.approx(xs @ xs + np.log(abs(np.linalg.det(A))) + 1e-3 * np.linalg.det(A)
                                       + np.sum(inverse ** 2), rel=1e-12)
    np.testing.assert_allclose(grad_a, numeric_gradient(graph, {"a": A, "b": b}, "a"), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad_b, 2 * inverse.T @ xs, rtol=1e-10)


def test_one_solve_alone_is_left_to_lapacks_own_driver():
    a, v = gc.placeholder("a", (3, 3)), gc.placeholder("b", (3,))
    assert ops_of(gc.Graph([a, v], [gc.linalg.solve(a, v)])) == {"solve": 1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_hvp_of_a_log_determinant_is_one_inverse_and_two_products(backend):
    n = 5
    rng = np.random.default_rng(4)
    A, V = rng.normal(size=(n, n)) + n * np.eye(n), rng.normal(size=(n, n))
    a = gc.placeholder("a", (n, n))
    h = gc.hvp(gc.Graph([a], [gc.linalg.slogdet(a)[1]]), "a")
    assert ops_of(h) == {"inv": 1, "matmul": 2}  # the value's slogdet is not needed
    got = gc.compile(h, backend=backend)(a=A, direction=V)["hvp_a"]
    inverse = np.linalg.inv(A)
    np.testing.assert_allclose(got, -(inverse @ V @ inverse).T, rtol=1e-10)  # d(A⁻ᵀ) = -A⁻ᵀ Vᵀ A⁻ᵀ


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_inverse_times_a_vector_becomes_a_solve(backend):
    n = 4
    A, b, a, v = general_problem(n, seed=5)
    graph = gc.Graph([a, v], [gc.linalg.inv(a) @ v, gc.linalg.inv(a, assume_a="pos") @ v])
    assert ops_of(graph) == {"solve": 1, "cholesky": 1, "pos_solve": 1}
    S = A @ A.T
    general, positive = gc.compile(graph, backend=backend)(a=A, b=b)
    np.testing.assert_allclose(general, np.linalg.solve(A, b), rtol=1e-12)
    assert ops_of(gc.Graph([a, v], [gc.linalg.inv(a) @ v, gc.linalg.inv(a)])) == {"inv": 1, "matmul": 1}
    positive = gc.compile(graph, backend=backend)(a=S, b=b)[1]
    np.testing.assert_allclose(positive, np.linalg.solve(S, b), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cho_solve_with_a_factor_of_its_own_is_differentiable_in_the_factor(backend):
    n = 4
    rng = np.random.default_rng(6)
    U0 = np.triu(rng.normal(size=(n, n))) + 3 * np.eye(n)
    b0 = rng.normal(size=(n, 2))
    c, b = gc.placeholder("c", (n, n)), gc.placeholder("b", (n, 2))
    graph = gc.Graph([c, b], [gc.sum(gc.linalg.cho_solve((c, False), b) ** 2)])
    value, grad_c = gc.compile(gc.grad(graph, "c"), backend=backend)(c=U0, b=b0)
    x = np.linalg.solve(U0.T @ U0, b0)
    assert value == pytest.approx(np.sum(x ** 2), rel=1e-12)
    np.testing.assert_allclose(np.triu(grad_c), np.triu(numeric_gradient(graph, {"c": U0, "b": b0}, "c")),
                               rtol=1e-6, atol=1e-9)
    assert not np.tril(grad_c, -1).any()  # the strict lower triangle of an upper factor is never read


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_singular_matrix_on_shared_factors_fails_as_numpys_solve_does(backend):
    a, v = gc.placeholder("a", (3, 3)), gc.placeholder("b", (3,))
    g = gc.grad(gc.Graph([a, v], [gc.sum(gc.linalg.solve(a, v))]), "a")
    assert ops_of(g)["lu_factor"] == 1
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])
    with pytest.raises(gc.GraphError, match="Singular matrix"):
        gc.compile(g, backend=backend)(a=singular, b=np.ones(3))
    a2 = gc.placeholder("a", (3, 3))
    sign, logabs = gc.linalg.slogdet(a2)
    shared = gc.Graph([a2], [sign, logabs, gc.linalg.det(a2)])
    assert ops_of(shared) == {"lu_factor": 1, "lu_slogdet": 1}
    assert list(map(float, gc.compile(shared, backend=backend)(a=singular))) == [0.0, -np.inf, 0.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_matrix_that_is_not_positive_definite_fails_in_its_cholesky_factor(backend):
    k = gc.placeholder("K", (2, 2))
    graph = gc.Graph([k], [gc.linalg.logdet(k, assume_a="pos")])
    with pytest.raises(gc.GraphError, match="not positive definite"):
        gc.compile(graph, backend=backend)(K=np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_assume_a_is_checked_and_the_factor_ops_refuse_a_factor_of_another_matrix():
    a = gc.placeholder("a", (3, 3))
    with pytest.raises(gc.GraphTypeError, match="assume_a must be one of 'gen', 'general', 'sym'"):
        gc.linalg.solve(a, gc.placeholder("b", (3,)), assume_a="banded")
    with pytest.raises(gc.ShapeError, match=r"pos_solve: the factor f64\[2,2\] does not fit f64\[3,3\]"):
        gc.pos_solve(a, gc.placeholder("l", (2, 2)), gc.placeholder("b", (3,)))
    with pytest.raises(gc.ShapeError, match="pos_inv needs one square matrix"):
        gc.linalg.inv(gc.placeholder("batch", (2, 3, 3)), assume_a="pos")


def test_a_kernel_whose_factorizations_outweigh_its_loops_leaves_lapack_its_threads():
    from graphc.backends.numba.codegen import PARALLEL_MIN_WORK
    from graphc.backends.numba.factorizations import factorization_bound

    n = 1500
    K, y = rbf_problem(n)
    g = gc.grad(gp_nll(n, "pos"), "K")
    optimized = gc.optimize(g)
    assert factorization_bound(optimized) and max(node.size for node in optimized.nodes) >= PARALLEL_MIN_WORK
    compiled = gc.compile(g, backend="numba")
    assert "in prange(" not in compiled.source  # its n² loops would otherwise run on numba's threads
    np.testing.assert_allclose(compiled(K=K, y=y)["nll"], gc.compile(g)(K=K, y=y)["nll"], rtol=1e-10)
    # a large elementwise loop beside a small solve is still worth numba's threads
    x, a = gc.placeholder("x", (2000, 2000)), gc.placeholder("a", (3, 3))
    busy = gc.Graph([x, a], [gc.sum(gc.exp(x)) + gc.sum(gc.linalg.solve(a, gc.sum(x[:3], axis=1)))])
    assert not factorization_bound(busy)
