"""Elementwise primitives: unary and binary math, comparisons, ``where``, ``cast``,
``stop_gradient``; one row of a table each.

A row is the op's whole meaning (see :func:`graphc.ops.declare.defop`): its numpy name, its
*derivative* ``g · ∂out/∂operand`` per operand (the Jacobian is diagonal, so the same map is the
VJP, summed back to the operand's shape, and the JVP), the numpy implementation, the scalar
function the numba backend calls in its fused loops (only ops with syntax of their own, such as
``+``, have a lowering in the backend), the formula pictures show, the dtypes it takes and flags
for rewrites. The builder function (``gc.exp``) is generated from the row.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..dtypes import SHORT_NAMES, as_dtype, is_float
from ..errors import DTypeError
from .core import api as gc
from .core import bind
from .declare import defop
from .notation import COMPARE, POSTFIX, PRODUCT, SUM, Expr, call, div, infix, mul, prefix, superscript
from .promotion import as_node, cast, promote
from .rules import unbroadcast
from .shapes import broadcast_shapes, same_dtype


def _sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| never overflows, and e / (1 + e) keeps full
    relative precision for negative x (scipy.special.expit's accuracy; importing scipy.special
    took 130 ms of every process's first compile)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf(x):
    """scipy.special.erf (numpy has none), imported when first used: scipy.special is 130 ms of
    imports that a process without erf never pays."""
    from scipy.special import erf

    return erf(x)


def _sigmoid_scalar(x):
    return 1.0 / (1.0 + math.exp(-x))


def _sign_scalar(x):
    return (x > 0) - (x < 0) if x == x else x


def _maximum_scalar(x, y):  # numpy's: NaN wins
    return x if (x > y or x != x) else y


def _minimum_scalar(x, y):
    return x if (x < y or x != x) else y


def _mul_formula(node, a, b):
    if node.inputs[0] is node.inputs[1]:
        return Expr(f"{a.at(POSTFIX + 1)}²", POSTFIX)
    return mul(a, b)


def _pow_formula(node, a, b):
    exponent = node.inputs[1]
    if exponent.op == "constant" and exponent.value.ndim == 0 and float(exponent.value).is_integer():
        return Expr(f"{a.at(POSTFIX + 1)}{superscript(int(exponent.value))}", POSTFIX)
    return Expr(f"{a.at(POSTFIX + 1)}^{b.at(POSTFIX + 1)}", POSTFIX)


def _compare(symbol):
    return lambda node, a, b: Expr(f"{a.at(COMPARE + 1)} {symbol} {b.at(COMPARE + 1)}", COMPARE)


def unary(name, derivative, impl, scalar, formula, *, api=None, dtypes="float", flags=(), doc=""):
    return defop(name, derivative=[derivative] if derivative else None, elementwise=True, arity=1,
                 impl=impl, scalar=scalar, formula=formula, dtypes=dtypes, flags=flags, doc=doc,
                 api=api or name, _builtin=True)


def binary(name, derivatives, impl, scalar, formula, *, api, dtypes="number", result_dtype=None,
           flags=(), doc=""):
    return defop(name, derivative=list(derivatives) if any(derivatives) else None, elementwise=True,
                 arity=2, impl=impl, scalar=scalar, formula=formula, dtypes=dtypes,
                 result_dtype=result_dtype, flags=flags, doc=doc, api=api, _builtin=True)


T = ("transcendental",)

# --- unary ---------------------------------------------------------------------------------------
# name       g · d out / d x                        numpy        scalar          formula
unary("neg",     lambda g, out, x: -g,              np.negative, operator.neg,   prefix("−"),
      api="negative", dtypes="number", doc="Elementwise ``-x`` (not of booleans, as in numpy).")
unary("exp",     lambda g, out, x: g * out,         np.exp,      math.exp,       call("exp"),
      flags=T + ("nonnegative",))
unary("log",     lambda g, out, x: g / x,           np.log,      math.log,       call("ln"), flags=T)
unary("log1p",   lambda g, out, x: g / (x + 1.0),   np.log1p,    math.log1p,
      lambda node, a: Expr(f"ln(1 + {a.text})", POSTFIX), flags=T)
unary("expm1",   lambda g, out, x: g * (out + 1.0), np.expm1,    math.expm1,
      lambda node, a: Expr(f"exp({a.text}) − 1", SUM), flags=T)
unary("sqrt",    lambda g, out, x: g * 0.5 / out,   np.sqrt,     math.sqrt,
      lambda node, a: Expr(f"√{a.at(POSTFIX)}", POSTFIX), flags=("nonnegative",))
unary("tanh",    lambda g, out, x: g * (1.0 - out * out), np.tanh, math.tanh,   call("tanh"), flags=T)
unary("sigmoid", lambda g, out, x: g * (out * (1.0 - out)), _sigmoid, _sigmoid_scalar, call("σ"),
      flags=T + ("nonnegative",),
      doc="The logistic function 1 / (1 + exp(-x)), computed without overflow.")
unary("sin",     lambda g, out, x: g * gc.cos(x),   np.sin,      math.sin,       call("sin"), flags=T)
unary("cos",     lambda g, out, x: -(g * gc.sin(x)), np.cos,     math.cos,       call("cos"), flags=T)
unary("arctan",  lambda g, out, x: g / (x * x + 1.0), np.arctan, math.atan,     call("arctan"), flags=T)
unary("arcsin",  lambda g, out, x: g / gc.sqrt(1.0 - x * x), np.arcsin, math.asin, call("arcsin"), flags=T)
unary("arccos",  lambda g, out, x: -g / gc.sqrt(1.0 - x * x), np.arccos, math.acos, call("arccos"),
      flags=T + ("nonnegative",))
unary("sinh",    lambda g, out, x: g * gc.cosh(x),  np.sinh,     math.sinh,      call("sinh"), flags=T)
unary("cosh",    lambda g, out, x: g * gc.sinh(x),  np.cosh,     math.cosh,      call("cosh"),
      flags=T + ("nonnegative",))
unary("erf",     lambda g, out, x: g * (2.0 / math.sqrt(math.pi)) * gc.exp(-(x * x)), _erf, math.erf,
      call("erf"), flags=T, doc="The error function, (2/√π) ∫₀ˣ e^(−t²) dt.")
unary("abs",     lambda g, out, x: g * gc.sign(x),  np.abs,      abs,
      lambda node, a: Expr(f"|{a.text}|"), dtypes="any", flags=("nonnegative",),
      doc="Elementwise ``|x|`` (its derivative at 0 is taken as 0, like JAX).")
unary("sign",    None,                              np.sign,     _sign_scalar,   call("sign"),
      dtypes="number", doc="Elementwise sign; its derivative is zero.")


# --- binary --------------------------------------------------------------------------------------
def _max_mask(x, y, out):
    """1 where x wins, 0.5 at ties, 0 elsewhere (JAX's convention: split the gradient evenly)."""
    half, one, zero = (gc.constant(np.asarray(v, out.dtype)) for v in (0.5, 1.0, 0.0))  # float32 stays
    return gc.where(gc.equal(x, y), half, gc.where(gc.equal(out, x), one, zero))


def _pow_log(x):
    return gc.where(gc.equal(x, 0), 0.0, gc.log(gc.where(gc.equal(x, 0), 1.0, x)))


C = ("commutative",)

# name        (g · d out / d x,                     g · d out / d y)                  numpy
binary("add", (lambda g, o, x, y: g,                lambda g, o, x, y: g),            np.add,
       operator.add, infix("+", SUM, associative=True), api="add", dtypes="any", flags=C)
binary("sub", (lambda g, o, x, y: g,                lambda g, o, x, y: -g),           np.subtract,
       operator.sub, infix("−", SUM), api="subtract")
binary("mul", (lambda g, o, x, y: g * y,            lambda g, o, x, y: g * x),        np.multiply,
       operator.mul, _mul_formula, api="multiply", dtypes="any", flags=C)
binary("div", (lambda g, o, x, y: g / y,            lambda g, o, x, y: -(g * o) / y), np.divide,
       operator.truediv, lambda node, a, b: div(a, b), api="divide", dtypes="float",
       doc="True division ``x / y`` (integers give float64).")
binary("pow", (lambda g, o, x, y: g * (y * x ** (y - 1.0)),
               lambda g, o, x, y: g * (_pow_log(x) * o)),                             np.power,
       operator.pow, _pow_formula, api="power", flags=T,
       doc="``x ** y``; the derivative in y uses log(x) and is 0 where x == 0.")
binary("maximum", (lambda g, o, x, y: g * _max_mask(x, y, o),
                   lambda g, o, x, y: g * _max_mask(y, x, o)),                        np.maximum,
       _maximum_scalar, call("max"), api="maximum", dtypes="any", flags=C,
       doc="Elementwise maximum; at ties the gradient is split evenly.")
binary("minimum", (lambda g, o, x, y: g * _max_mask(x, y, o),
                   lambda g, o, x, y: g * _max_mask(y, x, o)),                        np.minimum,
       _minimum_scalar, call("min"), api="minimum", dtypes="any", flags=C,
       doc="Elementwise minimum; at ties the gradient is split evenly.")

binary("mod", (lambda g, o, x, y: g,                lambda g, o, x, y: g * ((o - x) / y)),  np.remainder,
       operator.mod, infix("mod", PRODUCT), api="remainder",
       doc="``x % y`` with numpy's (and Python's) sign rule: the result has the sign of y. Its "
           "derivative is 1 in x and −floor(x / y) in y (where it is defined).")
binary("floordiv", (None, None),                                                      np.floor_divide,
       operator.floordiv, infix("div", PRODUCT), api="floor_divide",
       doc="``x // y``, rounded towards minus infinity; piecewise constant: its derivative is zero.")

# comparisons: boolean results, no derivative
for _name, _api, _np, _py, _symbol, _flags in (
        ("lt", "less", np.less, operator.lt, "<", ()),
        ("le", "less_equal", np.less_equal, operator.le, "≤", ()),
        ("gt", "greater", np.greater, operator.gt, ">", ()),
        ("ge", "greater_equal", np.greater_equal, operator.ge, "≥", ()),
        ("eq", "equal", np.equal, operator.eq, "=", C),
        ("ne", "not_equal", np.not_equal, operator.ne, "≠", C)):
    binary(_name, (None, None), _np, _py, _compare(_symbol), api=_api, dtypes="any", result_dtype=bool,
           flags=_flags, doc=f"Elementwise ``np.{_api}`` (a boolean result).")


# --- where, cast, stop_gradient ------------------------------------------------------------------
def _infer_where(cond, x, y):
    if cond.dtype != np.dtype(bool):
        raise DTypeError(f"condition must be bool, got {cond.dtype}")
    return broadcast_shapes(cond, x, y), same_dtype(x, y)


def where(condition, x, y, name=None):
    """``np.where(condition, x, y)`` with broadcasting; the gradient flows to the chosen branch."""
    condition = as_node(condition)
    if condition.dtype != np.dtype(bool):
        condition = gc.not_equal(condition, 0)
    x, y = promote(x, y)
    return bind("where", [condition, x, y], name=name)


def _splat(node, value) -> bool:
    return node.op == "constant" and node.value.size == 1 and node.value.flat[0] == value


def _where_formula(node, c, a, b):
    """``[c]`` (Iverson's bracket) for where(c, 1, 0), the indicator derivative rules build."""
    if _splat(node.inputs[1], 1) and _splat(node.inputs[2], 0):
        return Expr(f"[{c.text}]")
    return call("where")(node, c, a, b)


def _cast_formula(node, a):
    if node.inputs[0].dtype == np.dtype(bool):
        return Expr(f"[{a.text}]")  # a condition as a number: 1 where it holds
    return call(SHORT_NAMES.get(node.dtype, str(node.dtype)))(node, a)


defop("where", _infer_where, arity=3, category="elementwise", api="where", function=where,
      vjp=[None,
           lambda g, out, c, x, y: unbroadcast(gc.where(c, g, 0.0), x.shape),
           lambda g, out, c, x, y: unbroadcast(gc.where(c, 0.0, g), y.shape)],
      jvp=[None, lambda t, out, c, x, y: gc.where(c, t, 0.0), lambda t, out, c, x, y: gc.where(c, 0.0, t)],
      impl=np.where, scalar=lambda c, x, y: x if c else y, formula=_where_formula, _builtin=True)


def _infer_cast(x, dtype):
    return x.shape, as_dtype(dtype)


defop("cast", _infer_cast, arity=1, category="elementwise", api="cast", function=cast,
      vjp=[lambda g, out, x, dtype: gc.cast(g, x.dtype) if is_float(x.dtype) else None],
      jvp=[lambda t, out, x, dtype: gc.cast(t, out.dtype) if is_float(out.dtype) else None],
      impl=lambda x, dtype: np.asarray(x).astype(dtype),
      formula=_cast_formula, _builtin=True)


def stop_gradient(x, name=None):
    """The identity whose derivative is zero: what passes through is treated as a constant."""
    return bind("stop_gradient", [as_node(x)], name=name)


defop("stop_gradient", lambda x: (x.shape, x.dtype), arity=1, category="elementwise", api="stop_gradient",
      function=stop_gradient, impl=lambda x: x, scalar=lambda x: x, formula=call("sg"),
      doc="identity with a zero derivative", _builtin=True)
