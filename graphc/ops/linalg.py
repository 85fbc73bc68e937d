"""Linear algebra primitives, each with its builder function (numpy's name and conventions, as
``gc.linalg.inv`` for ``np.linalg.inv``). ``matmul`` follows numpy exactly (1-d operands are
promoted and the added axis removed; batch axes broadcast). Multi-valued results (eigh, svd,
slogdet) are *packed* into one array that the builder function slices apart, so the IR keeps one
value per node; their rules unpack the cotangent the same way.
"""

from __future__ import annotations

import numpy as np

from ..dtypes import float_of
from ..errors import GraphError, GraphTypeError, ShapeError
from .core import api as gc
from .core import bind
from .declare import defop
from .notation import ATOM, POSTFIX, Expr, call, juxtapose, transposed
from .promotion import as_node, cast, promote
from .rules import unbroadcast
from .shapes import broadcast_shape_tuples, normalize_axis, require_float, same_dtype


def _float_node(x):
    x = as_node(x)
    return cast(x, float_of(x.dtype))


def _inverse(a):
    if a.prec == POSTFIX and a.text.endswith("ᵀ"):  # (Aᵀ)⁻¹ = A⁻ᵀ
        return Expr(a.text[:-1] + "⁻ᵀ", POSTFIX)
    return Expr(f"{a.at(POSTFIX)}⁻¹", POSTFIX)


