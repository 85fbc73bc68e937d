"""Functions with a derivative of your own: :func:`custom_vjp`, as JAX's ``custom_vjp`` and
``custom_jvp``.

``f = gc.custom_vjp(fn, vjp=rule)`` is a function that builds one node of the op ``custom`` where it
is called. The node carries three graphs, traced when it is built: ``fn`` (what it computes, from
placeholders of its operands' types), ``vjp`` (the cotangents of the operands from the operands,
the output and its cotangent) and ``jvp`` (the output's tangent from the operands, the output and
the operands' tangents). The adjoint and JVP passes inline ``vjp`` and ``jvp`` where they would
otherwise apply a primitive's rules, so a derived graph differentiates the rules you gave, and a
derivative of them (an HVP) differentiates them again. Backends inline ``fn``
(:func:`graphc.transform.inline_calls`).

Nodes of the enclosing graph that ``fn`` reads without taking them as arguments (closed over)
become operands of the node too; their derivatives are those of ``fn`` itself. A rule you leave
out is derived from ``fn`` as for any graph.
"""

from __future__ import annotations

from collections.abc import Callable

from .adjoint import backpropagate
from .dtypes import is_float
from .errors import DeclarationError, GraphError, GraphTypeError
from .forward import push_tangents
from .ir import Graph, Node, next_serial
from .ops.core import api as gc
from .ops.core import bind
from .ops.declare import defop
from .ops.notation import apply
from .ops.promotion import as_node
from .ops.sources import placeholder
from .transform import call_graph, closed_over, substitute


def _infer_custom(*xs, name, fn, vjp, jvp):
    if len(xs) != len(fn.inputs):
        raise GraphError(f"{name} takes {len(fn.inputs)} operands, got {len(xs)}")
    for x, p in zip(xs, fn.inputs):
        if x.shape != p.shape or x.dtype != p.dtype:
            raise GraphError(f"{name}: operand {x.type_string} where its graph takes {p.type_string}")
    out = fn.outputs[0]
    return out.shape, out.dtype


def _custom_vjp(g, out, *xs, name, fn, vjp, jvp, _operand):
    if not is_float(xs[_operand].dtype):
        return None
    return call_graph(vjp, [*xs, out, g])[_operand]


def _custom_jvp(tangents, out, *xs, name, fn, vjp, jvp):
    filled = [t if t is not None else gc.zeros_like(x) for t, x in zip(tangents, xs) if is_float(x.dtype)]
    (result,) = call_graph(jvp, [*xs, out, *filled])
    return result


defop("custom", _infer_custom, arity=None, category="call", vjp=[_custom_vjp], jvp_joint=_custom_jvp,
      formula=lambda node, *args: apply(node.attrs["name"], *args),
      doc="a function with derivative rules of its own (gc.custom_vjp); backends inline its graph",
      _builtin=True)


