"""Helpers shared by derivative rules (they build nodes through :data:`graphc.ops.core.api`)."""

from __future__ import annotations

from ..ir import Node
from .core import api as gc


def unbroadcast(g: Node, shape: tuple[int, ...]) -> Node:
    """Undo numpy broadcasting: sum ``g`` over the axes that broadcasting added or stretched,
    so that the adjoint has the shape of the operand it belongs to."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1
    )
    summed = gc.sum(g, axis=axes) if axes else g
    return gc.reshape(summed, shape)


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def with_kept_axes(node: Node, in_shape: tuple[int, ...], axes, keepdims: bool) -> Node:
    """A reduction's result (or cotangent) reshaped so it broadcasts against the operand."""
    return node if keepdims else gc.reshape(node, keepdims_shape(in_shape, axes))
