"""Running totals along an axis: ``cumsum``, ``cumprod`` and the first-order linear recurrence
``y_i = a_i y_(i-1) + b_i`` they are differentiated with; ``argmax`` and ``argmin``.

``cumsum`` is linear: its VJP is the cumulative sum run the other way. ``cumprod``'s derivative
is written without dividing by the entries (the textbook ``cumsum(g·y)/x`` is 0/0 at a zero):
∂y_j/∂x_i = (x_0 ⋯ x_(i-1)) (x_(i+1) ⋯ x_j) for j >= i, so its VJP is the exclusive product up
to i times r_i, where r_i = g_i + x_(i+1) r_(i+1) runs backwards, and its JVP is
ẏ_i = x_i ẏ_(i-1) + ẋ_i y_(i-1): both linear recurrences. The recurrence's own derivatives
are recurrences again, so gradients of gradients and HVPs through them work.
"""

from __future__ import annotations

import numpy as np

from ..context import where
from ..errors import DTypeError, GraphTypeError, ShapeError
from .core import api as gc
from .core import bind, current_meta
from .declare import defop
from .notation import call
from .promotion import as_node, promote
from .shapes import normalize_axis


def _axis_of(x, axis, what):
    if x.ndim == 0:
        raise ShapeError(f"{what}: needs an array with an axis, got {x.type_string}{where(current_meta())}")
    return normalize_axis(axis, x.ndim)


def _flip(x, axis):
    return np.flip(x, axis) if x.shape[axis] else x


def _shifted(x, axis, fill, reverse: bool):
    """x moved one place along ``axis`` (towards the end; towards the start when ``reverse``),
    ``fill`` in the place it leaves."""
    n = x.shape[axis]
    if n == 0:
        return x
    edge = gc.broadcast_to(gc.cast(fill, x.dtype), x.shape[:axis] + (1,) + x.shape[axis + 1:])
    keep = x[(slice(None),) * axis + (slice(1, None) if reverse else slice(0, n - 1),)]
    return gc.concatenate([keep, edge] if reverse else [edge, keep], axis=axis)


# --- cumsum ------------------------------------------------------------------------------------------


def _infer_same(x, axis, reverse):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of bounds for {x.type_string}")
    return x.shape, x.dtype


def cumsum(x, axis: int = 0, reverse: bool = False, name=None):
    """``np.cumsum`` along ``axis`` (``reverse=True``: from the end, each entry the sum of it and
    those after it)."""
    x = as_node(x)
    if x.dtype.kind == "b":
        x = gc.cast(x, np.int64)
    return bind("cumsum", [x], {"axis": _axis_of(x, axis, "cumsum"), "reverse": bool(reverse)}, name=name)


def _cumsum_impl(x, axis, reverse):
    return _flip(np.cumsum(_flip(x, axis), axis=axis), axis) if reverse else np.cumsum(x, axis=axis)


defop("cumsum", _infer_same, arity=1, category="other", api="cumsum", function=cumsum,
      vjp=[lambda g, out, x, axis, reverse: gc.cumsum(g, axis, not reverse)],
      jvp=[lambda t, out, x, axis, reverse: gc.cumsum(t, axis, reverse)],
      impl=_cumsum_impl, formula=call("cumsum"), _builtin=True)


# --- linear recurrence ---------------------------------------------------------------------------------


def _infer_recurrence(a, b, axis, reverse):
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ShapeError(f"a and b must have one type, got {a.type_string} and {b.type_string}")
    if a.dtype.kind != "f":
        raise DTypeError(f"needs float operands, got {a.type_string}")
    return _infer_same(a, axis, reverse)


def linear_recurrence(a, b, axis: int = 0, reverse: bool = False, name=None):
    """y with ``y_i = a_i y_(i-1) + b_i`` along ``axis`` from y_(-1) = 0 (``reverse=True``:
    ``y_i = a_i y_(i+1) + b_i`` from the end): a first-order IIR filter, a discounted return,
    the derivative of ``cumprod``."""
    a, b = promote(as_node(a), as_node(b))
    if a.dtype.kind != "f":
        a, b = gc.cast(a, np.float64), gc.cast(b, np.float64)
    if a.shape != b.shape:
        shape = np.broadcast_shapes(a.shape, b.shape)
        a, b = gc.broadcast_to(a, shape), gc.broadcast_to(b, shape)
    axis = _axis_of(a, axis, "linear_recurrence")
    return bind("linear_recurrence", [a, b], {"axis": axis, "reverse": bool(reverse)}, name=name)


