"""The primitive-op registry: each op declared once with its shape rule, VJP and JVP.

A primitive is declared with :func:`defop`:

* ``infer(*inputs, **attrs) -> (shape, dtype)`` checks operands and attributes and raises
  :class:`ShapeError` / :class:`DTypeError` with a message that names what is wrong;
* ``vjp``: one rule per input, ``rule(g, out, *inputs, **attrs) -> Node | None``, the contribution
  ``g · ∂out/∂input`` (``None``: the derivative is zero, e.g. comparisons);
* ``jvp``: one rule per input, ``rule(t, out, *inputs, **attrs) -> Node | None``, the tangent of the
  output caused by tangent ``t`` of that input (or ``jvp_joint``, one rule given every operand's
  tangent at once, ``None`` for operands without one).

A variadic op (``arity=None``) gives a single VJP rule, called with ``_operand=i``.

Rules build graph nodes with the public builder API, never arrays, so derived graphs can be
differentiated again. Backends keep their own lowering tables, keyed by the op name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..context import current_provenance, current_scope, user_location, where
from ..errors import DTypeError, GraphError, GraphTypeError, ShapeError
from ..ir import Meta, Node

Rule = Callable[..., "Node | None"]


@dataclass(frozen=True)
class Primitive:
    name: str
    infer: Callable
    vjp: tuple[Rule | None, ...] | None
    jvp: tuple[Rule | None, ...] | None
    arity: int | None  # None: variadic (concatenate)
    category: str
    doc: str = ""
    jvp_joint: Callable | None = None  # rule(tangents, out, *inputs, **attrs) for all operands at once

    def vjp_rule(self, i: int) -> Rule | None:
        rules = self.vjp or ()
        return rules[min(i, len(rules) - 1)] if rules else None

    def jvp_rule(self, i: int) -> Rule | None:
        rules = self.jvp or ()
        return rules[min(i, len(rules) - 1)] if rules else None


PRIMITIVES: dict[str, Primitive] = {}


def defop(
    name: str,
    infer: Callable,
    vjp: Sequence[Rule | None] | None = None,
    jvp: Sequence[Rule | None] | None = None,
    arity: int | None = 1,
    category: str = "other",
    doc: str = "",
    jvp_joint: Callable | None = None,
) -> Primitive:
    """Declare a primitive. ``vjp=None`` / ``jvp=None`` means the op has a zero derivative
    (or none: integer and boolean results); a variadic op gives one rule used for every input."""
    if name in PRIMITIVES:
        raise GraphError(f"primitive {name!r} is declared twice")
    prim = Primitive(
        name, infer, tuple(vjp) if vjp else None, tuple(jvp) if jvp else None, arity, category, doc,
        jvp_joint,
    )
    PRIMITIVES[name] = prim
    return prim


def primitive(name: str) -> Primitive:
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}; known ops: {', '.join(sorted(PRIMITIVES))}") from None


def current_meta(name: str | None = None) -> Meta:
    """Meta for a node being built now: user name, scope, location and any pass provenance."""
    ctx = current_provenance()
    if ctx:
        fields = dict(ctx)
        fields.setdefault("scope", current_scope())
        if "location" not in fields:
            fields["location"] = user_location()
        if name is not None:
            fields["name"] = name
        return Meta(**fields)
    return Meta(name=name, scope=current_scope(), location=user_location())


def bind(op: str, inputs: Sequence[Node], attrs: dict | None = None, *, name=None, value=None,
         meta: Meta | None = None) -> Node:
    """Build a node of primitive ``op``, inferring (and so checking) its shape and dtype."""
    prim = primitive(op)
    attrs = attrs or {}
    if name is not None and not isinstance(name, str):
        raise GraphTypeError(f"name= must be a string, got {type(name).__name__}")
    meta = meta if meta is not None else current_meta(name)
    for i, inp in enumerate(inputs):
        if not isinstance(inp, Node):
            raise GraphTypeError(f"{op}: operand {i} must be a graph node, got {type(inp).__name__}")
    if prim.arity is not None and len(inputs) != prim.arity:
        raise GraphError(f"{op}: expects {prim.arity} operand(s), got {len(inputs)}{where(meta)}")
    try:
        shape, dtype = prim.infer(*inputs, **attrs)
    except (ShapeError, DTypeError) as exc:
        raise type(exc)(f"{op}: {exc}{where(meta)}") from None
    except TypeError as exc:  # an attribute missing or unexpected: only reachable from files / raw IR
        raise GraphError(f"{op}: bad attributes {sorted(attrs)}: {exc}{where(meta)}") from None
    return Node(op, inputs, attrs, shape, dtype, meta, value=value)


def check_rule_result(built: Node, like: Node, rule: str) -> None:
    """A derivative rule must build a value of exactly the type of the one it stands for."""
    if built.shape != like.shape or built.dtype != like.dtype:
        raise GraphError(
            f"internal error: the {rule} rule built {built.type_string} for a value of type "
            f"{like.type_string}"
        )
