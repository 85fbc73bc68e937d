"""GradBench's ``gmm`` module: the log posterior against numpy and scipy evaluations of the eval's
definition, its gradient against central differences of the numpy one, and the JSON as the
manual tool writes it."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp, multigammaln

from benchmarks.gradbench import gmm, runs, tool


def workload(seed, d, k, n, m, gamma):
    """An eval message as GradBench's run.py generates one (nested lists)."""
    rng = np.random.default_rng(seed)
    return {"d": d, "k": k, "n": n, "m": m, "gamma": gamma,
            "x": rng.normal(size=(n, d)).tolist(), "alpha": rng.normal(size=k).tolist(),
            "mu": rng.uniform(size=(k, d)).tolist(), "q": rng.normal(size=(k, d)).tolist(),
            "l": rng.normal(size=(k, d * (d - 1) // 2)).tolist(), "min_runs": 1, "min_seconds": 0}


def factors(q, l):
    """Qₖ: exp(qₖ) on the diagonal, lₖ filling the strict lower triangle column by column."""
    k, d = q.shape
    Q = np.zeros((k, d, d))
    for c in range(k):
        position = 0
        for j in range(d):
            Q[c, j, j] = np.exp(q[c, j])
            for i in range(j + 1, d):
                Q[c, i, j] = l[c, position]
                position += 1
    return Q


def params(message):
    k, d = message["k"], message["d"]
    return (np.array(message["alpha"], float), np.array(message["mu"], float).reshape(k, d),
            np.array(message["q"], float).reshape(k, d),
            np.array(message["l"], float).reshape(k, d * (d - 1) // 2))


def log_posterior(message, alpha, mu, q, l):
    """The eval's simplified formulas: logsumexp of βᵢₖ over k, and the Wishart log prior."""
    d, k, n, m, gamma = (message[key] for key in ("d", "k", "n", "m", "gamma"))
    x = np.array(message["x"], float).reshape(n, d)
    Q = factors(q, l)
    residual = np.einsum("kab,nkb->nka", Q, x[:, None, :] - mu[None])
    beta = alpha + q.sum(axis=1) - 0.5 * (residual**2).sum(axis=2)
    likelihood = -n * (d / 2 * math.log(2 * math.pi) + logsumexp(alpha)) + logsumexp(beta, axis=1).sum()
    dof = d + m + 1
    prior = (k * (dof * d * math.log(gamma / math.sqrt(2)) - multigammaln(dof / 2, d))
             - gamma**2 / 2 * (Q**2).sum() + m * q.sum())
    return likelihood + prior


def log_posterior_by_scipy(message):
    """The definition itself: Σᵢ log Σₖ φₖ N(xᵢ; μₖ, Σₖ) plus Σₖ log W(Σₖ⁻¹; γ⁻²I, D + m + 1), with
    Σₖ⁻¹ = QₖᵀQₖ, through scipy's densities."""
    d, n, m, gamma = (message[key] for key in ("d", "n", "m", "gamma"))
    alpha, mu, q, l = params(message)
    x = np.array(message["x"], float).reshape(n, d)
    phi = np.exp(alpha) / np.exp(alpha).sum()
    precisions = [Qk.T @ Qk for Qk in factors(q, l)]
    density = sum(p * stats.multivariate_normal(mean, np.linalg.inv(P)).pdf(x)
                  for p, mean, P in zip(phi, mu, precisions))
    prior = sum(stats.wishart(df=d + m + 1, scale=np.eye(d) / gamma**2).logpdf(P) for P in precisions)
    return np.log(density).sum() + prior


# each test runs both ways to ‖Qₖ(xᵢ − μₖ)‖²: the quadratic form (2K > D) and the direct one
BOTH_WAYS = [(5, 3, 7, 2, 0.7), (5, 2, 6, 1, 0.9)]


def test_the_shapes_take_both_ways():
    assert [gmm.quadratic_form_pays(d, k) for d, k, *_ in BOTH_WAYS] == [True, False]


@pytest.mark.parametrize("shape", BOTH_WAYS + [(2, 3, 5, 0, 1.0), (1, 3, 4, 1, 1.3)])
def test_objective_is_the_definition(shape):
    message = workload(1, *shape)
    prepared = gmm.FUNCTIONS["objective"](message)
    value = prepared.output(prepared.call())
    assert isinstance(value, float)
    assert value == pytest.approx(log_posterior(message, *params(message)), rel=1e-12)
    assert value == pytest.approx(log_posterior_by_scipy(message), rel=1e-9)


@pytest.mark.parametrize("shape", BOTH_WAYS + [(1, 3, 4, 1, 1.3)])
def test_jacobian_matches_central_differences_everywhere(shape):
    message = workload(2, *shape)
    prepared = gmm.FUNCTIONS["jacobian"](message)
    output = prepared.output(prepared.call())
    point = params(message)
    for j, name in enumerate(("alpha", "mu", "q", "l")):
        got = np.array(output[name], float).reshape(point[j].shape)
        expected = np.zeros_like(point[j])
        for index in np.ndindex(point[j].shape):
            h = 1e-5
            moved = [p.copy() for p in point]
            moved[j][index] += h
            up = log_posterior(message, *moved)
            moved[j][index] -= 2 * h
            expected[index] = (up - log_posterior(message, *moved)) / (2 * h)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("k", [17, 16])
def test_jacobian_where_the_rows_run_in_blocks(k):
    """At a size whose row intermediates outgrow the caches the gradient runs in blocks of rows
    (the benchmark's path at its large sizes): directional derivatives along random directions."""
    message = workload(3, 32, k, 4000, 1, 0.8)
    prepared = gmm.FUNCTIONS["jacobian"](message)
    assert "===== blocks" in runs._compiled[("gmm", "jacobian", 32, k, 4000)].source
    output = prepared.output(prepared.call())
    point = params(message)
    gradient = [np.array(output[name], float).reshape(p.shape) for name, p in
                zip(("alpha", "mu", "q", "l"), point)]
    rng = np.random.default_rng(4)
    for _ in range(3):
        direction = [rng.normal(size=p.shape) for p in point]
        h = 1e-5
        up = log_posterior(message, *(p + h * v for p, v in zip(point, direction)))
        down = log_posterior(message, *(p - h * v for p, v in zip(point, direction)))
        exact = sum(float((g * v).sum()) for g, v in zip(gradient, direction))
        assert exact == pytest.approx((up - down) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("k", [3, 2])
def test_a_far_away_cluster_keeps_its_precision(k):
    """Points and means far from the origin (the quadratic form's cancellation): still the
    definition's value and gradient."""
    message = workload(5, 4, k, 30, 0, 1.0)
    shift = 1e4
    message["x"] = (np.array(message["x"]) + shift).tolist()
    message["mu"] = (np.array(message["mu"]) + shift).tolist()
    objective = gmm.FUNCTIONS["objective"](message)
    assert objective.call() == pytest.approx(log_posterior(message, *params(message)), rel=1e-11)
    jacobian = gmm.FUNCTIONS["jacobian"](message)
    mu_gradient = jacobian.call()["grad_mu"]
    point = params(message)
    for index in [(0, 0), (1, 3)]:
        moved = [p.copy() for p in point]
        moved[1][index] += 1e-5
        up = log_posterior(message, *moved)
        moved[1][index] -= 2e-5
        assert mu_gradient[index] == pytest.approx((up - log_posterior(message, *moved)) / 2e-5, rel=1e-5)


def test_through_the_protocol_as_the_manual_tool_writes_it():
    message = workload(6, 4, 2, 5, 0, 1.0)
    assert tool.respond({"id": 0, "kind": "define", "module": "gmm"})["success"] is True
    ask = {"kind": "evaluate", "module": "gmm", "input": message}
    objective = tool.respond({"id": 1, "function": "objective"} | ask)
    jacobian = tool.respond({"id": 2, "function": "jacobian"} | ask)
    assert objective["success"] and jacobian["success"], (objective, jacobian)
    assert objective["output"] == pytest.approx(log_posterior(message, *params(message)), rel=1e-12)
    output = jacobian["output"]
    assert set(output) == {"alpha", "mu", "q", "l"}
    assert len(output["alpha"]) == 2 and all(isinstance(v, float) for v in output["alpha"])
    assert [len(row) for row in output["mu"]] == [4, 4] and [len(row) for row in output["q"]] == [4, 4]
    assert [len(row) for row in output["l"]] == [6, 6]
    assert [t["name"] for t in jacobian["timings"]][-1] == "evaluate"