def _recurrence_impl(a, b, axis, reverse):
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    out = np.empty(b.shape, b.dtype)
    steps = range(b.shape[0] - 1, -1, -1) if reverse else range(b.shape[0])
    previous = np.zeros(b.shape[1:], b.dtype)
    for i in steps:
        previous = a[i] * previous + b[i]
        out[i] = previous
    return np.moveaxis(out, 0, axis)


def _recurrence_vjp(g, out, a, b, axis, reverse):
    """λ_i = ȳ_i + a_(i+1) λ_(i+1) (the recurrence run the other way, a shifted), b̄ = λ,
    ā_i = λ_i y_(i-1)."""
    later = _shifted(a, axis, 0.0, reverse=not reverse)  # a_(i+1) at i (a_(i-1) when reverse)
    lam = gc.linear_recurrence(later, g, axis, not reverse)
    before = _shifted(out, axis, 0.0, reverse=reverse)  # y_(i-1) (y_(i+1) when reverse)
    return [lam * before, lam]


def _recurrence_jvp(tangents, out, a, b, axis, reverse):
    ta, tb = tangents
    drive = None
    if ta is not None:
        drive = ta * _shifted(out, axis, 0.0, reverse=reverse)
    if tb is not None:
        drive = tb if drive is None else drive + tb
    return gc.linear_recurrence(a, drive, axis, reverse)


defop("linear_recurrence", _infer_recurrence, arity=2, category="other", api="linear_recurrence",
      function=linear_recurrence, vjp_joint=_recurrence_vjp, jvp_joint=_recurrence_jvp,
      impl=_recurrence_impl, formula=call("recurrence"), _builtin=True)


# --- cumprod -------------------------------------------------------------------------------------------


def cumprod(x, axis: int = 0, name=None):
    """``np.cumprod`` along ``axis``; its derivative is exact also where entries are zero."""
    x = as_node(x)
    if x.dtype.kind == "b":
        x = gc.cast(x, np.int64)
    return bind("cumprod", [x], {"axis": _axis_of(x, axis, "cumprod")}, name=name)


def _infer_cumprod(x, axis):
    return _infer_same(x, axis, False)


def _cumprod_vjp(g, out, x, axis):
    exclusive = _shifted(out, axis, 1.0, reverse=False)  # x_0 ⋯ x_(i-1)
    later = _shifted(x, axis, 0.0, reverse=True)  # x_(i+1)
    return exclusive * gc.linear_recurrence(later, g, axis, reverse=True)


def _cumprod_jvp(t, out, x, axis):
    return gc.linear_recurrence(x, t * _shifted(out, axis, 1.0, reverse=False), axis, False)


defop("cumprod", _infer_cumprod, arity=1, category="other", api="cumprod", function=cumprod,
      vjp=[_cumprod_vjp], jvp=[_cumprod_jvp],
      impl=lambda x, axis: np.cumprod(x, axis=axis), formula=call("cumprod"), _builtin=True)


# --- argmax, argmin ------------------------------------------------------------------------------------


def _infer_arg(x, axis, keepdims):
    if x.size == 0:
        raise ShapeError(f"attempt to get the arg-extremum of an empty array {x.type_string}")
    if axis is None:
        return ((1,) * x.ndim if keepdims else ()), np.dtype(np.int64)
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of bounds for {x.type_string}")
    shape = tuple(1 if d == axis else n for d, n in enumerate(x.shape)) if keepdims else \
        x.shape[:axis] + x.shape[axis + 1:]
    return shape, np.dtype(np.int64)


def _arg(op: str, fn):
    def build(x, axis=None, keepdims: bool = False, name=None):
        x = as_node(x)
        if axis is not None:
            if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
                raise GraphTypeError(f"{op}: axis must be an int or None, got {axis!r}")
            axis = _axis_of(x, int(axis), op)
        return bind(op, [x], {"axis": axis, "keepdims": bool(keepdims)}, name=name)

    build.__name__ = op
    extreme = "largest" if op == "argmax" else "smallest"
    build.__doc__ = (f"``np.{op}``: the int64 index of the first {extreme} "
                     f"entry (over the flattened array when ``axis`` is None; NaN counts as extreme, as in "
                     f"numpy). It has no derivative: an integer result.")

    def impl(x, axis, keepdims):
        return np.asarray(fn(x, axis=axis, keepdims=keepdims), dtype=np.int64)

    defop(op, _infer_arg, arity=1, category="reduction", api=op, function=build, impl=impl,
          formula=call(op), _builtin=True)
    return build


argmax = _arg("argmax", np.argmax)
argmin = _arg("argmin", np.argmin)
