"""GradBench's ``gmm``: the log posterior of a Gaussian mixture with a Wishart prior on its precision
matrices (``objective``), and its gradient in alpha, mu, q and l (``jacobian``, by ``gc.grad``).

Component k's precision is Pₖ = QₖᵀQₖ, Qₖ lower triangular with exp(qₖ) on its diagonal and lₖ below
it, column by column (``gc.fill_tril(..., k=-1, order="F")``). The costly part is ‖Qₖ(xᵢ − μₖ)‖² for
every point and component, N·K of them, computed in one of two equal ways, the cheaper for the shape:

* directly, as Qₖxᵢ − Qₖμₖ: one product of the N x D data with the K·D x D stack of every Qₖ, which
  the numba backend hands to BLAS (N·K·D² multiply-adds, BLAS not knowing Qₖ is triangular), and an
  N x K x D residual;
* as the quadratic form xᵢᵀPₖxᵢ − 2xᵢᵀPₖμₖ + ‖Qₖμₖ‖²: its first term one product of the N x D(D+1)/2
  features xᵢₐxᵢ_b (a ≤ b, off-diagonal ones doubled) with the K packed upper triangles of Pₖ, half
  the multiply-adds and no N x K x D intermediate, for the price of forming the features: it pays
  once there are more than D/2 components (measured at D = 64: 1.5x faster at K = 100, 2x slower
  at K = 10).

Either way the gradient's big product is the transposed one with the same data, and the graph is a
sum over the data's rows, so at large sizes the gradient runs a block of rows at a time while they
are in cache. Points and means are first shifted by the means' centroid, which changes nothing but
the rounding: the quadratic form subtracts nearly equal numbers when the points are far from the
origin compared with their distances to the means (``stop_gradient``: the value does not depend on
the shift, so the gradient need not differentiate through it).

What does not depend on the parameters, the Wishart normalisation K·(nD log(γ/√2) − log Γ_D(n/2))
with n = D + m + 1 (a log-gamma graphc has no op for), is a scalar input worked out per message."""

from __future__ import annotations

import math

import numpy as np

import graphc as gc

from .runs import Prepared, compiled


def quadratic_form_pays(d: int, k: int) -> bool:
    """Whether the quadratic form is the cheaper way to ‖Qₖ(xᵢ − μₖ)‖² (see the module docstring)."""
    return 2 * k > d


def _direct(points, means, factors, n: int, k: int, d: int):
    stacked = gc.reshape(factors, (k * d, d))  # row k·D + a: row a of Qₖ
    q_x = gc.reshape(points @ stacked.T, (n, k, d))  # Qₖxᵢ
    residual = q_x - gc.sum(factors * means[:, None, :], axis=2)  # Qₖxᵢ − Qₖμₖ
    return gc.sum(residual * residual, axis=2)


def _quadratic_form(points, means, factors, n: int, k: int, d: int):
    precisions = gc.transpose(factors, (0, 2, 1)) @ factors  # Pₖ = QₖᵀQₖ
    rows, cols = np.triu_indices(d)
    features = gc.take(points, gc.constant(rows), axis=1) * gc.take(points, gc.constant(cols), axis=1)
    features = features * np.where(rows == cols, 1.0, 2.0)  # xₐx_b, twice off the diagonal
    packed = gc.take(gc.reshape(precisions, (k, d * d)), gc.constant(rows * d + cols), axis=1)
    q_mu = gc.sum(factors * means[:, None, :], axis=2)  # Qₖμₖ
    p_mu = gc.sum(factors * q_mu[:, :, None], axis=1)  # Pₖμₖ = Qₖᵀ(Qₖμₖ)
    return features @ packed.T - 2.0 * (points @ p_mu.T) + gc.sum(q_mu * q_mu, axis=1)


