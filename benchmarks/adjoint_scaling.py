"""Time and memory to build and differentiate chain-shaped and wide fan-out graphs.

Prints one row per (shape, size): median build and grad times over several runs, the cost per
node, and the peak memory traced while differentiating. Linear time shows as a flat µs/node.

    uv run python benchmarks/adjoint_scaling.py [--sizes 1000 10000 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc as pygc
import statistics
import time
import tracemalloc

import graphc as gc


def chain(n: int) -> gc.Graph:
    """x -> sin -> sin -> ... : n nodes in a line."""
    x = gc.placeholder("x")
    y = x
    for _ in range(n - 1):
        y = gc.sin(y)
    return gc.Graph([x], [y])


def fan_out(n: int) -> gc.Graph:
    """x feeds n/3 branches sin(x * c_i), summed one by one: x's adjoint has n/3 contributions."""
    x = gc.placeholder("x", (4,))
    total = None
    for i in range(max(1, n // 3)):
        term = gc.sin(x * float(i))
        total = term if total is None else total + term
    return gc.Graph([x], [gc.sum(total)])


def measure(builder, n: int, runs: int):
    build_times, grad_times = [], []
    for _ in range(runs):
        pygc.collect()
        t0 = time.perf_counter()
        graph = builder(n)
        t1 = time.perf_counter()
        g = gc.grad(graph)
        t2 = time.perf_counter()
        build_times.append(t1 - t0)
        grad_times.append(t2 - t1)
    pygc.collect()
    tracemalloc.start()
    gc.grad(graph)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(graph), len(g), statistics.median(build_times), statistics.median(grad_times), peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    header = (f"{'graph':<8} {'nodes':>8} {'grad nodes':>10} {'build s':>9} {'grad s':>9} "
              f"{'build µs/node':>13} {'grad µs/node':>12} {'grad peak MiB':>13}")
    print(header)
    print("-" * len(header))
    for name, builder in (("chain", chain), ("fan-out", fan_out)):
        for n in args.sizes:
            nodes, grad_nodes, tb, tg, peak = measure(builder, n, args.runs)
            print(f"{name:<8} {nodes:>8} {grad_nodes:>10} {tb:>9.3f} {tg:>9.3f} "
                  f"{tb / nodes * 1e6:>13.1f} {tg / nodes * 1e6:>12.1f} {peak / 2**20:>13.1f}")


if __name__ == "__main__":
    main()