def _infer_matmul(a, b):
    dtype = same_dtype(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"operands {a.type_string} and {b.type_string}: matmul needs at least 1-d operands "
            "(use * for scalars)"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(
            f"shapes {a.type_string} and {b.type_string} are not aligned: "
            f"{k_a} (last axis of the first) != {k_b} "
            f"({'the only' if b.ndim == 1 else 'second-to-last'} axis of the second)"
        )
    batch = broadcast_shape_tuples(a.shape[:-2], b.shape[:-2])
    rows = (a.shape[-2],) if a.ndim >= 2 else ()
    cols = (b.shape[-1],) if b.ndim >= 2 else ()
    return batch + rows + cols, dtype


def _matmul_vjp_a(g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:  # inner product: d(a·b)/da = b
        return g * b
    if a.ndim == 1 and b.ndim == 2:  # (n) @ (n, k) -> (k): ā = B ḡ
        return gc.matmul(b, g)
    if a.ndim == 1:  # (n) @ (..., n, k) -> (..., k): ā = Σ_batch B ḡ
        return unbroadcast(gc.matmul(b, gc.expand_dims(g, -1))[..., 0], a.shape)
    if b.ndim == 1:  # (..., m, n) @ (n) -> (..., m): Ā = ḡ bᵀ (an outer product)
        return unbroadcast(gc.expand_dims(g, -1) * b, a.shape)
    return unbroadcast(gc.matmul(g, gc.matrix_transpose(b)), a.shape)  # Ā = Ḡ Bᵀ


def _matmul_vjp_b(g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if b.ndim == 1:  # b̄ = Aᵀ ḡ
        if a.ndim == 2:
            return gc.matmul(gc.transpose(a), g)
        return unbroadcast(gc.matmul(gc.matrix_transpose(a), gc.expand_dims(g, -1))[..., 0], b.shape)
    if a.ndim == 1:  # B̄ = a ḡᵀ
        return unbroadcast(gc.expand_dims(a, -1) * gc.expand_dims(g, -2), b.shape)
    return unbroadcast(gc.matmul(gc.matrix_transpose(a), g), b.shape)  # B̄ = Aᵀ Ḡ


def matmul(a, b, name=None):
    """``a @ b`` with numpy's rules (1-d operands, broadcast batch dimensions)."""
    a, b = promote(a, b)
    return bind("matmul", [a, b], name=name)


def _matmul_formula(node, a, b):
    if node.inputs[0].ndim == 1 and node.inputs[1].ndim == 1:
        return Expr(f"⟨{a.text}, {b.text}⟩", ATOM)
    return juxtapose(a, b)


defop("matmul", _infer_matmul, arity=2, category="linalg", api="matmul", function=matmul,
      vjp=[_matmul_vjp_a, _matmul_vjp_b],
      jvp=[lambda t, out, a, b: gc.matmul(t, b), lambda t, out, a, b: gc.matmul(a, t)],
      impl=np.matmul, formula=_matmul_formula, _builtin=True)


# ----------------------------------------------------------------------------------------------
# Matrix calculus. Shapes are (..., m, n): leading axes are a batch.


def _square(a, what):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{what} needs square matrices (..., n, n), got {a.type_string}")
    return a.shape[-1]


def _float_only(a):
    require_float(a.dtype)


def _eye(n, dtype):
    return gc.constant(np.eye(n, dtype=dtype))


def _sym(x):
    """The symmetric part: derivatives of ops that read only a symmetric input (cholesky, eigh)
    are taken with respect to symmetric perturbations, as in JAX."""
    return (x + gc.matrix_transpose(x)) * 0.5


def _mT(x):
    return gc.matrix_transpose(x)


# --- diagonal / embed_diagonal ------------------------------------------------------------------
def _diag_len(m, n, offset):
    return max(0, min(m, n - offset) if offset >= 0 else min(m + offset, n))


def _infer_diagonal(x, offset):
    if x.ndim < 2:
        raise ShapeError(f"diagonal needs at least 2 dimensions, got {x.type_string}")
    return x.shape[:-2] + (_diag_len(x.shape[-2], x.shape[-1], offset),), x.dtype


def _infer_embed(g, shape, offset):
    m, n = shape
    if g.ndim < 1 or g.shape[-1] != _diag_len(m, n, offset):
        raise ShapeError(f"a diagonal of {g.type_string} does not fit a {m}x{n} matrix at offset {offset}")
    return g.shape[:-1] + (m, n), g.dtype


def _move_to_end(x, axis1: int, axis2: int):
    a1, a2 = normalize_axis(axis1, x.ndim), normalize_axis(axis2, x.ndim)
    if a1 == a2:
        raise ShapeError(f"axis1 and axis2 cannot be the same ({axis1}, {axis2})")
    rest = [i for i in range(x.ndim) if i not in (a1, a2)]
    return gc.transpose(x, tuple(rest) + (a1, a2))


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1, name=None):
    """``np.diagonal``: the diagonal of axes (axis1, axis2), appended as the last axis."""
    x = as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal needs at least 2 dimensions, got {x.type_string}")
    if not isinstance(offset, (int, np.integer)) or isinstance(offset, (bool, np.bool_)):
        raise GraphTypeError(f"diagonal: offset must be an int, got {offset!r}")
    return bind("diagonal", [_move_to_end(x, axis1, axis2)], {"offset": int(offset)}, name=name)


def embed_diagonal(v, shape, offset: int = 0, name=None):
    """A (..., m, n) matrix of zeros with ``v`` on its offset diagonal (the adjoint of diagonal)."""
    v = as_node(v)
    return bind("embed_diagonal", [v], {"shape": tuple(int(d) for d in shape), "offset": int(offset)},
                name=name)


def _embed_impl(v, shape, offset):
    m, n = shape
    out = np.zeros(v.shape[:-1] + (m, n), dtype=v.dtype)
    i = np.arange(v.shape[-1])
    out[..., i + max(0, -offset), i + max(0, offset)] = v
    return out


defop("diagonal", _infer_diagonal, arity=1, category="linalg", api="diagonal", function=diagonal,
      vjp=[lambda g, out, x, offset: gc.embed_diagonal(g, x.shape[-2:], offset)],
      jvp=[lambda t, out, x, offset: gc.diagonal(t, offset, -2, -1)],
      impl=lambda x, offset: np.diagonal(x, offset, axis1=-2, axis2=-1), formula=call("diagonal"),
      doc="the offset diagonal of the last two axes", _builtin=True)
defop("embed_diagonal", _infer_embed, arity=1, category="linalg", api="embed_diagonal",
      function=embed_diagonal,
      vjp=[lambda g, out, x, shape, offset: gc.diagonal(g, offset, -2, -1)],
      jvp=[lambda t, out, x, shape, offset: gc.embed_diagonal(t, shape, offset)],
      impl=_embed_impl, formula=call("diag"),
      doc="zeros of (..., m, n) with the operand on the offset diagonal", _builtin=True)


# --- symmetrize ---------------------------------------------------------------------------------
def _infer_symmetrize(a):
    _float_only(a)
    _square(a, "symmetrize")
    return a.shape, a.dtype


def _symmetrize_vjp(g, out, a):
    """A's lower triangle appears twice in the result (at (i, j) and (j, i)), its diagonal once
    and its upper triangle not at all: Ā = (Ḡ + Ḡᵀ) ⊙ M, M = 1 below the diagonal, ½ on it, 0 above."""
    n = a.shape[-1]
    mask = np.tril(np.ones((n, n), a.dtype), -1) + np.eye(n, dtype=a.dtype) * 0.5
    return (g + _mT(g)) * gc.constant(mask)


def symmetrize(a, name=None):
    """The symmetric matrix whose lower triangle (diagonal included) is ``a``'s: ``a``'s upper
    triangle is never read, as in ``np.linalg.eigh`` and ``cholesky``. Declares a symmetric input:
    products with it use BLAS's symmetric routines and ``symmetrize(a).T`` is the same node, so
    the gradient of ``x @ symmetrize(a) @ x`` needs one product, not two. Derivatives are those
    of the function of ``a`` this defines (the upper triangle's are zero)."""
    return bind("symmetrize", [_float_node(a)], name=name)


defop("symmetrize", _infer_symmetrize, arity=1, category="linalg", api="symmetrize", function=symmetrize,
      vjp=[_symmetrize_vjp],
      jvp=[lambda t, out, a: gc.symmetrize(t)],
      impl=lambda a: np.where(np.tri(a.shape[-1], dtype=bool), a, np.swapaxes(a, -1, -2)),
      formula=call("sym"),
      doc="the symmetric matrix with A's lower triangle (A's upper triangle is not read)", _builtin=True)


# --- inv, solve ----------------------------------------------------------------------------------
def _infer_inv(a):
    _float_only(a)
    _square(a, "inv")
    return a.shape, a.dtype


ASSUME = {"gen": "gen", "general": "gen", "sym": "gen", "symmetric": "gen", "pos": "pos",
          "positive definite": "pos"}  # SciPy's assume_a values (a symmetric one is solved by LU)


def _assume(assume_a, what: str) -> str:
    found = ASSUME.get(assume_a) if isinstance(assume_a, str) else None
    if found is None:
        raise GraphTypeError(f"{what}: assume_a must be one of {', '.join(map(repr, ASSUME))}, "
                             f"got {assume_a!r}")
    return found


def inv(a, name=None, *, assume_a: str = "gen"):
    """``np.linalg.inv`` of (..., n, n). ``assume_a="pos"``: A is positive definite (one matrix,
    no batch axes), inverted from its Cholesky factor, which solves and log-determinants of the
    same A share."""
    a = _float_node(a)
    if _assume(assume_a, "inv") == "pos":
        return gc.pos_inv(a, gc.cholesky(a), name=name)
    return bind("inv", [a], name=name)


defop("inv", _infer_inv, arity=1, category="linalg", api="inv", function=inv,
      vjp=[lambda g, out, a: -gc.matmul(_mT(out), gc.matmul(g, _mT(out)))],  # Ā = -A⁻ᵀ Ḡ A⁻ᵀ
      jvp=[lambda t, out, a: -gc.matmul(out, gc.matmul(t, out))],  # d(A⁻¹) = -A⁻¹ dA A⁻¹
      impl=np.linalg.inv, formula=lambda node, a: _inverse(a), _builtin=True)


def _infer_solve(a, b):
    dtype = same_dtype(a, b)
    _float_only(a)
    n = _square(a, "solve")
    if b.ndim == 1:  # numpy >= 2: a 1-d b is one right-hand side
        if b.shape[0] != n or a.ndim != 2:
            raise ShapeError(f"{a.type_string} and a vector {b.type_string} do not fit")
        return b.shape, dtype
    if b.shape[-2] != n:
        raise ShapeError(f"{a.type_string} and {b.type_string}: b needs {n} rows")
    batch = broadcast_shape_tuples(a.shape[:-2], b.shape[:-2])
    return batch + b.shape[-2:], dtype


def _solve_vjp_a(g, out, a, b):
    gb = gc.solve(_mT(a), g)
    if b.ndim == 1:
        return -(gc.expand_dims(gb, -1) * gc.expand_dims(out, -2))  # Ā = -b̄ xᵀ
    return unbroadcast(-gc.matmul(gb, _mT(out)), a.shape)


def _solve_vjp_b(g, out, a, b):
    return unbroadcast(gc.solve(_mT(a), g), b.shape)  # b̄ = A⁻ᵀ ḡ


def _solve_jvp_a(t, out, a, b):
    return -gc.solve(a, gc.matmul(t, out))  # dx = -A⁻¹ dA x


def solve(a, b, name=None, *, assume_a: str = "gen"):
    """``np.linalg.solve`` (numpy >= 2 rules: a 1-d ``b`` is a single right-hand side).
    ``assume_a="pos"`` (SciPy's): A is positive definite (one matrix, no batch axes), solved by
    its Cholesky factor, which other solves, the inverse and the log-determinant of the same A
    share; the derivative then needs no other factorization."""
    a, b = promote(a, b, floating=True)
    if _assume(assume_a, "solve") == "pos":
        return gc.pos_solve(a, gc.cholesky(a), b, name=name)
    if b.ndim == 1 and a.ndim > 2:  # numpy 2: one vector for every matrix of the stack
        column = bind("solve", [a, gc.expand_dims(b, -1)])
        return gc.squeeze(column, -1, name=name)
    return bind("solve", [a, b], name=name)


defop("solve", _infer_solve, arity=2, category="linalg", api="solve", function=solve,
      vjp=[_solve_vjp_a, _solve_vjp_b],
      jvp=[_solve_jvp_a, lambda t, out, a, b: gc.solve(a, t)],
      impl=np.linalg.solve, formula=lambda node, a, b: juxtapose(_inverse(a), b), _builtin=True)


# --- solve_triangular ----------------------------------------------------------------------------
def _infer_solve_triangular(a, b, lower, trans, unit_diagonal):
    return _infer_solve(a, b)


def _triangle(a, lower, unit_diagonal):
    """The mask of the entries a triangular solve reads: its triangle, less the diagonal when
    that is taken as ones."""
    n = a.shape[-1]
    k = (-1 if lower else 1) if unit_diagonal else 0
    mask = np.tril(np.ones((n, n)), k) if lower else np.triu(np.ones((n, n)), k)
    return gc.constant(mask.astype(a.dtype))


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False, name=None):
    """``scipy.linalg.solve_triangular``: x with op(a) x = b, op(a) = a (``trans`` 0 or "N") or
    aᵀ (1, "T" or "C"), reading only a's lower (``lower``) or upper triangle, its diagonal taken
    as ones with ``unit_diagonal``. b is a vector or a matrix of right-hand sides; leading axes
    are a batch. A zero on the diagonal raises a GraphError when the graph runs."""
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise GraphError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b = promote(a, b, floating=True)
    attrs = {"lower": bool(lower), "trans": trans not in (0, "N"), "unit_diagonal": bool(unit_diagonal)}
    return bind("solve_triangular", [a, b], attrs, name=name)


def _solve_triangular_impl(a, b, lower, trans, unit_diagonal):
    from scipy.linalg import solve_triangular as scipy_solve

    core = 1 if b.ndim == 1 else 2
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-core])
    out = np.empty(batch + b.shape[-core:], np.result_type(a, b))
    for idx in np.ndindex(*batch):
        ai = a[idx[len(idx) - (a.ndim - 2):]] if a.ndim > 2 else a
        bi = b[idx[len(idx) - (b.ndim - core):]] if b.ndim > core else b
        out[idx] = scipy_solve(ai, bi, trans=int(trans), lower=lower, unit_diagonal=unit_diagonal,
                               check_finite=False)
    return out


