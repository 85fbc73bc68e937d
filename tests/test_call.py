"""Calling a compiled graph: the fast path (inputs exactly as the kernel takes them) and the
general path (checks and conversions) must give the same results for every way of passing
inputs, and Python scalars are weakly typed, as in the builder."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


@pytest.fixture(scope="module")
def mixed():
    x = gc.placeholder("x")  # float64, 0-d: the numba kernel takes a Python float
    n = gc.placeholder("n", (), "int64")
    f = gc.placeholder("f", (), "float32")  # 0-d but not a Python type: always the general path
    m = gc.placeholder("m", (3, 2))
    graph = gc.Graph([x, n, f, m], {"a": gc.sum(m) * x + n, "b": f * 2.0, "c": m.T * x})
    return graph, {b: gc.compile(graph, backend=b) for b in ("numba", "numpy")}


def _calls(rng):
    m = rng.normal(size=(3, 2))
    yield "positional floats", (0.5, 3, np.float32(1.25), m), {}
    yield "keywords", (), {"x": 0.5, "n": 3, "f": np.float32(1.25), "m": m}
    yield "0-d arrays", (np.asarray(0.5), np.asarray(3), np.asarray(1.25, np.float32), m), {}
    yield "a mapping", ({"x": 0.5, "n": 3, "f": np.float32(1.25), "m": m},), {}
    yield "a non-contiguous matrix", (0.5, 3, np.float32(1.25), np.asfortranarray(m)), {}
    yield "a list and a Python float for float32", (0.5, 3, 1.25, m.tolist()), {}


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_every_way_of_passing_inputs_gives_the_same_results(mixed, backend):
    graph, compiled = mixed
    rng = np.random.default_rng(0)
    m = next(_calls(rng))[1][3]
    expected = {"a": m.sum() * 0.5 + 3, "b": np.float32(2.5), "c": m.T * 0.5}
    for what, args, kwargs in _calls(np.random.default_rng(0)):
        got = compiled[backend](*args, **kwargs)
        for key, want in expected.items():
            assert isinstance(got[key], np.ndarray), (what, key)
            assert got[key].dtype == graph.outputs[list(expected).index(key)].dtype, (what, key)
            np.testing.assert_allclose(got[key], want, rtol=1e-15, err_msg=f"{what}: {key}")


def test_outputs_of_the_fast_path_are_fresh_arrays(mixed):
    _, compiled = mixed
    m = np.ones((3, 2))
    first = compiled["numba"](0.5, 3, np.float32(1.0), m)
    first["c"][0, 0] = 99.0
    again = compiled["numba"](0.5, 3, np.float32(1.0), m)
    assert again["c"][0, 0] == 0.5 and m[0, 0] == 1.0


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_python_scalars_are_weakly_typed_but_must_fit(backend):
    i = gc.placeholder("i", (), "int32")
    f = gc.placeholder("f", (), "float32")
    run = gc.compile(gc.Graph([i, f], [i + 1, f * 2.0]), backend=backend)
    out = run(i=7, f=0.1)
    assert out[0].dtype == np.int32 and out[0] == 8
    assert out[1].dtype == np.float32 and out[1] == np.float32(0.1) * np.float32(2.0)
    with pytest.raises(gc.InputError, match=r"input 'i': expected i32\[\], got the int 4294967296, "
                                            r"which does not fit in int32"):
        run(i=2**32, f=0.1)
    with pytest.raises(gc.InputError, match=r"input 'i': expected dtype int32 .* got float64"):
        run(i=1.5, f=0.1)
