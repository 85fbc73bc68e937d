"""Two versions of graphc side by side: the numba backend's call times on P1..P7, in alternation.

Each version runs in a worker process of its own Python (a checkout's ``.venv/bin/python``), which
compiles every graph of ``numba_suite.py`` once and then answers "time this graph" requests; the
driver asks the two workers in turn (pausing between them), graph by graph, round after round, so
both are sampled in the same phases of the machine, and reports per graph the median over rounds
of each version's median call time and of their ratio (new / old), with the ratio's range.

    uv run python benchmarks/compare_trees.py --old /tmp/base/.venv/bin/python [--rounds 9]

Both workers run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, as a user's machine runs, and
with OPENBLAS_NUM_THREADS=1: two processes each with an OpenBLAS pool on two cores make every call
of the one measured wait for the other's spinning threads (8 ms per 40 µs call was seen).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# between two versions' measurements: a parallel kernel's threads spin for a while after it
# returns, and on two cores they would slow the other process's next measurement
PAUSE = 0.05

WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import numba_suite as suite
import graphc as gc

compiled = {}
for key in json.loads(sys.argv[2]):
    graphs, wrt, inputs, _ = suite.graphs_of(key)
    v = np.random.default_rng(9).normal(size=np.shape(inputs[wrt]))
    for kind, graph in graphs.items():
        args = {**inputs, "direction": v} if kind == "hvp" else inputs
        fn = gc.compile(graph, backend="numba")
        fn(**args)
        compiled[f"{key} {kind}"] = (fn, args)
print(json.dumps(sorted(compiled)), flush=True)
for line in sys.stdin:
    name, samples = json.loads(line)
    fn, args = compiled[name]
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.01 or calls < 3:  # warm: threads awake, caches filled
        fn(**args)
        calls += 1
    reps = max(1, int(0.01 * calls / (time.perf_counter() - t0)))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(**args)
        times.append((time.perf_counter() - t0) / reps)
    print(json.dumps(sorted(times)[len(times) // 2]), flush=True)
"""


class Worker:
    def __init__(self, python: str, keys: list[str]):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = "1"  # see the module docstring
        self.process = subprocess.Popen([python, "-c", WORKER, str(HERE), json.dumps(keys)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=HERE)  # not a checkout: each Python imports its own graphc
        self.names = json.loads(self.process.stdout.readline())

    def time(self, name: str, samples: int) -> float:
        self.process.stdin.write(json.dumps([name, samples]) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def fmt(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the Python of the other version's environment")
    parser.add_argument("--new", default=sys.executable, help="this version's Python (default: this one)")
    parser.add_argument("--problems", nargs="+", default=["P1", "P2", "P2s", "P3", "P4", "P5", "P6", "P7"])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args(argv)
    old, new = Worker(args.old, args.problems), Worker(args.new, args.problems)
    results = {name: ([], []) for name in new.names}
    try:
        for r in range(args.rounds):
            for name in new.names:
                first, second = (old, new) if r % 2 == 0 else (new, old)  # who goes first alternates
                a = first.time(name, args.samples)
                time.sleep(PAUSE)
                b = second.time(name, args.samples)
                time.sleep(PAUSE)
                t_old, t_new = (a, b) if first is old else (b, a)
                results[name][0].append(t_old)
                results[name][1].append(t_new)
            print(f"  round {r + 1} of {args.rounds}", file=sys.stderr, flush=True)
    finally:
        old.close()
        new.close()
    print(f"numba backend, median call time over {args.rounds} rounds in alternation (ratio new/old: "
          "median of the rounds' ratios, and its range)")
    print(f"{'graph':<18}{'old':>11}{'new':>11}{'new/old':>9}{'range':>15}")
    for name, (olds, news) in results.items():
        ratios = sorted(n / o for o, n in zip(olds, news))
        print(f"{name:<18}{fmt(statistics.median(olds)):>11}{fmt(statistics.median(news)):>11}"
              f"{statistics.median(ratios):>8.2f}x{f'{ratios[0]:.2f}-{ratios[-1]:.2f}':>15}")


if __name__ == "__main__":
    main()
