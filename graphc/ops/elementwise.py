"""Elementwise primitives: unary and binary math, comparisons, ``where``, ``cast``,
``stop_gradient``.

Each differentiable elementwise op gives one *linear map* per operand,
``lin(g, out, *operands) = g · ∂out/∂operand`` (elementwise). Because the Jacobian is diagonal the
same map is the VJP (followed by ``unbroadcast`` to the operand's shape) and the JVP (the tangent
pass broadcasts to the output's shape), so each derivative is written exactly once.
"""

from __future__ import annotations

import numpy as np

from .. import builder as gc
from ..dtypes import is_float
from ..errors import DTypeError
from .core import defop
from .rules import unbroadcast
from .shapes import broadcast_shapes, require_float, same_dtype


def _elementwise(name, lins, *, arity, float_only=True, result_dtype=None, doc=""):
    """Declare an elementwise op from its per-operand linear maps (None: zero derivative)."""

    def infer(*xs):
        dtype = same_dtype(*xs)
        if float_only:
            require_float(dtype)
        return broadcast_shapes(*xs), np.dtype(result_dtype) if result_dtype else dtype

    vjps, jvps = [], []
    for i, lin in enumerate(lins):
        if lin is None:
            vjps.append(None)
            jvps.append(None)
            continue
        vjps.append(lambda g, out, *xs, _lin=lin, _i=i: unbroadcast(_lin(g, out, *xs), xs[_i].shape))
        jvps.append(lambda t, out, *xs, _lin=lin: _lin(t, out, *xs))
    any_rule = any(lin is not None for lin in lins)
    defop(
        name,
        infer,
        vjp=vjps if any_rule else None,
        jvp=jvps if any_rule else None,
        arity=arity,
        category="elementwise",
        doc=doc,
    )


# --- unary --------------------------------------------------------------------------------------
# name            g · d out / d x                                        float only
UNARY = {
    "neg":      (lambda g, out, x: -g,                                    False),
    "exp":      (lambda g, out, x: g * out,                               True),
    "log":      (lambda g, out, x: g / x,                                 True),
    "log1p":    (lambda g, out, x: g / (x + 1.0),                         True),
    "expm1":    (lambda g, out, x: g * (out + 1.0),                       True),
    "sqrt":     (lambda g, out, x: g * 0.5 / out,                         True),
    "tanh":     (lambda g, out, x: g * (1.0 - out * out),                 True),
    "sigmoid":  (lambda g, out, x: g * (out * (1.0 - out)),               True),
    "sin":      (lambda g, out, x: g * gc.cos(x),                         True),
    "cos":      (lambda g, out, x: -(g * gc.sin(x)),                      True),
    "abs":      (lambda g, out, x: g * gc.sign(x),                        False),
    "sign":     (None,                                                    False),
}
for _name, (_lin, _float_only) in UNARY.items():
    _elementwise(_name, [_lin], arity=1, float_only=_float_only)


# --- binary -------------------------------------------------------------------------------------
def _max_mask(x, y, out):
    """1 where x wins, 0.5 at ties, 0 elsewhere (JAX's convention: split the gradient evenly)."""
    return gc.where(gc.equal(x, y), 0.5, gc.where(gc.equal(out, x), 1.0, 0.0))


def _pow_log(x):
    return gc.where(gc.equal(x, 0), 0.0, gc.log(gc.where(gc.equal(x, 0), 1.0, x)))


BINARY = {
    # name        g · d out / d x                              g · d out / d y                  float only
    "add":      (lambda g, o, x, y: g,                       lambda g, o, x, y: g,              False),
    "sub":      (lambda g, o, x, y: g,                       lambda g, o, x, y: -g,             False),
    "mul":      (lambda g, o, x, y: g * y,                   lambda g, o, x, y: g * x,          False),
    "div":      (lambda g, o, x, y: g / y,                   lambda g, o, x, y: -(g * o) / y,   True),
    "pow":      (lambda g, o, x, y: g * (y * x ** (y - 1.0)),
                 lambda g, o, x, y: g * (_pow_log(x) * o),                                      False),
    "maximum":  (lambda g, o, x, y: g * _max_mask(x, y, o),
                 lambda g, o, x, y: g * _max_mask(y, x, o),                                     False),
    "minimum":  (lambda g, o, x, y: g * _max_mask(x, y, o),
                 lambda g, o, x, y: g * _max_mask(y, x, o),                                     False),
}
for _name, (_dx, _dy, _float_only) in BINARY.items():
    _elementwise(_name, [_dx, _dy], arity=2, float_only=_float_only)

for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    _elementwise(_name, [None, None], arity=2, float_only=False, result_dtype=bool)


# --- where, cast, stop_gradient -----------------------------------------------------------------
def _infer_where(cond, x, y):
    if cond.dtype != np.dtype(bool):
        raise DTypeError(f"condition must be bool, got {cond.dtype}")
    return broadcast_shapes(cond, x, y), same_dtype(x, y)


defop(
    "where",
    _infer_where,
    vjp=[
        None,
        lambda g, out, c, x, y: unbroadcast(gc.where(c, g, 0.0), x.shape),
        lambda g, out, c, x, y: unbroadcast(gc.where(c, 0.0, g), y.shape),
    ],
    jvp=[None, lambda t, out, c, x, y: gc.where(c, t, 0.0), lambda t, out, c, x, y: gc.where(c, 0.0, t)],
    arity=3,
    category="elementwise",
)


def _infer_cast(x, dtype):
    from ..dtypes import as_dtype

    return x.shape, as_dtype(dtype)


defop(
    "cast",
    _infer_cast,
    vjp=[lambda g, out, x, dtype: gc.cast(g, x.dtype) if is_float(x.dtype) else None],
    jvp=[lambda t, out, x, dtype: gc.cast(t, out.dtype) if is_float(out.dtype) else None],
    category="elementwise",
)

defop("stop_gradient", lambda x: (x.shape, x.dtype), category="elementwise",
      doc="identity with a zero derivative")
