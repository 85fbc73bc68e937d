"""Matrix calculus in the builder API, with numpy's names (``gc.linalg.inv`` like ``np.linalg.inv``;
everything here also lives at the top of ``gc``).

The primitives' builder functions (``inv``, ``solve``, ``det``, ``eigh``, ...) come from their
declarations in :mod:`graphc.ops.linalg`; this module adds the composites (``trace``, ``diag``,
``logdet``, ``norm``, ``svdvals``, ``cho_factor``, ``cho_solve``). ``assume_a="pos"`` (SciPy's)
declares a positive-definite matrix: solves, inverse and log-determinant then share its Cholesky
factor (:mod:`graphc.ops.factorizations`). Multi-valued results (``eigh``, ``svd``, ``slogdet``) come
from one packed node sliced apart, so ``w, V = gc.linalg.eigh(A)`` builds one eigendecomposition,
not two.
"""

from __future__ import annotations

import numpy as np

from . import builder as gc
from .dtypes import float_of
from .errors import GraphError, GraphTypeError, ShapeError
from .ir import Node
from .ops.core import PRIMITIVES
from .ops.core import api as _api
from .ops.linalg import _assume, _float_node, _move_to_end, diagonal, embed_diagonal, slogdet, svd
from .ops.promotion import as_node, cast, promote
from .ops.shapes import normalize_axis


def diag(v, k: int = 0, name=None) -> Node:
    """``np.diag``: a 1-d input becomes a square matrix with it on diagonal k; a 2-d input gives
    its diagonal k."""
    v = gc.as_node(v)
    if v.ndim == 1:
        size = v.shape[0] + abs(int(k))
        return embed_diagonal(v, (size, size), k, name=name)
    if v.ndim == 2:
        return diagonal(v, k, name=name)
    raise ShapeError(f"diag needs a 1-d or 2-d input, got {v.type_string}")


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1, name=None) -> Node:
    """``np.trace``: the sum of the diagonal of axes (axis1, axis2)."""
    return gc.sum(diagonal(x, offset, axis1, axis2), axis=-1, name=name)


def logdet(a, name=None, *, assume_a: str = "gen") -> Node:
    """log det A: log|det A| where det A > 0, nan where it is negative, -inf where it is 0.
    ``assume_a="pos"``: A is positive definite, and log det A = 2 Σ log Lᵢᵢ from its Cholesky
    factor L (shared with solves and the inverse of the same A; a gradient of ḡ A⁻¹)."""
    a = as_node(a)
    if _assume(assume_a, "logdet") == "pos":
        a = cast(a, float_of(a.dtype))
        return gc.pos_logdet(a, gc.cholesky(a), name=name)
    sign, logabs = slogdet(a)
    return gc.add(gc.log(sign), logabs, name=name)


def cho_factor(a, name=None) -> Node:
    """The lower Cholesky factor L of a positive-definite A (A = L Lᵀ; ``scipy.linalg.cho_factor``
    with ``lower=True``, returning L rather than a (c, lower) pair). Give it to :func:`cho_solve`."""
    return gc.cholesky(a, name=name)


def cho_solve(c_and_lower, b, name=None) -> Node:
    """``scipy.linalg.cho_solve``: x with A x = b from A's Cholesky factor (L from
    :func:`cho_factor`, or a (c, lower) pair). A factor graphc made from A is solved through A
    (its derivative is then the solve's, sharing the factor); any other triangular c by two
    triangular solves (differentiable in c)."""
    if isinstance(c_and_lower, tuple):
        if len(c_and_lower) != 2 or not isinstance(c_and_lower[1], (bool, np.bool_)):
            raise GraphTypeError("cho_solve takes L or a (c, lower) pair")
        c, lower = as_node(c_and_lower[0]), bool(c_and_lower[1])
    else:
        c, lower = as_node(c_and_lower), True
    b = as_node(b)
    if lower and c.op == "cholesky" and c.ndim == 2:
        a = c.inputs[0]
        (b,) = promote(b, floating=True)
        return gc.pos_solve(a, c, cast(b, a.dtype), name=name)
    y = gc.solve_triangular(c, b, trans=0 if lower else 1, lower=lower)
    x = gc.solve_triangular(c, y, trans=1 if lower else 0, lower=lower)
    return x if name is None else _rename(x, name)


def svdvals(a, name=None) -> Node:
    """The singular values, descending."""
    s = svd(a, compute_uv=False)
    return s if name is None else _rename(s, name)


