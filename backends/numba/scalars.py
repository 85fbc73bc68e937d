"""Scalar code of the numba backend: how generated code spells dtypes and literals, the scalar
expression of each elementwise op at one index, and the accumulator update of each reduction.

* ``ELEMENTWISE``: ``fn(node, operand_exprs) -> str``, a scalar expression; fused loops evaluate
  these at one index, so a chain of them becomes one line each in one loop body;
* ``REDUCTIONS``: ``(init(dtype) -> literal, update(acc, value, dtype) -> statement)``.

This module is the bottom layer of the backend: views, statements and the code generator read
it, and it reads none of them.
"""

from __future__ import annotations

import re

import numpy as np

# ----------------------------------------------------------------------------------------------
# Literals and dtypes as they are spelled in generated code

NP_TYPE = {
    np.dtype("float64"): "np.float64",
    np.dtype("float32"): "np.float32",
    np.dtype("int64"): "np.int64",
    np.dtype("int32"): "np.int32",
    np.dtype("bool"): "np.bool_",
}


def literal(value, dtype) -> str:
    """``value`` as a literal numba types as ``dtype`` (float32 stays float32, ints keep width)."""
    dtype = np.dtype(dtype)
    if dtype == np.dtype(bool):
        return "True" if bool(value) else "False"
    if dtype.kind == "f":
        v = float(value)
        if np.isnan(v):
            text = "np.nan"
        elif np.isinf(v):
            text = "np.inf" if v > 0 else "(-np.inf)"
        else:
            text = repr(v) if v >= 0 else f"({v!r})"
        return text if dtype == np.dtype("float64") else f"np.float32({text})"
    v = int(value)
    text = repr(v) if v >= 0 else f"({v})"
    return text if dtype == np.dtype("int64") else f"{NP_TYPE[dtype]}({text})"


# ----------------------------------------------------------------------------------------------
# Elementwise: scalar expression templates


def _call(fn):
    return lambda n, a: f"{fn}({', '.join(a)})"


def _infix(op):
    return lambda n, a: f"({a[0]} {op} {a[1]})"


def _sigmoid(n, a):
    one = literal(1.0, n.dtype)
    return f"({one} / ({one} + math.exp(-{a[0]})))"


def _cast(n, a):
    if n.dtype == np.dtype(bool):
        return f"({a[0]} != 0)"
    return f"{NP_TYPE[n.dtype]}({a[0]})"


def _maximum(n, a):  # numpy's NaN propagation (the builtin max does not propagate NaN)
    return f"({a[0]} if ({a[0]} > {a[1]} or {a[0]} != {a[0]}) else {a[1]})"


def _minimum(n, a):
    return f"({a[0]} if ({a[0]} < {a[1]} or {a[0]} != {a[0]}) else {a[1]})"


def _pow(n, a):
    """A small integral constant exponent becomes an integer power, which numba expands into
    multiplications instead of calling pow()."""
    v = _literal_value(a[1])
    if v is not None and n.dtype.kind == "f" and v.is_integer() and abs(v) <= 8:
        return f"({a[0]} ** {int(v)})"
    return f"({a[0]} ** {a[1]})"


def _literal_value(text: str) -> float | None:
    """The number a float literal of :func:`literal` spells, or None for any other expression."""
    match = re.fullmatch(r"(?:np\.float32)?\(?\(?(-?[0-9.e+-]+)\)?\)?", text)
    try:
        return float(match.group(1)) if match else None
    except ValueError:
        return None


def _sign(n, a):
    one = literal(1, n.dtype)
    return f"({one} if {a[0]} > 0 else ((-{one}) if {a[0]} < 0 else {a[0]}))"


# The ops with syntax or code of their own. Every other elementwise op is lowered from its
# declaration's scalar function (math.exp -> "math.exp(x)": :mod:`.lowering`). math.* and
# operators, not np.* ufuncs: numba lowers them straight to LLVM intrinsics, which compiles
# several times faster than its ufunc machinery, keeps float32 and never raises
# (error_model="numpy": 1/0 is inf, log(0) is -inf, sqrt(-1) is nan, as in numpy).
ELEMENTWISE = {
    "neg": lambda n, a: f"(-{a[0]})",
    "tanh": _call("tanh"),  # the generated module's helper (see backend.HEADER)
    "sigmoid": _sigmoid,
    "abs": _call("abs"),
    "sign": _sign,
    "add": _infix("+"),
    "sub": _infix("-"),
    "mul": _infix("*"),
    "div": _infix("/"),
    "mod": _infix("%"),  # Python's sign rule, numpy's too
    "floordiv": _infix("//"),
    "pow": _pow,
    "maximum": _maximum,
    "minimum": _minimum,
    "lt": _infix("<"),
    "le": _infix("<="),
    "gt": _infix(">"),
    "ge": _infix(">="),
    "eq": _infix("=="),
    "ne": _infix("!="),
    "where": lambda n, a: f"({a[1]} if {a[0]} else {a[2]})",
    "cast": _cast,
}


# ----------------------------------------------------------------------------------------------
# Reductions: the identity and the update of an accumulator


def _extreme(dtype, sign):
    dtype = np.dtype(dtype)
    if dtype == np.dtype(bool):
        return literal(sign < 0, dtype)
    if dtype.kind == "f":
        return literal(sign * -np.inf, dtype)
    info = np.iinfo(dtype)
    return literal(info.min if sign > 0 else info.max, dtype)


def _sum_update(acc, value, dtype):
    return f"{acc} |= {value}" if np.dtype(dtype) == np.dtype(bool) else f"{acc} += {value}"


def _extreme_update(compare):
    # keeps NaN once seen, like np.max: a NaN value wins, and nothing beats a NaN accumulator
    return lambda acc, v, dt: f"{acc} = {v} if ({v} {compare} {acc} or {v} != {v}) else {acc}"


REDUCTIONS = {
    "sum": (lambda dt: literal(0, dt), _sum_update),
    "max": (lambda dt: _extreme(dt, 1), _extreme_update(">")),
    "min": (lambda dt: _extreme(dt, -1), _extreme_update("<")),
}


