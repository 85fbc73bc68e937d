"""Indexing by data: gathers and scatters along one axis, with indices known only at run time.

* ``take(x, idx, axis)``: ``np.take``; ``x[idx]`` and ``x[:, idx]`` with an integer array;
* ``take_along_axis(x, idx, axis)``: ``np.take_along_axis`` (one index per position, as picking
  each row's label: ``take_along_axis(logp, labels[:, None], 1)``);
* ``scatter_add(x, idx, values, axis)``: ``np.add.at`` on a copy of ``x`` (every duplicate index
  adds), ``x.at[idx].add(values)`` in JAX's spelling, and ``scatter_add_along_axis``, its
  ``take_along_axis`` counterpart;
* ``scatter(x, idx, values, axis)``: ``x.at[idx].set(values)`` on a copy; with duplicate indices
  the last one in index order is written (JAX leaves it unspecified; graphc fixes it, on both
  backends), and only that one receives a gradient.

Each is the other's derivative: the VJP of a gather is a scatter-add of the cotangent into zeros,
the VJP of a scatter-add a gather of the cotangent. ``mode`` is numpy's: "raise" (the default:
indices in [-n, n), negative ones counting from the end; any other raises :class:`InputError` at
run time, naming the value, the axis, the op and where it was built, and the index input when the
index is one), "wrap" (modulo n) or "clip" (to [0, n - 1]). Constant indices are checked when
the node is built.
"""

from __future__ import annotations

import numpy as np

from ..context import where
from ..errors import DTypeError, GraphTypeError, IndexRangeError, ShapeError
from ..ir import Node
from .core import api as gc
from .core import bind, current_meta
from .declare import defop
from .notation import POSTFIX, Expr, call
from .promotion import as_node, constant
from .shapes import normalize_axis

MODES = ("raise", "wrap", "clip")


# --- index values ---------------------------------------------------------------------------------


def normalized(idx: np.ndarray, size: int, mode: str, axis: int) -> np.ndarray:
    """Indices into an axis of ``size`` as non-negative int64, by ``mode``; IndexRangeError for
    the first out of range in mode "raise"."""
    idx = np.asarray(idx, dtype=np.int64)
    if mode == "wrap":
        return np.mod(idx, size) if size else idx
    if mode == "clip":
        return np.clip(idx, 0, max(size - 1, 0))
    bad = (idx < -size) | (idx >= size)
    if bad.any():
        raise IndexRangeError(int(idx[bad].flat[0]), size, axis)
    return np.where(idx < 0, idx + size, idx)


def _index_node(idx, what: str) -> Node:
    if isinstance(idx, Node):
        node = idx
    else:
        arr = np.asarray(idx)
        if arr.dtype == np.dtype(bool):
            raise GraphTypeError(f"{what}: a boolean mask selects a number of elements known only at run "
                                 f"time; use gc.where(mask, x, 0) or integer indices")
        if arr.dtype.kind not in "iu":
            raise GraphTypeError(f"{what}: indices must be integers, got {arr.dtype} ({idx!r:.60})")
        node = constant(arr.astype(np.int64))
    if node.dtype.kind not in "iu":
        raise DTypeError(f"{what}: indices must be an integer array, got {node.type_string}")
    return node


