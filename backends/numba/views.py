"""View lowerings of the numba backend: ops that only say *where* a value is read.

Each entry is ``fn(gen, node, operands) -> Value``; the value's reader maps an index of the node
to an expression over its operand, so ``transpose``, ``broadcast_to``, ``slice``, ``diagonal``,
unit-axis ``reshape`` and ``stop_gradient`` cost nothing, and ``unslice``, ``embed_diagonal`` and
``concatenate`` become piecewise reads (``g[i0 - 1]`` for 1 <= i0 < 3, else ``0.0``) that a
loop evaluates in place instead of materialising zeros and copying: split into one loop per
piece when the loop runs over that axis (:mod:`.segments`), else conditional expressions.
Only a general ``reshape`` of a non-contiguous value emits code (a copy, then ``.reshape``).
"""

from __future__ import annotations

import re

from .scalars import literal
from .segments import bare_loop_index
from .values import Value, broadcast_index


def _view(gen, node, reader, **extra) -> Value:
    return Value(node.shape, reader=reader, outer=not gen.inner, **extra)


def _affine(start: int, step: int, i: str) -> str:
    if step == 1:
        return i if start == 0 else f"({i} + {start})"
    if step < 0:
        return f"({start} - {-step} * {i})"
    return f"({start} + {step} * {i})" if start else f"({step} * {i})"


def _broadcast_to(gen, node, ops):
    (x,) = ops
    src = node.inputs[0]
    return _view(gen, node, lambda idx: x.read(broadcast_index(src.shape, node.shape, idx)))


def _transpose(gen, node, ops):
    (x,) = ops
    axes = node.attrs["axes"]

    def read(idx):
        src = [""] * len(axes)
        for j, a in enumerate(axes):
            src[a] = idx[j]
        return x.read(tuple(src))

    t = x if len(axes) == 2 and tuple(axes) == (1, 0) else None
    return _view(gen, node, read, transpose_of=t)


def _slice(gen, node, ops):
    (x,) = ops
    a = node.attrs
    return _view(gen, node, lambda idx: x.read(tuple(
        _affine(s, st, i) for s, st, i in zip(a["starts"], a["steps"], idx))))


def _window(i: str, start: int, step: int, length: int, dim: int):
    """(condition or None, source index) of output index ``i`` in an unslice window."""
    if step == 1 and start == 0 and length == dim:
        return None, i
    if length == 0:
        return "False", "0"
    last = start + step * (length - 1)
    lo, hi = min(start, last), max(start, last)
    conds = [f"{lo} <= {i} <= {hi}"]
    if step == 1:
        return conds[0], (i if start == 0 else f"({i} - {start})")
    offset = f"({i} - {start})" if step > 0 else f"({start} - {i})"
    conds.append(f"{offset} % {abs(step)} == 0")
    return " and ".join(conds), f"({offset} // {abs(step)})"


def _unslice(gen, node, ops):
    (g,) = ops
    a = node.attrs
    zero = literal(0, node.dtype)

    def read(idx):
        parts = [_window(i, s, st, ln, d) for i, s, st, ln, d in
                 zip(idx, a["starts"], a["steps"], node.inputs[0].shape, a["shape"])]
        # a unit-step window along a loop's own index is a piece of its loop (.segments)
        pieced = [d for d, (c, _) in enumerate(parts) if c is not None and a["steps"][d] == 1
                  and bare_loop_index(idx[d])]
        conds = [c for d, (c, _) in enumerate(parts) if c is not None and d not in pieced]
        inner = g.read(tuple(j for _, j in parts))
        expr = f"({inner} if {' and '.join(conds)} else {zero})" if conds else inner
        for d in reversed(pieced):
            lo, hi = a["starts"][d], a["starts"][d] + node.inputs[0].shape[d]
            cuts = [c for c in (lo, hi) if 0 < c < a["shape"][d]]
            pieces = ([zero] if lo > 0 else []) + [expr] + ([zero] if hi < a["shape"][d] else [])
            expr = gen.pieces.token(idx[d], cuts, pieces)
        return expr

    return _view(gen, node, read)


def _concatenate(gen, node, ops):
    axis = node.attrs["axis"]
    ends, total = [], 0
    for x in node.inputs:
        total += x.shape[axis]
        ends.append(total)

    def read(idx):
        i = idx[axis]

        def part(k):
            off = ends[k - 1] if k else 0
            shifted = i if off == 0 else f"({i} - {off})"
            return ops[k].read(idx[:axis] + (shifted,) + idx[axis + 1:])

        if bare_loop_index(i):  # a piece of its loop (.segments)
            return gen.pieces.token(i, ends[:-1], [part(k) for k in range(len(ops))])
        expr = part(len(ops) - 1)
        for k in reversed(range(len(ops) - 1)):
            expr = f"({part(k)} if {i} < {ends[k]} else {expr})"
        return expr

    return _view(gen, node, read)


def _diagonal(gen, node, ops):
    (x,) = ops
    off = node.attrs["offset"]

    def read(idx):
        *batch, d = idx
        pair = (d, _affine(off, 1, d)) if off >= 0 else (_affine(-off, 1, d), d)
        return x.read(tuple(batch) + pair)

    return _view(gen, node, read)


def _embed_diagonal(gen, node, ops):
    (g,) = ops
    off = node.attrs["offset"]
    zero = literal(0, node.dtype)

    def read(idx):
        *batch, i, j = idx
        on = f"{j} == {_affine(off, 1, i)}" if off >= 0 else f"{i} == {_affine(-off, 1, j)}"
        return f"({g.read(tuple(batch) + ((i,) if off >= 0 else (j,)))} if {on} else {zero})"

    return _view(gen, node, read)


def _reshape(gen, node, ops):
    (x,) = ops
    src = node.inputs[0]
    kept_in = [i for i, d in enumerate(src.shape) if d != 1]
    kept_out = [i for i, d in enumerate(node.shape) if d != 1]
    if [src.shape[i] for i in kept_in] == [node.shape[i] for i in kept_out]:
        pairs = dict(zip(kept_in, kept_out))  # only axes of length 1 come or go: an index mapping

        def read(idx):
            return x.read(tuple(idx[pairs[i]] if i in pairs else "0" for i in range(src.ndim)))

        return _view(gen, node, read)
    expr, _ = gen.realize(x, src.dtype, allow_f=False)
    name = gen.var(node)
    gen.line(f"{name} = {expr}.reshape({_shape(node.shape)}){gen.comment(node)}")
    base = re.match(r"\w+", expr).group()
    gen.aliases[name] = gen.aliases.get(base, base)  # the workspace keeps base alive while name is
    return Value(node.shape, array=name, fresh=x.fresh or not x.plain, outer=not gen.inner)


def _shape(shape) -> str:
    return "(" + "".join(f"{d}, " for d in shape).rstrip() + ")"


def _symmetrize(gen, node, ops):
    (x,) = ops

    def read(idx):
        *batch, i, j = idx
        return f"({x.read((*batch, i, j))} if {i} >= {j} else {x.read((*batch, j, i))})"

    return _view(gen, node, read, symmetric_of=x if node.ndim == 2 else None)


VIEWS = {
    "item": lambda gen, node, ops: ops[0][node.attrs["index"]],  # a result of a node of several
    "symmetrize": _symmetrize,
    "broadcast_to": _broadcast_to,
    "transpose": _transpose,
    "slice": _slice,
    "unslice": _unslice,
    "concatenate": _concatenate,
    "diagonal": _diagonal,
    "embed_diagonal": _embed_diagonal,
    "reshape": _reshape,
    "stop_gradient": lambda gen, node, ops: ops[0],
}
