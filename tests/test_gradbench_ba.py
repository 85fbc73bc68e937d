"""GradBench's ``ba`` module against a numpy bundle-adjustment objective written here from the
eval's specification, and its sparse Jacobian against central differences of that objective."""

import numpy as np
import pytest

from benchmarks.gradbench import ba, tool


def rodrigues(rot, x):
    """Rows of x rotated by the angle-axis rows of rot; rot + rot × x where |rot| = 0."""
    theta = np.linalg.norm(rot, axis=1, keepdims=True)
    safe = np.where(theta == 0, 1.0, theta)
    k = rot / safe
    c, s = np.cos(theta), np.sin(theta)
    turned = x * c + np.cross(k, x) * s + k * np.sum(k * x, axis=1, keepdims=True) * (1 - c)
    return np.where(theta == 0, x + np.cross(rot, x), turned)


def reference(cams, X, w, feats, obs):
    """(reprojection errors (p, 2), weight errors (p,)), written from the eval's README and ba.hpp."""
    cam, x = cams[obs[:, 0]], X[obs[:, 1]]
    xcam = rodrigues(cam[:, 0:3], x - cam[:, 3:6])
    proj = xcam[:, :2] / xcam[:, 2:3]
    rsq = np.sum(proj * proj, axis=1, keepdims=True)
    proj = proj * (1 + cam[:, 9:10] * rsq + cam[:, 10:11] * rsq * rsq)
    proj = proj * cam[:, 6:7] + cam[:, 7:9]
    return w[:, None] * (proj - feats), 1 - w * w


def dense_by_central_differences(problem, h=1e-6):
    """d [reproj_err.ravel(), w_err] / d [cams.ravel(), X.ravel(), w], shape (3p, 11n + 3m + p)."""
    n, m, p = len(problem.cams), len(problem.X), len(problem.w)
    params = np.concatenate([problem.cams.ravel(), problem.X.ravel(), problem.w])

    def f(v):
        cams, X, w = v[:11 * n].reshape(n, 11), v[11 * n:11 * n + 3 * m].reshape(m, 3), v[11 * n + 3 * m:]
        r, we = reference(cams, X, w, problem.feats, problem.obs)
        return np.concatenate([r.ravel(), we])

    J = np.empty((3 * p, params.size))
    for j in range(params.size):
        step = h * max(1.0, abs(params[j]))
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        J[:, j] = (f(up) - f(down)) / (2 * step)
    return J


def dense_from_csr(rows, cols, vals, shape):
    J = np.zeros(shape)
    for i in range(shape[0]):
        for k in range(rows[i], rows[i + 1]):
            J[i, cols[k]] += vals[k]
    return J


def random_problem(n=3, m=5, p=9, seed=0):
    rng = np.random.default_rng(seed)
    cams = np.column_stack([rng.normal(0, 0.3, (n, 3)), rng.normal(0, 1, (n, 3)), rng.uniform(300, 500, n),
                            rng.normal(0, 5, (n, 2)), rng.normal(0, 0.05, (n, 2))])
    cams[1, 0:3] = 0.0  # a camera without rotation: the first-order branch of Rodrigues' formula
    X = rng.normal(0, 1, (m, 3)) + [0, 0, 8]
    obs = np.stack([rng.integers(0, n, p), rng.integers(0, m, p)], axis=1).astype(np.int32)
    return ba.Problem(cams, X, rng.uniform(0.5, 1.5, p), rng.normal(0, 50, (p, 2)), obs)


MESSAGE = {"n": 4, "m": 6, "p": 13, "min_runs": 1, "min_seconds": 0,
           "cam": [-0.758453, -1.109613, -0.845551, 34.556073, 39.676747, 53.881673, 419.194514, 5.864426,
                   -8.51887, 0.087812, 0.002739],
           "x": [7.203245, 0.001144, 3.023326], "w": 0.417022, "feat": [271.760969, 834.209256]}


def test_objective_matches_numpy_on_distinct_cameras_and_points():
    problem = random_problem()
    fn, _ = ba.compiled_objective(3, 5)
    out = ba.objective_of(problem, fn)
    r, w_err = reference(problem.cams, problem.X, problem.w, problem.feats, problem.obs)
    np.testing.assert_allclose(out["reproj_err"], r, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(out["w_err"], w_err, rtol=1e-14)


def test_sparse_jacobian_matches_central_differences():
    problem = random_problem()
    n, m, p = 3, 5, 9
    fn, _ = ba.compiled_jacobian(n, m)
    J = ba.jacobian_of(problem, fn, np.arange(p, dtype=np.int32))
    assert J.rows.shape == (3 * p + 1,) and J.cols.shape == J.vals.shape == (31 * p,)
    assert np.all(np.diff(J.rows) == np.r_[np.full(2 * p, 15), np.ones(p, int)])
    expected = dense_by_central_differences(problem)
    got = dense_from_csr(J.rows, J.cols, J.vals, expected.shape)
    scale = np.abs(expected).max(axis=0, keepdims=True) + 1.0
    assert np.abs((got - expected) / scale).max() < 1e-6
    # every nonzero block sits where its observation's camera, point and weight are
    for i, (c, q) in enumerate(problem.obs):
        row = J.cols[30 * i:30 * i + 15]
        assert list(row) == [*range(11 * c, 11 * c + 11), *range(11 * n + 3 * q, 11 * n + 3 * q + 3),
                             11 * n + 3 * m + i]


def test_functions_answer_the_replicated_problem_in_the_suites_format():
    problem = ba.replicate(MESSAGE)
    n, m, p = 4, 6, 13
    assert problem.obs[:, 0].tolist() == [i % n for i in range(p)]
    assert problem.obs[:, 1].tolist() == [i % m for i in range(p)]
    r, w_err = reference(problem.cams, problem.X, problem.w, problem.feats, problem.obs)

    prepared = ba.FUNCTIONS["objective"](MESSAGE)
    out = prepared.output(prepared.call())
    assert out["reproj_error"]["repeated"] == p and out["w_err"]["repeated"] == p
    np.testing.assert_allclose(out["reproj_error"]["elements"], r[0], rtol=1e-12)
    assert out["w_err"]["element"] == pytest.approx(w_err[0], rel=1e-14)

    prepared = ba.FUNCTIONS["jacobian"](MESSAGE)
    out = prepared.output(prepared.call())
    expected = dense_by_central_differences(problem)
    rows = np.r_[np.arange(0, 30 * p + 1, 15), 30 * p + np.arange(1, p + 1)]
    assert out["rows"] == [*rows[:30].tolist(), int(rows[-1])]
    cols = [*range(11), *range(11 * n, 11 * n + 3), 11 * n + 3 * m] * 2
    assert out["cols"] == [*cols, 11 * n + 3 * m + p - 1]
    block = np.r_[expected[0, cols[:15]], expected[1, cols[:15]], expected[-1, -1]]
    np.testing.assert_allclose(out["vals"], block, rtol=1e-6, atol=1e-6 * np.abs(block).max())
    assert all(isinstance(v, int) for v in out["rows"] + out["cols"])


def test_through_the_protocol():
    response = tool.respond({"id": 7, "kind": "evaluate", "module": "ba", "function": "jacobian",
                             "input": MESSAGE | {"min_runs": 2}})
    assert response["success"], response.get("error")
    assert [t["name"] for t in response["timings"]].count("evaluate") == 2
    assert len(response["output"]["vals"]) == 31