def _solve_triangular_vjp_a(g, out, a, b, lower, trans, unit_diagonal):
    gb = gc.solve_triangular(a, g, trans=not trans, lower=lower, unit_diagonal=unit_diagonal)
    if b.ndim == 1:
        outer = gc.expand_dims(gb, -1) * gc.expand_dims(out, -2)  # b̄ xᵀ
    else:
        outer = gc.matmul(gb, _mT(out))
    grad = -(_mT(outer) if trans else outer)  # op(A) = A: -b̄ xᵀ; op(A) = Aᵀ: -x b̄ᵀ
    return unbroadcast(grad * _triangle(a, lower, unit_diagonal), a.shape)


def _solve_triangular_jvp_a(t, out, a, b, lower, trans, unit_diagonal):
    dt = t * _triangle(a, lower, unit_diagonal)
    return -gc.solve_triangular(a, gc.matmul(_mT(dt) if trans else dt, out), trans=trans, lower=lower,
                                unit_diagonal=unit_diagonal)


def _solve_triangular_formula(node, a, b):
    inverse = _inverse(transposed(a) if node.attrs["trans"] else a)
    return juxtapose(inverse, b)


defop("solve_triangular", _infer_solve_triangular, arity=2, category="linalg", api="solve_triangular",
      function=solve_triangular,
      vjp=[_solve_triangular_vjp_a,
           lambda g, out, a, b, lower, trans, unit_diagonal: unbroadcast(gc.solve_triangular(
               a, g, trans=not trans, lower=lower, unit_diagonal=unit_diagonal), b.shape)],
      jvp=[_solve_triangular_jvp_a,
           lambda t, out, a, b, lower, trans, unit_diagonal: gc.solve_triangular(
               a, t, trans=trans, lower=lower, unit_diagonal=unit_diagonal)],
      impl=_solve_triangular_impl, formula=_solve_triangular_formula, _builtin=True)


