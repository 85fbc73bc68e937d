"""What every eval module shares: compiled graphs kept per workload shape, and the protocol's
"run at least min_runs times and for at least min_seconds" loop.

A GradBench eval sends the same function at several sizes, each with ``min_runs``/``min_seconds``;
the graph of a size is built, optimized and compiled once (timed apart, as a ``compile`` timing) and
every run after that is only the kernel call, which returns when its result is ready (graphc's
backends are synchronous), so the ``evaluate`` timings compare with the suite's C++ tools."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import graphc as gc

BACKEND = os.environ.get("GRAPHC_GRADBENCH_BACKEND", "numba")


@dataclass
class Prepared:
    """One evaluate message made ready: ``call()`` is the timed work, ``output`` turns its result
    into the JSON the eval expects, ``compile_ns`` is what building and compiling cost (0 when the
    shape was seen before)."""

    call: Callable[[], Any]
    output: Callable[[Any], Any]
    compile_ns: int = 0


_compiled: dict[Hashable, Any] = {}


def compiled(key: Hashable, build: Callable[[], gc.Graph], **options) -> tuple[Any, int]:
    """The compiled graph for ``key`` (an eval, a function and a workload shape), built by
    ``build()`` the first time; returns it with the nanoseconds spent building and compiling
    (0 when it was already there)."""
    if key in _compiled:
        return _compiled[key], 0
    start = time.perf_counter_ns()
    options.setdefault("backend", BACKEND)
    fn = gc.compile(build(), **options)
    _compiled[key] = fn
    return fn, time.perf_counter_ns() - start


def repeat(prepared: Prepared, min_runs: int, min_seconds: float) -> tuple[Any, list[dict]]:
    """Run ``prepared.call`` at least ``min_runs`` times and until the runs add up to
    ``min_seconds``, as GradBench's ``Runs`` asks; one ``evaluate`` timing per run."""
    timings = []
    if prepared.compile_ns:
        timings.append({"name": "compile", "nanoseconds": prepared.compile_ns})
    elapsed = 0
    runs = 0
    result = None
    while runs < max(min_runs, 1) or elapsed < min_seconds * 1e9:
        start = time.perf_counter_ns()
        result = prepared.call()
        ns = time.perf_counter_ns() - start
        timings.append({"name": "evaluate", "nanoseconds": ns})
        elapsed += ns
        runs += 1
    return prepared.output(result), timings