def _mode(mode, what: str) -> str:
    if mode not in MODES:
        raise GraphTypeError(f"{what}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    return mode


def _check_constant(idx: Node, size: int, mode: str, axis: int, what: str) -> None:
    """A constant index out of range is an error of the graph, raised where it is built."""
    if idx.op == "constant" and mode == "raise":
        try:
            normalized(idx.value, size, mode, axis)
        except IndexRangeError as exc:
            raise ShapeError(f"{what}: {exc}{where(current_meta())}") from None


def describe_index(node: Node) -> str:
    """How a failed index check names the index: its input, when it comes from one."""
    seen = node
    while seen.op in ("reshape", "broadcast_to", "slice", "transpose", "cast") and seen.inputs:
        seen = seen.inputs[0]
    if seen.op == "placeholder":
        return f"; the index comes from input {seen.attrs['name']!r}"
    return f"; the index is node {node.meta.name or node.op!r}"


def index_error_message(node: Node, value: int, size: int, axis: int, sample: int | None = None) -> str:
    """The message of an index out of range at run time, the same on every backend."""
    what = f" in sample {sample} of the batch" if sample is not None else ""
    label = f" {node.meta.name!r}" if node.meta.name else ""
    return (f"index {value} is out of range for axis {axis} of size {size} in {node.op}{label}"
            f"{where(node.meta)}{what}: indices must lie in "
            f"[{-size}, {size}) with mode='raise' (or pass mode='wrap' or 'clip')"
            f"{describe_index(node.inputs[1])}")


# --- take -----------------------------------------------------------------------------------------


def _infer_take(x, idx, axis, mode):
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"indices must be integers, got {idx.type_string}")
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of bounds for {x.type_string}")
    if x.shape[axis] == 0 and idx.size and mode != "raise":
        raise ShapeError(f"cannot take from an empty axis {axis} of {x.type_string}")
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype


def take(x, indices, axis=None, mode: str = "raise", name=None):
    """``np.take``: ``x``'s entries at ``indices`` (an integer node or array) along ``axis``; the
    result's shape is ``x.shape[:axis] + indices.shape + x.shape[axis + 1:]``. ``axis=None``
    takes from the flattened ``x``."""
    x = as_node(x)
    idx = _index_node(indices, "take")
    mode = _mode(mode, "take")
    if axis is None:
        x, axis = gc.reshape(x, (x.size,)), 0
    if x.ndim == 0:
        raise ShapeError(f"take: cannot index a 0-d array{where(current_meta())}")
    axis = normalize_axis(axis, x.ndim)
    _check_constant(idx, x.shape[axis], mode, axis, "take")
    return bind("take", [x, idx], {"axis": axis, "mode": mode}, name=name)


def _take_impl(x, idx, axis, mode):
    return np.take(x, normalized(idx, x.shape[axis], mode, axis), axis=axis)


def _take_formula(node, x, idx):
    return Expr(f"{x.at(POSTFIX)}[{idx.text}]" if node.attrs["axis"] == 0
                else f"take({x.text}, {idx.text}, axis={node.attrs['axis']})", POSTFIX)


defop("take", _infer_take, arity=2, category="structural", api="take", function=take,
      vjp=[lambda g, out, x, idx, axis, mode: gc.scatter_add(gc.zeros_like(x), idx, g, axis, mode), None],
      jvp=[lambda t, out, x, idx, axis, mode: gc.take(t, idx, axis, mode), None],
      impl=_take_impl, formula=_take_formula, _builtin=True)


# --- scatter_add, scatter ---------------------------------------------------------------------------


def _infer_scatter(x, idx, values, axis, mode):
    shape, _ = _infer_take(x, idx, axis, mode)
    if values.shape != shape:
        raise ShapeError(f"values of {values.type_string} do not fit {x.type_string} indexed by "
                         f"{idx.type_string} along axis {axis}: expected shape {shape}")
    if values.dtype != x.dtype:
        raise DTypeError(f"values of dtype {values.dtype} for an array of dtype {x.dtype}")
    return x.shape, x.dtype


def _scatter_operands(x, indices, values, axis, mode, what):
    x = as_node(x)
    idx = _index_node(indices, what)
    mode = _mode(mode, what)
    if x.ndim == 0:
        raise ShapeError(f"{what}: cannot index a 0-d array{where(current_meta())}")
    axis = normalize_axis(axis, x.ndim)
    _check_constant(idx, x.shape[axis], mode, axis, what)
    values = gc.cast(as_node(values), x.dtype)
    shape = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    if values.shape != shape:
        values = gc.broadcast_to(values, shape)
    return x, idx, values, axis, mode