# --- det, slogdet --------------------------------------------------------------------------------
def _infer_det(a):
    _float_only(a)
    _square(a, "det")
    return a.shape[:-2], a.dtype


def _inverse_transpose_times(a, scale):
    """scale · A⁻ᵀ (scale broadcasts per matrix), through inv: numpy's and the numba backend's
    inv are an LU solve against the identity, so this costs and rounds as such a solve does, and
    the inverse is then one node that other rules share. Forward over reverse, the HVP of log|det|
    is then d(A⁻ᵀ) = -A⁻ᵀ dAᵀ A⁻ᵀ: two products with that inverse instead of two more solves."""
    return _mT(gc.inv(a)) * gc.expand_dims(gc.expand_dims(scale, -1), -1)


def _trace_solve(a, t):
    """tr(A⁻¹ dA) without forming A⁻¹."""
    return gc.trace(gc.solve(a, t), axis1=-2, axis2=-1)


def det(a, name=None):
    """``np.linalg.det``. Its derivative det(A)·A⁻ᵀ is computed with an LU solve."""
    return bind("det", [_float_node(a)], name=name)


defop("det", _infer_det, arity=1, category="linalg", api="det", function=det,
      vjp=[lambda g, out, a: _inverse_transpose_times(a, g * out)],  # Ā = ḡ det(A) A⁻ᵀ
      jvp=[lambda t, out, a: out * _trace_solve(a, t)],  # d det = det tr(A⁻¹ dA)
      impl=np.linalg.det, formula=call("det"),
      doc="at singular A the rules divide by zero and give inf/nan (the cofactor form is not used)",
      _builtin=True)


