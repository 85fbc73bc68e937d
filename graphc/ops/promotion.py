"""Operands for the builder: numbers and arrays become constant nodes, and numpy's dtype
promotion gives every primitive operands of one dtype (explicit ``cast`` nodes where needed).

numpy's semantics: nodes and arrays are "strong", Python scalars "weak" (``x32 * 2.0`` stays
float32); ``np.result_type`` decides; integers of other widths become int64, float16 becomes
float32. This module sits below every op declaration: the builder functions that declarations
generate call :func:`promote`.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..dtypes import as_dtype, float_of
from ..errors import DTypeError, GraphTypeError
from ..ir import Node
from .core import bind


def constant(value, dtype=None, name: str | None = None) -> Node:
    """A constant array baked into the graph (a copy; later changes to ``value`` do not leak in)."""
    if isinstance(value, Node):
        raise GraphTypeError("constant() takes an array or a number, not a graph node")
    try:
        arr = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise GraphTypeError(f"constant value cannot become an array: {exc}") from None
    if arr.dtype.kind in "iu" and arr.dtype not in (np.dtype("int32"), np.dtype("int64")):
        if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise DTypeError(f"constant: the {arr.dtype} value {int(arr.max())} does not fit in int64, "
                             "graphc's widest integer type")
        arr = arr.astype(np.int64)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    dt = as_dtype(arr.dtype, "constant: ")
    arr = np.array(arr, dtype=dt, order="C")  # a private copy (ascontiguousarray would make 0-d 1-d)
    arr.setflags(write=False)
    return bind("constant", [], {"shape": arr.shape, "dtype": str(dt)}, name=name, value=arr)


def scalar_constant(value, dtype) -> Node:
    return constant(np.asarray(value, dtype=dtype))


def as_node(x) -> Node:
    """Turn a number or array into a constant node; nodes pass through."""
    if isinstance(x, Node):
        return x
    return constant(x)


def cast(x, dtype, name=None) -> Node:
    """``x.astype(dtype)``."""
    x = as_node(x)
    dt = as_dtype(dtype, "cast: ")
    if x.dtype == dt and name is None:
        return x
    return bind("cast", [x], {"dtype": str(dt)}, name=name)


def is_weak(x) -> bool:
    return isinstance(x, (bool, int, float)) or (
        isinstance(x, numbers.Number) and not isinstance(x, (np.generic, complex))
    )


def promote(*operands, floating: bool = False) -> list[Node]:
    """Nodes of one common dtype, following numpy: nodes and arrays are strong, Python scalars weak;
    ``floating``: integers and booleans are computed in float64 (numpy's ufuncs such as exp)."""
    strong = []
    for x in operands:
        if isinstance(x, Node):
            strong.append(x.dtype)
        elif not is_weak(x):
            if isinstance(x, complex):
                raise GraphTypeError("complex numbers are not supported")
            try:
                strong.append(np.asarray(x).dtype)
            except Exception as exc:  # noqa: BLE001 - report any conversion failure as a type error
                raise GraphTypeError(f"cannot use {type(x).__name__} in a graph: {exc}") from None
    weak = [x for x in operands if is_weak(x) and not isinstance(x, Node)]
    if strong:
        try:
            dt = np.result_type(*strong, *weak)
        except (OverflowError, TypeError) as exc:
            raise GraphTypeError(f"cannot combine {strong} with {weak}: {exc}") from None
    else:
        dt = np.result_type(*weak)
    dt = np.dtype(dt)
    if dt.kind in "iu" and dt not in (np.dtype("int32"), np.dtype("int64")):
        dt = np.dtype("int64")
    if floating:
        dt = float_of(dt)
    as_dtype(dt)
    out = []
    for x in operands:
        if isinstance(x, Node):
            out.append(x if x.dtype == dt else cast(x, dt))
        else:
            if dt.kind in "iu" and type(x) is int and not np.iinfo(dt).min <= x <= np.iinfo(dt).max:
                raise DTypeError(f"the Python integer {x} does not fit in {dt}, the dtype of the other "
                                 f"operand (numpy raises OverflowError; cast that operand first)")
            arr = np.asarray(x)
            if arr.dtype.kind not in "biuf":
                raise GraphTypeError(f"cannot use an array of dtype {arr.dtype} in a graph")
            out.append(scalar_constant(arr, dt))
    return out
