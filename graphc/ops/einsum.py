"""``einsum`` with explicit subscripts: one primitive whose derivative rules are einsums again.

The VJP for operand i contracts the cotangent with the other operands onto operand i's
subscripts; indices that only operand i carries (summed inside it) are broadcast back.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError, GraphTypeError, ShapeError
from .core import api as gc
from .core import bind
from .declare import defop
from .notation import apply
from .promotion import promote
from .shapes import same_dtype


def parse(subscripts: str, n_operands: int) -> tuple[list[str], str]:
    """Operand and output subscripts of an explicit einsum, validated."""
    if "->" not in subscripts:
        raise ShapeError(f"einsum needs explicit output subscripts ('ij,jk->ik'), got {subscripts!r}")
    if "." in subscripts:
        raise ShapeError("einsum ellipsis ('...') is not supported: name every axis")
    lhs, _, out = subscripts.partition("->")
    ins = lhs.split(",")
    if len(ins) != n_operands:
        raise ShapeError(f"einsum {subscripts!r} names {len(ins)} operands, got {n_operands}")
    for part in ins + [out]:
        if not all(c.isalpha() and c.isascii() for c in part):
            raise ShapeError(f"einsum subscripts must be letters, got {part!r} in {subscripts!r}")
        if len(set(part)) != len(part):
            raise ShapeError(
                f"einsum subscripts {part!r} repeat an index (traces and diagonals: use gc.diagonal)"
            )
    missing = set(out) - set("".join(ins))
    if missing:
        raise ShapeError(f"einsum output index {''.join(sorted(missing))!r} appears in no operand")
    return ins, out


def _sizes(ins, xs):
    sizes: dict[str, int] = {}
    for part, x in zip(ins, xs):
        if len(part) != x.ndim:
            raise ShapeError(f"einsum subscripts {part!r} do not fit {x.type_string}")
        for c, d in zip(part, x.shape):
            if sizes.setdefault(c, d) != d:
                raise ShapeError(f"einsum index {c!r} has sizes {sizes[c]} and {d}")
    return sizes


def _infer_einsum(*xs, subscripts):
    dtype = same_dtype(*xs)
    ins, out = parse(subscripts, len(xs))
    sizes = _sizes(ins, xs)
    return tuple(sizes[c] for c in out), dtype


def einsum_op(subscripts, operands):
    return bind("einsum", list(operands), {"subscripts": subscripts})


def _einsum_vjp(g, out, *xs, subscripts, _operand):
    ins, out_subs = parse(subscripts, len(xs))
    mine = ins[_operand]
    others = [(s, x) for k, (s, x) in enumerate(zip(ins, xs)) if k != _operand]
    available = set(out_subs).union(*[set(s) for s, _ in others])
    kept = "".join(c for c in mine if c in available)
    contracted = einsum_op(f"{','.join([out_subs] + [s for s, _ in others])}->{kept}",
                           [g] + [x for _, x in others])
    if kept == mine:
        return contracted
    x = xs[_operand]
    with_ones = gc.reshape(contracted, tuple(d if c in available else 1 for c, d in zip(mine, x.shape)))
    return gc.broadcast_to(with_ones, x.shape)


def _einsum_jvp(tangents, out, *xs, subscripts):
    total = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        part = einsum_op(subscripts, [t if j == k else x for j, x in enumerate(xs)])
        total = part if total is None else gc.add(total, part)
    return total


def einsum(subscripts: str, *operands, name=None):
    """``np.einsum`` with explicit output subscripts (``"ij,jk->ik"``)."""
    if not isinstance(subscripts, str):
        raise GraphTypeError(f"einsum subscripts must be a string, got {subscripts!r}")
    if not operands:
        raise GraphError(f"einsum {subscripts!r} needs at least one operand")
    operands = promote(*operands)
    return bind("einsum", operands, {"subscripts": subscripts.replace(" ", "")}, name=name)


defop("einsum", _infer_einsum, arity=None, category="linalg", api="einsum", function=einsum,
      vjp=[_einsum_vjp], jvp_joint=_einsum_jvp,
      impl=lambda *xs, subscripts: np.einsum(subscripts, *xs),
      formula=lambda node, *args: apply(f"einsum[{node.attrs['subscripts']}]", *args), _builtin=True)