def _infer_slogdet(a):
    _float_only(a)
    _square(a, "slogdet")
    return a.shape[:-2] + (2,), a.dtype


def _slogdet_jvp(t, out, a):
    dlog = _trace_solve(a, t)
    return gc.stack([gc.zeros_like(dlog), dlog], axis=-1)


def slogdet(a):
    """``np.linalg.slogdet``: (sign, log|det|), from one packed node."""
    packed = bind("slogdet", [_float_node(a)])
    return packed[..., 0], packed[..., 1]


defop("slogdet", _infer_slogdet, arity=1, category="linalg", api="slogdet", function=slogdet,
      vjp=[lambda g, out, a: _inverse_transpose_times(a, g[..., 1])],  # only log|det| varies
      jvp=[_slogdet_jvp],
      impl=lambda a: np.stack(np.linalg.slogdet(a), axis=-1), formula=call("slogdet"),
      doc="packed (..., 2): [sign, log|det|]", _builtin=True)


# --- cholesky ------------------------------------------------------------------------------------
def _infer_cholesky(a):
    _float_only(a)
    _square(a, "cholesky")
    return a.shape, a.dtype


def _phi(x):
    """Lower triangle with the diagonal halved."""
    n = x.shape[-1]
    return x * gc.constant((np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)).astype(x.dtype))


