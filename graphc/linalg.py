"""Matrix calculus in the builder API, with numpy's names (``gc.linalg.inv`` like ``np.linalg.inv``;
``trace``, ``diag``, ``diagonal`` and ``einsum`` also live at the top of ``gc``).

Multi-valued results (``eigh``, ``svd``, ``slogdet``) come from one packed node sliced apart, so
``w, V = gc.linalg.eigh(A)`` builds one eigendecomposition, not two.
"""

from __future__ import annotations

import numpy as np

from . import builder as gc
from .dtypes import float_of
from .errors import GraphError, GraphTypeError, ShapeError
from .ir import Node
from .ops.core import bind
from .ops.shapes import normalize_axis


def _float_node(x) -> Node:
    x = gc.as_node(x)
    return gc.cast(x, float_of(x.dtype))


def _move_to_end(x: Node, axis1: int, axis2: int) -> Node:
    a1, a2 = normalize_axis(axis1, x.ndim), normalize_axis(axis2, x.ndim)
    if a1 == a2:
        raise ShapeError(f"axis1 and axis2 cannot be the same ({axis1}, {axis2})")
    rest = [i for i in range(x.ndim) if i not in (a1, a2)]
    return gc.transpose(x, tuple(rest) + (a1, a2))


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1, name=None) -> Node:
    """``np.diagonal``: the diagonal of axes (axis1, axis2), appended as the last axis."""
    x = gc.as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal needs at least 2 dimensions, got {x.type_string}")
    return bind("diagonal", [_move_to_end(x, axis1, axis2)], {"offset": int(offset)}, name=name)


def embed_diagonal(v, shape, offset: int = 0, name=None) -> Node:
    """A (..., m, n) matrix of zeros with ``v`` on its offset diagonal (the adjoint of diagonal)."""
    v = gc.as_node(v)
    return bind("embed_diagonal", [v], {"shape": tuple(int(d) for d in shape), "offset": int(offset)},
                name=name)


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


def symmetrize(a, name=None) -> Node:
    """The symmetric matrix whose lower triangle (diagonal included) is ``a``'s: ``a``'s upper
    triangle is never read, as in ``np.linalg.eigh`` and ``cholesky``. Declares a symmetric input:
    products with it use BLAS's symmetric routines and ``symmetrize(a).T`` is the same node, so
    the gradient of ``x @ symmetrize(a) @ x`` needs one product, not two. Derivatives are those
    of the function of ``a`` this defines (the upper triangle's are zero)."""
    return bind("symmetrize", [_float_node(a)], name=name)


def inv(a, name=None) -> Node:
    """``np.linalg.inv`` of (..., n, n)."""
    return bind("inv", [_float_node(a)], name=name)


def solve(a, b, name=None) -> Node:
    """``np.linalg.solve`` (numpy >= 2 rules: a 1-d ``b`` is a single right-hand side)."""
    a, b = gc._promote(a, b, floating=True)
    return bind("solve", [a, b], name=name)


def det(a, name=None) -> Node:
    """``np.linalg.det``. Its derivative det(A)·A⁻ᵀ is computed with an LU solve."""
    return bind("det", [_float_node(a)], name=name)


def slogdet(a):
    """``np.linalg.slogdet``: (sign, log|det|), from one packed node."""
    packed = bind("slogdet", [_float_node(a)])
    return packed[..., 0], packed[..., 1]


def logdet(a, name=None) -> Node:
    """log det A: log|det A| where det A > 0, nan where it is negative, -inf where it is 0."""
    sign, logabs = slogdet(a)
    return gc.add(gc.log(sign), logabs, name=name)


def cholesky(a, name=None) -> Node:
    """``np.linalg.cholesky``: the lower factor L with A = L Lᵀ (reads A's lower triangle)."""
    return bind("cholesky", [_float_node(a)], name=name)


def eigh(a):
    """``np.linalg.eigh``: (ascending eigenvalues w, eigenvectors V as columns) of symmetric A.

    The derivative of V does not exist where eigenvalues repeat; there the rules give inf/nan.
    """
    packed = bind("eigh", [_float_node(a)])
    return packed[..., 0, :], packed[..., 1:, :]


def eigvalsh(a, name=None) -> Node:
    """``np.linalg.eigvalsh``: ascending eigenvalues of symmetric A (differentiable also where
    eigenvalues repeat only in symmetric functions of them)."""
    return bind("eigvalsh", [_float_node(a)], name=name)


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


def svdvals(a, name=None) -> Node:
    """The singular values, descending."""
    s = svd(a, compute_uv=False)
    return s if name is None else gc._rename(s, name)


_MATRIX_ORDS = (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def norm(x, ord=None, axis=None, keepdims: bool = False, name=None) -> Node:
    """``np.linalg.norm`` with numpy's ``ord`` and ``axis``: vector norms over one axis, matrix
    norms over two (Frobenius, nuclear, spectral, max column/row sums).

    The 2-norm and Frobenius norm are sqrt(sum x²): their gradient at x = 0 is nan (0/0), as in
    numpy's own formula; use ``gc.sum(x * x)`` for a norm squared that is smooth everywhere.
    """
    x = _float_node(x)
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
    return value if name is None else gc._rename(value, name)


def einsum(subscripts: str, *operands, name=None) -> Node:
    """``np.einsum`` with explicit output subscripts (``"ij,jk->ik"``)."""
    if not isinstance(subscripts, str):
        raise GraphTypeError(f"einsum subscripts must be a string, got {subscripts!r}")
    operands = gc._promote(*operands)
    return bind("einsum", operands, {"subscripts": subscripts.replace(" ", "")}, name=name)