def _log_posterior(d: int, k: int, n: int) -> gc.Graph:
    alpha = gc.placeholder("alpha", (k,))
    mu = gc.placeholder("mu", (k, d))
    q = gc.placeholder("q", (k, d))
    l = gc.placeholder("l", (k, d * (d - 1) // 2))  # noqa: E741 - the eval's name
    x = gc.placeholder("x", (n, d))
    gamma = gc.placeholder("gamma")
    m = gc.placeholder("m")
    wishart_constant = gc.placeholder("wishart_constant")

    diagonal = gc.exp(q)
    factors = gc.fill_tril(l, d, k=-1, order="F") + diagonal[:, :, None] * gc.constant(np.eye(d))  # Qₖ
    centroid = gc.stop_gradient(gc.mean(mu, axis=0))
    mahalanobis = (_quadratic_form if quadratic_form_pays(d, k) else _direct)(
        x - centroid, mu - centroid, factors, n, k, d)  # (N, K): ‖Qₖ(xᵢ − μₖ)‖²

    sum_q = gc.sum(q, axis=1)
    beta = alpha + sum_q - 0.5 * mahalanobis
    likelihood = (gc.sum(gc.logsumexp(beta, axis=1)) - n * gc.logsumexp(alpha)
                  - n * d * 0.5 * math.log(2 * math.pi))
    frobenius = gc.sum(diagonal * diagonal) + gc.sum(l * l)  # ‖Qₖ‖_F², summed over k
    prior = wishart_constant - 0.5 * gamma * gamma * frobenius + m * gc.sum(sum_q)
    return gc.Graph([alpha, mu, q, l, x, gamma, m, wishart_constant], {"log_posterior": likelihood + prior})


def wishart_constant(d: int, k: int, m: int, gamma: float) -> float:
    """K·(nD log(γ/√2) − log Γ_D(n/2)), n = D + m + 1: the prior's normalisation, with the
    multivariate log-gamma log Γ_D(a) = D(D−1)/4 log π + Σⱼ log Γ(a + (1 − j)/2)."""
    dof = d + m + 1
    log_gamma_d = 0.25 * d * (d - 1) * math.log(math.pi) + sum(
        math.lgamma(0.5 * dof + 0.5 * (1 - j)) for j in range(1, d + 1))
    return k * (dof * d * (math.log(gamma) - 0.5 * math.log(2.0)) - log_gamma_d)


def _arrays(message: dict) -> dict:
    """The graph's inputs from the eval's JSON, each converted once, before any timed run."""
    d, k, n = int(message["d"]), int(message["k"]), int(message["n"])
    gamma, m = float(message["gamma"]), int(message["m"])

    def matrix(name, rows, cols):
        return np.ascontiguousarray(np.asarray(message[name], dtype=np.float64).reshape(rows, cols))

    return {
        "alpha": np.asarray(message["alpha"], dtype=np.float64).reshape(k),
        "mu": matrix("mu", k, d), "q": matrix("q", k, d), "l": matrix("l", k, d * (d - 1) // 2),
        "x": matrix("x", n, d), "gamma": gamma, "m": float(m),
        "wishart_constant": wishart_constant(d, k, m, gamma),
    }


def objective(message: dict) -> Prepared:
    d, k, n = int(message["d"]), int(message["k"]), int(message["n"])
    fn, ns = compiled(("gmm", "objective", d, k, n), lambda: _log_posterior(d, k, n))
    inputs = _arrays(message)
    return Prepared(lambda: fn(**inputs)["log_posterior"], float, ns)


def jacobian(message: dict) -> Prepared:
    d, k, n = int(message["d"]), int(message["k"]), int(message["n"])
    fn, ns = compiled(("gmm", "jacobian", d, k, n),
                      lambda: gc.grad(_log_posterior(d, k, n), wrt=["alpha", "mu", "q", "l"]))
    inputs = _arrays(message)

    def output(result) -> dict:  # the manual tool's nesting: a list per component
        return {"mu": result["grad_mu"].tolist(), "q": result["grad_q"].tolist(),
                "l": result["grad_l"].tolist(), "alpha": result["grad_alpha"].tolist()}

    return Prepared(lambda: fn(**inputs), output, ns)


FUNCTIONS = {"objective": objective, "jacobian": jacobian}
