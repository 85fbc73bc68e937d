"""``defop``: declare a primitive op, once, with everything about it (graphc's own ops and users').

A declaration gives the op's shape/dtype rule, its derivative rules, its numpy implementation,
what the numba backend needs when it has no lowering of its own for the op, the formula pictures
show, and flags for rewrites (see :mod:`graphc.ops.core`). It returns the :class:`Primitive`,
which is also the op's builder function: ``y = op(x)``. Two shapes of declaration:

* **elementwise** (``elementwise=True``): the shape rule is numpy broadcasting, the dtype rule
  ``dtypes`` (``"float"``: integers are computed in float64, like ``np.exp``; ``"number"``: any
  numeric dtype, kept; ``"any"``), and one *derivative* per operand,
  ``derivative(g, out, *operands) = g · ∂out/∂operand``, serves both modes (the Jacobian is
  diagonal): the VJP is it summed back to the operand's shape, the JVP is it. The numba backend
  calls ``scalar``, a scalar function numba can compile, at each index of its fused loops;
* **general**: ``infer(*operands, **attrs) -> (shape, dtype)``, ``vjp``/``jvp`` rules per
  operand, and for the numba backend ``numba``, an array function numba can compile.

Rules are written with graphc's builder functions (``gc.sigmoid(x) * g``), so a gradient of a
gradient, an HVP or a Taylor expansion through the op just works. Bad declarations fail here, with
:class:`DeclarationError` or :class:`GraphTypeError` naming what is wrong.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
import re
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DeclarationError, GraphTypeError
from .core import CATEGORIES, FLAGS, Primitive, bind, register
from .notation import as_formula, call
from .promotion import as_node, promote
from .rules import unbroadcast
from .shapes import broadcast_shapes, require_float, same_dtype

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
DTYPE_RULES = ("float", "number", "any")


def defop(
    name: str,
    infer: Callable | None = None,
    *,
    impl: Callable | None = None,
    vjp=None,
    jvp=None,
    jvp_joint: Callable | None = None,
    vjp_joint: Callable | None = None,
    multiple_results: bool = False,
    derivative=None,
    elementwise: bool = False,
    dtypes: str = "float",
    result_dtype=None,
    scalar: Callable | None = None,
    numba: Callable | None = None,
    formula=None,
    flags: Sequence[str] = (),
    arity: int | None | str = "infer",
    category: str | None = None,
    doc: str = "",
    function: Callable | None = None,
    api: str | None = None,
    replace: bool = False,
    _builtin: bool = False,
) -> Primitive:
    """Declare the primitive ``name`` (see the module docstring) and return it; it builds nodes
    when called: ``op(x, y, **attrs)``.

    ``vjp`` / ``jvp``: a rule, or a sequence of one rule (or None) per operand. ``derivative``: the
    same for an elementwise op's ``g · ∂out/∂operand``. ``formula``: a template such as
    ``"ln(1 + e^{0})"`` or a function ``(node, *exprs) -> Expr``. ``flags``: names from
    :data:`graphc.ops.core.FLAGS`. ``replace=True`` declares a name again (a re-run notebook cell).
    """
    _check_name(name, _builtin)
    if elementwise or derivative is not None:
        elementwise = True
        category = category or "elementwise"
        if category != "elementwise":
            raise DeclarationError(f"op {name!r}: an elementwise op has category 'elementwise', got "
                                   f"{category!r}")
    category = category or "other"
    if category not in CATEGORIES:
        raise DeclarationError(f"op {name!r}: unknown category {category!r}; expected one of {CATEGORIES}")
    arity = _arity(name, arity, derivative, impl, infer, elementwise)
    if elementwise:
        if infer is not None or vjp is not None or jvp is not None:
            raise DeclarationError(f"op {name!r}: an elementwise op takes derivative=, not infer=/vjp=/jvp= "
                                   "(its shape rule is broadcasting, one derivative serves both modes)")
        if dtypes not in DTYPE_RULES:
            raise DeclarationError(f"op {name!r}: dtypes must be one of {DTYPE_RULES}, got {dtypes!r}")
        lins = _per_operand(name, "derivative", derivative, arity)
        infer = _broadcast_rule(dtypes, result_dtype)
        vjp, jvp = _elementwise_rules(name, lins, _builtin)
        if function is None:
            function = _elementwise_function(name, arity, dtypes == "float")
    else:
        if infer is None:
            raise DeclarationError(f"op {name!r}: declare its shape/dtype rule, infer(*operands, **attrs) -> "
                                   "(shape, dtype), or elementwise=True")
        _callable(name, "infer", infer)
        vjp = _per_operand(name, "vjp", vjp, arity)
        jvp = _per_operand(name, "jvp", jvp, arity)
        if scalar is not None and category != "elementwise":
            raise DeclarationError(f"op {name!r}: scalar= is the numba lowering of an elementwise op; "
                                   "give an array function as numba= for this one")
        if function is None and category not in ("source", "call"):
            function = _general_function(name)
    for what, fn in (("impl", impl), ("scalar", scalar), ("numba", numba), ("jvp_joint", jvp_joint),
                     ("vjp_joint", vjp_joint)):
        if fn is not None:
            _callable(name, what, fn)
    if impl is None and not _builtin:
        raise DeclarationError(f"op {name!r}: declare its numpy implementation, impl(*arrays, **attrs) -> "
                               "array (the reference backend runs it)")
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise DeclarationError(f"op {name!r}: unknown flag(s) {unknown}; known flags: {sorted(FLAGS)}")
    try:
        formula = as_formula(formula)
    except TypeError as exc:
        raise GraphTypeError(f"op {name!r}: {exc}") from None
    if formula is None and not _builtin:
        formula = call(name.rpartition(".")[2])
    if function is not None and api:
        function.__name__ = function.__qualname__ = api
    prim = Primitive(
        name, infer, vjp, jvp, arity, category, doc or (function.__doc__ or "" if function else ""),
        jvp_joint=jvp_joint, impl=impl, scalar=scalar, numba=numba, formula=formula,
        flags=frozenset(flags), function=function, api=api, builtin=_builtin,
        version=_version(impl, scalar, numba), multiple_results=multiple_results, vjp_joint=vjp_joint,
    )
    if function is not None and doc and not function.__doc__:
        function.__doc__ = doc
    return register(prim, replace=replace)


# ----------------------------------------------------------------------------------------------
# Checks


def _check_name(name, builtin: bool) -> None:
    if not isinstance(name, str):
        raise GraphTypeError(f"an op name must be a string, got {type(name).__name__}")
    if not NAME.fullmatch(name):
        raise DeclarationError(f"op name {name!r} must be identifiers joined by dots (e.g. 'mylib.log1pexp')")


def _callable(name: str, what: str, fn) -> None:
    if not callable(fn):
        raise GraphTypeError(f"op {name!r}: {what} must be a function, got {type(fn).__name__}")


def _positional(fn) -> tuple[int, bool] | None:
    """(number of positional parameters without defaults, whether there is *args), or None."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    count = sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)
    return count, any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)