def _cholesky_vjp(g, out, a):
    # Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹), two triangular systems solved by LU
    inner = _phi(gc.matmul(_mT(out), g))
    left = gc.solve(_mT(out), inner)  # L⁻ᵀ Φ
    return _sym(_mT(gc.solve(_mT(out), _mT(left))))  # (L⁻ᵀ (L⁻ᵀ Φ)ᵀ)ᵀ = L⁻ᵀ Φ L⁻¹


def _cholesky_jvp(t, out, a):
    # dL = L Φ(L⁻¹ sym(dA) L⁻ᵀ)
    y = gc.solve(out, _sym(t))
    return gc.matmul(out, _phi(_mT(gc.solve(out, _mT(y)))))


def cholesky(a, name=None):
    """``np.linalg.cholesky``: the lower factor L with A = L Lᵀ (reads A's lower triangle)."""
    return bind("cholesky", [_float_node(a)], name=name)


defop("cholesky", _infer_cholesky, arity=1, category="linalg", api="cholesky", function=cholesky,
      vjp=[_cholesky_vjp], jvp=[_cholesky_jvp], impl=np.linalg.cholesky, formula=call("chol"),
      doc="lower factor L of A = L Lᵀ (reads the lower triangle; derivatives are for symmetric dA)",
      _builtin=True)


# --- eigh, eigvalsh ------------------------------------------------------------------------------
def _infer_eigh(a):
    _float_only(a)
    n = _square(a, "eigh")
    return a.shape[:-2] + (n + 1, n), a.dtype


def _infer_eigvalsh(a):
    _float_only(a)
    n = _square(a, "eigvalsh")
    return a.shape[:-2] + (n,), a.dtype


def _gap_inverse(w, square=False):
    """F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it (the diagonal never divides by zero, so
    second derivatives stay finite); with square=True the gaps are w_j² - w_i²."""
    n = w.shape[-1]
    if square:
        w = w * w
    eye = _eye(n, w.dtype)
    gaps = gc.expand_dims(w, -2) - gc.expand_dims(w, -1) + eye
    return (1.0 - eye) / gaps


def _eigh_vjp(g, out, a):
    w, v = out[..., 0, :], out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    inner = gc.embed_diagonal(gw, (a.shape[-1],) * 2, 0) + _gap_inverse(w) * gc.matmul(_mT(v), gv)
    return _sym(gc.matmul(v, gc.matmul(inner, _mT(v))))


