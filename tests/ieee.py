"""Special floating-point values for tests, and the comparison that says two results agree as
IEEE results: NaNs in the same places, the same infinities, zeros of the same sign, finite values
equal to a tolerance."""

import numpy as np

SPECIAL = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e308, -1e308, 5e-324, -1e-310, 1e-300, 2.0, -3.0])


def with_special_values(rng, inputs: dict, fraction: float = 0.35) -> dict:
    """The float inputs with about ``fraction`` of their elements replaced by special values."""
    out = {}
    for name, value in inputs.items():
        value = np.array(value)
        if value.dtype.kind == "f":
            flat = value.reshape(-1)
            hit = rng.random(flat.size) < fraction
            flat[hit] = rng.choice(SPECIAL, size=int(hit.sum()))
        out[name] = value
    return out


def assert_same_ieee_results(want, got, rtol=1e-12, atol=1e-300):
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (w.shape, w.dtype, g.shape, g.dtype)
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"NaNs moved: {w} -> {g}")
        np.testing.assert_array_equal(np.where(np.isinf(w), w, 0), np.where(np.isinf(g), g, 0),
                                      err_msg=f"infinities changed: {w} -> {g}")
        zeros = w == 0
        np.testing.assert_array_equal(np.signbit(g[zeros]), np.signbit(w[zeros]),
                                      err_msg=f"a zero's sign changed: {w} -> {g}")
        finite = np.isfinite(w)
        np.testing.assert_allclose(g[finite], w[finite], rtol=rtol, atol=atol)
