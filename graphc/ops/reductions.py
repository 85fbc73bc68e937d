"""Reductions: ``sum``, ``max``, ``min`` over static axes (``mean`` and ``logsumexp`` are built
from these in the builder)."""

from __future__ import annotations

import numpy as np

from .. import builder as gc
from ..errors import ShapeError
from .core import defop
from .rules import keepdims_shape, with_kept_axes


def _infer_reduce(x, axes, keepdims, *, needs_elements=False):
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ShapeError(f"axis {a} is out of bounds for {x.type_string}")
    if needs_elements and any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"zero-size reduction over axes {axes} of {x.type_string} has no identity")
    if keepdims:
        return keepdims_shape(x.shape, axes), x.dtype
    return tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype


defop(
    "sum",
    _infer_reduce,
    vjp=[lambda g, out, x, axes, keepdims: gc.broadcast_to(
        with_kept_axes(g, x.shape, axes, keepdims), x.shape)],
    jvp=[lambda t, out, x, axes, keepdims: gc.sum(t, axes, keepdims)],
    category="reduction",
)


def _extremum_mask(out, x, axes, keepdims):
    """Where x attains the extremum, divided by how many times it does (ties share evenly)."""
    hit = gc.cast(gc.equal(x, with_kept_axes(out, x.shape, axes, keepdims)), x.dtype)
    return hit / gc.sum(hit, axes, keepdims=True)


for _op in ("max", "min"):
    defop(
        _op,
        lambda x, axes, keepdims: _infer_reduce(x, axes, keepdims, needs_elements=True),
        vjp=[lambda g, out, x, axes, keepdims: with_kept_axes(g, x.shape, axes, keepdims)
             * _extremum_mask(out, x, axes, keepdims)],
        jvp=[lambda t, out, x, axes, keepdims: gc.sum(
            t * _extremum_mask(out, x, axes, keepdims), axes, keepdims)],
        category="reduction",
    )

del np
