"""Batch evaluation: the gradient of the 2-D Rosenbrock function at many points.

``f(x) = (1 - x0)² + 100 (x1 - x0²)²`` with ``x`` of shape (2,); its gradient graph is compiled
with ``batch=("x",)`` and evaluated at N points in one call. Compared, per point and in the same
run: the numba backend's batch kernel, a hand-written ``@njit(parallel=True)`` loop with the
hand-derived gradient (the target: within 1.2x), the same formulas vectorised in numpy, and the
numpy backend's batch (a Python loop over samples; timed on fewer points and reported per point).

    uv run python benchmarks/batch_rosenbrock.py [--points 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from timing import median_seconds

import graphc as gc


def gradient_graph() -> gc.Graph:
    x = gc.placeholder("x", (2,))
    f = (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2
    return gc.grad(gc.Graph([x], {"f": f}), "x")


@numba.njit(parallel=True, cache=True)
def hand_njit(x):
    n = x.shape[0]
    f = np.empty(n)
    g = np.empty((n, 2))
    for k in numba.prange(n):
        a, b = x[k, 0], x[k, 1]
        r = b - a * a
        f[k] = (1.0 - a) ** 2 + 100.0 * r * r
        g[k, 0] = -2.0 * (1.0 - a) - 400.0 * a * r
        g[k, 1] = 200.0 * r
    return f, g


def hand_numpy(x):
    a, b = x[:, 0], x[:, 1]
    r = b - a * a
    return (1.0 - a) ** 2 + 100.0 * r * r, np.stack([-2.0 * (1.0 - a) - 400.0 * a * r, 200.0 * r], 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--numpy-points", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    graph = gradient_graph()
    x = np.random.default_rng(0).uniform(-2, 2, size=(args.points, 2))

    t0 = time.perf_counter()
    numba_batch = gc.compile(graph, backend="numba", batch=("x",))
    compile_s = time.perf_counter() - t0
    numpy_batch = gc.compile(graph, backend="numpy", batch=("x",))
    got = numba_batch(x=x)
    f_ref, g_ref = hand_njit(x)
    np.testing.assert_allclose(got["f"], f_ref, rtol=1e-12)
    np.testing.assert_allclose(got["grad_x"], g_ref, rtol=1e-12, atol=1e-12)
    small = x[: args.numpy_points]
    np.testing.assert_allclose(numpy_batch(x=small)["grad_x"], g_ref[: args.numpy_points], rtol=1e-12)

    per_point = {
        "numba backend, batch": median_seconds(lambda: numba_batch(x=x), args.runs) / args.points,
        "hand-written @njit(parallel)": median_seconds(lambda: hand_njit(x), args.runs) / args.points,
        "hand-written numpy (vectorised)": median_seconds(lambda: hand_numpy(x), args.runs) / args.points,
        "numpy backend, batch": median_seconds(lambda: numpy_batch(x=small), max(1, args.runs // 2))
        / args.numpy_points,
    }
    base = per_point["hand-written @njit(parallel)"]
    print(f"gradient of 2-D Rosenbrock, {args.points} points ({numba.get_num_threads()} numba threads); "
          f"numba compile (or cache load) {compile_s:.2f} s")
    print(f"{'implementation':<34}{'ns/point':>10}{'total':>12}{'vs @njit':>10}")
    print("-" * 66)
    for name, t in per_point.items():
        print(f"{name:<34}{t * 1e9:>10.1f}{t * args.points * 1e3:>10.1f} ms{t / base:>9.2f}x")


if __name__ == "__main__":
    main()
