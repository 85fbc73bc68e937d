"""Derivatives over several parameter arrays: hvp, hessian, jacobian and taylor with a list of
inputs, against the same derivatives of the model written over one packed vector (an independent
construction: one input, the blocks sliced out of it), against finite differences, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

BACKENDS = ["numpy", "numba"]
SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (4,), "b2": ()}


def mlp(params, x, t):
    h = gc.tanh(x @ params["W1"] + params["b1"])
    y = h @ params["W2"] + params["b2"]
    return gc.mean((y - t) ** 2) + 0.01 * gc.sum(params["W1"] ** 2)


def data(seed=0):
    rng = np.random.default_rng(seed)
    values = {k: rng.normal(size=s) * 0.7 for k, s in SHAPES.items()}
    return values, rng.normal(size=(5, 3)), rng.normal(size=5), rng


def separate():
    params = {k: gc.placeholder(k, s) for k, s in SHAPES.items()}
    x, t = gc.placeholder("x", (5, 3)), gc.placeholder("t", (5,))
    return gc.Graph([*params.values(), x, t], {"loss": mlp(params, x, t)})


def packed():
    """The same loss of one vector theta, each parameter a slice of it."""
    size = sum(int(np.prod(s)) for s in SHAPES.values())
    theta = gc.placeholder("theta", (size,))
    params, at = {}, 0
    for k, s in SHAPES.items():
        n = int(np.prod(s))
        params[k] = gc.reshape(theta[at:at + n], s)
        at += n
    x, t = gc.placeholder("x", (5, 3)), gc.placeholder("t", (5,))
    return gc.Graph([theta, x, t], {"loss": mlp(params, x, t)})


def pack(values):
    return np.concatenate([np.ravel(values[k]) for k in SHAPES])


def unpack(vector):
    out, at = {}, 0
    for k, s in SHAPES.items():
        n = int(np.prod(s))
        out[k] = vector[at:at + n].reshape(s)
        at += n
    return out


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_hvp_over_several_inputs_is_the_packed_hvp_in_blocks(backend, mode):
    values, x, t, rng = data()
    v = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    h = gc.hvp(separate(), list(SHAPES), mode=mode)
    assert h.input_names == ("W1", "b1", "W2", "b2", "x", "t", "direction_W1", "direction_b1", "direction_W2",
                             "direction_b2")
    assert h.output_names == ("hvp_W1", "hvp_b1", "hvp_W2", "hvp_b2")
    got = gc.compile(h, backend=backend)(**values, x=x, t=t, **{f"direction_{k}": d for k, d in v.items()})
    reference = gc.compile(gc.hvp(packed(), "theta"), backend="numpy")(theta=pack(values), x=x, t=t,
                                                                      direction=pack(v))["hvp_theta"]
    for k, block in unpack(reference).items():
        np.testing.assert_allclose(got[f"hvp_{k}"], block, rtol=1e-10, atol=1e-13, err_msg=k)
    # against differences of the gradient along v (central, float64)
    gradient = gc.compile(gc.grad(separate(), list(SHAPES)), backend="numpy")
    eps = 1e-6
    plus = gradient(**{k: values[k] + eps * v[k] for k in SHAPES}, x=x, t=t)
    minus = gradient(**{k: values[k] - eps * v[k] for k in SHAPES}, x=x, t=t)
    for k in SHAPES:
        np.testing.assert_allclose(got[f"hvp_{k}"], (plus[f"grad_{k}"] - minus[f"grad_{k}"]) / (2 * eps),
                                   rtol=1e-6, atol=1e-8, err_msg=k)


def test_direction_names_can_be_given_as_a_list_or_a_dict_and_bad_ones_are_refused():
    g = separate()
    h = gc.hvp(g, ["W2", "b2"], direction={"b2": "db2", "W2": "dW2"})
    assert h.input_names[-2:] == ("dW2", "db2") and h.output_names == ("hvp_W2", "hvp_b2")
    assert gc.hvp(g, ["W2", "b2"], direction=["p", "q"]).input_names[-2:] == ("p", "q")
    assert gc.hvp(g, "W2").input_names[-1] == "direction"  # one input: the name it always had
    with pytest.raises(gc.GraphTypeError, match=r"needs one direction name per input \(a list or a dict\)"):
        gc.hvp(g, ["W2", "b2"], direction="v")
    with pytest.raises(gc.GraphError, match="direction input name 'x' is already an input"):
        gc.hvp(g, ["W2", "b2"], direction=["x", "q"])
    with pytest.raises(gc.GraphError, match="input 'W2' is named twice in wrt"):
        gc.hvp(g, ["W2", "W2"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_hessian_over_several_inputs_is_the_packed_hessian_in_blocks(backend):
    values, x, t, _ = data(1)
    h = gc.hessian(separate(), ["W2", "b2", "b1"])
    names = [f"hessian_{a}_{b}" for a in ("W2", "b2", "b1") for b in ("W2", "b2", "b1")]
    assert h.output_names == ("loss", *names)
    got = gc.compile(h, backend=backend)(**values, x=x, t=t)
    packed_hessian = gc.compile(gc.hessian(packed(), "theta"), backend="numpy")
    full = packed_hessian(theta=pack(values), x=x, t=t)["hessian_theta"]
    offsets, at = {}, 0
    for k, s in SHAPES.items():
        offsets[k] = (at, at + int(np.prod(s)))
        at += int(np.prod(s))
    for a in ("W2", "b2", "b1"):
        for b in ("W2", "b2", "b1"):
            (a0, a1), (b0, b1) = offsets[a], offsets[b]
            block = full[a0:a1, b0:b1].reshape(SHAPES[a] + SHAPES[b])
            np.testing.assert_allclose(got[f"hessian_{a}_{b}"], block, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_jacobian_over_several_inputs_has_one_block_per_input(backend, mode):
    rng = np.random.default_rng(2)
    a, b = gc.placeholder("a", (3,)), gc.placeholder("b", (2, 2))
    y = gc.stack([gc.sum(a * a) * b[0, 1], gc.sin(a[0]) + gc.sum(b), a[2] * b[1, 0]])
    g = gc.Graph([a, b], {"y": y})
    jac = gc.jacobian(g, ["a", "b"], mode=mode)
    assert jac.output_names == ("y", "jacobian_a", "jacobian_b")
    A, B = rng.normal(size=3), rng.normal(size=(2, 2))
    got = gc.compile(jac, backend=backend)(a=A, b=B)
    ja = np.array([2 * A * B[0, 1], [np.cos(A[0]), 0, 0], [0, 0, B[1, 0]]])
    jb = np.zeros((3, 2, 2))
    jb[0, 0, 1] = A @ A
    jb[1] = 1.0
    jb[2, 1, 0] = A[2]
    np.testing.assert_allclose(got["jacobian_a"], ja, rtol=1e-12)
    np.testing.assert_allclose(got["jacobian_b"], jb, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_order_taylor_expansion_in_several_inputs_is_exact_for_a_quadratic(backend):
    rng = np.random.default_rng(3)
    u, v = gc.placeholder("u", (3,)), gc.placeholder("v", (2,))
    M = rng.normal(size=(3, 2))
    f = gc.Graph([u, v], [gc.sum(u * u) * 0.5 + u @ gc.constant(M) @ v + gc.sum(v) * 3.0])
    t2 = gc.taylor(f, ["u", "v"], order=2)
    assert t2.input_names == ("u", "v", "u0", "v0") and t2.output_names == ("taylor2",)
    U, V, U0, V0 = (rng.normal(size=s) for s in ((3,), (2,), (3,), (2,)))
    exact = 0.5 * U @ U + U @ M @ V + 3 * V.sum()
    assert float(gc.compile(t2, backend=backend)(u=U, v=V, u0=U0, v0=V0)["taylor2"]) == pytest.approx(exact,
                                                                                                       rel=1e-12)
    t1 = gc.taylor(f, ["u", "v"], order=1, expansion_point={"v": "vv", "u": "uu"})
    first = gc.compile(t1, backend="numpy")(u=U, v=V, uu=U0, vv=V0)["taylor1"]
    f0 = 0.5 * U0 @ U0 + U0 @ M @ V0 + 3 * V0.sum()
    assert float(first) == pytest.approx(f0 + (U0 + M @ V0) @ (U - U0) + (M.T @ U0 + 3) @ (V - V0), rel=1e-12)