class CustomFunction:
    """A function whose derivatives are given (see :func:`custom_vjp`); calling it on nodes builds
    one ``custom`` node."""

    def __init__(self, fn: Callable, vjp: Callable | None = None, jvp: Callable | None = None,
                 name: str | None = None):
        if not callable(fn):
            raise GraphTypeError(f"custom_vjp takes a function, got {type(fn).__name__}")
        self.fn = fn
        self.vjp = vjp
        self.jvp = jvp
        self.name = name or getattr(fn, "__name__", "custom")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = self.name

    def defvjp(self, rule: Callable) -> Callable:
        """Set the VJP rule, ``rule(g, out, *args) -> one cotangent per argument (None: zero)``;
        usable as a decorator."""
        self.vjp = rule
        return rule

    def defjvp(self, rule: Callable) -> Callable:
        """Set the JVP rule, ``rule(tangents, out, *args) -> the output's tangent`` (a tangent is
        None where an argument has none); usable as a decorator."""
        self.jvp = rule
        return rule

    def __call__(self, *args, name: str | None = None) -> Node:
        args = [as_node(a) for a in args]
        params = [placeholder(f"arg{i}", a.shape, a.dtype) for i, a in enumerate(args)]
        start = next_serial()  # what is made from here on is the function's or its rules'
        out = self.fn(*params)
        if not isinstance(out, Node):
            raise GraphTypeError(f"custom function {self.name!r} must return one graph node, got "
                                 f"{type(out).__name__}")
        out_in = placeholder("out", out.shape, out.dtype)
        g = placeholder("g", out.shape, out.dtype)
        tangents = [placeholder(f"t{k}", p.shape, p.dtype) if is_float(p.dtype) else None
                    for k, p in enumerate(params)]
        cotangents = self._user_vjp(g, out_in, params)
        tangent = self._checked(self.jvp(tangents, out_in, *params), out, "jvp") if self.jvp else None
        traced = [out, *(c for c in cotangents if c is not None), *([tangent] if tangent is not None else [])]
        captured = closed_over(traced, start, params)
        stand_ins = [placeholder(f"captured{j}", c.shape, c.dtype) for j, c in enumerate(captured)]
        traced = substitute(traced, {c.serial: s for c, s in zip(captured, stand_ins)})
        body_out, rest = traced[0], iter(traced[1:])
        cotangents = [next(rest) if c is not None else None for c in cotangents]
        tangent = next(rest) if tangent is not None else None
        body = Graph(params + stand_ins, [body_out], name=self.name)
        n_args = len(params)
        attrs = {"name": self.name, "fn": body,
                 "vjp": self._vjp_graph(body, n_args, out_in, g, cotangents),
                 "jvp": self._jvp_graph(body, n_args, out_in, tangents, tangent)}
        return bind("custom", args + captured, attrs, name=name)

    def _user_vjp(self, g: Node, out_in: Node, params: list[Node]) -> list[Node | None]:
        """The cotangents the user's rule gives, one per argument (None: zero, or no rule)."""
        if self.vjp is None:
            return [None] * len(params)
        user = self.vjp(g, out_in, *params)
        user = (user,) if isinstance(user, Node) or user is None else tuple(user)
        if len(user) != len(params):
            raise DeclarationError(f"the vjp rule of {self.name!r} returned {len(user)} cotangent(s) for "
                                   f"{len(params)} argument(s)")
        return [self._checked(c, p, "vjp") for c, p in zip(user, params)]

    def _vjp_graph(self, body: Graph, n_args: int, out_in: Node, g: Node, given: list) -> Graph:
        """(arguments, closed-over values, out, g) -> one cotangent per operand: the user's for
        the arguments when a rule is given, the function's own (backpropagated) otherwise."""
        out = body.outputs[0]
        derived = [p for k, p in enumerate(body.inputs)
                   if is_float(p.dtype) and (self.vjp is None or k >= n_args)]
        adjoints = backpropagate(body, out, g, derived) if derived and is_float(out.dtype) else {}
        cotangents = []
        for k, p in enumerate(body.inputs):
            c = given[k] if k < n_args and self.vjp is not None else adjoints.get(p.serial)
            cotangents.append(c if c is not None else gc.zeros_like(p))
        return Graph(list(body.inputs) + [out_in, g], cotangents, name=f"vjp({self.name})")

    def _jvp_graph(self, body: Graph, n_args: int, out_in: Node, tangents: list, given) -> Graph:
        """(arguments, closed-over values, out, tangents of the float ones) -> the output's
        tangent: the user's rule for the arguments' part when given, the function's own JVP for
        the rest."""
        out = body.outputs[0]
        tangent_of = {p.serial: t for p, t in zip(body.inputs, tangents) if t is not None}
        for k, p in enumerate(body.inputs[n_args:]):
            if is_float(p.dtype):
                tangent_of[p.serial] = placeholder(f"t{n_args + k}", p.shape, p.dtype)
        seeds = tangent_of if self.jvp is None else {
            s: t for s, t in tangent_of.items() if s in {p.serial for p in body.inputs[n_args:]}}
        total = given
        if seeds:
            pushed = push_tangents(body, seeds).get(out.serial)
            if pushed is not None:
                total = pushed if total is None else total + pushed
        if total is None:
            total = gc.zeros_like(out)
        inputs = list(body.inputs) + [out_in]
        inputs += [tangent_of[p.serial] for p in body.inputs if is_float(p.dtype)]
        return Graph(inputs, [total], name=f"jvp({self.name})")

    def _checked(self, built, like: Node, rule: str):
        if built is None:
            return None
        if not isinstance(built, Node):
            built = as_node(built)
        if built.shape != like.shape or built.dtype != like.dtype:
            raise DeclarationError(f"the {rule} rule of {self.name!r} built {built.type_string} for "
                                   f"{like.type_string}")
        return built


def custom_vjp(fn: Callable | None = None, *, vjp: Callable | None = None, jvp: Callable | None = None,
               name: str | None = None):
    """``fn`` with derivative rules of your own: ``vjp(g, out, *args)`` returns one cotangent per
    argument (None: zero), ``jvp(tangents, out, *args)`` the output's tangent. A rule left out is
    derived from ``fn``. As a decorator: ``@gc.custom_vjp`` then ``@f.defvjp``, or
    ``@gc.custom_vjp(vjp=rule)``.

    For example, a gradient clipped to [-1, 1] on its way back, and the square root by Newton's
    iteration differentiated implicitly (d√a = da / 2√a) instead of through its ten steps::

        clip = gc.custom_vjp(lambda x: x, vjp=lambda g, out, x: gc.minimum(gc.maximum(g, -1.0), 1.0))
        def newton_sqrt(a):
            y = a
            for _ in range(10):
                y = 0.5 * (y + a / y)
            return y
        sqrt = gc.custom_vjp(newton_sqrt, vjp=lambda g, out, a: g / (2.0 * out))
    """
    if fn is None:
        return lambda f: CustomFunction(f, vjp, jvp, name)
    return CustomFunction(fn, vjp, jvp, name)
