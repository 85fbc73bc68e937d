"""BLAS and LAPACK for generated kernels, called directly: matrix products (?gemm, ?gemv),
products with symmetric matrices (?symv, ?symm), LU solves, inverses and determinants; and the
one product BLAS lacks, M @ x with Mᵀ @ x in one pass over M (``both_matvecs``, a numba loop).

numba's own ``np.linalg.solve`` takes about 6 s to compile (``slogdet`` and ``det`` over 1 s
each) on the reference machine: it is written for every layout and rank at once. The functions
here cover the one case a kernel needs, call the routines themselves, and are compiled once per
machine: they live in this module with ``cache=True``, so numba keeps them in its on-disk cache
and a kernel calling them only links them in.

Threads. While a parallel kernel that calls BLAS or LAPACK runs, SciPy's OpenBLAS has one
thread (:func:`with_one_blas_thread`, restored when the last such kernel returns), and a large
product is cut into blocks that numba's threads compute (``parallel_dot``, ``parallel_matvec``).
Such a kernel thus has one thread pool, numba's: on the reference machine (2 cores) OpenBLAS's
pool competing with numba's made calls up to 10x slower, and an OpenBLAS pool of two threads
left products slower than these blocks. When SciPy's BLAS is not an OpenBLAS whose thread count
this module can set (``BLAS_THREAD_CONTROL`` false), products are never split.

The routines are SciPy's (``scipy.linalg.cython_blas`` and ``cython_lapack``, the ones numba's
``np.dot`` and ``np.linalg`` use too). Importing this module registers them with LLVM under
graphc's own symbol names and exposes them as numba ``ExternalFunction`` types. Compiled code
refers to them by symbol name, not by address, so numba's on-disk cache stays valid across
processes: every process that runs a kernel imports this module first (the generated module
does), which registers the symbols again.

BLAS and LAPACK are column-major. A C-contiguous ``a`` read column-major is ``aᵀ``: products
are computed transposed (``outᵀ = bᵀ aᵀ``), and LU factors a copy of ``a`` as it is where that
is enough (``det aᵀ = det a``) and of ``a.T`` where the orientation matters (``solve``).
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from pathlib import Path

import llvmlite.binding as llvm
import numba
import numpy as np
import scipy
from numba import prange, types
from numba.extending import get_cython_function_address, overload

FLAGS = {"cache": True, "error_model": "numpy", "nogil": True}


# routine -> (SciPy module that exports it, number of arguments, every one by pointer: Fortran)
_SOURCES = {"gesv": ("cython_lapack", 8), "getrf": ("cython_lapack", 6), "potri": ("cython_lapack", 5),
            "symv": ("cython_blas", 10), "symm": ("cython_blas", 12), "gemm": ("cython_blas", 13),
            "gemv": ("cython_blas", 11), "trsm": ("cython_blas", 11)}


def _external(letter: str, name: str) -> types.ExternalFunction:
    """SciPy's routine ``letter + name`` under graphc's own symbol name."""
    module, n_args = _SOURCES[name]
    symbol = f"graphc_{letter}{name}"
    llvm.add_symbol(symbol, get_cython_function_address(f"scipy.linalg.{module}", letter + name))
    return types.ExternalFunction(symbol, types.void(*([types.voidptr] * n_args)))


_ROUTINES = {(name, dtype): _external(letter, name)
             for name in _SOURCES for letter, dtype in (("d", types.float64), ("s", types.float32))}


def _openblas_threads():
    """(get, set) of the number of threads of SciPy's OpenBLAS, ctypes functions, or None when
    SciPy's BLAS is another library. SciPy bundles its own OpenBLAS (numpy has another), with a
    "scipy_" prefix on its symbols; ``openblas_set_num_threads_local`` is no help: in this
    (pthreads) build it sets the global count as well."""
    folder = Path(scipy.__file__).parent
    for library in sorted([*folder.parent.glob("scipy.libs/*openblas*"), *folder.glob(".dylibs/*openblas*")]):
        try:
            handle = ctypes.CDLL(str(library))
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            get = getattr(handle, f"{prefix}openblas_get_num_threads", None)
            put = getattr(handle, f"{prefix}openblas_set_num_threads", None)
            if get is not None and put is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                return get, put
    return None


_THREADS = _openblas_threads()
BLAS_THREAD_CONTROL = _THREADS is not None
_threads_lock = threading.Lock()
_running = 0  # kernels that call BLAS running now, in any thread
_saved = 1  # SciPy's OpenBLAS thread count before the first of them started


def _after_fork_in_child():
    """A child forked while kernels ran in other threads has none running: give OpenBLAS its
    count back and start the counter (and its lock, perhaps held at the fork) afresh."""
    global _running, _threads_lock
    if _running and _THREADS is not None and _saved != 1:
        _THREADS[1](_saved)
    _running = 0
    _threads_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def with_one_blas_thread(fn, *args):
    """fn(*args) with SciPy's OpenBLAS at one thread, restored when the last kernel running
    (in any thread) returns. The kernel's parallelism is numba's threads (parallel_dot),
    which must not each start a BLAS pool of their own."""
    global _running, _saved
    if _THREADS is None:
        return fn(*args)
    get, put = _THREADS
    with _threads_lock:
        if _running == 0:
            _saved = get()
            if _saved != 1:
                put(1)
        _running += 1
    try:
        return fn(*args)
    finally:
        with _threads_lock:
            _running -= 1
            if _running == 0 and _saved != 1:
                put(_saved)


def _gesv(a, *pointers):
    """LAPACK ?gesv of ``a``'s dtype (an ``overload``: the routine is chosen at typing time)."""


