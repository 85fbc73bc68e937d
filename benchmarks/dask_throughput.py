"""Throughput of batch evaluation: in-process vs a Dask LocalCluster.

The gradient of the 2-D Rosenbrock function over N samples: the in-process batch kernel against
the same compiled graph over a chunked Dask array on a LocalCluster (2 worker processes, 1 thread
each). Prints samples per second for each chunk size, the per-chunk overhead of the cluster
(fitted as time = a + b·chunks) and the chunk size at which the cluster breaks even with one
in-process call.

    uv run python benchmarks/dask_throughput.py [--samples 10000000] [--backend numba]
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_seconds

import graphc as gc


def rosenbrock_gradient():
    p = gc.placeholder("p", (2,))
    f = (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2
    return gc.grad(gc.Graph([p], {"f": f}), "p")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--backend", default="numba" if "numba" in gc.list_backends() else "numpy")
    parser.add_argument("--chunks", type=int, nargs="+", default=[100_000, 1_000_000, 2_500_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster

    fn = gc.compile(rosenbrock_gradient(), backend=args.backend, batch=("p",))
    points = np.random.default_rng(0).uniform(-2, 2, size=(args.samples, 2))
    fn(p=points[:10])  # compile / load from cache
    local = median_seconds(lambda: fn(p=points), args.repeat, warmup=False)
    print(f"backend {args.backend}, {args.samples:,} samples")
    print(f"{'where':<28} {'chunk':>10} {'chunks':>7} {'seconds':>8} {'samples/s':>12} {'vs local':>9}")
    print(f"{'in-process batch kernel':<28} {'-':>10} {'1':>7} {local:>8.3f} "
          f"{args.samples / local:>12.3e} {1.0:>9.2f}")
    fits = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        scattered = client.scatter(points, broadcast=False)
        x = da.from_delayed(scattered, shape=points.shape, dtype=points.dtype)
        for chunk in args.chunks:
            arr = x.rechunk((chunk, 2)).persist()
            client.compute(fn(p=arr[:chunk])["grad_p"]).result()  # workers compile/load once
            seconds = median_seconds(lambda: client.compute(fn(p=arr)).result(), args.repeat, warmup=False)  # noqa: B023
            n_chunks = arr.numblocks[0]
            fits.append((n_chunks, seconds))
            print(f"{'LocalCluster (2 processes)':<28} {chunk:>10,} {n_chunks:>7} {seconds:>8.3f} "
                  f"{args.samples / seconds:>12.3e} {local / seconds:>9.2f}")
    if len(fits) >= 2:
        n = np.array([f[0] for f in fits], dtype=float)
        t = np.array([f[1] for f in fits])
        per_chunk, fixed = np.polyfit(n, t, 1)
        print(f"\nfit: cluster time ≈ {fixed:.3f} s + {per_chunk * 1e3:.2f} ms per chunk")
        per_sample_local = local / args.samples
        if per_chunk > 0:
            print(f"break-even chunk size (per-chunk overhead = in-process time of the chunk): "
                  f"{per_chunk / per_sample_local:,.0f} samples")


if __name__ == "__main__":
    main()
