"""The numba lowering of indexing by data and of running totals: gathers, scatters, ``cumsum``,
``cumprod``, ``linear_recurrence``, ``argmax`` and ``argmin``.

A gather (``take``, ``take_along_axis``) costs one pass over its indices and nothing else: the
indices are checked (mode "raise": an out-of-range one raises ``IndexError("graphc-index", check,
value)``, which the kernel turns into the :class:`~graphc.errors.InputError` the numpy backend
raises, naming the op, where it was built and the index's input) and made non-negative into a
small int64 array; the result is a view that reads ``x`` through them, so the elementwise work
around a gather fuses with it as around any view. Constant indices need no pass at all (checked
when the node was built). Scatters copy ``x`` and then add (or write) the values in one serial
loop in index order, so duplicate indices add up, and ``scatter``'s last one wins, as in the
numpy backend; inside ``batch=``'s sample loop each sample has its own copy. Running totals are
serial loops along their axis.
"""

from __future__ import annotations

import numpy as np

from .scalars import literal
from .values import Value, broadcast_index


def _normalized(gen, node, idx_value: Value, idx_node, size: int, axis: int, mode: str) -> Value:
    """The indices as non-negative int64 reads, checked in mode "raise"."""
    if idx_node.op == "constant" and mode == "raise" and (idx_node.value >= 0).all():
        return idx_value  # checked when the node was built
    if idx_node.shape == ():
        j = gen.name(f"j{gen.index[node.serial]}")
        gen.line(f"{j} = {_bounded(idx_value.read(()), size, mode)}")
        for text in gen.index_check(node, j, size, axis) if mode == "raise" else ():
            gen.line(text)
        if mode == "raise":
            gen.line(f"{j} = {j} + {size} if {j} < 0 else {j}")
        return Value((), scalar=j, outer=not gen.inner)
    out = gen.temp_array(f"j{gen.index[node.serial]}", idx_node.shape, np.int64)
    idx = tuple(f"i{d}" for d in range(idx_node.ndim))
    j = gen.name("jv")
    body = [f"{j} = {_bounded(idx_value.read(idx), size, mode)}"]
    if mode == "raise":
        body += gen.index_check(node, j, size, axis)
        body.append(f"{out.read(idx)} = {j} + {size} if {j} < 0 else {j}")
    else:
        body.append(f"{out.read(idx)} = {j}")
    gen.loop_nest(idx_node.shape, body)
    return out


def _bounded(read: str, size: int, mode: str) -> str:
    """The index expression by mode: "wrap" modulo ``size``, "clip" into [0, size - 1]."""
    if mode == "wrap":
        return f"np.int64({read}) % {max(size, 1)}"
    if mode == "clip":
        return f"min(max(np.int64({read}), 0), {max(size - 1, 0)})"
    return f"np.int64({read})"


def lower_take(gen, node, ops) -> Value:
    x, idx_value = ops
    x_node, idx_node = node.inputs
    axis, mode = node.attrs["axis"], node.attrs["mode"]
    j = _normalized(gen, node, idx_value, idx_node, x_node.shape[axis], axis, mode)
    k = idx_node.ndim

    def read(out_idx):
        at = j.read(tuple(out_idx[axis:axis + k]))
        return x.read(tuple(out_idx[:axis]) + (at,) + tuple(out_idx[axis + k:]))

    return Value(node.shape, reader=read, outer=not gen.inner)


def lower_take_along_axis(gen, node, ops) -> Value:
    x, idx_value = ops
    x_node, idx_node = node.inputs
    axis, mode = node.attrs["axis"], node.attrs["mode"]
    j = _normalized(gen, node, idx_value, idx_node, x_node.shape[axis], axis, mode)

    def read(out_idx):
        at = j.read(broadcast_index(idx_node.shape, node.shape, out_idx))
        return x.read(tuple(out_idx[:axis]) + (at,) + tuple(out_idx[axis + 1:]))

    return Value(node.shape, reader=read, outer=not gen.inner)


def _scatter(gen, node, ops, along: bool, assign: str) -> Value:
    x, idx_value, values = ops
    x_node, idx_node, values_node = node.inputs
    axis, mode = node.attrs["axis"], node.attrs["mode"]
    dest = gen.alloc(node)
    gen.copy(x, dest, node.shape)
    j = _normalized(gen, node, idx_value, idx_node, x_node.shape[axis], axis, mode)
    shape = values_node.shape
    idx = tuple(f"i{d}" for d in range(len(shape)))
    if along:
        target = idx[:axis] + (j.read(broadcast_index(idx_node.shape, shape, idx)),) + idx[axis + 1:]
    else:
        k = idx_node.ndim
        target = idx[:axis] + (j.read(idx[axis:axis + k]),) + idx[axis + k:]
    # serial, in index order: duplicates add up (or the last one wins) as in the numpy backend
    gen.loop_nest(shape, [f"{dest.read(target)} {assign} {values.read(idx)}{gen.comment(node)}"])
    return dest


def lower_scatter_add(gen, node, ops) -> Value:
    return _scatter(gen, node, ops, along=False, assign="+=")


def lower_scatter(gen, node, ops) -> Value:
    return _scatter(gen, node, ops, along=False, assign="=")


def lower_scatter_add_along_axis(gen, node, ops) -> Value:
    return _scatter(gen, node, ops, along=True, assign="+=")


