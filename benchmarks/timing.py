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
