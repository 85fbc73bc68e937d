"""Batch evaluation over Dask arrays, in-process and on a LocalCluster of 2 worker processes."""

import os
import sys

import cloudpickle
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

import graphc as gc
from graphc.backends.numpy_backend import NumpyBackend

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


def rosenbrock():
    p = gc.placeholder("p", (2,))
    a = gc.placeholder("a")
    f = (a - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2
    return gc.Graph([p, a], {"f": f})


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(0).normal(size=(2000, 2))


GRAPHS = {
    "forward": lambda: rosenbrock(),
    "gradient": lambda: gc.grad(rosenbrock(), "p"),
    "hvp": lambda: gc.hvp(rosenbrock(), "p"),
}


@pytest.mark.parametrize("kind", GRAPHS)
def test_cluster_batches_equal_the_single_machine_result(client, points, kind):
    graph = GRAPHS[kind]()
    batch = ("p", "direction") if kind == "hvp" else ("p",)
    fn = gc.compile(graph, batch=batch)
    inputs = {"p": points, "a": 1.0}
    if kind == "hvp":
        inputs["direction"] = np.ones_like(points)
    expected = fn(**inputs)
    lazy = fn(**{**inputs, "p": da.from_array(points, chunks=300),
                 **({"direction": da.from_array(inputs["direction"], chunks=500)} if kind == "hvp" else {})})
    got = client.compute(lazy).result()
    assert type(got) is type(expected)
    for key in expected:
        assert np.array_equal(got[key], expected[key]), key  # exact: same kernel, same inputs


def test_local_scheduler_and_tuple_outputs(points):
    x = gc.placeholder("x", (2,))
    w = gc.placeholder("w", (2,))
    fn = gc.compile(gc.Graph([x, w], [gc.sum(x * w), x * 2.0]), batch=("x",))
    lazy = fn(x=da.from_array(points, chunks=700), w=np.array([1.0, -1.0]))
    assert isinstance(lazy, tuple) and lazy[0].chunks == ((700, 700, 600),)
    s, doubled = (part.compute(scheduler="threads") for part in lazy)
    np.testing.assert_array_equal(s, points @ np.array([1.0, -1.0]))
    np.testing.assert_array_equal(doubled, points * 2.0)


def test_shared_inputs_enter_the_task_graph_once(points):
    x = gc.placeholder("x", (2,))
    M = gc.placeholder("M", (500, 2))
    fn = gc.compile(gc.Graph([x, M], [gc.sum(M @ x)]), batch=("x",))
    big = np.random.default_rng(1).normal(size=(500, 2))
    (lazy,) = fn(x=da.from_array(points, chunks=100), M=big)  # 20 chunks
    assert lazy.numblocks == (20,)
    shipped = len(cloudpickle.dumps(dict(lazy.__dask_graph__())))
    # once: the graph holds M's 8000 bytes once plus the chunks of x (32000 bytes), not 20 copies
    assert shipped < points.nbytes + 2 * big.nbytes + 60_000, shipped


def test_dask_input_errors(points):
    x = gc.placeholder("x", (2,))
    w = gc.placeholder("w", (2,))
    fn = gc.compile(gc.Graph([x, w], [x * w]), batch=("x",))
    with pytest.raises(gc.InputError, match="'w' is a Dask array but is not batched"):
        fn(x=da.from_array(points, chunks=100), w=da.from_array(np.ones(2), chunks=1))
    with pytest.raises(gc.InputError, match=r"input 'x': expected a batch of shape \(2,\)"):
        fn(x=da.from_array(np.ones((10, 3)), chunks=5), w=np.ones(2))


class CrashOnceBackend(NumpyBackend):
    """The numpy backend, except that the first kernel call anywhere kills its worker process."""

    name = "crash-once"

    def __init__(self, flag):
        self.flag = flag

    def compile(self, graph, batch=(), **options):
        kernel = super().compile(graph, batch, **options)
        flag = self.flag

        def run(arrays):
            try:
                fd = os.open(flag, os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return kernel(arrays)
            os.close(fd)
            os._exit(1)  # the worker dies mid-computation

        return run


def test_a_worker_dying_mid_computation_is_retried_and_the_result_is_exact(client, points, tmp_path):
    flag = str(tmp_path / "crashed")
    register = lambda: gc.register_backend("crash-once", lambda: CrashOnceBackend(flag))  # noqa: E731

    class Register(WorkerPlugin):
        """Every worker process, the restarted one included, knows the backend."""

        def setup(self, worker):
            register()

    register()
    client.register_plugin(Register())
    fn = gc.compile(gc.grad(rosenbrock(), "p"), backend="crash-once", batch=("p",))
    expected = gc.compile(gc.grad(rosenbrock(), "p"), batch=("p",))(p=points, a=1.0)
    lazy = fn(p=da.from_array(points, chunks=250), a=1.0)
    got = client.compute(lazy).result(timeout=120)
    assert os.path.exists(flag)  # a worker really died
    for key in expected:
        assert np.array_equal(got[key], expected[key])