def scatter_add(x, indices, values, axis: int = 0, mode: str = "raise", name=None):
    """A copy of ``x`` with ``values`` added at ``indices`` along ``axis`` (``np.add.at``; JAX's
    ``x.at[indices].add(values)``): each duplicate index adds its value. ``values`` has (or
    broadcasts to) the shape ``take(x, indices, axis)`` would have."""
    x, idx, values, axis, mode = _scatter_operands(x, indices, values, axis, mode, "scatter_add")
    return bind("scatter_add", [x, idx, values], {"axis": axis, "mode": mode}, name=name)


def _scatter_add_impl(x, idx, values, axis, mode):
    out = np.array(x, copy=True)
    np.add.at(out, (slice(None),) * axis + (normalized(idx, x.shape[axis], mode, axis),), values)
    return out


def _winners(flat: np.ndarray) -> np.ndarray:
    """Positions of the last occurrence of each distinct index, in index order."""
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    return np.sort(flat.size - 1 - first_from_end)


def _scatter_impl(x, idx, values, axis, mode):
    out = np.array(x, copy=True)
    flat = normalized(idx, x.shape[axis], mode, axis).reshape(-1)
    keep = _winners(flat)
    moved = np.moveaxis(values.reshape(x.shape[:axis] + (flat.size,) + x.shape[axis + 1:]), axis, 0)
    target = np.moveaxis(out, axis, 0)
    target[flat[keep]] = moved[keep]
    return out


def scatter(x, indices, values, axis: int = 0, mode: str = "raise", name=None):
    """A copy of ``x`` with ``values`` written at ``indices`` along ``axis`` (JAX's
    ``x.at[indices].set(values)``). Where an index repeats, the last occurrence in index order is
    written, on every backend, and only it receives a gradient."""
    x, idx, values, axis, mode = _scatter_operands(x, indices, values, axis, mode, "scatter")
    return bind("scatter", [x, idx, values], {"axis": axis, "mode": mode}, name=name)


def _last_occurrences(idx, size: int, mode: str):
    """1.0 at each position of ``idx`` (flattened) that is its index's last occurrence, else 0.0:
    where ``scatter`` wrote a value (the index's positions scattered into a slot per entry, and
    each position compared with the one its slot kept)."""
    flat = gc.reshape(idx, (idx.size,))
    positions = gc.constant(np.arange(idx.size, dtype=np.int64))
    slots = gc.scatter(gc.constant(np.full(max(size, 1), -1, np.int64)), flat, positions, 0, mode)
    return gc.reshape(gc.cast(gc.take(slots, flat, 0, mode) == positions, np.float64), idx.shape)


def _scatter_vjp_values(g, out, x, idx, values, axis, mode):
    won = _last_occurrences(idx, x.shape[axis], mode)
    won = gc.reshape(won, (1,) * axis + idx.shape + (1,) * (x.ndim - axis - 1))
    return gc.take(g, idx, axis, mode) * gc.cast(won, g.dtype)


defop("scatter_add", _infer_scatter, arity=3, category="structural", api="scatter_add", function=scatter_add,
      vjp=[lambda g, out, x, idx, values, axis, mode: g, None,
           lambda g, out, x, idx, values, axis, mode: gc.take(g, idx, axis, mode)],
      jvp_joint=lambda ts, out, x, idx, values, axis, mode: gc.scatter_add(
          ts[0] if ts[0] is not None else gc.zeros_like(x), idx,
          ts[2] if ts[2] is not None else gc.zeros_like(values), axis, mode),
      impl=_scatter_add_impl, formula=call("scatter_add"), _builtin=True)

