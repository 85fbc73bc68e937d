"""Formulas for pictures: what an op computes (``z = v₄ + b``) and what each derivative rule
contributes (``x̄ += ȳ·w``, ``W̄ = ȳ xᵀ``, ``ẏ += ẋ·w``).

Formulas are written from the op and the operand index of a rule, with the readable names of the
nodes involved, so the picture states the chain-rule term v̄ⱼ ∂vⱼ/∂vᵢ the graph actually computes.
An :class:`Expr` carries its precedence so nested expressions get the parentheses they need.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dtypes import SHORT_NAMES

from .labels import shape_text, subscript

ATOM, POSTFIX, PREFIX, PRODUCT, SUM, COMPARE = 100, 90, 70, 60, 50, 40


@dataclass(frozen=True)
class Expr:
    text: str
    prec: int = ATOM

    def at(self, prec: int) -> str:
        """The text, parenthesised when it binds looser than ``prec``."""
        return self.text if self.prec >= prec else f"({self.text})"

    def __str__(self) -> str:
        return self.text


def atom(text: str) -> Expr:
    if text.startswith(("−", "-")):
        return Expr(text, PREFIX)
    return Expr(text, ATOM)


_SUPERSCRIPT = str.maketrans("0123456789−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_COMPARE = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "=", "ne": "≠"}
_CALL = {"exp": "exp", "log": "ln", "tanh": "tanh", "sin": "sin", "cos": "cos", "sign": "sign",
         "sigmoid": "σ", "stop_gradient": "sg"}


def _mul(a: Expr, b: Expr) -> Expr:
    return Expr(f"{a.at(PRODUCT)}·{b.at(PRODUCT + 1)}", PRODUCT)


def _juxtapose(a: Expr, b: Expr) -> Expr:
    """Matrix products as the notes write them: ``Aᵀ ȳ``, ``ȳ xᵀ``."""
    return Expr(f"{a.at(PRODUCT)} {b.at(PRODUCT + 1)}", PRODUCT)


def _neg(a: Expr) -> Expr:
    return Expr(f"−{a.at(PREFIX)}", PREFIX)


def _div(a: Expr, b: Expr) -> Expr:
    return Expr(f"{a.at(PRODUCT)} / {b.at(PRODUCT + 1)}", PRODUCT)


def _call(name: str, *args: Expr) -> Expr:
    return Expr(f"{name}({', '.join(a.text for a in args)})", POSTFIX)


def _t(a: Expr) -> Expr:
    return Expr(f"{a.at(POSTFIX)}ᵀ", POSTFIX)


def _axes_sub(axes) -> str:
    return ",".join(subscript(a) for a in axes)


def slice_text(shape, starts, steps, lengths) -> str:
    parts = []
    for dim, start, step, length in zip(shape, starts, steps, lengths):
        if start == 0 and step == 1 and length == dim:
            parts.append(":")
            continue
        stop = start + step * length
        text = f"{start}:{stop if stop >= 0 else ''}"
        parts.append(text + (f":{step}" if step != 1 else ""))
    return "[" + ", ".join(parts) + "]"


def op_expression(node, args: list[Expr]) -> Expr:
    """What ``node`` computes, in terms of its operands' expressions (``y − t``, ``A x``, ``σ(z)``)."""
    op, at = node.op, node.attrs
    a = args[0] if args else None
    b = args[1] if len(args) > 1 else None
    if op == "add":
        return Expr(f"{a.at(SUM)} + {b.at(SUM + 1)}", SUM)
    if op == "sub":
        return Expr(f"{a.at(SUM)} − {b.at(SUM + 1)}", SUM)
    if op == "mul":
        if node.inputs[0] is node.inputs[1]:
            return Expr(f"{a.at(POSTFIX + 1)}²", POSTFIX)
        return _mul(a, b)
    if op == "div":
        return _div(a, b)
    if op == "neg":
        return _neg(a)
    if op == "pow":
        exponent = node.inputs[1]
        if exponent.op == "constant" and exponent.value.ndim == 0 and float(exponent.value).is_integer():
            return Expr(f"{a.at(POSTFIX + 1)}{str(int(exponent.value)).translate(_SUPERSCRIPT)}", POSTFIX)
        return Expr(f"{a.at(POSTFIX + 1)}^{b.at(POSTFIX + 1)}", POSTFIX)
    if op in _CALL:
        return _call(_CALL[op], a)
    if op == "log1p":
        return Expr(f"ln(1 + {a.text})", POSTFIX)
    if op == "expm1":
        return Expr(f"exp({a.text}) − 1", SUM)
    if op == "sqrt":
        return Expr(f"√{a.at(POSTFIX)}", POSTFIX)
    if op == "abs":
        return Expr(f"|{a.text}|", ATOM)
    if op in ("maximum", "minimum"):
        return _call(op[:3], a, b)
    if op in _COMPARE:
        return Expr(f"{a.at(COMPARE + 1)} {_COMPARE[op]} {b.at(COMPARE + 1)}", COMPARE)
    if op == "where":
        return _call("where", *args)
    if op == "cast":
        return _call(SHORT_NAMES.get(node.dtype, str(node.dtype)), a)
    if op == "sum":
        axes = at["axes"]
        sub = "" if len(axes) == node.inputs[0].ndim else _axes_sub(axes)
        return Expr(f"Σ{sub} {a.at(POSTFIX)}", PREFIX)
    if op in ("max", "min"):
        axes = at["axes"]
        sub = "" if len(axes) == node.inputs[0].ndim else _axes_sub(axes)
        return _call(op + sub, a)
    if op == "reshape":
        return _call("reshape", a, atom(shape_text(at["shape"])))
    if op == "broadcast_to":
        return _call("broadcast", a, atom(shape_text(at["shape"])))
    if op == "transpose":
        if tuple(at["axes"]) == (1, 0):
            return _t(a)
        return _call("transpose", a, atom(str(tuple(at["axes"]))))
    if op == "slice":
        window = slice_text(node.inputs[0].shape, at["starts"], at["steps"], at["lengths"])
        return Expr(f"{a.at(POSTFIX)}{window}", POSTFIX)
    if op == "unslice":
        return _call("unslice", a, atom(shape_text(at["shape"])))
    if op == "concatenate":
        return _call("concat", *args)
    if op == "matmul":
        if node.inputs[0].ndim == 1 and node.inputs[1].ndim == 1:
            return Expr(f"⟨{a.text}, {b.text}⟩", ATOM)
        return _juxtapose(a, b)
    return _call(op, *args)


