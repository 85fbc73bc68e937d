"""The primitive-op registry: one :class:`Primitive` per op holds the op's whole meaning.

A primitive is declared once, with :func:`graphc.ops.declare.defop` (graphc's own ops and users'
alike), and this record is all anyone reads about it:

* ``infer(*inputs, **attrs) -> (shape, dtype)``, the shape/dtype rule, raising
  :class:`ShapeError` / :class:`DTypeError` with a message that names what is wrong;
* ``vjp``: one rule per input, ``rule(g, out, *inputs, **attrs) -> Node | None``, the contribution
  ``g · ∂out/∂input`` (``None``: the derivative is zero, e.g. comparisons);
* ``jvp``: one rule per input, ``rule(t, out, *inputs, **attrs) -> Node | None``, the tangent of the
  output caused by tangent ``t`` of that input (or ``jvp_joint``, one rule given every operand's
  tangent at once, ``None`` for operands without one). A variadic op (``arity=None``) gives a
  single VJP rule, called with ``_operand=i``; ``vjp_joint`` computes every operand's cotangent
  at once (a loop's reverse loop yields them together);
* an op with several results (``multiple_results``: a loop's carries and stacked outputs) builds
  a tuple node; its rules take and give one cotangent or tangent per result (None: zero), and
  ``item`` nodes pick the results apart;
* ``impl(*arrays, **attrs) -> array``: the numpy implementation, which the reference backend runs
  and constant folding evaluates;
* ``scalar``: for an elementwise op, the scalar function it applies (``math.atan``, or a user's
  numba-compilable function): the numba backend's default lowering calls it in its fused loops;
  ``numba``: for another op, an array function numba can compile, called by the generated kernel;
* ``formula(node, *operand_exprs) -> Expr``: how pictures write it (:mod:`graphc.ops.notation`);
  pictures derive the formulas of its derivative terms from the rules themselves;
* ``flags`` (see :data:`FLAGS`) for rewrite rules and the numba backend, and the public builder
  ``function`` (``gc.exp``) with its ``api`` name, numpy's.

Rules build graph nodes with the public builder functions, never arrays, so derived graphs can be
differentiated again. They reach those functions through :data:`api`, resolved when a rule runs:
the modules that declare ops never import the builder that is built from them. Backends keep
their own lowering tables for the ops they lower specially, keyed by the op name.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..context import current_provenance, current_scope, user_location, where
from ..errors import (
    BackendError,
    DTypeError,
    GraphError,
    GraphTypeError,
    IndexRangeError,
    InputError,
    ShapeError,
)
from ..ir import Meta, Node

Rule = Callable[..., "Node | None"]

FLAGS = {
    "commutative": "op(a, b) == op(b, a): rewrite patterns try both operand orders",
    "transcendental": "costs about a libm call per element (the numba backend's estimate of a loop's work)",
    "nonnegative": "the result is >= 0 (or NaN) wherever it is defined: rewrites such as exp(log(x)) -> x",
}
CATEGORIES = ("source", "elementwise", "reduction", "structural", "linalg", "call", "loop", "other")


@dataclass(frozen=True, eq=False)
class Primitive:
    """Everything about one op (see the module docstring)."""

    name: str
    infer: Callable
    vjp: tuple[Rule | None, ...] | None
    jvp: tuple[Rule | None, ...] | None
    arity: int | None  # None: variadic (concatenate)
    category: str
    doc: str = ""
    jvp_joint: Callable | None = None  # rule(tangents, out, *inputs, **attrs) for all operands at once
    impl: Callable | None = None
    scalar: Callable | None = None
    numba: Callable | None = None
    formula: Callable | None = None
    flags: frozenset[str] = frozenset()
    function: Callable | None = None
    api: str | None = None
    builtin: bool = True
    version: str = ""  # digest of the code of scalar/numba (user ops: part of the kernel cache key)
    multiple_results: bool = False  # infer gives one (shape, dtype) per result: a tuple node
    vjp_joint: Callable | None = None  # rule(g, out, *inputs, **attrs) -> one cotangent per operand

    def vjp_rule(self, i: int) -> Rule | None:
        rules = self.vjp or ()
        return rules[min(i, len(rules) - 1)] if rules else None

    def jvp_rule(self, i: int) -> Rule | None:
        rules = self.jvp or ()
        return rules[min(i, len(rules) - 1)] if rules else None

    def __call__(self, *operands, **kwargs) -> Node:
        """Build a node of this op, as its builder function does (``gc.exp(x)``)."""
        if self.function is None:
            raise GraphTypeError(f"op {self.name!r} has no builder function")
        return self.function(*operands, **kwargs)

    @property
    def commutative(self) -> bool:
        return "commutative" in self.flags

    @property
    def differentiable(self) -> bool:
        return bool(self.vjp or self.jvp or self.jvp_joint or self.vjp_joint)

    def __repr__(self) -> str:
        return f"<Primitive {self.name} ({self.category})>"


PRIMITIVES: dict[str, Primitive] = {}


def register(prim: Primitive, replace: bool = False) -> Primitive:
    """Add a declared primitive to the registry (:func:`graphc.ops.declare.defop` calls this)."""
    old = PRIMITIVES.get(prim.name)
    if old is not None and (old.builtin or not replace):
        from ..errors import DeclarationError

        if old.builtin and not prim.builtin:
            raise DeclarationError(f"op name {prim.name!r} is graphc's own op; choose another name "
                                   f"(a prefix such as 'mylib.{prim.name}' keeps names apart)")
        raise DeclarationError(f"op {prim.name!r} is declared twice (pass replace=True to declare it again, "
                               "e.g. when a notebook cell runs a second time)")
    PRIMITIVES[prim.name] = prim
    if prim.api and prim.function is not None and prim.builtin:
        api.register(prim.function, prim.api)
    return prim


def primitive(name: str) -> Primitive:
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}; known ops: {', '.join(sorted(PRIMITIVES))}") from None


ENTRY_POINT_GROUP = "graphc.ops"
_plugins_loaded = False
_plugin_failures: list[str] = []


def find(name: str) -> Primitive | None:
    """The op ``name``, declared in this process or by an installed package: on the first miss,
    every entry point of the group ``graphc.ops`` is loaded once (a module that declares ops when
    imported, or a function that declares them when called). Names a file holds are only ever
    looked up here, never imported: a file cannot make graphc import a module it names."""
    prim = PRIMITIVES.get(name)
    if prim is None and not _plugins_loaded:
        load_plugins()
        prim = PRIMITIVES.get(name)
    return prim


def load_plugins() -> list[str]:
    """Load the ``graphc.ops`` entry points (once per process); returns the failures, one line each."""
    global _plugins_loaded
    if _plugins_loaded:
        return list(_plugin_failures)
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()  # importing a module declares its ops
            if not isinstance(loaded, types.ModuleType) and callable(loaded):
                loaded()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break graphc
            _plugin_failures.append(f"entry point {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}")
    return list(_plugin_failures)


def how_to_declare(name: str) -> str:
    """Advice for an op that is not declared in this process."""
    text = (f"unknown op {name!r}: it is not declared in this process; import the module that declares it "
            f"(gc.defop) first, or have its package declare it through an entry point of the group "
            f"{ENTRY_POINT_GROUP!r} (graphc loads those when it meets an op it does not know)")
    if _plugin_failures:
        text += "; loading the entry points failed: " + "; ".join(_plugin_failures)
    return text


class _Api:
    """graphc's public builder functions by name (``api.exp``, ``api.matmul``, ``api.expand_dims``):
    the primitives' own and the builder's composites. Derivative rules call them through this
    namespace, resolved when the rule runs, so declaring an op never imports the builder."""

    def __init__(self):
        object.__setattr__(self, "_functions", {})

    def register(self, fn: Callable, name: str | None = None) -> Callable:
        self._functions[name or fn.__name__] = fn
        return fn

    def __getattr__(self, name: str) -> Callable:
        try:
            return self._functions[name]
        except KeyError:
            raise AttributeError(f"graphc has no builder function {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("register builder functions with api.register(fn)")

    def names(self) -> list[str]:
        return sorted(self._functions)

    def items(self):
        return dict(self._functions).items()


api = _Api()


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


def bind(op: str, inputs, attrs: dict | None = None, *, name=None, value=None,
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
        inferred = prim.infer(*inputs, **attrs)
    except (ShapeError, DTypeError) as exc:
        raise type(exc)(f"{op}: {exc}{where(meta)}") from None
    except TypeError as exc:  # an attribute missing or unexpected: only reachable from files / raw IR
        if not prim.builtin:
            raise GraphTypeError(f"{op}: its shape rule failed: {exc}{where(meta)}") from None
        raise GraphError(f"{op}: bad attributes {sorted(attrs)}: {exc}{where(meta)}") from None
    if prim.multiple_results:
        return Node(op, inputs, attrs, None, None, meta, value=value, types=inferred)
    shape, dtype = _checked_type(prim, inferred, meta)
    return Node(op, inputs, attrs, shape, dtype, meta, value=value)


def _checked_type(prim: Primitive, inferred, meta) -> tuple[tuple[int, ...], np.dtype]:
    if prim.builtin:
        return inferred
    from ..dtypes import as_dtype
    from ..errors import DeclarationError

    ok = isinstance(inferred, tuple) and len(inferred) == 2 and isinstance(inferred[0], (tuple, list)) \
        and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in inferred[0])
    if ok:
        try:
            return tuple(int(d) for d in inferred[0]), as_dtype(inferred[1])
        except DTypeError:
            ok = False
    raise DeclarationError(f"the shape rule of op {prim.name!r} returned {inferred!r}{where(meta)}; it must "
                           "return (shape, dtype): a tuple of non-negative ints and a dtype graphc supports")


def check_rule_result(built: Node, like: Node, rule: str, prim: Primitive | None = None) -> None:
    """A derivative rule must build a value of exactly the type of the one it stands for."""
    check_rule_type(built, like.shape, like.dtype, rule, prim)


def check_rule_type(built: Node, shape, dtype, rule: str, prim: Primitive | None = None) -> None:
    if built.shape != tuple(shape) or built.dtype != dtype:
        from ..dtypes import type_string

        like = type_string(tuple(shape), np.dtype(dtype))
        if prim is not None and not prim.builtin:
            from ..errors import DeclarationError

            raise DeclarationError(
                f"the {rule} rule of op {prim.name!r} built {built.type_string} for a value of type "
                f"{like}: a rule must return a node of its operand's shape and dtype")
        raise GraphError(f"internal error: the {rule} rule built {built.type_string} for a value of type "
                         f"{like}")


def evaluate(node: Node, values) -> np.ndarray:
    """``node``'s value from its operands' values, by its op's numpy implementation: what the
    reference backend runs. The result must have the node's shape and dtype (a user op whose
    ``impl`` returns something else is refused by name)."""
    if node.types is not None:
        values = PRIMITIVES[node.op].impl(*values, **node.attrs)
        return tuple(np.asarray(v, dtype=t) for v, (_, t) in zip(values, node.types))
    try:
        value = apply_impl(node, values)
    except IndexRangeError as exc:  # named here, where the node is known: the same on every backend
        from .indexing import index_error_message

        raise InputError(index_error_message(node, exc.value, exc.size, exc.axis)) from None
    if value.shape != node.shape:
        raise BackendError(
            f"the numpy implementation of op {node.op!r} returned an array of shape {value.shape} for a "
            f"node of type {node.type_string}")
    return value


def apply_impl(node: Node, values) -> np.ndarray:
    """The op's numpy implementation applied to ``values`` with ``node``'s attributes, as an array
    of ``node``'s dtype. The values may be smaller than the node's operands where numpy
    broadcasts (constant folding evaluates an elementwise op on the constants under broadcasts)."""
    prim = PRIMITIVES[node.op]
    if prim.impl is None:
        raise BackendError(f"op {node.op!r} has no numpy implementation (impl=)")
    value = prim.impl(*values, **node.attrs)
    if type(value) is np.ndarray and value.dtype == node.dtype:
        return value
    arr = np.asarray(value)
    if arr.dtype != node.dtype and not prim.builtin:
        raise BackendError(
            f"the numpy implementation of op {node.op!r} returned an array of dtype {arr.dtype} for a "
            f"node of type {node.type_string}")
    return arr if arr.dtype == node.dtype else arr.astype(node.dtype)


def run_graph(graph, values) -> list:
    """The graph's outputs for ``values`` of its inputs, each node by its op's numpy
    implementation: the reference semantics a loop's body runs with in the reference backend.
    (The numpy backend's interpreter does the same, and frees values after their last use.)"""
    env = {p.serial: v for p, v in zip(graph.inputs, values)}
    for node in graph.nodes:
        if node.serial in env:
            continue
        if node.op == "constant":
            env[node.serial] = node.value
        elif PRIMITIVES[node.op].category == "call":  # a custom function: its graph
            (env[node.serial],) = run_graph(node.attrs["fn"], [env[i.serial] for i in node.inputs])
        else:
            env[node.serial] = evaluate(node, [env[i.serial] for i in node.inputs])
    return [env[o.serial] for o in graph.outputs]