defop("scatter", _infer_scatter, arity=3, category="structural", api="scatter", function=scatter,
      vjp=[lambda g, out, x, idx, values, axis, mode: gc.scatter(g, idx, gc.zeros_like(values), axis, mode),
           None, _scatter_vjp_values],
      jvp_joint=lambda ts, out, x, idx, values, axis, mode: gc.scatter(
          ts[0] if ts[0] is not None else gc.zeros_like(x), idx,
          ts[2] if ts[2] is not None else gc.zeros_like(values), axis, mode),
      impl=_scatter_impl, formula=call("scatter"), _builtin=True)


# --- along an axis ---------------------------------------------------------------------------------


def _infer_along(x, idx, axis, mode):
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"indices must be integers, got {idx.type_string}")
    if idx.ndim != x.ndim:
        raise ShapeError(f"indices {idx.type_string} must have as many dimensions as {x.type_string}")
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of bounds for {x.type_string}")
    for d, (i, n) in enumerate(zip(idx.shape, x.shape)):
        if d != axis and i not in (1, n):
            raise ShapeError(f"indices {idx.type_string} do not broadcast against {x.type_string} "
                             f"on axis {d}")
    return tuple(idx.shape[d] if d == axis else n for d, n in enumerate(x.shape)), x.dtype


def take_along_axis(x, indices, axis: int, mode: str = "raise", name=None):
    """``np.take_along_axis``: ``out[..., i, ...] = x[..., indices[..., i, ...], ...]`` along
    ``axis``; ``indices`` has ``x``'s number of dimensions and broadcasts against it elsewhere
    (each row's label: ``take_along_axis(logp, labels[:, None], axis=1)``)."""
    x = as_node(x)
    idx = _index_node(indices, "take_along_axis")
    mode = _mode(mode, "take_along_axis")
    if x.ndim == 0:
        raise ShapeError(f"take_along_axis: cannot index a 0-d array{where(current_meta())}")
    axis = normalize_axis(axis, x.ndim)
    _check_constant(idx, x.shape[axis], mode, axis, "take_along_axis")
    return bind("take_along_axis", [x, idx], {"axis": axis, "mode": mode}, name=name)


def _full_index(idx, x_shape, axis, mode):
    shape = tuple(idx.shape[d] if d == axis else n for d, n in enumerate(x_shape))
    return np.broadcast_to(normalized(idx, x_shape[axis], mode, axis), shape)


def _take_along_impl(x, idx, axis, mode):
    return np.take_along_axis(x, _full_index(idx, x.shape, axis, mode), axis=axis)


def _infer_scatter_along(x, idx, values, axis, mode):
    shape, _ = _infer_along(x, idx, axis, mode)
    if values.shape != shape:
        raise ShapeError(f"values of {values.type_string} do not fit {x.type_string} indexed by "
                         f"{idx.type_string} along axis {axis}: expected shape {shape}")
    if values.dtype != x.dtype:
        raise DTypeError(f"values of dtype {values.dtype} for an array of dtype {x.dtype}")
    return x.shape, x.dtype


def scatter_add_along_axis(x, indices, values, axis: int, mode: str = "raise", name=None):
    """A copy of ``x`` with ``values`` added where ``take_along_axis(x, indices, axis)`` reads
    (duplicates add): that op's adjoint."""
    x = as_node(x)
    idx = _index_node(indices, "scatter_add_along_axis")
    mode = _mode(mode, "scatter_add_along_axis")
    if x.ndim == 0:
        raise ShapeError(f"scatter_add_along_axis: cannot index a 0-d array{where(current_meta())}")
    axis = normalize_axis(axis, x.ndim)
    _check_constant(idx, x.shape[axis], mode, axis, "scatter_add_along_axis")
    shape, _ = _infer_along(x, idx, axis, mode)
    values = gc.cast(as_node(values), x.dtype)
    if values.shape != shape:
        values = gc.broadcast_to(values, shape)
    return bind("scatter_add_along_axis", [x, idx, values], {"axis": axis, "mode": mode}, name=name)


