"""LAPACK for generated kernels, called directly: LU solves, inverses and determinants.

numba's own ``np.linalg.solve`` takes about 6 s to compile (``slogdet`` and ``det`` over 1 s
each) on the reference machine: it is written for every layout and rank at once. The functions
here cover the one case a kernel needs, call LAPACK's ``?gesv`` / ``?getrf`` themselves, and are
compiled once per machine: they live in this module with ``cache=True``, so numba keeps them in
its on-disk cache and a kernel calling them only links them in.

The routines are SciPy's (``scipy.linalg.cython_lapack``, the LAPACK numba's ``np.linalg`` uses
too). Importing this module registers them with LLVM under graphc's own symbol names and exposes
them as numba ``ExternalFunction`` types. Compiled code refers to them by symbol name, not by
address, so numba's on-disk cache stays valid across processes: every process that runs a
kernel imports this module first (the generated module does), which registers the symbols again.

LAPACK is column-major. A C-contiguous ``a`` read column-major is ``aᵀ``: the functions factor a
copy of ``a`` as it is where that is enough (``det aᵀ = det a``) and copy ``a.T`` where the
orientation matters (``solve``).
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address, overload

FLAGS = {"cache": True, "error_model": "numpy", "nogil": True}


def _external(routine: str) -> types.ExternalFunction:
    """A Fortran LAPACK routine (every argument by pointer) under graphc's own symbol name."""
    symbol = f"graphc_{routine}"
    llvm.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_lapack", routine))
    n_args = {"gesv": 8, "getrf": 6}[routine[1:]]
    return types.ExternalFunction(symbol, types.void(*([types.voidptr] * n_args)))


_ROUTINES = {(name, dtype): _external(letter + name)
             for name in ("gesv", "getrf") for letter, dtype in (("d", types.float64), ("s", types.float32))}


def _gesv(a, *pointers):
    """LAPACK ?gesv of ``a``'s dtype (an ``overload``: the routine is chosen at typing time)."""


def _getrf(a, *pointers):
    """LAPACK ?getrf of ``a``'s dtype."""


def _overload_routine(stub, name):
    @overload(stub)
    def of_dtype(a, *pointers):
        routine = _ROUTINES[(name, a.dtype)]

        def call(a, *pointers):
            routine(*pointers)

        return call


_overload_routine(_gesv, "gesv")
_overload_routine(_getrf, "getrf")


@numba.njit(**FLAGS)
def lapack_solve(a, b):
    """x with a @ x = b, by LU with partial pivoting (?gesv), b a vector or a matrix."""
    n = a.shape[0]
    lu = a.T.copy()  # a, column-major
    x = b.T.copy()  # b, column-major (one column when b is a vector)
    ints = np.empty(4, np.int32)  # n, nrhs, leading dimension, info
    ints[0] = n
    ints[1] = x.size // n if n else 0
    ints[2] = max(n, 1)
    ints[3] = 0
    pivots = np.empty(max(n, 1), np.int32)
    _gesv(lu, ints[0:].ctypes, ints[1:].ctypes, lu.ctypes, ints[2:].ctypes, pivots.ctypes, x.ctypes,
          ints[2:].ctypes, ints[3:].ctypes)
    if ints[3] > 0:
        raise np.linalg.LinAlgError("Singular matrix")
    return x.T


@numba.njit(**FLAGS)
def _lu_diagonal(a):
    """(diagonal of U, sign of the row permutation) of the LU factors (?getrf) of a read
    column-major, that is of a.T, which has the same determinant."""
    n = a.shape[0]
    lu = a.copy()
    ints = np.empty(3, np.int32)  # n, leading dimension, info
    ints[0] = n
    ints[1] = max(n, 1)
    ints[2] = 0
    pivots = np.empty(max(n, 1), np.int32)
    _getrf(lu, ints[0:].ctypes, ints[0:].ctypes, lu.ctypes, ints[1:].ctypes, pivots.ctypes, ints[2:].ctypes)
    diagonal = np.empty(n, lu.dtype)
    sign = 1.0
    for i in range(n):
        diagonal[i] = lu[i, i]
        if pivots[i] != i + 1:
            sign = -sign
    return diagonal, sign


@numba.njit(**FLAGS)
def lapack_slogdet(a):
    """(sign, log|det a|) like np.linalg.slogdet: (0, -inf) when a is singular."""
    diagonal, sign = _lu_diagonal(a)
    logabs = 0.0
    for d in diagonal:
        if d == 0:
            return 0.0, -np.inf
        if d < 0:
            sign = -sign
        logabs += math.log(abs(d))
    return sign, logabs


@numba.njit(**FLAGS)
def lapack_det(a):
    """The product of U's diagonal times the permutation's sign, like np.linalg.det."""
    diagonal, result = _lu_diagonal(a)
    for d in diagonal:
        result *= d
    return result


@numba.njit(**FLAGS)
def lapack_inv(a):
    """The solution of a @ x = I, as np.linalg.inv computes it."""
    return lapack_solve(a, np.eye(a.shape[0], dtype=a.dtype))


@numba.njit(**FLAGS)
def copy_into(out, x):
    """out[...] = x, element by element (a slice assignment makes numba compile its
    shape-mismatch error message, which takes seconds); ndim is a constant numba prunes on."""
    if x.ndim == 0:
        out[()] = x[()]
    elif x.ndim == 1:
        for i in range(x.shape[0]):
            out[i] = x[i]
    else:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = x[i, j]


HELPERS = ("copy_into", "lapack_solve", "lapack_inv", "lapack_det", "lapack_slogdet")


def helper_name(helper: str, dtype=None) -> str:
    """The name the generated code calls (one function serves every dtype)."""
    return helper


def helper_sources(needed: set[tuple[str, str]]) -> str:
    """The generated module's import of the helpers in ``needed`` ((helper, dtype) pairs)."""
    names = sorted({helper for helper, _ in needed})
    return f"from graphc.backends.numba_lapack import {', '.join(names)}\n"