def _arity(name, arity, derivative, impl, infer, elementwise):
    """Explicit, else the positional parameters (without defaults) of the shape rule or, for an
    elementwise op, the length of its list of derivatives or the implementation's parameters.
    Attributes are keyword arguments: after a ``*`` in the shape rule, or with defaults."""
    if arity != "infer":
        if arity is not None and (isinstance(arity, bool) or not isinstance(arity, int) or arity < 0):
            raise DeclarationError(f"op {name!r}: arity must be a non-negative int or None, got {arity!r}")
        return arity
    if elementwise and isinstance(derivative, (list, tuple)):
        return len(derivative)
    if isinstance(impl, np.ufunc):
        return impl.nin
    for fn in ((impl,) if elementwise else (infer, impl)):
        found = _positional(fn) if fn is not None else None
        if found is not None:
            count, variadic = found
            return None if variadic else count
    raise DeclarationError(f"op {name!r}: cannot tell how many operands it takes; pass arity=")


def _per_operand(name: str, what: str, rules, arity):
    """A rule, or a sequence of one rule (or None) per operand, as a tuple (None: no rules)."""
    if rules is None:
        return None
    if callable(rules):
        rules = [rules] * (arity if arity else 1)
    if not isinstance(rules, (list, tuple)):
        raise GraphTypeError(f"op {name!r}: {what} must be a function or a list of functions, got "
                             f"{type(rules).__name__}")
    expected = 1 if arity is None else arity
    if len(rules) != expected:
        raise DeclarationError(f"op {name!r}: {len(rules)} {what} rule(s) given for "
                               f"{'a variadic op (give one)' if arity is None else f'{arity} operand(s)'}")
    for i, rule in enumerate(rules):
        if rule is not None and not callable(rule):
            raise GraphTypeError(f"op {name!r}: {what} rule {i} must be a function or None, got "
                                 f"{type(rule).__name__}")
    return tuple(rules) if any(r is not None for r in rules) else None