def _scatter_along_impl(x, idx, values, axis, mode):
    out = np.array(x, copy=True)
    full = _full_index(idx, x.shape, axis, mode)
    grid = list(np.indices(full.shape, sparse=True))
    grid[axis] = full
    np.add.at(out, tuple(grid), values)
    return out


defop("take_along_axis", _infer_along, arity=2, category="structural", api="take_along_axis",
      function=take_along_axis,
      vjp=[lambda g, out, x, idx, axis, mode: gc.scatter_add_along_axis(gc.zeros_like(x), idx, g, axis, mode),
           None],
      jvp=[lambda t, out, x, idx, axis, mode: gc.take_along_axis(t, idx, axis, mode), None],
      impl=_take_along_impl, formula=call("take_along_axis"), _builtin=True)

defop("scatter_add_along_axis", _infer_scatter_along, arity=3, category="structural",
      api="scatter_add_along_axis", function=scatter_add_along_axis,
      vjp=[lambda g, out, x, idx, values, axis, mode: g, None,
           lambda g, out, x, idx, values, axis, mode: gc.take_along_axis(g, idx, axis, mode)],
      jvp_joint=lambda ts, out, x, idx, values, axis, mode: gc.scatter_add_along_axis(
          ts[0] if ts[0] is not None else gc.zeros_like(x), idx,
          ts[2] if ts[2] is not None else gc.zeros_like(values), axis, mode),
      impl=_scatter_along_impl, formula=call("scatter_add_along_axis"), _builtin=True)


# --- composites ---------------------------------------------------------------------------------------


def one_hot(indices, n: int, dtype=np.float64, name=None):
    """``indices[..., None] == arange(n)`` as ``dtype``: a trailing axis of n with a one at each index
    (an index outside [0, n) gives a row of zeros, as in JAX)."""
    idx = _index_node(indices, "one_hot")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise GraphTypeError(f"one_hot: n must be a non-negative int, got {n!r}")
    hits = gc.expand_dims(idx, -1) == gc.constant(np.arange(int(n), dtype=idx.dtype))
    return gc.cast(hits, dtype, name=name)


def segment_sum(data, segment_ids, num_segments: int, mode: str = "raise", name=None):
    """``jax.ops.segment_sum``: row k of the result is the sum of the rows of ``data`` whose segment
    id is k (ids need not be sorted); a scatter-add into ``num_segments`` rows of zeros."""
    data = as_node(data)
    if isinstance(num_segments, bool) or not isinstance(num_segments, (int, np.integer)) or num_segments < 0:
        raise GraphTypeError(f"segment_sum: num_segments must be a non-negative int, got {num_segments!r}")
    ids = _index_node(segment_ids, "segment_sum")
    if data.ndim == 0 or ids.shape != data.shape[:1]:
        raise ShapeError(f"segment_sum: one segment id per row of {data.type_string}, got "
                         f"{ids.type_string}{where(current_meta())}")
    zeros = gc.broadcast_to(gc.cast(0, data.dtype), (int(num_segments),) + data.shape[1:])
    return scatter_add(zeros, ids, data, axis=0, mode=mode, name=name)


def tril(x, k: int = 0, name=None):
    """``np.tril``: the entries on and below diagonal ``k`` of the last two axes, zeros above."""
    x = as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"tril needs a matrix, got {x.type_string}{where(current_meta())}")
    mask = gc.constant(np.tri(x.shape[-2], x.shape[-1], int(k), dtype=bool))
    return gc.where(mask, x, gc.cast(0, x.dtype), name=name)


def triu(x, k: int = 0, name=None):
    """``np.triu``: the entries on and above diagonal ``k`` of the last two axes, zeros below."""
    x = as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"triu needs a matrix, got {x.type_string}{where(current_meta())}")
    mask = gc.constant(~np.tri(x.shape[-2], x.shape[-1], int(k) - 1, dtype=bool))
    return gc.where(mask, x, gc.cast(0, x.dtype), name=name)


