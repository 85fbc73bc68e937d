"""LAPACK for generated kernels, called directly: LU solves, inverses and determinants.

numba's own ``np.linalg.solve`` takes about 6 s to compile (``slogdet`` and ``det`` over 1 s
each) on the reference machine: it is written for every layout and rank at once. A kernel only
ever needs one case, so the generated module carries small helpers (:data:`HELPERS`) that call
LAPACK's ``?gesv`` / ``?getrf`` themselves and compile in a fraction of a second.

The routines are SciPy's (``scipy.linalg.cython_lapack``, the LAPACK numba's ``np.linalg`` uses
too). Importing this module registers them with LLVM under graphc's own symbol names and exposes
them as numba ``ExternalFunction`` types. A kernel refers to them by symbol name, not by address,
so numba's on-disk cache stays valid across processes: every process that loads a cached kernel
imports this module first (the generated module does), which registers the symbols again.

LAPACK is column-major. A C-contiguous ``a`` read column-major is ``aᵀ``: the helpers factor a
copy of ``a`` as it is where that is enough (``det aᵀ = det a``) and copy ``a.T`` where the
orientation matters (``solve``).
"""

from __future__ import annotations

import llvmlite.binding as llvm
from numba import types
from numba.extending import get_cython_function_address

_LETTER = {"float64": "d", "float32": "s"}


def _external(routine: str, letter: str, n_args: int) -> types.ExternalFunction:
    symbol = f"graphc_{letter}{routine}"
    llvm.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_lapack", f"{letter}{routine}"))
    return types.ExternalFunction(symbol, types.void(*([types.voidptr] * n_args)))


# ?gesv(n, nrhs, a, lda, ipiv, b, ldb, info) and ?getrf(m, n, a, lda, ipiv, info): Fortran
# routines, every argument by pointer.
dgesv = _external("gesv", "d", 8)
sgesv = _external("gesv", "s", 8)
dgetrf = _external("getrf", "d", 6)
sgetrf = _external("getrf", "s", 6)

_SOLVE = '''
@numba.njit({flags})
def lapack_solve_{t}(a, b):
    # x with a @ x = b, by LU with partial pivoting (LAPACK {letter}gesv), b a vector or a matrix
    n = a.shape[0]
    lu = a.T.copy()  # a, column-major
    x = b.T.copy()  # b, column-major (one column when b is a vector)
    ints = np.empty(4, np.int32)  # n, nrhs, leading dimension, info
    ints[0] = n
    ints[1] = x.size // n if n else 0
    ints[2] = max(n, 1)
    ints[3] = 0
    pivots = np.empty(max(n, 1), np.int32)
    {letter}gesv(ints[0:].ctypes, ints[1:].ctypes, lu.ctypes, ints[2:].ctypes, pivots.ctypes,
          x.ctypes, ints[2:].ctypes, ints[3:].ctypes)
    if ints[3] > 0:
        raise np.linalg.LinAlgError("Singular matrix")
    return x.T
'''

_LU_DIAGONAL = '''
@numba.njit({flags})
def lapack_lu_diagonal_{t}(a):
    # (diagonal of U, sign of the row permutation) of the LU factors of a (LAPACK {letter}getrf,
    # run on a read column-major, that is on a.T, which has the same determinant)
    n = a.shape[0]
    lu = a.copy()
    ints = np.empty(3, np.int32)  # n, leading dimension, info
    ints[0] = n
    ints[1] = max(n, 1)
    ints[2] = 0
    pivots = np.empty(max(n, 1), np.int32)
    {letter}getrf(ints[0:].ctypes, ints[0:].ctypes, lu.ctypes, ints[1:].ctypes, pivots.ctypes,
           ints[2:].ctypes)
    diagonal = np.empty(n, lu.dtype)
    sign = 1.0
    for i in range(n):
        diagonal[i] = lu[i, i]
        if pivots[i] != i + 1:
            sign = -sign
    return diagonal, sign
'''

_SLOGDET = '''
@numba.njit({flags})
def lapack_slogdet_{t}(a):
    # (sign, log|det a|) from the LU factors, like np.linalg.slogdet: (0, -inf) when singular
    diagonal, sign = lapack_lu_diagonal_{t}(a)
    logabs = 0.0
    for d in diagonal:
        if d == 0:
            return 0.0, -np.inf
        if d < 0:
            sign = -sign
        logabs += math.log(abs(d))
    return sign, logabs
'''

_DET = '''
@numba.njit({flags})
def lapack_det_{t}(a):
    # det a, the product of U's diagonal times the permutation's sign, like np.linalg.det
    diagonal, det = lapack_lu_diagonal_{t}(a)
    for d in diagonal:
        det *= d
    return det
'''

_COPY = '''
@numba.njit({flags})
def copy_into(out, x):
    # out[...] = x, element by element (a slice assignment would make numba compile its
    # shape-mismatch error message, which takes seconds); ndim is a constant numba prunes on
    if x.ndim == 0:
        out[()] = x[()]
    elif x.ndim == 1:
        for i in range(x.shape[0]):
            out[i] = x[i]
    else:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = x[i, j]
'''

_INV = '''
@numba.njit({flags})
def lapack_inv_{t}(a):
    # a⁻¹ as the solution of a @ x = I, as np.linalg.inv computes it
    return lapack_solve_{t}(a, np.eye(a.shape[0], dtype=a.dtype))
'''

# helper name -> (source template, helpers it calls); copy_into is the same for every dtype
HELPERS = {
    "copy_into": (_COPY, ()),
    "lapack_solve": (_SOLVE, ()),
    "lapack_lu_diagonal": (_LU_DIAGONAL, ()),
    "lapack_slogdet": (_SLOGDET, ("lapack_lu_diagonal",)),
    "lapack_det": (_DET, ("lapack_lu_diagonal",)),
    "lapack_inv": (_INV, ("lapack_solve",)),
}


def helper_name(helper: str, dtype) -> str:
    """The function name the generated code calls, e.g. ``lapack_solve_f64``."""
    return helper if helper == "copy_into" else f"{helper}_f{_bits(dtype)}"


def helper_sources(needed: set[tuple[str, str]], flags: str) -> str:
    """The source of every helper in ``needed`` ((helper, dtype name) pairs) and of the helpers
    they call, each defined before its callers, plus the import of the LAPACK routines."""
    order: list[tuple[str, str]] = []

    def add(helper, dtype):
        for callee in HELPERS[helper][1]:
            add(callee, dtype)
        if (helper, dtype) not in order:
            order.append((helper, dtype))

    for helper, dtype in sorted(needed):
        add(helper, "" if helper == "copy_into" else dtype)
    routines = sorted({f"{_LETTER[d]}{r}" for _, d in order if d for r in ("gesv", "getrf")})
    text = [f"from graphc.backends.numba_lapack import {', '.join(routines)}\n"] if routines else []
    for helper, dtype in order:
        t, letter = (f"f{_bits(dtype)}", _LETTER[dtype]) if dtype else ("", "")
        text.append(HELPERS[helper][0].format(flags=flags, t=t, letter=letter))
    return "".join(text)


def _bits(dtype) -> int:
    return {"float64": 64, "float32": 32}[str(dtype)]