def _along_axis(gen, node, axis: int, reverse: bool, body_for) -> Value:
    """A loop nest over ``node``'s shape whose ``axis`` runs forwards (or backwards), each step
    computing ``out[i]`` from ``body_for(idx, previous_idx, first)``."""
    dest = gen.alloc(node)
    shape = node.shape
    idx = tuple(f"i{d}" for d in range(len(shape)))
    n = shape[axis]
    prev = list(idx)
    prev[axis] = f"{idx[axis]} + 1" if reverse else f"{idx[axis]} - 1"
    first = f"{idx[axis]} == {n - 1}" if reverse else f"{idx[axis]} == 0"
    lines = body_for(idx, tuple(prev), first, dest)
    start = gen.depth
    for d, size in enumerate(shape):
        bounds = f"{size} - 1, -1, -1" if reverse and d == axis else str(size)
        gen.line(f"for {idx[d]} in range({bounds}):")
        gen.depth += 1
    for text in lines:
        gen.line(text)
    gen.depth = start
    return dest


def lower_cumsum(gen, node, ops) -> Value:
    (x,) = ops
    zero = literal(0, node.dtype)

    def body(idx, prev, first, dest):
        return [f"{dest.read(idx)} = {x.read(idx)} + ({zero} if {first} else {dest.read(prev)})"
                f"{gen.comment(node)}"]

    return _along_axis(gen, node, node.attrs["axis"], node.attrs["reverse"], body)


def lower_cumprod(gen, node, ops) -> Value:
    (x,) = ops
    one = literal(1, node.dtype)

    def body(idx, prev, first, dest):
        return [f"{dest.read(idx)} = {x.read(idx)} * ({one} if {first} else {dest.read(prev)})"
                f"{gen.comment(node)}"]

    return _along_axis(gen, node, node.attrs["axis"], False, body)


def lower_linear_recurrence(gen, node, ops) -> Value:
    a, b = ops
    zero = literal(0, node.dtype)

    def body(idx, prev, first, dest):
        return [f"{dest.read(idx)} = {a.read(idx)} * ({zero} if {first} else {dest.read(prev)}) + "
                f"{b.read(idx)}{gen.comment(node)}"]

    return _along_axis(gen, node, node.attrs["axis"], node.attrs["reverse"], body)


def _lower_arg(better: str):
    """argmax (``better`` ">") or argmin ("<"): the first extreme entry; the first NaN wins, as
    in numpy (once the best is NaN nothing compares better, and a NaN beats any number)."""

    def lower(gen, node, ops) -> Value:
        (x,) = ops
        x_node = node.inputs[0]
        axis = node.attrs["axis"]
        best, at = gen.name(f"best{gen.index[node.serial]}"), gen.name(f"arg{gen.index[node.serial]}")
        value = gen.name("v")
        if axis is None:
            shape, idx = x_node.shape, tuple(f"i{d}" for d in range(x_node.ndim))
            strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]
            flat = " + ".join(f"{i} * {stride}" for i, stride in zip(idx, strides)) or "0"
            gen.line(f"{best} = {x.read(('0',) * x_node.ndim)}")
            gen.line(f"{at} = 0")
            wins = f"if ({value} {better} {best}) or ({value} != {value} and {best} == {best}):"
            gen.loop_nest(shape, [f"{value} = {x.read(idx)}", wins, f"    {best} = {value}",
                                  f"    {at} = {flat}"])
            if node.shape == ():
                return Value((), scalar=at, outer=not gen.inner)
            dest = gen.alloc(node)
            gen.line(f"{dest.read(('0',) * node.ndim)} = {at}{gen.comment(node)}")
            return dest
        keep = node.attrs["keepdims"]
        outer_shape = x_node.shape[:axis] + x_node.shape[axis + 1:]
        dest = None if node.shape == () else gen.alloc(node)  # a 0-d result is the scalar index
        oidx = tuple(f"i{d}" for d in range(len(outer_shape)))
        k = gen.name("k_arg")
        src = oidx[:axis] + (k,) + oidx[axis:]
        first = oidx[:axis] + ("0",) + oidx[axis:]
        out_idx = (oidx[:axis] + ("0",) + oidx[axis:]) if keep else oidx
        n = x_node.shape[axis]
        lines = [f"{best} = {x.read(first)}", f"{at} = 0", f"for {k} in range(1, {n}):",
                 f"    {value} = {x.read(src)}",
                 f"    if ({value} {better} {best}) or ({value} != {value} and {best} == {best}):",
                 f"        {best} = {value}", f"        {at} = {k}"]
        if dest is None:
            for text in lines:
                gen.line(text)
            return Value((), scalar=at, outer=not gen.inner)
        lines.append(f"{dest.read(out_idx)} = {at}{gen.comment(node)}")
        if outer_shape:
            gen.loop_nest(outer_shape, lines)
        else:
            for text in lines:
                gen.line(text)
        return dest

    return lower


STATEMENTS = {
    "take": lower_take,
    "take_along_axis": lower_take_along_axis,
    "scatter_add": lower_scatter_add,
    "scatter": lower_scatter,
    "scatter_add_along_axis": lower_scatter_add_along_axis,
    "cumsum": lower_cumsum,
    "cumprod": lower_cumprod,
    "linear_recurrence": lower_linear_recurrence,
    "argmax": _lower_arg(">"),
    "argmin": _lower_arg("<"),
}
