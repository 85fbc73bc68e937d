"""The dtypes graphc supports and numpy's promotion rules over them.

graphc keeps numpy's semantics: Python scalars are "weak" (``x32 * 2.0`` stays float32) while arrays
and nodes are "strong"; ``result_type`` is numpy's own.
"""

from __future__ import annotations

import numpy as np

from .errors import DTypeError

SUPPORTED = tuple(np.dtype(d) for d in ("bool", "int32", "int64", "float32", "float64"))
_SUPPORTED_SET = frozenset(SUPPORTED)
SHORT_NAMES = {
    np.dtype("bool"): "bool",
    np.dtype("int32"): "i32",
    np.dtype("int64"): "i64",
    np.dtype("float32"): "f32",
    np.dtype("float64"): "f64",
}


def as_dtype(dtype, where: str = "") -> np.dtype:
    """Normalize a user-given dtype, refusing the ones graphc does not support."""
    if dtype.__class__ is np.dtype and dtype in _SUPPORTED_SET:
        return dtype
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"{where}unknown dtype {dtype!r}; expected one of {supported_names()}") from exc
    if dt not in SUPPORTED:
        raise DTypeError(f"{where}unsupported dtype {dt}; expected one of {supported_names()}")
    return dt


def supported_names() -> str:
    return ", ".join(str(d) for d in SUPPORTED)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def float_of(dtype: np.dtype) -> np.dtype:
    """The float dtype numpy computes transcendental functions in for this dtype."""
    return dtype if is_float(dtype) else np.dtype("float64")


def short(dtype: np.dtype) -> str:
    return SHORT_NAMES.get(dtype, str(dtype))


def type_string(shape: tuple[int, ...], dtype: np.dtype) -> str:
    """``f64[3,4]`` style type used in listings and error messages."""
    return f"{short(dtype)}[{','.join(str(d) for d in shape)}]"
