"""Input checks of a compiled graph's call: each value against its placeholder's shape and dtype.

Shared by :class:`graphc.compile.CompiledGraph` and the Dask tasks of :mod:`graphc.dask_batch`,
which check each chunk as it arrives. A bad value raises :class:`InputError` naming the input,
what was expected and what came.
"""

from __future__ import annotations

import math

import numpy as np

from .dtypes import type_string
from .errors import InputError


def is_dask_array(value) -> bool:
    """Duck-typed, so graphc never imports Dask unless Dask arrays are passed in."""
    return hasattr(value, "__dask_graph__") and hasattr(value, "chunks") and hasattr(value, "dtype")


def _describe(arr) -> str:
    if isinstance(arr, np.ndarray):
        return f"an array {type_string(arr.shape, arr.dtype)}"
    return f"{type(arr).__name__} {arr!r}"[:80]


def _expected(placeholder, batch: bool) -> str:
    text = type_string(placeholder.shape, placeholder.dtype)
    return f"a batch of {text} (one extra leading axis)" if batch else text


def check_input(placeholder, value, batch: bool = False) -> np.ndarray:
    """``value`` as an array of the placeholder's dtype, or InputError saying what was expected.

    The casting rule is numpy's "safe" one (``np.can_cast(given, expected, "safe")``): bool to
    any number, narrower to wider integers, integers to floats (int64 to float64 is "safe" in
    numpy although it rounds above 2**53), float32 to float64; never a float to an integer or
    float64 to float32. A Python int or float for a 0-d input takes the input's dtype when it fits.

    Messages are only formatted when something is wrong: this runs on every call."""
    if type(value) is np.ndarray and value.dtype == placeholder.dtype:  # the common case, fast
        shape = value.shape[1:] if batch and value.ndim else value.shape
        if shape == placeholder.shape and (value.ndim == len(shape) + batch):
            return value
    name = placeholder.attrs["name"]
    if isinstance(value, np.ma.MaskedArray):
        raise InputError(f"input {name!r}: a masked array, whose mask graphc would drop; pass "
                         "value.filled(fill) or the values you mean")
    if type(value) in (int, float) and not batch and placeholder.shape == ():
        weak = _python_scalar(placeholder, value)
        if weak is not None:
            return weak
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything numpy cannot take is a bad input
        raise InputError(
            f"input {name!r}: expected {_expected(placeholder, batch)}, got {_describe(value)} ({exc})"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"input {name!r}: expected {_expected(placeholder, batch)}, got {_describe(arr)}")
    if arr.dtype != placeholder.dtype and not np.can_cast(arr.dtype, placeholder.dtype, casting="safe"):
        raise InputError(
            f"input {name!r}: expected dtype {placeholder.dtype} ({_expected(placeholder, batch)}), got "
            f"{arr.dtype}, which numpy's 'safe' casting does not convert to it; cast it first "
            f"(e.g. x.astype({str(placeholder.dtype)!r}))"
        )
    shape_ok = arr.shape[1:] == placeholder.shape if batch else arr.shape == placeholder.shape
    if not shape_ok or (batch and arr.ndim == 0):
        raise InputError(f"input {name!r}: expected {_expected(placeholder, batch)}, got {_describe(arr)}")
    return arr if arr.dtype == placeholder.dtype else arr.astype(placeholder.dtype)


def _python_scalar(placeholder, value):
    """A Python int or float for an input of a float dtype, or an int for an integer dtype, is
    weakly typed, as in the builder (and JAX): it takes the input's dtype when the value fits."""
    kind = placeholder.dtype.kind
    if kind == "f" or (kind in "iu" and type(value) is int):
        if kind in "iu" and not np.iinfo(placeholder.dtype).min <= value <= np.iinfo(placeholder.dtype).max:
            raise InputError(
                f"input {placeholder.attrs['name']!r}: expected {_expected(placeholder, False)}, got "
                f"the int {value}, which does not fit in {placeholder.dtype}"
            )
        try:
            with np.errstate(over="ignore"):
                arr = np.asarray(value, dtype=placeholder.dtype)
            if kind == "f" and np.isinf(arr) and not math.isinf(value):  # 1e39 for a float32 input
                largest = np.finfo(placeholder.dtype).max
                raise InputError(f"input {placeholder.attrs['name']!r}: {value!r} overflows "
                                 f"{placeholder.dtype} (its largest value is {largest})")
            return arr
        except OverflowError:  # a Python int beyond any float (10**400)
            digits = len(str(abs(value)))
            expected = _expected(placeholder, False)
            raise InputError(f"input {placeholder.attrs['name']!r}: expected {expected}, "
                             f"got an int of {digits} digits, beyond {placeholder.dtype}'s range") from None
    return None
