"""Reductions: ``sum``, ``max``, ``min`` over static axes (``mean`` and ``logsumexp`` are built
from these in the builder)."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .core import api as gc
from .core import bind
from .declare import defop
from .notation import POSTFIX, PREFIX, Expr, apply, axes_text
from .promotion import as_node, cast
from .rules import keepdims_shape, with_kept_axes
from .shapes import normalize_axes


def _infer_reduce(x, axes, keepdims, *, needs_elements=False):
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ShapeError(f"axis {a} is out of bounds for {x.type_string}")
    if needs_elements and any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"zero-size reduction over axes {axes} of {x.type_string} has no identity")
    if keepdims:
        return keepdims_shape(x.shape, axes), x.dtype
    return tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype


def _axes_sub(node) -> str:
    axes = node.attrs["axes"]
    return "" if len(axes) == node.inputs[0].ndim else axes_text(axes)


def sum(x, axis=None, keepdims: bool = False, name=None):  # noqa: A001 - numpy's name
    """``np.sum`` over ``axis`` (None, int or tuple), optionally keeping the reduced axes."""
    x = as_node(x)
    if x.dtype.kind in "bi" and x.dtype != np.dtype("int64"):  # numpy sums bool and int32 in int64
        x = cast(x, "int64")
    axes = normalize_axes(axis, x.ndim)
    return bind("sum", [x], {"axes": axes, "keepdims": bool(keepdims)}, name=name)


defop("sum", _infer_reduce, arity=1, category="reduction", api="sum", function=sum,
      vjp=[lambda g, out, x, axes, keepdims: gc.broadcast_to(with_kept_axes(g, x.shape, axes, keepdims),
                                                             x.shape)],
      jvp=[lambda t, out, x, axes, keepdims: gc.sum(t, axes, keepdims)],
      impl=lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
      formula=lambda node, a: Expr(f"Σ{_axes_sub(node)} {a.at(POSTFIX)}", PREFIX), _builtin=True)


def _extremum_mask(out, x, axes, keepdims):
    """Where x attains the extremum, divided by how many times it does (ties share evenly)."""
    hit = gc.cast(gc.equal(x, with_kept_axes(out, x.shape, axes, keepdims)), x.dtype)
    return hit / gc.sum(hit, axes, keepdims=True)


def _extremum(op, impl):
    def fn(x, axis=None, keepdims: bool = False, name=None):
        x = as_node(x)
        axes = normalize_axes(axis, x.ndim)
        return bind(op, [x], {"axes": axes, "keepdims": bool(keepdims)}, name=name)

    fn.__doc__ = f"``np.{op}`` over ``axis``; the gradient is shared evenly among tied {op}ima."
    defop(op, lambda x, axes, keepdims: _infer_reduce(x, axes, keepdims, needs_elements=True),
          arity=1, category="reduction", api=op, function=fn,
          vjp=[lambda g, out, x, axes, keepdims: with_kept_axes(g, x.shape, axes, keepdims)
               * _extremum_mask(out, x, axes, keepdims)],
          jvp=[lambda t, out, x, axes, keepdims: gc.sum(t * _extremum_mask(out, x, axes, keepdims),
                                                        axes, keepdims)],
          impl=lambda x, axes, keepdims: impl(x, axis=axes, keepdims=keepdims),
          formula=lambda node, a: apply(op + _axes_sub(node), a), _builtin=True)


_extremum("max", np.max)
_extremum("min", np.min)