def _unbroadcast_axes(g_shape, shape) -> tuple[int, ...]:
    lead = len(g_shape) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g_shape[lead + i] != 1
    )


def _elementwise_term(op: str, i: int, g: Expr, out: Expr, args: list[Expr]) -> Expr | None:
    """g · ∂out/∂operand_i for an elementwise op (the same map serves VJP and JVP)."""
    a = args[0]
    b = args[1] if len(args) > 1 else None
    one = {
        "neg": lambda: _neg(g),
        "exp": lambda: _mul(g, out),
        "log": lambda: _div(g, a),
        "log1p": lambda: _div(g, Expr(f"1 + {a.text}", SUM)),
        "expm1": lambda: _mul(g, Expr(f"{out.at(SUM)} + 1", SUM)),
        "sqrt": lambda: _div(g, Expr(f"2{out.at(POSTFIX)}", PRODUCT)),
        "tanh": lambda: _mul(g, Expr(f"1 − {out.at(POSTFIX + 1)}²", SUM)),
        "sigmoid": lambda: Expr(f"{g.at(PRODUCT)}·{out.at(POSTFIX)}(1 − {out.at(SUM + 1)})", PRODUCT),
        "sin": lambda: _mul(g, _call("cos", a)),
        "cos": lambda: _neg(_mul(g, _call("sin", a))),
        "abs": lambda: _mul(g, _call("sign", a)),
        "cast": lambda: g,
    }
    if op in one:
        return one[op]()
    two = {
        ("add", 0): lambda: g,
        ("add", 1): lambda: g,
        ("sub", 0): lambda: g,
        ("sub", 1): lambda: _neg(g),
        ("mul", 0): lambda: _mul(g, b),
        ("mul", 1): lambda: _mul(g, a),
        ("div", 0): lambda: _div(g, b),
        ("div", 1): lambda: _neg(_div(_mul(g, out), b)),
        ("pow", 0): lambda: _mul(_mul(g, b), Expr(f"{a.at(POSTFIX + 1)}^({b.text} − 1)", POSTFIX)),
        ("pow", 1): lambda: _mul(_mul(g, _call("ln", a)), out),
        ("maximum", 0): lambda: _mul(g, Expr(f"[{a.text} > {b.text}]")),
        ("maximum", 1): lambda: _mul(g, Expr(f"[{b.text} > {a.text}]")),
        ("minimum", 0): lambda: _mul(g, Expr(f"[{a.text} < {b.text}]")),
        ("minimum", 1): lambda: _mul(g, Expr(f"[{b.text} < {a.text}]")),
        ("where", 1): lambda: _call("where", args[0], g, atom("0")),
        ("where", 2): lambda: _call("where", args[0], atom("0"), g),
    }
    term = two.get((op, i))
    return term() if term else None


