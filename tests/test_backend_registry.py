"""The backend registry: built-in backends, entry points, run-time registration, errors."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import pytest

import graphc as gc
from graphc import backend_registry
from graphc.backends.numba import NumbaBackend
from graphc.backends.numpy_backend import NumpyBackend


def test_numpy_and_numba_are_listed_and_resolve_to_their_classes():
    assert {"numpy", "numba"} <= set(gc.list_backends())
    assert isinstance(backend_registry.get_backend("numpy"), NumpyBackend)
    assert isinstance(backend_registry.get_backend("numba"), NumbaBackend)


def test_pyproject_declares_both_backends_as_entry_points():
    declared = {ep.name: ep.value for ep in entry_points(group="graphc.backends")}
    assert declared.get("numba") == "graphc.backends.numba:NumbaBackend"
    assert declared.get("numpy") == "graphc.backends.numpy_backend:NumpyBackend"


def test_an_unknown_backend_is_a_backend_error_listing_the_available_ones():
    x = gc.placeholder("x")
    with pytest.raises(gc.BackendError, match=r"unknown backend 'cuda'; available backends: .*numba.*numpy"):
        gc.compile(gc.Graph([x], [x + 1.0]), backend="cuda")
    assert issubclass(gc.BackendError, gc.GraphError)


class Doubling:
    """A third-party backend: runs the numpy interpreter and doubles every output."""

    name = "doubling"

    def compile(self, graph, batch=(), **options):
        inner = NumpyBackend().compile(graph, batch=batch)
        return lambda arrays: [2 * out for out in inner(arrays)]


def test_a_backend_registered_at_run_time_is_used_by_compile():
    backend_registry.register_backend("doubling", Doubling)
    try:
        assert "doubling" in gc.list_backends()
        x = gc.placeholder("x", (2,))
        (out,) = gc.compile(gc.Graph([x], [x * 3.0]), backend="doubling")(x=np.array([1.0, 2.0]))
        np.testing.assert_array_equal(out, [6.0, 12.0])
    finally:
        backend_registry._factories.pop("doubling", None)
        backend_registry._instances.pop("doubling", None)
    assert "doubling" not in gc.list_backends()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_every_backend_takes_the_same_batch_api(backend):
    x = gc.placeholder("x", (2,))
    s = gc.placeholder("s")
    run = gc.compile(gc.Graph([x, s], {"y": gc.sum(x * x) * s}), backend=backend, batch=("x",))
    out = run(x=np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]]), s=2.0)
    np.testing.assert_array_equal(out["y"], [10.0, 50.0, 2.0])
    with pytest.raises(gc.InputError, match="one extra leading axis"):
        run(x=np.array([1.0, 2.0]), s=2.0)