def _eigh_jvp(t, out, a):
    w, v = out[..., 0, :], out[..., 1:, :]
    m = gc.matmul(_mT(v), gc.matmul(_sym(t), v))
    dw = gc.diagonal(m, 0, -2, -1)
    dv = gc.matmul(v, _gap_inverse(w) * m)
    return gc.concatenate([gc.expand_dims(dw, -2), dv], axis=-2)


def eigh(a):
    """``np.linalg.eigh``: (ascending eigenvalues w, eigenvectors V as columns) of symmetric A.

    The derivative of V does not exist where eigenvalues repeat; there the rules give inf/nan.
    """
    packed = bind("eigh", [_float_node(a)])
    return packed[..., 0, :], packed[..., 1:, :]


def _finite_or_identity(a):
    """(a with every matrix whose lower triangle holds an inf or a NaN replaced by I, which of
    them were). Their eigenvalues and vectors are NaN: LAPACK's result there is partly NaN, partly
    numbers that depend on its algorithm, and numba's eigh refuses such a matrix, so both
    backends give NaN."""
    bad = ~np.isfinite(np.tril(a)).all(axis=(-2, -1))
    if not bad.any():
        return a, None
    return np.where(bad[..., None, None], np.eye(a.shape[-1], dtype=a.dtype), a), bad


def _eigvalsh_impl(a):
    safe, bad = _finite_or_identity(a)
    w = np.linalg.eigvalsh(safe)
    if bad is not None:
        w[bad] = np.nan
    return w


def _eigh_impl(a):
    safe, bad = _finite_or_identity(a)
    w, v = np.linalg.eigh(safe)
    packed = np.concatenate([w[..., None, :], v], axis=-2)
    if bad is not None:
        packed[bad] = np.nan
    return packed


defop("eigh", _infer_eigh, arity=1, category="linalg", api="eigh", function=eigh,
      vjp=[_eigh_vjp], jvp=[_eigh_jvp], impl=_eigh_impl, formula=call("eigh"),
      doc="packed (..., n+1, n): row 0 the ascending eigenvalues, rows 1.. the eigenvectors (columns); "
          "eigenvector derivatives do not exist at repeated eigenvalues (the rules then give inf/nan)",
      _builtin=True)


def _eigvalsh_vjp(g, out, a):
    v = gc.eigh(a)[1]
    return gc.matmul(v * gc.expand_dims(g, -2), _mT(v))  # Ā = V diag(w̄) Vᵀ


def _eigvalsh_jvp(t, out, a):
    v = gc.eigh(a)[1]
    return gc.diagonal(gc.matmul(_mT(v), gc.matmul(_sym(t), v)), 0, -2, -1)


def eigvalsh(a, name=None):
    """``np.linalg.eigvalsh``: ascending eigenvalues of symmetric A (differentiable also where
    eigenvalues repeat only in symmetric functions of them)."""
    return bind("eigvalsh", [_float_node(a)], name=name)


defop("eigvalsh", _infer_eigvalsh, arity=1, category="linalg", api="eigvalsh", function=eigvalsh,
      vjp=[_eigvalsh_vjp], jvp=[_eigvalsh_jvp], impl=_eigvalsh_impl, formula=call("λ"),
      doc="ascending eigenvalues of a symmetric matrix", _builtin=True)


# --- svd -----------------------------------------------------------------------------------------
def _infer_svd(a):
    _float_only(a)
    if a.ndim < 2:
        raise ShapeError(f"svd needs at least 2 dimensions, got {a.type_string}")
    m, n = a.shape[-2:]
    return a.shape[:-2] + (m + 1 + n, min(m, n)), a.dtype


def _svd_parts(packed, m):
    return packed[..., :m, :], packed[..., m, :], packed[..., m + 1 :, :]


