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
