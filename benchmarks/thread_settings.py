"""The numba backend and hand-written numpy under different thread settings, each in a fresh process.

numba's prange loops and parallel products use numba's pool (``NUMBA_NUM_THREADS``); numpy's
products use numpy's OpenBLAS pool and SciPy's (which numba's BLAS calls use) its own; both
read ``OPENBLAS_NUM_THREADS`` when they load. The numba backend sets SciPy's OpenBLAS to one
thread while a kernel runs, so its column should not depend on ``OPENBLAS_NUM_THREADS``; the
hand-written column shows what the setting does to plain numpy. Medians of ``--runs`` samples
per call, each sample lasting ~20 ms.

    uv run python benchmarks/thread_settings.py [--problems P3 P6] [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SETTINGS = [
    ("defaults", {}),
    ("OPENBLAS_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1"}),
    ("NUMBA_NUM_THREADS=1", {"NUMBA_NUM_THREADS": "1"}),
    ("OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}),
]

CHILD = """
import json, sys
from functools import partial
import numpy as np
sys.path.insert(0, {here!r})
import numba_suite as s
import graphc as gc
out = {{}}
for key in {problems!r}:
    graphs, wrt, inputs, hand = s.graphs_of(key)
    v = np.random.default_rng(9).normal(size=np.shape(inputs[wrt]))
    for j, (kind, graph) in enumerate(graphs.items()):
        args = {{**inputs, "direction": v}} if kind == "hvp" else inputs
        fn = gc.compile(graph, backend="numba")
        hand_args = list(inputs.values()) + ([v] if kind == "hvp" else [])
        out[key + " " + kind] = (s.median_time(partial(fn, **args), {runs}),
                                 s.median_time(partial(hand[j], *hand_args), {runs}))
print(json.dumps(out))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["P3", "P6"])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    script = CHILD.format(here=here, problems=args.problems, runs=args.runs)
    results = {}
    for label, env in SETTINGS:
        base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
        done = subprocess.run([sys.executable, "-c", script], env={**base, **env}, capture_output=True,
                              text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"the process for {label} failed:\n{done.stderr}")
        results[label] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  measured {label}", file=sys.stderr, flush=True)
    cases = list(next(iter(results.values())))
    print("median ms per call, numba backend / hand-written numpy, one fresh process per setting")
    print(f"| {'setting':<44} |" + "".join(f" {c:<17} |" for c in cases))
    print(f"|{'-' * 46}|" + "".join(f"{'-' * 19}|" for _ in cases))
    for label, times in results.items():
        cells = "".join(f" {f'{times[c][0] * 1e3:.2f} / {times[c][1] * 1e3:.2f}':<17} |" for c in cases)
        print(f"| {label:<44} |{cells}")


if __name__ == "__main__":
    main()
