"""Solves, inverses and determinants that share one factorization of their matrix.

A positive-definite matrix K (``solve(K, b, assume_a="pos")``, ``inv(K, assume_a="pos")``,
``logdet(K, assume_a="pos")``) is factored once, L = cholesky(K), and every op on K takes L as an
operand: ``pos_solve(K, L, b)``, ``pos_inv(K, L)``, ``pos_logdet(K, L)``. A general square matrix
A read by several of ``solve``, ``inv``, ``slogdet`` and ``det`` is factored once by the
``factorizations`` rewrite, (lu, piv) = lu_factor(A), and they become ``lu_solve(A, lu, piv, b)``,
``lu_inv(A, lu, piv)`` and ``lu_slogdet(A, lu, piv)``.

The matrix itself stays an operand: each op's derivative rules are with respect to it, built from
ops on the same factor (the gradient of a Gaussian process likelihood, 0.5 (K⁻¹ − ααᵀ), is one
``pos_inv`` and the α of the value: one Cholesky factorization for value and gradient), and the
factor's own operand slots get no cotangent (the factor is a function of the matrix, and the
derivative through the matrix already covers it). Derivatives of the positive-definite ops are for
symmetric perturbations (they read K's lower triangle through L), as ``cholesky``'s are.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import DTypeError, ShapeError
from .core import api as gc
from .core import bind
from .declare import defop
from .notation import POSTFIX, Expr, call, juxtapose
from .shapes import same_dtype


def _sym(x):
    return (x + gc.matrix_transpose(x)) * 0.5


def _inverse_of(a):
    return Expr(f"{a.at(POSTFIX)}⁻¹", POSTFIX)


def _matrix(a, what: str) -> int:
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"{what} needs one square matrix (no batch axes), got {a.type_string}")
    if a.dtype.kind != "f":
        raise DTypeError(f"{what} needs a float matrix, got {a.type_string}")
    return a.shape[0]


def _rhs(a, b, what: str):
    n = _matrix(a, what)
    same_dtype(a, b)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ShapeError(f"{what}: {a.type_string} and {b.type_string} do not fit (b needs {n} rows)")
    return b.shape, b.dtype


def _outer_or_product(u, v):
    """u vᵀ for vectors, u @ vᵀ for matrices (the cotangent of a solve's matrix)."""
    if u.ndim == 1:
        return gc.expand_dims(u, -1) * gc.expand_dims(v, -2)
    return gc.matmul(u, gc.matrix_transpose(v))


# --- positive definite: the Cholesky factor L of K ------------------------------------------------


def _infer_pos_solve(k, l, b):
    _matrix(l, "pos_solve")
    if l.shape != k.shape:
        raise ShapeError(f"the factor {l.type_string} does not fit {k.type_string}")
    return _rhs(k, b, "pos_solve")


def pos_solve(k, l, b, name=None):
    """K⁻¹ b for a positive-definite K given its lower Cholesky factor L = cholesky(K): two
    triangular solves. ``gc.linalg.solve(K, b, assume_a="pos")`` builds it."""
    return bind("pos_solve", [k, l, b], name=name)


def _pos_solve_impl(k, l, b):
    from scipy.linalg import cho_solve

    return cho_solve((l, True), b, check_finite=False)


def _pos_solve_vjp_k(g, out, k, l, b):
    gb = gc.pos_solve(k, l, g)  # K symmetric: K⁻ᵀ ḡ = K⁻¹ ḡ
    return -_sym(_outer_or_product(gb, out))


defop("pos_solve", _infer_pos_solve, arity=3, category="linalg", api="pos_solve", function=pos_solve,
      vjp=[_pos_solve_vjp_k, None, lambda g, out, k, l, b: gc.pos_solve(k, l, g)],
      jvp=[lambda t, out, k, l, b: -gc.pos_solve(k, l, gc.matmul(_sym(t), out)), None,
           lambda t, out, k, l, b: gc.pos_solve(k, l, t)],
      impl=_pos_solve_impl, formula=lambda node, k, l, b: juxtapose(_inverse_of(k), b),
      _builtin=True)


def _infer_pos_inv(k, l):
    _matrix(k, "pos_inv")
    if l.shape != k.shape:
        raise ShapeError(f"the factor {l.type_string} does not fit {k.type_string}")
    return k.shape, same_dtype(k, l)


def pos_inv(k, l, name=None):
    """K⁻¹ of a positive-definite K from its Cholesky factor L (LAPACK ?potri): symmetric."""
    return bind("pos_inv", [k, l], name=name)


def _pos_inv_impl(k, l):
    from scipy.linalg import cho_solve

    return cho_solve((l, True), np.eye(l.shape[0], dtype=l.dtype), check_finite=False)


defop("pos_inv", _infer_pos_inv, arity=2, category="linalg", api="pos_inv", function=pos_inv,
      vjp=[lambda g, out, k, l: -_sym(gc.matmul(out, gc.matmul(g, out))), None],  # K̄ = −K⁻¹ Ḡ K⁻¹
      jvp=[lambda t, out, k, l: -gc.matmul(out, gc.matmul(_sym(t), out)), None],
      impl=_pos_inv_impl, formula=lambda node, k, l: _inverse_of(k), _builtin=True)


def _infer_pos_logdet(k, l):
    _infer_pos_inv(k, l)
    return (), k.dtype


def pos_logdet(k, l, name=None):
    """log det K of a positive-definite K from its Cholesky factor: 2 Σ log Lᵢᵢ."""
    return bind("pos_logdet", [k, l], name=name)


defop("pos_logdet", _infer_pos_logdet, arity=2, category="linalg", api="pos_logdet", function=pos_logdet,
      vjp=[lambda g, out, k, l: gc.pos_inv(k, l) * g, None],  # K̄ = ḡ K⁻¹
      jvp=[lambda t, out, k, l: gc.trace(gc.pos_solve(k, l, _sym(t))), None],
      impl=lambda k, l: np.asarray(2.0 * np.sum(np.log(np.diagonal(l))), dtype=l.dtype),
      formula=lambda node, k, l: Expr(f"log det {k.at(POSTFIX)}", POSTFIX), _builtin=True)


# --- general: one LU factorization -------------------------------------------------------------------


def _infer_lu_factor(a):
    n = _matrix(a, "lu_factor")
    return ((a.shape, a.dtype), ((n,), np.dtype(np.int32)))


def lu_factor(a, name=None):
    """``scipy.linalg.lu_factor``: (lu, piv), P A = L U packed in one matrix and the row swaps
    (0-based). It has no derivative of its own: the ops reading it differentiate through A."""
    return bind("lu_factor", [a], name=name)


def _lu_factor_impl(a):
    from scipy.linalg import LinAlgWarning
    from scipy.linalg import lu_factor as scipy_lu_factor

    with warnings.catch_warnings():  # a singular A: its solve raises, its determinant is 0
        warnings.simplefilter("ignore", LinAlgWarning)
        lu, piv = scipy_lu_factor(a, check_finite=False)
    return lu, piv.astype(np.int32)


defop("lu_factor", _infer_lu_factor, arity=1, category="linalg", api="lu_factor", function=lu_factor,
      multiple_results=True, vjp_joint=lambda gs, out, a: [None], jvp_joint=lambda ts, out, a: [None, None],
      impl=_lu_factor_impl, formula=call("lu"), _builtin=True)


def _check_factor(a, lu, piv, what):
    n = _matrix(a, what)
    if lu.shape != a.shape or lu.dtype != a.dtype or piv.shape != (n,) or piv.dtype.kind not in "iu":
        raise ShapeError(f"{what}: (lu {lu.type_string}, piv {piv.type_string}) is not an LU factor of "
                         f"{a.type_string}")


def _infer_lu_solve(a, lu, piv, b, trans):
    _check_factor(a, lu, piv, "lu_solve")
    return _rhs(a, b, "lu_solve")


def lu_solve(a, lu, piv, b, trans: int = 0, name=None):
    """op(A)⁻¹ b (op(A) = A, or Aᵀ with ``trans=1``) with A's factor (lu, piv) = lu_factor(A)."""
    return bind("lu_solve", [a, lu, piv, b], {"trans": int(bool(trans))}, name=name)


def _singular_check(lu):
    if np.any(np.diagonal(lu) == 0):
        raise np.linalg.LinAlgError("Singular matrix")


def _lu_solve_impl(a, lu, piv, b, trans):
    from scipy.linalg import lu_solve as scipy_lu_solve

    _singular_check(lu)
    return scipy_lu_solve((lu, piv), b, trans=trans, check_finite=False)


def _lu_solve_vjp_a(g, out, a, lu, piv, b, trans):
    gb = gc.lu_solve(a, lu, piv, g, 1 - trans)
    return -(_outer_or_product(gb, out) if not trans else _outer_or_product(out, gb))


def _lu_solve_jvp_a(t, out, a, lu, piv, b, trans):
    return -gc.lu_solve(a, lu, piv, gc.matmul(gc.matrix_transpose(t) if trans else t, out), trans)


defop("lu_solve", _infer_lu_solve, arity=4, category="linalg", api="lu_solve", function=lu_solve,
      vjp=[_lu_solve_vjp_a, None, None,
           lambda g, out, a, lu, piv, b, trans: gc.lu_solve(a, lu, piv, g, 1 - trans)],
      jvp=[_lu_solve_jvp_a, None, None,
           lambda t, out, a, lu, piv, b, trans: gc.lu_solve(a, lu, piv, t, trans)],
      impl=_lu_solve_impl, formula=lambda node, a, lu, piv, b: juxtapose(_inverse_of(a), b),
      _builtin=True)


def _infer_lu_inv(a, lu, piv):
    _check_factor(a, lu, piv, "lu_inv")
    return a.shape, a.dtype


def lu_inv(a, lu, piv, name=None):
    """A⁻¹ with A's factor (lu, piv) = lu_factor(A)."""
    return bind("lu_inv", [a, lu, piv], name=name)


def _lu_inv_impl(a, lu, piv):
    return _lu_solve_impl(a, lu, piv, np.eye(a.shape[0], dtype=a.dtype), 0)


def _transposed_inverse_times(out, g):
    t = gc.matrix_transpose(out)
    return -gc.matmul(t, gc.matmul(g, t))  # Ā = −A⁻ᵀ Ḡ A⁻ᵀ


defop("lu_inv", _infer_lu_inv, arity=3, category="linalg", api="lu_inv", function=lu_inv,
      vjp=[lambda g, out, a, lu, piv: _transposed_inverse_times(out, g), None, None],
      jvp=[lambda t, out, a, lu, piv: -gc.matmul(out, gc.matmul(t, out)), None, None],
      impl=_lu_inv_impl, formula=lambda node, a, lu, piv: _inverse_of(a), _builtin=True)


def _infer_lu_slogdet(a, lu, piv):
    _check_factor(a, lu, piv, "lu_slogdet")
    return (2,), a.dtype


def lu_slogdet(a, lu, piv, name=None):
    """[sign, log|det A|] packed (as ``slogdet``'s node) from A's factor (lu, piv)."""
    return bind("lu_slogdet", [a, lu, piv], name=name)


def _lu_slogdet_impl(a, lu, piv):
    d = np.diagonal(lu)
    if np.any(d == 0):
        return np.array([0.0, -np.inf], dtype=a.dtype)
    swaps = np.count_nonzero(piv != np.arange(piv.size))
    sign = (-1.0) ** swaps * np.prod(np.sign(d))
    return np.array([sign, np.sum(np.log(np.abs(d)))], dtype=a.dtype)


def _lu_slogdet_vjp(g, out, a, lu, piv):
    return gc.matrix_transpose(gc.lu_inv(a, lu, piv)) * g[1]  # only log|det| varies


def _lu_slogdet_jvp(t, out, a, lu, piv):
    dlog = gc.trace(gc.lu_solve(a, lu, piv, t))
    return gc.stack([gc.zeros_like(dlog), dlog])


defop("lu_slogdet", _infer_lu_slogdet, arity=3, category="linalg", api="lu_slogdet", function=lu_slogdet,
      vjp=[_lu_slogdet_vjp, None, None], jvp=[_lu_slogdet_jvp, None, None],
      impl=_lu_slogdet_impl, formula=lambda node, a, lu, piv: call("slogdet")(node, a), _builtin=True)