def _getrf(a, *pointers):
    """LAPACK ?getrf of ``a``'s dtype."""


def _potri(a, *pointers):
    """LAPACK ?potri of ``a``'s dtype."""


def _symv(a, *pointers):
    """BLAS ?symv of ``a``'s dtype."""


def _symm(a, *pointers):
    """BLAS ?symm of ``a``'s dtype."""


def _gemm(a, *pointers):
    """BLAS ?gemm of ``a``'s dtype."""


def _gemv(a, *pointers):
    """BLAS ?gemv of ``a``'s dtype."""


def _trsm(a, *pointers):
    """BLAS ?trsm of ``a``'s dtype."""


def _overload_routine(stub, name):
    @overload(stub)
    def of_dtype(a, *pointers):
        routine = _ROUTINES[(name, a.dtype)]

        def call(a, *pointers):
            routine(*pointers)

        return call


_overload_routine(_gesv, "gesv")
_overload_routine(_getrf, "getrf")
_overload_routine(_potri, "potri")
_overload_routine(_symv, "symv")
_overload_routine(_symm, "symm")
_overload_routine(_gemm, "gemm")
_overload_routine(_gemv, "gemv")
_overload_routine(_trsm, "trsm")


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
def triangular_solve(a, b, out, lower, trans, unit):
    """out = op(a)⁻¹ b by BLAS ?trsm: a triangular (its lower triangle when ``lower``, else its
    upper; the diagonal read as ones when ``unit``), op(a) = aᵀ when ``trans``, b a vector or a
    matrix. A zero on the diagonal raises LinAlgError, as LAPACK's ?trtrs and SciPy do. Read
    column-major, C arrays are transposed: op(a) x = b is solved as xᵀ op(a)ᵀ = bᵀ, a solve from
    the right with aᵀ, whose stored triangle is the other one."""
    n = a.shape[0]
    if not unit:
        for i in range(n):
            if a[i, i] == 0:
                raise np.linalg.LinAlgError("singular matrix: a zero on the diagonal")
    copy_into(out, b)
    chars = np.empty(4, np.uint8)  # side, uplo, transa, diag
    chars[0] = 82  # "R"
    chars[1] = 85 if lower else 76  # a's lower triangle is aᵀ's upper one: "U", else "L"
    chars[2] = 84 if trans else 78  # op(a)ᵀ = a = (aᵀ)ᵀ: "T"; = aᵀ: "N"
    chars[3] = 85 if unit else 78  # "U", "N"
    ints = np.empty(4, np.int32)  # m, n, lda, ldb
    k = out.size // n if n else 0
    ints[0] = k
    ints[1] = n
    ints[2] = max(n, 1)
    ints[3] = max(k, 1)
    alpha = np.ones(1, a.dtype)
    if n and k:
        _trsm(a, chars[0:].ctypes, chars[1:].ctypes, chars[2:].ctypes, chars[3:].ctypes, ints[0:].ctypes,
              ints[1:].ctypes, alpha.ctypes, a.ctypes, ints[2:].ctypes, out.ctypes, ints[3:].ctypes)


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
def _gemm_block(a, a_t, b, b_t, out, r0, r1, c0, c1, beta):
    """out[r0:r1, c0:c1] = op(a)[r0:r1] @ op(b)[:, c0:c1] (+ out[r0:r1, c0:c1] when beta is 1)
    by one ?gemm call, where
    op(x) is x.T when ``x_t`` and x otherwise; a, b and out are C-contiguous matrices. Read
    column-major, a C matrix is its transpose, so the call computes out's block transposed:
    op(b)ᵀ @ op(a)ᵀ. Rows r0:r1 of op(a) start at a[r0] (a[0, r0] when transposed), columns
    c0:c1 of op(b) at b[0, c0] (b[c0] when transposed); the leading dimensions stay the parents'."""
    k = a.shape[0] if a_t else a.shape[1]
    chars = np.empty(2, np.uint8)  # transb, transa
    chars[0] = 84 if b_t else 78  # "T" / "N"
    chars[1] = 84 if a_t else 78
    ints = np.empty(6, np.int32)  # M, N, K, ldb, lda, ldc
    ints[0] = c1 - c0
    ints[1] = r1 - r0
    ints[2] = k
    ints[3] = max(b.shape[1], 1)
    ints[4] = max(a.shape[1], 1)
    ints[5] = max(out.shape[1], 1)
    scalars = np.empty(2, out.dtype)  # alpha, beta
    scalars[0] = 1.0
    scalars[1] = beta
    a_block = a[:, r0:] if a_t else a[r0:]
    b_block = b[c0:] if b_t else b[:, c0:]
    out_block = out[r0:, c0:]
    _gemm(out, chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes,
          scalars[0:].ctypes, b_block.ctypes, ints[3:].ctypes, a_block.ctypes, ints[4:].ctypes,
          scalars[1:].ctypes, out_block.ctypes, ints[5:].ctypes)