def _svd_vjp(g, out, a):
    m, n = a.shape[-2:]
    u, s, v = _svd_parts(out, m)
    gu, gs, gv = _svd_parts(g, m)
    f = _gap_inverse(s, square=True)
    s_row = gc.expand_dims(s, -2)
    s_col = gc.expand_dims(s, -1)
    j = f * (gc.matmul(_mT(u), gu) - gc.matmul(_mT(gu), u))
    k = f * (gc.matmul(_mT(v), gv) - gc.matmul(_mT(gv), v))
    core = j * s_row + gc.embed_diagonal(gs, (s.shape[-1],) * 2, 0) + s_col * k
    grad = gc.matmul(u, gc.matmul(core, _mT(v)))
    if m > s.shape[-1]:  # (I - U Uᵀ) Ū S⁻¹ Vᵀ
        resid = gu - gc.matmul(u, gc.matmul(_mT(u), gu))
        grad = grad + gc.matmul(resid / s_row, _mT(v))
    if n > s.shape[-1]:  # U S⁻¹ V̄ᵀ (I - V Vᵀ)
        resid = gv - gc.matmul(v, gc.matmul(_mT(v), gv))
        grad = grad + gc.matmul(u / s_row, _mT(resid))
    return grad


def _svd_jvp(t, out, a):
    m, n = a.shape[-2:]
    u, s, v = _svd_parts(out, m)
    s_row = gc.expand_dims(s, -2)
    s_col = gc.expand_dims(s, -1)
    ds_mat = gc.matmul(_mT(u), gc.matmul(t, v))
    ds = gc.diagonal(ds_mat, 0, -2, -1)
    f = _gap_inverse(s, square=True)
    du = gc.matmul(u, f * (ds_mat * s_row + s_col * _mT(ds_mat)))
    dv = gc.matmul(v, f * (s_col * ds_mat + _mT(ds_mat) * s_row))
    if m > s.shape[-1]:
        tv = gc.matmul(t, v)
        du = du + (tv - gc.matmul(u, gc.matmul(_mT(u), tv))) / s_row
    if n > s.shape[-1]:
        tu = gc.matmul(_mT(t), u)
        dv = dv + (tu - gc.matmul(v, gc.matmul(_mT(v), tu))) / s_row
    return gc.concatenate([du, gc.expand_dims(ds, -2), dv], axis=-2)


def svd(a, full_matrices: bool = True, compute_uv: bool = True):
    """``np.linalg.svd``: (U, s, Vh) or, with compute_uv=False, the singular values s.

    graphc computes the thin SVD; ``full_matrices=True`` (numpy's default) is accepted for square
    matrices, where full and thin coincide. For non-square ones the extra singular vectors are not
    unique (and have no derivative), so pass ``full_matrices=False``.
    """
    a = _float_node(a)
    if a.ndim < 2:
        raise ShapeError(f"svd needs at least 2 dimensions, got {a.type_string}")
    m, n = a.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise GraphError(
            f"svd of a non-square {a.type_string} with full_matrices=True: graphc computes the thin "
            "SVD only (the extra singular vectors are not unique); pass full_matrices=False"
        )
    packed = bind("svd", [a])
    u, s, v = packed[..., :m, :], packed[..., m, :], packed[..., m + 1 :, :]
    if not compute_uv:
        return s
    return u, s, gc.matrix_transpose(v)


def _svd_impl(a):
    if not np.isfinite(a).all():  # LAPACK's ?gesdd never returned on an inf; numba's svd refuses it too
        raise np.linalg.LinAlgError("SVD of a matrix holding an inf or a NaN")
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.concatenate([u, s[..., None, :], np.swapaxes(vh, -1, -2)], axis=-2)


defop("svd", _infer_svd, arity=1, category="linalg", api="svd", function=svd,
      vjp=[_svd_vjp], jvp=[_svd_jvp], impl=_svd_impl, formula=call("svd"),
      doc="thin SVD packed (..., m+1+n, k): rows [0, m) U, row m the singular values (descending), "
          "rows m+1.. V (not Vᵀ); singular-vector derivatives need distinct, nonzero singular values "
          "(elsewhere the rules give inf/nan)", _builtin=True)
