"""Indexing by data: gathers and scatters with run-time integer indices on both backends, their
errors, duplicates, modes and derivatives; running totals; argmax; the rewrites of adjoints.
(The op table, tests/optable.py, checks every op's values and gradients over random shapes.)"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.checks import numeric_gradient

BACKENDS = ["numpy", "numba"]


def run(graph, backend, **inputs):
    return gc.compile(graph, backend=backend)(**inputs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_out_of_range_is_an_input_error_naming_the_value_the_op_the_line_and_the_input(backend):
    x, labels = gc.placeholder("x", (5, 3)), gc.placeholder("labels", (4,), np.int64)
    picked = x[labels]
    line = picked.meta.location.line
    graph = gc.Graph([x, labels], [gc.sum(picked * 2.0)])
    with pytest.raises(gc.InputError) as info:
        run(graph, backend, x=np.ones((5, 3)), labels=np.array([0, 7, 1, 1]))
    assert str(info.value) == (
        f"index 7 is out of range for axis 0 of size 5 in take (at {__file__}:{line}): indices must lie in "
        "[-5, 5) with mode='raise' (or pass mode='wrap' or 'clip'); the index comes from input 'labels'")
    # negative indices count from the end; -6 does not exist
    assert run(graph, backend, x=np.arange(15.0).reshape(5, 3), labels=np.array([-1, -5, 0, 0]))[0] == \
        2 * (12 + 13 + 14 + 0 + 1 + 2 + 2 * 3)
    with pytest.raises(gc.InputError, match="index -6 is out of range"):
        run(graph, backend, x=np.ones((5, 3)), labels=np.array([0, -6, 1, 1]))


def test_a_bad_index_in_a_batch_names_its_sample_and_the_others_still_run():
    x, labels = gc.placeholder("x", (5, 3)), gc.placeholder("labels", (4,), np.int64)
    graph = gc.Graph([x, labels], [gc.sum(x[labels])])
    batched = gc.compile(graph, backend="numba", batch=("labels",))
    ok = np.array([[0, 1, 2, 3], [4, 4, -1, 0]])
    np.testing.assert_array_equal(batched(x=np.ones((5, 3)), labels=ok)[0], [12.0, 12.0])
    with pytest.raises(gc.InputError, match=r"index 9 is out of range .* in sample 1 of the batch"):
        batched(x=np.ones((5, 3)), labels=np.array([[0, 1, 2, 3], [0, 9, 1, 1]]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrap_and_clip_modes_are_numpy_s(backend):
    x, idx = gc.placeholder("x", (4,)), gc.placeholder("idx", (5,), np.int64)
    xv, iv = np.array([1.0, 10.0, 100.0, 1000.0]), np.array([-9, -1, 0, 5, 13])
    for mode in ("wrap", "clip"):
        graph = gc.Graph([x, idx], [gc.take(x, idx, mode=mode)])
        np.testing.assert_array_equal(run(graph, backend, x=xv, idx=iv)[0], np.take(xv, iv, mode=mode))


def test_a_constant_index_out_of_range_is_a_shape_error_where_it_is_built():
    x = gc.placeholder("x", (3, 2))
    with pytest.raises(gc.ShapeError, match=r"take: index 3 is out of range for axis 0 of size 3 \(at .*"
                                            r"test_indexing.py:\d+\)"):
        x[[0, 3]]
    with pytest.raises(gc.ShapeError, match="index -3 is out of range for axis 1 of size 2"):
        x[:, [-3]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicates_add_in_scatter_add_and_the_last_one_wins_in_scatter(backend):
    x, idx, v = gc.placeholder("x", (4,)), gc.placeholder("idx", (5,), np.int64), gc.placeholder("v", (5,))
    graph = gc.Graph([x, idx, v], {"add": x.at[idx].add(v), "set": x.at[idx].set(v)})
    xv, iv, vv = np.zeros(4), np.array([2, 0, 2, -2, 1]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = run(graph, backend, x=xv, idx=iv, v=vv)
    np.testing.assert_array_equal(out["add"], [2.0, 5.0, 8.0, 0.0])  # index 2 three times: 1 + 3 + 4
    np.testing.assert_array_equal(out["set"], [2.0, 5.0, 4.0, 0.0])  # the last write of index 2: 4
    # only the value written receives a gradient; the overwritten entries of x none
    loss = gc.Graph([x, idx, v], {"f": gc.sum(x.at[idx].set(v) * gc.constant([1.0, 2.0, 3.0, 4.0]))})
    grads = run(gc.grad(loss, ["x", "v"]), backend, x=xv, idx=iv, v=vv)
    np.testing.assert_array_equal(grads["grad_v"], [0.0, 1.0, 0.0, 3.0, 2.0])
    np.testing.assert_array_equal(grads["grad_x"], [0.0, 0.0, 0.0, 4.0])
    np.testing.assert_allclose(grads["grad_v"], numeric_gradient(loss, {"x": xv, "idx": iv, "v": vv}, "v"),
                               atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicates_add_up_in_every_sample_of_a_batch(backend):
    x, idx = gc.placeholder("x", (3,)), gc.placeholder("idx", (6,), np.int64)
    graph = gc.Graph([x, idx], [gc.scatter_add(x, idx, gc.ones_like(gc.take(x, idx)))])
    samples = np.array([[0, 0, 0, 1, 1, 2], [2, 2, 2, 2, 2, 2], [1, 0, 1, 0, 1, 0]])
    got = gc.compile(graph, backend=backend, batch=("idx",))(x=np.zeros(3), idx=samples)[0]
    np.testing.assert_array_equal(got, [[3, 2, 1], [0, 0, 6], [3, 3, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_indexing_with_arrays_follows_numpy(backend):
    x = gc.placeholder("x", (4, 5, 3))
    i, j = gc.placeholder("i", (2, 2), np.int64), gc.placeholder("j", (2,), np.int64)
    xv = np.arange(60.0).reshape(4, 5, 3)
    iv, jv = np.array([[0, 3], [-1, 2]]), np.array([4, -5])
    cases = {"rows": (x[i], xv[iv]), "middle": (x[:, j], xv[:, jv]), "pair": (x[i, j], xv[iv, jv]),
             "after_int": (x[1, j], xv[1, jv]), "list": (x[:, :, [2, 0, 2]], xv[:, :, [2, 0, 2]]),
             "with_slice": (x[i[0], 1:], xv[iv[0], 1:]), "at_get": (x.at[:, j].get(), xv[:, jv])}
    graph = gc.Graph([x, i, j], {k: node for k, (node, _) in cases.items()})
    got = run(graph, backend, x=xv, i=iv, j=jv)
    for name, (_, want) in cases.items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    with pytest.raises(gc.InputError, match="index 5 is out of range for axis 1 of size 5"):
        run(gc.Graph([x, i, j], [x[i, j]]), backend, x=xv, i=iv, j=np.array([5, 0]))  # not the next row


def test_unsupported_indexing_is_refused_clearly():
    x = gc.placeholder("x", (3, 4, 2))
    with pytest.raises(gc.GraphTypeError, match="a boolean mask selects a number of elements known only"):
        x[np.array([True, False, True])]
    with pytest.raises(gc.GraphTypeError, match="integer-array indices must be next to each other"):
        x[[0, 1], :, [1, 0]]
    with pytest.raises(gc.DTypeError, match="indices must be an integer array"):
        x[gc.placeholder("f", (2,))]
    with pytest.raises(gc.GraphTypeError, match="mode must be one of 'raise', 'wrap', 'clip'"):
        gc.take(x, [0], mode="nearest")
    with pytest.raises(gc.ShapeError, match=r"cannot broadcast f64\[5\] to shape \(2,\)"):
        gc.scatter_add(gc.placeholder("y", (3,)), gc.constant(np.array([0, 1], np.int64)),
                       gc.placeholder("v", (5,)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_cumprod_s_gradient_is_exact_at_zeros(backend):
    """d/dx_i of Σ_j w_j Π_{k<=j} x_k, written out, at points with one zero and with two."""
    x = gc.placeholder("x", (5,))
    w = np.array([1.0, -2.0, 0.5, 3.0, 1.5])
    graph = gc.Graph([x], {"f": gc.sum(gc.cumprod(x) * gc.constant(w))})
    grad = gc.grad(graph)
    for point in (np.array([2.0, 0.0, 3.0, -1.0, 0.5]), np.array([0.0, 2.0, 0.0, 1.5, 2.0])):
        expected = [sum(w[j] * np.prod([point[k] for k in range(j + 1) if k != i]) for j in range(i, 5))
                    for i in range(5)]
        np.testing.assert_allclose(run(grad, backend, x=point)["grad_x"], expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_hvps_through_gathers_scatters_and_running_totals_match_differences_of_the_gradient(backend, mode):
    x, idx = gc.placeholder("x", (6,)), gc.placeholder("idx", (5,), np.int64)
    y = gc.take(x, idx) ** 2
    z = gc.scatter_add(gc.sin(x), idx, y) * gc.cumprod(gc.tanh(x))
    loss = gc.Graph([x, idx], {"f": gc.sum(gc.cumsum(z) * z) + gc.sum(gc.log_softmax(x)[idx])})
    point, iv = np.linspace(-0.8, 0.9, 6), np.array([1, 4, 4, 0, -1])
    v = np.array([0.3, -1.0, 0.5, 2.0, -0.2, 0.7])
    hv = run(gc.hvp(loss, "x", mode=mode), backend, x=point, idx=iv, direction=v)["hvp_x"]
    g = gc.compile(gc.grad(loss, "x"))
    fd = (g(x=point + 1e-6 * v, idx=iv)["grad_x"] - g(x=point - 1e-6 * v, idx=iv)["grad_x"]) / 2e-6
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_argmax_and_argmin_return_the_first_extreme_and_the_first_nan(backend):
    x = gc.placeholder("x", (2, 4))
    graph = gc.Graph([x], {"max": gc.argmax(x, 1), "min": gc.argmin(x, 1), "flat": gc.argmax(x),
                           "kept": gc.argmin(x, 0, keepdims=True)})
    xv = np.array([[1.0, 3.0, 3.0, -2.0], [np.nan, 5.0, np.nan, -7.0]])
    got = run(graph, backend, x=xv)
    np.testing.assert_array_equal(got["max"], np.argmax(xv, 1))
    np.testing.assert_array_equal(got["min"], np.argmin(xv, 1))
    assert got["flat"] == np.argmax(xv) == 4
    np.testing.assert_array_equal(got["kept"], np.argmin(xv, 0, keepdims=True))
    assert got["max"].dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_classifier_loss_with_integer_labels_has_the_gradient_of_its_closed_form(backend):
    """−mean log softmax(X W)[i, yᵢ]: the gradient is Xᵀ (softmax − onehot(y)) / n."""
    X, W = gc.placeholder("X", (7, 3)), gc.placeholder("W", (3, 4))
    y = gc.placeholder("y", (7,), np.int64)
    logp = gc.log_softmax(X @ W, axis=1)
    loss = -gc.mean(gc.take_along_axis(logp, y[:, None], axis=1))
    graph = gc.Graph([X, W, y], {"loss": loss})
    rng = np.random.default_rng(5)
    Xv, Wv, yv = rng.normal(size=(7, 3)), rng.normal(size=(3, 4)), rng.integers(0, 4, 7)
    out = run(gc.grad(graph, "W"), backend, X=Xv, W=Wv, y=yv)
    z = Xv @ Wv
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert out["loss"] == pytest.approx(-np.mean(np.log(p[np.arange(7), yv])), rel=1e-13)
    np.testing.assert_allclose(out["grad_W"], Xv.T @ (p - np.eye(4)[yv]) / 7, rtol=1e-12, atol=1e-14)


def test_the_adjoint_of_an_array_gathered_twice_through_one_index_is_one_scatter():
    E, ids = gc.placeholder("E", (10, 4)), gc.placeholder("ids", (6,), np.int64)
    f = gc.Graph([E, ids], [gc.sum(gc.tanh(E[ids])) + gc.sum(E[ids] * E[ids])])
    # the product's two terms make 2·(scatter of E[ids]·ḡ): the scale goes into the scatter, which
    # then merges with tanh's, in the fast mode only ((x + a)·2 is not 2x + 2a at 1e308)
    assert [n.op for n in gc.optimize(gc.grad(f, "E")).nodes].count("scatter_add") == 2
    grad = gc.optimize(gc.grad(f, "E"), mode="fast")
    assert [n.op for n in grad.nodes].count("scatter_add") == 1
    assert [n.op for n in grad.nodes].count("take") == 1
    rng = np.random.default_rng(2)
    Ev, iv = rng.normal(size=(10, 4)), np.array([3, 3, 0, 9, 3, 1])
    expected = np.zeros((10, 4))
    np.add.at(expected, iv, 1 - np.tanh(Ev[iv]) ** 2 + 2 * Ev[iv])
    np.testing.assert_allclose(gc.compile(grad, backend="numba")(E=Ev, ids=iv)[1], expected, rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_segment_sum_one_hot_and_fill_tril(backend):
    data, ids = gc.placeholder("data", (5, 2)), gc.placeholder("ids", (5,), np.int64)
    v = gc.placeholder("v", (6,))
    graph = gc.Graph([data, ids, v], {"seg": gc.segment_sum(data, ids, 3), "hot": gc.one_hot(ids, 3),
                                      "L": gc.fill_tril(v, 3), "LF": gc.fill_tril(v, 3, order="F")})
    dv, iv, vv = np.arange(10.0).reshape(5, 2), np.array([2, 0, 2, 3, -1]), np.arange(1.0, 7.0)
    got = run(graph, backend, data=dv, ids=np.array([2, 0, 2, 1, 1]), v=vv)
    np.testing.assert_array_equal(got["seg"], [[2, 3], [14, 16], [4, 6]])
    np.testing.assert_array_equal(got["L"], [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(got["LF"], [[1, 0, 0], [2, 4, 0], [3, 5, 6]])
    hot = run(gc.Graph([ids], [gc.one_hot(ids, 3)]), backend, ids=iv)[0]
    np.testing.assert_array_equal(hot, [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])  # as JAX


def test_gathers_scatters_and_running_totals_survive_a_file(tmp_path):
    x, i = gc.placeholder("x", (5, 3)), gc.placeholder("i", (4,), np.int64)
    graph = gc.Graph([x, i], {"take": gc.sum(x[i]), "argmax": gc.argmax(x), "set": x.at[i].set(1.0),
                              "cumsum": gc.cumsum(x, 1, reverse=True), "rec": gc.linear_recurrence(x, x)})
    grad = gc.grad(gc.Graph([x, i], {"s": gc.sum(x[i] ** 2) + gc.sum(gc.cumprod(x, 0))}), "x")
    inputs = {"x": np.random.default_rng(0).random((5, 3)), "i": np.array([0, 4, 4, 1])}
    for g in (graph, grad):
        gc.save(g, tmp_path / "g.json")
        loaded = gc.load(tmp_path / "g.json")
        before, after = gc.compile(g)(**inputs), gc.compile(loaded)(**inputs)
        for name in before:
            np.testing.assert_array_equal(before[name], after[name])