@numba.njit(**FLAGS)
def blas_dot(a, a_t, b, b_t, out):
    """out = op(a) @ op(b) (see _gemm_block) by one ?gemm call."""
    if out.size and out.shape[0] and out.shape[1]:
        _gemm_block(a, a_t, b, b_t, out, 0, out.shape[0], 0, out.shape[1], 0.0)


@numba.njit(**FLAGS)
def blas_dot_add(a, a_t, b, b_t, out):
    """out += op(a) @ op(b) by one ?gemm call: a block's part of a product over the rows of a
    row-blocked kernel (:mod:`.rows`), added to its thread's partial sum."""
    if out.size and out.shape[0] and out.shape[1]:
        _gemm_block(a, a_t, b, b_t, out, 0, out.shape[0], 0, out.shape[1], 1.0)


@numba.njit(parallel=True, **FLAGS)
def parallel_dot(a, a_t, b, b_t, out, blocks):
    """out = op(a) @ op(b), the larger of out's two axes cut into ``blocks`` blocks that numba's
    threads compute by ?gemm calls (OpenBLAS at one thread: see with_one_blas_thread). The
    kernel passes numba's thread count (this function cannot ask for it: numba does not cache a
    function that does); more blocks than threads cost 10-25% on a 300x300 product, each ?gemm
    call packing the other operand anew."""
    m, n = out.shape
    rows = m >= n
    size = m if rows else n
    step = (size + blocks - 1) // blocks
    for block in prange(blocks):
        start = block * step
        stop = min(size, start + step)
        if start < stop:
            if rows:
                _gemm_block(a, a_t, b, b_t, out, start, stop, 0, n, 0.0)
            else:
                _gemm_block(a, a_t, b, b_t, out, 0, m, start, stop, 0.0)


@numba.njit(**FLAGS)
def _gemv_block(a, a_t, x, out, r0, r1, beta):
    """out[r0:r1] = op(a)[r0:r1] @ x (+ out[r0:r1] when beta is 1) by one ?gemv call (op as in
    _gemm_block).
    Read column-major, a C matrix a is aᵀ: op(a) is that matrix itself when a_t ("N", its rows
    r0:r1 start at a[0, r0]) and its transpose otherwise ("T", its columns r0:r1 start at a[r0])."""
    chars = np.empty(1, np.uint8)
    chars[0] = 78 if a_t else 84
    ints = np.empty(4, np.int32)  # M, N, lda, increment
    ints[0] = r1 - r0 if a_t else a.shape[1]
    ints[1] = a.shape[0] if a_t else r1 - r0
    ints[2] = max(a.shape[1], 1)
    ints[3] = 1
    scalars = np.empty(2, out.dtype)
    scalars[0] = 1.0
    scalars[1] = beta
    a_block = a[:, r0:] if a_t else a[r0:]
    out_block = out[r0:]
    _gemv(out, chars[0:].ctypes, ints[0:].ctypes, ints[1:].ctypes, scalars[0:].ctypes, a_block.ctypes,
          ints[2:].ctypes, x.ctypes, ints[3:].ctypes, scalars[1:].ctypes, out_block.ctypes, ints[3:].ctypes)


