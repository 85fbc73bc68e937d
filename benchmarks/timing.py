"""The one timing rule every benchmark here follows: warm up once, then the median of N runs."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, runs: int, warmup: bool = True) -> float:
    """Median wall time of ``fn()`` over ``runs`` calls, after one untimed call (allocations,
    BLAS threads and caches warm)."""
    if warmup:
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


BLAS_QUIRKS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # set on the reference VM for old OpenBLAS builds


def as_on_a_users_machine() -> None:
    """Re-run this process without the OpenBLAS variables the reference machine sets for old
    OpenBLAS builds (they slow a current numpy; a user's machine does not have them). Call it
    before numpy is imported: OpenBLAS reads them when it loads."""
    import os
    import sys

    if any(k in os.environ for k in BLAS_QUIRKS):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_QUIRKS}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def alternating(fns: dict, rounds: int, burst: int, pause: float = 0.02) -> dict[str, list[float]]:
    """Per name, the burst medians of ``fns[name]()`` over ``rounds`` rounds, every contender
    timed once per round in turn (so drift in the machine's speed hits all of them alike). A
    ratio is then taken per round and its median reported (:func:`ratio`)."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(pause)  # thread pools (XLA's, OpenBLAS's) park between contenders
            samples[name].append(median_seconds(fn, burst))
    return samples


def ratio(samples: dict[str, list[float]], a: str, b: str) -> float:
    """The median over rounds of a's time over b's."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def single_threaded_env() -> dict[str, str]:
    """Variables that keep numba, OpenBLAS and XLA's CPU client at one thread (set before start)."""
    return {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
