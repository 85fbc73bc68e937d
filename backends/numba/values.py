"""How generated code reads a value: :class:`Value` and the index helpers shared by the numba
backend's code generator and its view and statement lowerings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Value:
    """How generated code reads a node's value: a scalar expression, an array (``array[prefix +
    index]``), or a view with its own ``reader(index) -> expression``."""

    shape: tuple[int, ...]
    scalar: str | None = None
    array: str | None = None
    prefix: tuple[str, ...] = ()
    reader: object = None
    transpose_of: Value | None = None  # a 2-d transpose of a plain array: realised as ``a.T``
    symmetric_of: Value | None = None  # symmetrize(x) of a 2-d x: products use BLAS ?symv/?symm
    fresh: bool = False  # memory the kernel allocated (an output may return it without a copy)
    outer: bool = True  # defined outside the batch loop (batch-invariant)
    const: object = None  # the value, when it is a 0-d constant known at code generation

    def read(self, idx) -> str:
        idx = tuple(idx)
        if self.reader is not None:
            return self.reader(idx)
        if self.scalar is not None:
            return self.scalar
        return f"{self.array}[{', '.join(self.prefix + idx)}]"

    @property
    def plain(self) -> bool:
        return self.array is not None and self.reader is None

    def array_expr(self) -> str:
        return f"{self.array}[{', '.join(self.prefix)}]" if self.prefix else self.array


def broadcast_index(shape, target, idx) -> tuple[str, ...]:
    """The index of an operand of ``shape`` broadcast against ``target`` at loop index ``idx``."""
    off = len(target) - len(shape)
    return tuple("0" if d == 1 else idx[off + i] for i, d in enumerate(shape))


def shape_text(shape) -> str:
    return "(" + "".join(f"{d}, " for d in shape).rstrip(" ") + ")"