@numba.njit(**FLAGS)
def blas_matvec(a, a_t, x, out):
    """out = op(a) @ x (op(a) = a.T when a_t), a C matrix, x and out C vectors: by loops of
    its own for a matrix of up to SMALL_GEMV elements, else by one ?gemv call (x @ op(a) is
    blas_matvec(a, not a_t, x, out))."""
    if out.size:
        if x.size == 0:
            for i in range(out.size):
                out[i] = 0.0
        elif a.size <= SMALL_GEMV:
            _small_matvec(a, a_t, x, out, False)
        else:
            _gemv_block(a, a_t, x, out, 0, out.size, 0.0)


@numba.njit(**FLAGS)
def blas_matvec_add(a, a_t, x, out):
    """out += op(a) @ x (see blas_matvec, blas_dot_add)."""
    if out.size and x.size:
        if a.size <= SMALL_GEMV:
            _small_matvec(a, a_t, x, out, True)
        else:
            _gemv_block(a, a_t, x, out, 0, out.size, 1.0)


@numba.njit(parallel=True, **FLAGS)
def parallel_matvec(a, a_t, x, out, blocks):
    """blas_matvec with out's rows cut into ``blocks`` blocks that numba's threads compute (a
    matrix-vector product is bound by reading the matrix: two cores read faster than one)."""
    if x.size == 0:
        blas_matvec(a, a_t, x, out)
        return
    size = out.size
    step = (size + blocks - 1) // blocks
    for block in prange(blocks):
        start = block * step
        stop = min(size, start + step)
        if start < stop:
            _gemv_block(a, a_t, x, out, start, stop, 0.0)


# Reassociation lets LLVM vectorize the row sums (as BLAS kernels sum in blocks); contraction
# makes each multiply-add one fused instruction. Nothing else of fastmath: NaNs and infinities
# propagate as they do through ?gemv.
_SUMS = {**FLAGS, "fastmath": {"reassoc", "contract"}}


# A matrix-vector product of up to this many elements runs as loops of our own: a ?gemv call
# costs ~0.2 µs before it starts, and on the reference machine these loops (four rows at a
# time, vectorized by LLVM) took 0.2-0.95x its time for matrices of 16x64 to 256x256 (the
# LSTM's 256x80 gates and 16x64 output inside a 1000-step loop), measured by
# benchmarks/loops.py's run; larger matrices keep BLAS (and its threads, parallel_matvec).
SMALL_GEMV = 65536


@numba.njit(**_SUMS)
def _small_matvec(a, a_t, x, out, add):
    """out (+)= op(a) @ x by loops: rows of a dotted with x four at a time, or (a_t) x's
    entries times a's rows added into out, four rows at a time (a is read row by row)."""
    m, k = a.shape
    zero = np.zeros(1, out.dtype)[0]
    i = 0
    if not a_t:
        while i + 4 <= m:
            s0 = s1 = s2 = s3 = zero
            for j in range(k):
                xj = x[j]
                s0 += a[i, j] * xj
                s1 += a[i + 1, j] * xj
                s2 += a[i + 2, j] * xj
                s3 += a[i + 3, j] * xj
            if add:
                s0 += out[i]
                s1 += out[i + 1]
                s2 += out[i + 2]
                s3 += out[i + 3]
            out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
            i += 4
        while i < m:
            total = out[i] if add else zero
            for j in range(k):
                total += a[i, j] * x[j]
            out[i] = total
            i += 1
        return
    if not add:
        for j in range(k):
            out[j] = zero
    while i + 4 <= m:
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for j in range(k):
            out[j] += a[i, j] * x0 + a[i + 1, j] * x1 + a[i + 2, j] * x2 + a[i + 3, j] * x3
        i += 4
    while i < m:
        xi = x[i]
        for j in range(k):
            out[j] += a[i, j] * xi
        i += 1


