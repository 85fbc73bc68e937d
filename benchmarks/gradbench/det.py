"""GradBench's ``det``: the determinant of A by expansion by minors, as the spec defines it, and
its gradient (row-major, as A is given) derived by ``gc.grad``.

Expanding along the first row of every minor means a minor is always "the last r rows, and the
columns in a set S of size r": det M(r, S) = Σₚ (-1)ᵖ A[ℓ-r, Sₚ] · det M(r-1, S \\ {Sₚ}), S sorted.
The recursion of the reference tool reaches the same minor from many branches and recomputes it
(ℓ! products); here each level r is one gather-multiply-sum over all C(ℓ, r) column sets, reading
the level below through constant index tables, so each minor is evaluated once (ℓ·2^(ℓ-1)
products in all) and the graph has a handful of nodes per level, whatever ℓ. The formula and the
sum are the spec's; only the repeated work is gone. The gradient is the adjoint of those gathers
(scatter-adds, level by level back to A)."""

from __future__ import annotations

from itertools import combinations

import numpy as np

import graphc as gc

from .runs import Prepared, compiled


def _expansion_tables(ell: int, size: int, below: dict[tuple, int]):
    """For every sorted column set S of ``size`` columns (in ``combinations`` order): the flat
    index in A of each A[ℓ-size, Sₚ], and the position of S \\ {Sₚ} among the sets a level below."""
    row = ell - size
    sets = list(combinations(range(ell), size))
    entries = np.array([[row * ell + col for col in s] for s in sets], dtype=np.int64)
    minors = np.array([[below[s[:p] + s[p + 1:]] for p in range(size)] for s in sets], dtype=np.int64)
    return sets, entries, minors


def _det(ell: int) -> gc.Graph:
    a = gc.placeholder("A", (ell * ell,))
    last_row = [(col,) for col in range(ell)]
    minors = gc.take(a, np.arange((ell - 1) * ell, ell * ell))  # the 1×1 minors of the last row
    index = {s: i for i, s in enumerate(last_row)}
    for size in range(2, ell + 1):
        sets, entries, below = _expansion_tables(ell, size, index)
        signs = gc.constant((-1.0) ** np.arange(size))
        minors = gc.sum(signs * gc.take(a, entries) * gc.take(minors, below), axis=1)
        index = {s: i for i, s in enumerate(sets)}
    return gc.Graph([a], {"det": gc.reshape(minors, ())})


def _workload(message: dict) -> tuple[np.ndarray, int]:
    a, ell = np.asarray(message["A"], dtype=np.float64), int(message["ell"])
    if a.size != ell * ell:
        raise ValueError(f"det: A has {a.size} entries, not ell² = {ell * ell}")
    return a, ell


def primal(message: dict) -> Prepared:
    a, ell = _workload(message)
    fn, ns = compiled(("det", "primal", ell), lambda: _det(ell))
    return Prepared(lambda: fn(A=a)["det"], float, ns)


def gradient(message: dict) -> Prepared:
    a, ell = _workload(message)
    fn, ns = compiled(("det", "gradient", ell), lambda: gc.grad(_det(ell), "A", output="det"))
    return Prepared(lambda: fn(A=a)["grad_A"], lambda g: g.tolist(), ns)


FUNCTIONS = {"primal": primal, "gradient": gradient}
