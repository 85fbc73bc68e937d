"""Time to build, save, load, differentiate, compile and run 100,000-node graphs.

Two graphs: ``chain`` (x -> sin -> sin -> ...: the deepest possible graph, where any recursion
over nodes would fail) and ``layers`` (h <- tanh(W h + b) with constant 4x4 W and 4-vector b:
constants, attributes and matmuls in every fifth node). Each phase is timed ``--runs`` times and
the median printed, with its ratio to building the graph in the same run (the baseline: what the
user pays anyway). Compilation uses the numpy backend without rewrites (``optimize=False``);
``--optimize`` adds a column with the rewrite passes.

    uv run python benchmarks/scale_100k.py [--nodes 100000] [--runs 3] [--optimize]
"""

from __future__ import annotations

import argparse
import gc as pygc
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import graphc as gc


def chain(n: int) -> gc.Graph:
    x = gc.placeholder("x")
    y = x
    for _ in range(n - 1):
        y = gc.sin(y)
    return gc.Graph([x], {"y": y})


def layers(n: int) -> gc.Graph:
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (4,))
    h = x
    for _ in range(-(-(n - 2) // 5)):  # at least n nodes
        W = gc.constant(rng.normal(size=(4, 4)) * 0.5)
        b = gc.constant(rng.normal(size=4) * 0.1)
        h = gc.tanh(W @ h + b)
    return gc.Graph([x], {"y": gc.sum(h)})


def _timed(fn, *args, **kwargs):
    pygc.collect()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def measure(builder, n: int, runs: int, optimize: bool, folder: str) -> dict:
    times: dict[str, list[float]] = {}
    path = os.path.join(folder, f"{builder.__name__}.json")
    inputs = {"x": 0.5} if builder is chain else {"x": np.full(4, 0.5)}
    for _ in range(runs):
        phases = {}
        phases["build"], graph = _timed(builder, n)
        phases["save"], _ = _timed(gc.save, graph, path)
        phases["load"], loaded = _timed(gc.load, path)
        assert loaded == graph
        phases["grad"], g = _timed(gc.grad, loaded, "x")
        phases["compile"], fn = _timed(gc.compile, g, optimize=False)
        phases["run"], _ = _timed(fn, **inputs)
        if optimize:
            phases["optimize"], _ = _timed(gc.optimize, g)
        for k, v in phases.items():
            times.setdefault(k, []).append(v)
    medians = {k: statistics.median(v) for k, v in times.items()}
    medians["nodes"], medians["grad nodes"] = len(graph), len(g)
    medians["MB"] = os.path.getsize(path) / 1e6
    return medians


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--optimize", action="store_true", help="also time gc.optimize on the gradient")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(1000)  # the default: no phase may depend on deep recursion
    phases = ["build", "save", "load", "grad", "compile", "run"] + (["optimize"] if args.optimize else [])
    header = (f"{'graph':<7} {'nodes':>7} {'grad nodes':>10} {'file MB':>7} "
              + " ".join(f"{p + ' s':>10}" for p in phases) + f" {'load/build':>10} {'save/build':>10}")
    print(f"median of {args.runs} runs, numpy backend")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder:
        for builder in (chain, layers):
            m = measure(builder, args.nodes, args.runs, args.optimize, folder)
            print(f"{builder.__name__:<7} {m['nodes']:>7} {m['grad nodes']:>10} {m['MB']:>7.1f} "
                  + " ".join(f"{m[p]:>10.2f}" for p in phases)
                  + f" {m['load'] / m['build']:>10.2f} {m['save'] / m['build']:>10.2f}")


if __name__ == "__main__":
    main()
