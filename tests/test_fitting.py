"""gc.Objective and gc.Residuals: SciPy's optimizers on graphs of several parameter arrays, the
README's logistic regression against scikit-learn, least squares against numpy's lstsq, and the
errors of a bad binding."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from readme import readme_block

import graphc as gc


def test_the_readme_logistic_regression_fitted_with_trust_ncg_equals_scikit_learns_newton_cg():
    namespace: dict = {}
    exec(compile(readme_block("Fitting with SciPy"), "README.md", "exec"), namespace)  # noqa: S102
    fit, ours, reference = namespace["fit"], namespace["ours"], namespace["reference"]
    assert fit.success
    np.testing.assert_allclose(ours["w"], reference.coef_[0], atol=1e-6, rtol=0)
    assert ours["b"].shape == () and abs(ours["b"] - reference.intercept_[0]) < 1e-6


def _line_model():
    x, t = gc.placeholder("x", (20,)), gc.placeholder("t", (20,))
    slope, offset = gc.placeholder("slope"), gc.placeholder("offset", (1,))
    return gc.Graph([x, t, slope, offset], {"r": slope * x + offset - t})


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_least_squares_with_graphcs_jacobian_equals_numpys_lstsq(backend):
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 20)
    t = 2.5 * x - 0.75 + 0.1 * rng.normal(size=20)
    residuals = gc.Residuals(_line_model(), params={"slope": 0.0, "offset": [0.0]}, data={"x": x, "t": t},
                             backend=backend)
    np.testing.assert_allclose(residuals.jac(residuals.x0), np.stack([x, np.ones(20)], axis=1), rtol=1e-15)
    fit = scipy.optimize.least_squares(residuals.fun, residuals.x0, jac=residuals.jac, xtol=1e-14, ftol=1e-14)
    expected, *_ = np.linalg.lstsq(np.stack([x, np.ones(20)], axis=1), t, rcond=None)
    np.testing.assert_allclose(fit.x, expected, rtol=1e-10)
    assert residuals.unpack(fit.x)["offset"].shape == (1,)


def test_value_gradient_and_hessian_products_are_the_packed_closed_forms():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    u, v = gc.placeholder("u", (2, 2)), gc.placeholder("v", (4,))
    m = gc.placeholder("m", (4, 4))
    flat = gc.concatenate([gc.reshape(u, (4,)), v])  # theta = (u row-major, v)
    f = gc.Graph([u, v, m], [0.5 * gc.sum(flat[:4] * (m @ flat[4:])) + gc.sum(gc.sin(v))])
    objective = gc.Objective(f, params=["u", "v"], data={"m": A})
    assert objective.x0 is None and objective.size == 8
    theta, p = rng.normal(size=8), rng.normal(size=8)
    uu, vv = theta[:4], theta[4:]
    assert objective.fun(theta) == pytest.approx(0.5 * uu @ A @ vv + np.sin(vv).sum(), rel=1e-14)
    expected = np.concatenate([0.5 * A @ vv, 0.5 * A.T @ uu + np.cos(vv)])
    np.testing.assert_allclose(objective.jac(theta), expected, rtol=1e-13)
    hessian = np.block([[np.zeros((4, 4)), 0.5 * A], [0.5 * A.T, np.diag(-np.sin(vv))]])
    np.testing.assert_allclose(objective.hessp(theta, p), hessian @ p, rtol=1e-12, atol=1e-14)
    value, gradient = objective.fun_and_jac(theta)
    assert value == objective.fun(theta) and np.array_equal(gradient, objective.jac(theta))
    assert objective.pack(objective.unpack(theta)).tolist() == theta.tolist()


def test_a_bad_binding_is_refused_naming_what_is_wrong():
    model = _line_model()
    with pytest.raises(gc.InputError, match=r"no data for the inputs \['t'\]"):
        gc.Residuals(model, params=["slope", "offset"], data={"x": np.zeros(20)})
    with pytest.raises(gc.InputError, match=r"data for \['z'\], which the graph does not have"):
        gc.Residuals(model, params=["slope", "offset"], data={"x": np.zeros(20), "t": np.zeros(20), "z": 1})
    with pytest.raises(gc.GraphError, match="parameter 'w' is not an input of the graph"):
        gc.Residuals(model, params=["w"], data={})
    with pytest.raises(gc.InputError, match=r"data 'x' has shape \(3,\), the input f64\[20\]"):
        gc.Residuals(model, params=["slope", "offset"], data={"x": np.zeros(3), "t": np.zeros(20)})
    residuals = gc.Residuals(model, params=["slope", "offset"], data={"x": np.zeros(20), "t": np.zeros(20)})
    with pytest.raises(gc.InputError, match=r"the parameter vector has shape \(3,\), expected \(2,\)"):
        residuals.fun(np.zeros(3))
    with pytest.raises(gc.GraphError, match=r"Objective needs a scalar float output, got f64\[20\]"):
        gc.Objective(model, params=["slope", "offset"], data={"x": np.zeros(20), "t": np.zeros(20)})
    with pytest.raises(gc.GraphTypeError, match="params must be a dict"):
        gc.Objective(model, params="slope")
