"""Linear algebra primitives. ``matmul`` follows numpy exactly (1-d operands are promoted and the
added axis removed; batch axes broadcast)."""

from __future__ import annotations

from .. import builder as gc
from ..errors import ShapeError
from .core import defop
from .rules import unbroadcast
from .shapes import same_dtype


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
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    batch = []
    for i in range(-max(len(batch_a), len(batch_b)), 0):
        da = batch_a[i] if -i <= len(batch_a) else 1
        db = batch_b[i] if -i <= len(batch_b) else 1
        if da != db and 1 not in (da, db):
            raise ShapeError(
                f"batch axes of {a.type_string} and {b.type_string} cannot be broadcast together"
            )
        batch.append(db if da == 1 else da)
    rows = (a.shape[-2],) if a.ndim >= 2 else ()
    cols = (b.shape[-1],) if b.ndim >= 2 else ()
    return tuple(batch) + rows + cols, dtype


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


defop(
    "matmul",
    _infer_matmul,
    vjp=[_matmul_vjp_a, _matmul_vjp_b],
    jvp=[lambda t, out, a, b: gc.matmul(t, b), lambda t, out, a, b: gc.matmul(a, t)],
    arity=2,
    category="linalg",
)