def fill_tril(values, n: int, k: int = 0, order: str = "C", name=None):
    """The n x n matrix (batched over ``values``' leading axes) with ``values`` on and below diagonal
    ``k`` and zeros above, in the order of ``np.tril_indices(n, k)`` (``order="C"``: row by row)
    or column by column (``order="F"``: GradBench's gmm and Eigen). A gather through a constant
    index pattern, so its derivative is the matching scatter-add."""
    values = as_node(values)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise GraphTypeError(f"fill_tril: n must be a non-negative int, got {n!r}")
    if order not in ("C", "F"):
        raise GraphTypeError(f"fill_tril: order must be 'C' or 'F', got {order!r}")
    rows, cols = np.tril_indices(int(n), int(k))
    if order == "F":
        by_column = np.lexsort((rows, cols))
        rows, cols = rows[by_column], cols[by_column]
    m = rows.size
    if values.ndim == 0 or values.shape[-1] != m:
        raise ShapeError(f"fill_tril: an {n}x{n} matrix with k={k} has {m} entries on and below the "
                         f"diagonal; got {values.type_string}{where(current_meta())}")
    pattern = np.zeros((int(n), int(n)), np.int64)  # position 0: a zero; entry p at position p + 1
    pattern[rows, cols] = np.arange(1, m + 1)
    zero = gc.broadcast_to(gc.cast(0, values.dtype), values.shape[:-1] + (1,))
    padded = gc.concatenate([zero, values], axis=-1)
    return take(padded, gc.constant(pattern), axis=values.ndim - 1, name=name)


# --- x[idx], x.at[idx] --------------------------------------------------------------------------------


def is_advanced(item) -> bool:
    """Whether an index item indexes by data: an integer node, or a list or array of integers."""
    if isinstance(item, Node):
        return True
    return isinstance(item, (list, np.ndarray))


def advanced_getitem(x: Node, index: tuple, basic) -> Node:
    """``x[index]`` where some items are integer arrays (``basic(x, index)``: static indexing).
    One array: the other items apply first, then a gather along the array's axis. Several arrays
    next to each other (``x[i, j]``): broadcast together and gathered from the flattened axes.
    Arrays separated by a slice, a None or an int are refused (numpy would move their axes
    first, a rule that surprises more than it helps)."""
    positions = [k for k, item in enumerate(index) if is_advanced(item)]
    if any(item is Ellipsis for item in index):
        pos = next(k for k, i in enumerate(index) if i is Ellipsis)
        consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
        index = index[:pos] + (slice(None),) * (x.ndim - consumed) + index[pos + 1:]
        positions = [k for k, item in enumerate(index) if is_advanced(item)]
    if positions != list(range(positions[0], positions[-1] + 1)):
        raise GraphTypeError("integer-array indices must be next to each other (x[:, i, j]); separated "
                             "by slices they would move their axes first, as numpy does: index each "
                             "axis with gc.take instead")
    first = positions[0]
    # the static items first, each array's axis kept whole
    placeholder_index = tuple(slice(None) if k in positions else item for k, item in enumerate(index))
    y = basic(x, placeholder_index)
    # where the arrays' axes are now: after the items before them that keep an axis
    axis = sum(1 for item in index[:first] if item is None or isinstance(item, slice))
    idxs = [_index_node(index[k], "indexing") for k in positions]
    if len(idxs) == 1:
        return take(y, idxs[0], axis=axis)
    dims = y.shape[axis:axis + len(idxs)]
    flat = None
    for i, (idx, dim) in enumerate(zip(idxs, dims)):
        _check_constant(idx, dim, "raise", axis + i, "indexing")
        part = gc.where(idx < 0, idx + dim, idx) if idx.op != "constant" else gc.constant(
            normalized(idx.value, dim, "raise", axis + i))
        stride = int(np.prod(dims[i + 1:], dtype=np.int64))
        term = part * stride if stride != 1 else part
        flat = term if flat is None else flat + term
    size = int(np.prod(dims, dtype=np.int64))
    merged = gc.reshape(y, y.shape[:axis] + (size,) + y.shape[axis + len(idxs):])
    for k, (idx, dim) in enumerate(zip(idxs, dims)):  # each index in range of its own axis, at run time
        if idx.op != "constant":
            flat = _checked_against(flat, idx, dim, axis + k)
    return take(merged, gc.cast(flat, np.int64), axis=axis)


