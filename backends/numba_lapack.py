"""LAPACK and BLAS for generated kernels, called directly: LU solves, inverses, determinants and
products with symmetric matrices.

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


# routine -> (SciPy module that exports it, number of arguments, every one by pointer: Fortran)
_SOURCES = {"gesv": ("cython_lapack", 8), "getrf": ("cython_lapack", 6),
            "symv": ("cython_blas", 10), "symm": ("cython_blas", 12)}


def _external(letter: str, name: str) -> types.ExternalFunction:
    """SciPy's routine ``letter + name`` under graphc's own symbol name."""
    module, n_args = _SOURCES[name]
    symbol = f"graphc_{letter}{name}"
    llvm.add_symbol(symbol, get_cython_function_address(f"scipy.linalg.{module}", letter + name))
    return types.ExternalFunction(symbol, types.void(*([types.voidptr] * n_args)))


_ROUTINES = {(name, dtype): _external(letter, name)
             for name in _SOURCES for letter, dtype in (("d", types.float64), ("s", types.float32))}


def _gesv(a, *pointers):
    """LAPACK ?gesv of ``a``'s dtype (an ``overload``: the routine is chosen at typing time)."""


def _getrf(a, *pointers):
    """LAPACK ?getrf of ``a``'s dtype."""


def _symv(a, *pointers):
    """BLAS ?symv of ``a``'s dtype."""


def _symm(a, *pointers):
    """BLAS ?symm of ``a``'s dtype."""


def _overload_routine(stub, name):
    @overload(stub)
    def of_dtype(a, *pointers):
        routine = _ROUTINES[(name, a.dtype)]

        def call(a, *pointers):
            routine(*pointers)

        return call


_overload_routine(_gesv, "gesv")
_overload_routine(_getrf, "getrf")
_overload_routine(_symv, "symv")
_overload_routine(_symm, "symm")


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
def symmetric_dot(a, b, out, a_left):
    """out = S @ b (``a_left``) or b @ S, S the symmetric matrix with a's lower triangle (see
    gc.symmetrize), by BLAS ?symv / ?symm, which read that triangle only. b and out are
    C-contiguous. Read column-major, a's lower triangle is the upper one ("U"); a C-contiguous
    matrix read column-major is its transpose, so S @ B is computed as (Bᵀ S)ᵀ and B @ S as
    (S Bᵀ)ᵀ."""
    n = a.shape[0]
    chars = np.empty(2, np.uint8)  # side, uplo
    chars[1] = 85  # "U"
    ints = np.empty(4, np.int32)
    scalars = np.empty(2, a.dtype)  # alpha, beta
    scalars[0] = 1.0
    scalars[1] = 0.0
    ints[0] = n
    ints[1] = max(n, 1)
    ints[2] = 1
    if b.ndim == 1:  # S b = bᵀ S for a symmetric S
        _symv(a, chars[1:].ctypes, ints[0:].ctypes, scalars[0:].ctypes, a.ctypes, ints[1:].ctypes,
              b.ctypes, ints[2:].ctypes, scalars[1:].ctypes, out.ctypes, ints[2:].ctypes)
    else:
        k = b.shape[1] if a_left else b.shape[0]  # the other dimension of b
        chars[0] = 82 if a_left else 76  # "R": Bᵀ S, "L": S Bᵀ
        ints[2] = k
        ints[3] = max(k, 1) if a_left else max(n, 1)  # leading dimension of Bᵀ and of the result
        _symm(a, chars[0:].ctypes, chars[1:].ctypes, ints[2:].ctypes if a_left else ints[0:].ctypes,
              ints[0:].ctypes if a_left else ints[2:].ctypes, scalars[0:].ctypes, a.ctypes,
              ints[1:].ctypes, b.ctypes, ints[3:].ctypes, scalars[1:].ctypes, out.ctypes, ints[3:].ctypes)


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


HELPERS = ("copy_into", "symmetric_dot", "lapack_solve", "lapack_inv", "lapack_det", "lapack_slogdet")


def helper_sources(names: set[str]) -> str:
    """The generated module's import of the functions ``names`` of this module."""
    return f"from graphc.backends.numba_lapack import {', '.join(sorted(names))}\n"