@numba.njit(**_SUMS)
def _both_products_of_rows(a, x, y, z, r0, r1):
    """y[r0:r1] = a[r0:r1] @ x and z = a[r0:r1]ᵀ @ x[r0:r1], reading each row once; four rows
    at a time, so that z is read and written once per four rows."""
    n = a.shape[1]
    zero = np.zeros(1, z.dtype)[0]
    for j in range(n):
        z[j] = zero
    i = r0
    while i + 4 <= r1:
        a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        s0 = s1 = s2 = s3 = zero
        for j in range(n):
            xj = x[j]
            s0 += a0[j] * xj
            s1 += a1[j] * xj
            s2 += a2[j] * xj
            s3 += a3[j] * xj
            z[j] += a0[j] * x0 + a1[j] * x1 + a2[j] * x2 + a3[j] * x3
        y[i], y[i + 1], y[i + 2], y[i + 3] = s0, s1, s2, s3
        i += 4
    while i < r1:
        ai, xi = a[i], x[i]
        s = zero
        for j in range(n):
            s += ai[j] * x[j]
            z[j] += ai[j] * xi
        y[i] = s
        i += 1


@numba.njit(**_SUMS)
def both_matvecs(a, x, y, z):
    """y = a @ x and z = aᵀ @ x (= x @ a) for a square C matrix a, reading a once: a gradient of
    xᵀAx needs both, and BLAS has no routine for the pair. Two ?gemv calls read A twice; two
    per block of rows, the block still in cache for the second, measured no faster."""
    _both_products_of_rows(a, x, y, z, 0, a.shape[0])


@numba.njit(parallel=True, **_SUMS)
def parallel_both_matvecs(a, x, y, z, blocks):
    """both_matvecs with a's rows cut into ``blocks`` blocks that numba's threads compute, each
    summing its rows' part of z apart; the parts are added at the end."""
    m, n = a.shape
    partial = np.empty((blocks, n), z.dtype)
    step = (m + blocks - 1) // blocks
    for block in prange(blocks):
        _both_products_of_rows(a, x, y, partial[block], min(m, block * step), min(m, block * step + step))
    for j in range(n):
        total = partial[0, j]
        for block in range(1, blocks):
            total += partial[block, j]
        z[j] = total


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


# --- kept factorizations: Cholesky factors (pos_*) and LU factors (lu_*) -----------------------


@numba.njit(**FLAGS)
def cholesky_solve(l, b, out):
    """out = K⁻¹ b for K = l lᵀ, l lower triangular: l y = b, then lᵀ out = y (two ?trsm)."""
    triangular_solve(l, b, out, True, False, False)
    triangular_solve(l, out, out, True, True, False)


@numba.njit(**FLAGS)
def cholesky_inverse(l, out):
    """out = K⁻¹ for K = l lᵀ by LAPACK ?potri, which reads and writes one triangle: l's lower
    triangle read column-major is the upper factor U = lᵀ of K = Uᵀ U ("U"); the inverse's upper
    triangle so written is the lower one of ``out``, copied to the other."""
    n = l.shape[0]
    for i in range(n):
        if l[i, i] == 0:
            raise np.linalg.LinAlgError("singular matrix: a zero on the diagonal of the Cholesky factor")
        for j in range(n):
            out[i, j] = l[i, j] if j <= i else 0.0
    chars = np.empty(1, np.uint8)
    chars[0] = 85  # "U"
    ints = np.empty(3, np.int32)  # n, lda, info
    ints[0] = n
    ints[1] = max(n, 1)
    ints[2] = 0
    if n:
        _potri(out, chars.ctypes, ints[0:].ctypes, out.ctypes, ints[1:].ctypes, ints[2:].ctypes)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i]


@numba.njit(**FLAGS)
def cholesky_logdet(l):
    """log det (l lᵀ) = 2 Σ log lᵢᵢ."""
    total = 0.0
    for i in range(l.shape[0]):
        total += math.log(l[i, i])
    return 2.0 * total


@numba.njit(**FLAGS)
def lu_factor(a):
    """(lu, piv) as scipy.linalg.lu_factor: P A = L U by ?getrf, L (unit diagonal, below) and U
    packed in one C array, piv the 0-based row swaps. ?getrf factors the column-major reading of
    a copy of a.T, which is a; its result read back row-major is transposed once more."""
    n = a.shape[0]
    work = a.T.copy()
    ints = np.empty(3, np.int32)  # n, leading dimension, info
    ints[0] = n
    ints[1] = max(n, 1)
    ints[2] = 0
    piv = np.empty(n, np.int32)
    if n:
        _getrf(work, ints[0:].ctypes, ints[0:].ctypes, work.ctypes, ints[1:].ctypes, piv.ctypes,
               ints[2:].ctypes)
    for i in range(n):
        piv[i] -= 1
    return work.T.copy(), piv