def _checked_against(flat, idx, dim, axis):
    """``flat``, unchanged, with the run-time check that ``idx`` indexes an axis of ``dim``: the
    sum of a take of ``idx`` from ``dim`` zeros (one entry of x[i, j] in range of the flattened
    axes can still be out of range of its own, j = 5 of 4 columns reading the next row)."""
    zeros = gc.constant(np.zeros((1,) * axis + (max(dim, 1),), np.int64))  # the check names ``axis``
    probe = gc.take(zeros, gc.reshape(idx, (idx.size,)), axis)
    return flat + gc.sum(probe)


class _At:
    """``x.at[index]``: JAX's functional updates, ``.add(v)``, ``.set(v)`` and ``.get()``."""

    def __init__(self, x: Node):
        self._x = x

    def __getitem__(self, index):
        return _AtIndex(self._x, index if isinstance(index, tuple) else (index,))


class _AtIndex:
    def __init__(self, x: Node, index: tuple):
        self._x, self._index = x, index

    def _axis_and_indices(self, mode: str = "raise"):
        x, index = self._x, self._index
        lead = 0
        while lead < len(index) and isinstance(index[lead], slice) and index[lead] == slice(None):
            lead += 1
        rest = index[lead + 1:]
        if lead >= len(index) or any(not (isinstance(r, slice) and r == slice(None)) for r in rest):
            raise GraphTypeError(f"x.at[...] takes full slices ':' and one index (an int, a slice, or an "
                                 f"integer array) on the axis it updates, got {index!r}")
        item = index[lead]
        if lead >= x.ndim:
            raise ShapeError(f"x.at[...]: too many indices for {x.type_string}")
        n = x.shape[lead]
        if isinstance(item, slice):
            return lead, gc.constant(np.arange(n)[item].astype(np.int64)), False
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            try:
                j = normalized(np.array([int(item)]), n, _mode(mode, "x.at[...]"), lead)
            except IndexRangeError as exc:
                raise ShapeError(f"x.at[...]: {exc}{where(current_meta())}") from None
            return lead, gc.constant(j), True
        return lead, _index_node(item, "x.at[...]"), False

    def _values(self, values, axis, idx, scalar_index):
        values = as_node(values)
        if scalar_index:  # x.at[2].add(v): v has the shape of x[2]
            x = self._x
            shape = x.shape[:axis] + x.shape[axis + 1:]
            values = gc.expand_dims(gc.broadcast_to(gc.cast(values, x.dtype), shape), axis)
        return values

    def add(self, values, mode: str = "raise"):
        axis, idx, scalar = self._axis_and_indices(mode)
        return scatter_add(self._x, idx, self._values(values, axis, idx, scalar), axis, mode)

    def set(self, values, mode: str = "raise"):
        axis, idx, scalar = self._axis_and_indices(mode)
        return scatter(self._x, idx, self._values(values, axis, idx, scalar), axis, mode)

    def get(self, mode: str = "raise"):
        axis, idx, scalar = self._axis_and_indices(mode)
        out = take(self._x, idx, axis, mode)
        return gc.squeeze(out, axis) if scalar else out


def at(x) -> _At:
    """``x.at[index].add(values)``, ``.set(values)``, ``.get()``: JAX's functional updates."""
    return _At(as_node(x))



for _composite in (one_hot, segment_sum, tril, triu, fill_tril, at):
    gc.register(_composite)