def vjp_term(node, i: int, g: Expr, out: Expr, args: list[Expr]) -> Expr:
    """The contribution ``g · ∂node/∂operand_i`` sent back to operand ``i`` (reverse mode)."""
    op, at = node.op, node.attrs
    operand = node.inputs[i]
    a = args[0]
    b = args[1] if len(args) > 1 else None
    term = _elementwise_term(op, i, g, out, args)
    if term is not None:
        axes = _unbroadcast_axes(node.shape, operand.shape) if node.shape != operand.shape else ()
        return Expr(f"Σ{_axes_sub(axes)}({term.text})", PREFIX) if axes else term
    if op == "matmul":
        na, nb = node.inputs[0].ndim, node.inputs[1].ndim
        if na == 1 and nb == 1:
            return _mul(g, b if i == 0 else a)
        if nb == 1:  # A x: Ā = ȳ xᵀ, x̄ = Aᵀ ȳ
            return _juxtapose(g, _t(b)) if i == 0 else _juxtapose(_t(a), g)
        if na == 1:  # a B: ā = B ȳ, B̄ = a ȳᵀ
            return _juxtapose(b, g) if i == 0 else _juxtapose(a, _t(g))
        return _juxtapose(g, _t(b)) if i == 0 else _juxtapose(_t(a), g)
    if op == "sum":
        return _call("broadcast", g, atom(shape_text(operand.shape)))
    if op in ("max", "min"):
        return _mul(g, Expr(f"[{a.text} = {op}]"))
    if op == "reshape":
        return _call("reshape", g, atom(shape_text(operand.shape)))
    if op == "broadcast_to":
        return Expr(f"Σ{_axes_sub(_unbroadcast_axes(node.shape, operand.shape))}({g.text})", PREFIX)
    if op == "transpose":
        if tuple(at["axes"]) == (1, 0):
            return _t(g)
        return _call("transpose⁻¹", g)
    if op == "slice":
        return _call("unslice", g, atom(shape_text(operand.shape)))
    if op == "unslice":
        return Expr(f"{g.at(POSTFIX)}{slice_text(at['shape'], at['starts'], at['steps'], operand.shape)}",
                    POSTFIX)
    if op == "concatenate":
        return Expr(f"{g.at(POSTFIX)}[part {i}]", POSTFIX)
    return _call(f"vjp {op}[{i}]", g)


def jvp_term(node, i: int, t: Expr, out: Expr, args: list[Expr]) -> Expr:
    """The tangent of ``node`` caused by the tangent ``t`` of operand ``i`` (forward mode)."""
    op = node.op
    a = args[0]
    b = args[1] if len(args) > 1 else None
    term = _elementwise_term(op, i, t, out, args)
    if term is not None:
        return term
    if op == "matmul":
        if node.inputs[0].ndim == 1 and node.inputs[1].ndim == 1:
            return Expr(f"⟨{t.text}, {(b if i == 0 else a).text}⟩", ATOM)
        return _juxtapose(t, b) if i == 0 else _juxtapose(a, t)
    if op in ("sum", "reshape", "broadcast_to", "transpose", "slice", "unslice"):
        return op_expression(node, [t])
    if op in ("max", "min"):
        return Expr(f"Σ({t.at(PRODUCT)}·[{a.text} = {op}])", PREFIX)
    if op == "concatenate":
        return _call("concat", *[t if k == i else atom("0") for k in range(len(args))])
    return _call(f"jvp {op}[{i}]", t)