@numba.njit(**FLAGS)
def _swap_rows(x, i, j):
    if x.ndim == 1:
        x[i], x[j] = x[j], x[i]
    else:
        for c in range(x.shape[1]):
            x[i, c], x[j, c] = x[j, c], x[i, c]


@numba.njit(**FLAGS)
def lu_solve(lu, piv, b, trans, out):
    """out = A⁻¹ b (A⁻ᵀ b when ``trans``) from A's factor (lu, piv) = lu_factor(A), A = Pᵀ L U:
    the row swaps and two triangular solves on lu as it is stored (no copy of the factor).
    A zero on U's diagonal raises LinAlgError("Singular matrix"), as SciPy's lu_solve does not
    (it returns infinities) and numpy's solve does."""
    n = lu.shape[0]
    for i in range(n):
        if lu[i, i] == 0:
            raise np.linalg.LinAlgError("Singular matrix")
    if not trans:  # L U x = P b
        copy_into(out, b)
        for i in range(n):
            if piv[i] != i:
                _swap_rows(out, i, piv[i])
        triangular_solve(lu, out, out, True, False, True)
        triangular_solve(lu, out, out, False, False, False)
    else:  # Uᵀ Lᵀ (P x) = b
        triangular_solve(lu, b, out, False, True, False)
        triangular_solve(lu, out, out, True, True, True)
        for i in range(n - 1, -1, -1):
            if piv[i] != i:
                _swap_rows(out, i, piv[i])


@numba.njit(**FLAGS)
def lu_inverse(lu, piv, out):
    """out = A⁻¹ from A's factor (lu, piv): the solve with the identity."""
    lu_solve(lu, piv, np.eye(lu.shape[0], dtype=lu.dtype), False, out)


@numba.njit(**FLAGS)
def lu_slogdet(lu, piv):
    """(sign, log|det A|) from A's factor (lu, piv): (0, -inf) when U has a zero on its diagonal."""
    sign = 1.0
    logabs = 0.0
    for i in range(lu.shape[0]):
        d = lu[i, i]
        if d == 0:
            return 0.0, -np.inf
        if (d < 0) != (piv[i] != i):
            sign = -sign
        logabs += math.log(abs(d))
    return sign, logabs


@numba.njit(**FLAGS)
def _lower_finite(a):
    for i in range(a.shape[0]):
        for j in range(i + 1):
            if not np.isfinite(a[i, j]):
                return False
    return True


@numba.njit(**FLAGS)
def eigh_or_nan(a):
    """np.linalg.eigh of a's lower triangle; all NaN when it holds an inf or a NaN, as the numpy
    backend gives (numba's own eigh raises there; LAPACK's result is partly NaN)."""
    if _lower_finite(a):
        return np.linalg.eigh(a)
    n = a.shape[0]
    return np.full(n, np.nan, a.dtype), np.full((n, n), np.nan, a.dtype)


@numba.njit(**FLAGS)
def eigvalsh_or_nan(a):
    """np.linalg.eigvalsh, NaN for a non-finite lower triangle (see eigh_or_nan)."""
    if _lower_finite(a):
        return np.linalg.eigvalsh(a)
    return np.full(a.shape[0], np.nan, a.dtype)


HELPERS = ("copy_into", "symmetric_dot", "blas_dot", "blas_dot_add", "parallel_dot", "blas_matvec",
           "blas_matvec_add", "parallel_matvec", "both_matvecs",
           "parallel_both_matvecs", "lapack_solve", "lapack_inv", "lapack_det", "lapack_slogdet",
           "triangular_solve", "cholesky_solve", "cholesky_inverse", "cholesky_logdet", "lu_factor",
           "lu_solve", "lu_inverse", "lu_slogdet", "eigh_or_nan", "eigvalsh_or_nan")


PARALLEL_HELPERS = ("parallel_dot", "parallel_matvec", "parallel_both_matvecs")

NO_BLAS_HELPERS = ("copy_into", "both_matvecs", "parallel_both_matvecs")  # loops: no BLAS, no LAPACK


def helper_sources(names: set[str]) -> str:
    """The generated module's import of the functions ``names`` of this module. A kernel that
    calls a parallel one starts numba's thread pool first: numba does that itself before it
    loads a cached parallel function, but not for a cached kernel that only links one in
    (loading it would fail with "Symbol not found: allocate_sched")."""
    source = f"from graphc.backends.numba.runtime.lapack import {', '.join(sorted(names))}\n"
    if names & set(PARALLEL_HELPERS):
        source += "numba.get_num_threads()  # starts numba's thread pool\n"
    return source