_MATRIX_ORDS = (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def norm(x, ord=None, axis=None, keepdims: bool = False, name=None) -> Node:
    """``np.linalg.norm`` with numpy's ``ord`` and ``axis``: vector norms over one axis, matrix
    norms over two (Frobenius, nuclear, spectral, max column/row sums).

    The 2-norm and Frobenius norm are sqrt(sum x²): their gradient at x = 0 is nan (0/0), as in
    numpy's own formula; use ``gc.sum(x * x)`` for a norm squared that is smooth everywhere.
    """
    x = _float_node(x)
    if not (ord is None or isinstance(ord, str) or (isinstance(ord, (int, float, np.integer, np.floating))
                                                     and not isinstance(ord, bool))):
        raise GraphTypeError(f"norm: ord must be None, a number or a string as numpy's, got {ord!r}")
    if axis is None:
        if ord is not None and x.ndim not in (1, 2):
            raise ShapeError(f"norm with ord={ord!r} needs a 1-d or 2-d input when axis is None")
        axes = tuple(range(x.ndim))
    elif isinstance(axis, (tuple, list)):  # the order matters for matrix norms: (rows, columns)
        axes = tuple(normalize_axis(a, x.ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"duplicate axes given to norm: {tuple(axis)}")
    else:
        axes = (normalize_axis(axis, x.ndim),)
    if ord is None and (axis is None or len(axes) == 2) or ord == "fro":
        if ord == "fro" and len(axes) != 2:
            raise ShapeError("norm ord='fro' needs a matrix (two axes)")
        return gc.sqrt(gc.sum(x * x, axis=axes, keepdims=keepdims), name=name)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims, name)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims, name)
    raise ShapeError(f"norm over axes {axes}: numpy allows one axis (vector) or two (matrix)")


def _vector_norm(x, ord, axis, keepdims, name):
    if isinstance(ord, str):
        raise GraphError(f"invalid norm order {ord!r} for vectors")
    if ord is None or ord == 2:
        return gc.sqrt(gc.sum(x * x, axis=axis, keepdims=keepdims), name=name)
    if ord == np.inf:
        return gc.max(gc.abs(x), axis=axis, keepdims=keepdims, name=name)
    if ord == -np.inf:
        return gc.min(gc.abs(x), axis=axis, keepdims=keepdims, name=name)
    if ord == 0:
        return gc.sum(gc.cast(gc.not_equal(x, 0), x.dtype), axis=axis, keepdims=keepdims, name=name)
    if ord == 1:
        return gc.sum(gc.abs(x), axis=axis, keepdims=keepdims, name=name)
    p = float(ord)
    return gc.power(gc.sum(gc.power(gc.abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p, name=name)


def _matrix_norm(x, ord, axes, keepdims, name):
    if ord not in _MATRIX_ORDS:
        raise GraphError(f"invalid norm order {ord!r} for matrices; numpy allows {_MATRIX_ORDS}")
    row_axis, col_axis = axes
    if ord in ("nuc", 2, -2):
        moved = _move_to_end(x, row_axis, col_axis)
        s = svdvals(moved)
        value = {"nuc": lambda: gc.sum(s, axis=-1), 2: lambda: gc.max(s, axis=-1),
                 -2: lambda: gc.min(s, axis=-1)}[ord]()
    elif ord in (1, -1):  # max / min absolute column sum
        sums = gc.sum(gc.abs(x), axis=row_axis, keepdims=True)
        value = (gc.max if ord == 1 else gc.min)(sums, axis=col_axis, keepdims=True)
        value = gc.squeeze(value, axis=(row_axis, col_axis))
    else:  # ±inf: max / min absolute row sum
        sums = gc.sum(gc.abs(x), axis=col_axis, keepdims=True)
        value = (gc.max if ord == np.inf else gc.min)(sums, axis=row_axis, keepdims=True)
        value = gc.squeeze(value, axis=(row_axis, col_axis))
    if keepdims:
        value = gc.expand_dims(value, tuple(sorted(axes)))
    return value if name is None else _rename(value, name)




def _rename(x: Node, name: str) -> Node:
    x._annotate(name=name)
    return x


for _composite in (diag, trace, logdet, svdvals, norm, cho_factor, cho_solve):
    _api.register(_composite)

# the linear-algebra primitives' builder functions, generated from their declarations
globals().update({p.api: p.function for p in PRIMITIVES.values()
                  if p.category == "linalg" and p.builtin and p.api and p.api not in globals()})
__all__ = sorted({"diag", "trace", "logdet", "svdvals", "norm", "cho_factor", "cho_solve",
                  *(p.api for p in PRIMITIVES.values() if p.category == "linalg" and p.builtin and p.api)})
