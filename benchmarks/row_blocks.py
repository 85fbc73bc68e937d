"""Row-blocked kernels against one kernel: the numba backend with ``rows=True`` (the default)
and ``rows=False``, in alternation, on the problems whose gradient or HVP is a sum over the rows
of a data matrix (P6, the MLP; P5, the logistic loss, below the size threshold: one kernel
either way), with each function's compile time and workspace.

Each round times both kernels (the median of a burst of calls each); the ratio is taken within
the round, so that a phase of the VM never compares with another.

    uv run python benchmarks/row_blocks.py [--problems P6 P5] [--rounds 11] [--burst 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from numba_suite import fmt, graphs_of
from timing import median_seconds

import graphc as gc


def compare(key: str, kind: str, rounds: int, burst: int):
    graphs, wrt, inputs, _ = graphs_of(key)
    args = dict(inputs)
    if kind == "hvp":
        args["direction"] = np.random.default_rng(9).normal(size=np.shape(inputs[wrt]))
    t0 = time.perf_counter()
    blocked = gc.compile(graphs[kind], backend="numba", cache=False)
    compile_blocked = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = gc.compile(graphs[kind], backend="numba", cache=False, rows=False)
    compile_single = time.perf_counter() - t0
    def values(result):
        return list(result.values()) if isinstance(result, dict) else list(result)

    for a, b in zip(values(blocked(**args)), values(single(**args))):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)  # the same function
    times_blocked, times_single = [], []
    for _ in range(rounds):
        times_blocked.append(median_seconds(lambda: blocked(**args), burst))
        times_single.append(median_seconds(lambda: single(**args), burst))
    ratios = [a / b for a, b in zip(times_blocked, times_single)]
    return {"kernel": type(blocked.kernel).__name__, "blocked": statistics.median(times_blocked),
            "single": statistics.median(times_single), "ratio": statistics.median(ratios),
            "range": (min(ratios), max(ratios)), "compile": (compile_blocked, compile_single),
            "workspace": (blocked.kernel.workspace_bytes, single.kernel.workspace_bytes)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["P6", "P5"])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"numba backend, rows=True against rows=False, alternating: {args.rounds} rounds of "
          f"{args.burst} calls each")
    header = (f"{'problem':<8}{'what':<12}{'kernel':<18}{'rows':>10}{'one kernel':>12}{'ratio':>8}"
              f"{'range':>12}{'compile':>16}{'workspace MiB':>16}")
    print(header)
    print("-" * len(header))
    for key in args.problems:
        for kind in ("forward", "value+grad", "hvp"):
            r = compare(key, kind, args.rounds, args.burst)
            spread = f"{r['range'][0]:.2f}-{r['range'][1]:.2f}"
            compile_text = f"{r['compile'][0]:.2f}/{r['compile'][1]:.2f} s"
            space = f"{r['workspace'][0] / 2**20:.1f}/{r['workspace'][1] / 2**20:.1f}"
            print(f"{key:<8}{kind:<12}{r['kernel']:<18}{fmt(r['blocked']):>10}{fmt(r['single']):>12}"
                  f"{r['ratio']:>7.2f}x{spread:>12}{compile_text:>16}{space:>16}", flush=True)
    print("\nratio: rows=True time / rows=False time within a round, median over the rounds;"
          "\ncompile and workspace: rows=True / rows=False (the workspace counts every thread's)")


if __name__ == "__main__":
    main()