def _version(*fns) -> str:
    """A digest of the functions' code: a kernel compiled from a user's scalar function must not
    be loaded from the cache once the function has changed."""
    h = hashlib.sha256()
    for fn in fns:
        code = getattr(getattr(fn, "py_func", fn), "__code__", None)
        if code is not None:
            try:
                h.update(marshal.dumps(code))
            except ValueError:  # a constant marshal cannot write
                h.update(repr(code.co_code).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# What an elementwise declaration derives


def _broadcast_rule(dtypes: str, result_dtype):
    result = np.dtype(result_dtype) if result_dtype is not None else None

    def infer(*xs):
        dtype = same_dtype(*xs)
        if dtypes == "float":
            require_float(dtype)
        elif dtypes == "number" and dtype == np.dtype(bool):
            from ..errors import DTypeError

            raise DTypeError("needs a numeric operand, got bool")
        return broadcast_shapes(*xs), result if result is not None else dtype

    return infer


def _elementwise_rules(name: str, lins, builtin: bool):
    if lins is None:
        return None, None

    def checked(lin, i, mode):
        def rule(g, out, *xs):
            built = lin(g, out, *xs)
            if built is not None and not _fits(built, out, exact=mode == "VJP"):
                what = f"derivative {i} of op {name!r}" + ("" if builtin else " (declared with defop)")
                raise DeclarationError(
                    f"the {mode} rule from the {what} built {built.type_string}; an elementwise derivative "
                    f"g·∂out/∂x must have the output's type {out.type_string}")
            return built
        return rule

    vjps, jvps = [], []
    for i, lin in enumerate(lins):
        if lin is None:
            vjps.append(None)
            jvps.append(None)
            continue
        vjp, jvp = checked(lin, i, "VJP"), checked(lin, i, "JVP")
        vjps.append(lambda g, out, *xs, _lin=vjp, _i=i: unbroadcast(_lin(g, out, *xs), xs[_i].shape))
        jvps.append(jvp)
    return tuple(vjps), tuple(jvps)


def _fits(built, out, exact: bool) -> bool:
    """Whether a derivative's result has the output's type (VJP: g has it, so the result does;
    JVP: the tangent has the operand's shape, which broadcasts to the output's)."""
    if exact:
        return built.shape == out.shape and built.dtype == out.dtype
    if built.dtype != out.dtype or len(built.shape) > len(out.shape):
        return False
    return all(d in (1, o) for d, o in zip(built.shape[::-1], out.shape[::-1]))


def _elementwise_function(op: str, arity, floating: bool):
    def fn(*operands, name=None):
        if arity is not None and len(operands) != arity:
            raise GraphTypeError(f"{op} takes {arity} operand(s), got {len(operands)}")
        return bind(op, promote(*operands, floating=floating), name=name)

    fn.__doc__ = f"Elementwise ``{op}`` with numpy broadcasting and dtype promotion" + (
        " (integers are computed in float64, like numpy)." if floating else ".")
    return fn


def _general_function(op: str):
    def fn(*operands, name=None, **attrs):
        return bind(op, [as_node(x) for x in operands], attrs, name=name)

    fn.__doc__ = f"Builds a node of op ``{op}``."
    return fn
