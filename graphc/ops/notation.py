"""How an op is written in pictures: expressions with precedence, and the formula builders that op
declarations use (``formula=infix("+", SUM)``, ``formula=call("exp")``).

A formula is ``formula(node, *operand_exprs) -> Expr``: what ``node`` computes in terms of its
operands' expressions (``y − t``, ``A x``, ``σ(z)``). An :class:`Expr` carries its precedence, so
nested expressions get exactly the parentheses they need. The formulas of derivative terms are not
written here: pictures derive them from each op's own derivative rules (:mod:`graphc.viz.formulas`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ATOM, POSTFIX, PREFIX, PRODUCT, MATPRODUCT, SUM, COMPARE = 100, 90, 70, 60, 59, 50, 40

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUPERSCRIPT = str.maketrans("0123456789−-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")


@dataclass(frozen=True)
class Expr:
    text: str
    prec: int = ATOM

    def at(self, prec: int) -> str:
        """The text, parenthesised when it binds looser than ``prec``."""
        return self.text if self.prec >= prec else f"({self.text})"

    def __str__(self) -> str:
        return self.text


Formula = Callable[..., Expr]


def atom(text: str) -> Expr:
    if text.startswith(("−", "-")):
        return Expr(text, PREFIX)
    return Expr(text, ATOM)


def subscript(number: int) -> str:
    return str(number).translate(_SUBSCRIPT)


def superscript(number: int) -> str:
    return str(number).translate(_SUPERSCRIPT)


def shape_text(shape: tuple[int, ...]) -> str:
    """``[3×4]`` for a matrix, ``[]`` for a scalar."""
    return "[" + "×".join(str(d) for d in shape) + "]"


def axes_text(axes) -> str:
    return ",".join(subscript(a) for a in axes)


# ----------------------------------------------------------------------------------------------
# Operations on expressions


def mul(a: Expr, b: Expr) -> Expr:
    """``a·b`` (products are associative: a right operand that is a product needs no parentheses);
    a name times a parenthesised sum is written as the notes write it, ``y(1 − y)``."""
    if a.prec == ATOM and b.prec < PRODUCT and not a.text[-1:].isdigit():
        return Expr(f"{a.text}({b.text})", PRODUCT)
    if a.text.isdigit() and b.prec >= POSTFIX and _one_letter(b.text):
        return Expr(f"{a.text}{b.text}", PRODUCT)  # 2f, 2x²: an integer times a one-letter name
    return Expr(f"{a.at(PRODUCT)}·{b.at(PRODUCT)}", PRODUCT)


def _one_letter(text: str) -> bool:
    """A name of one letter with marks, sub- or superscripts (x, x̄, x², v₈ is not: digits)."""
    return text[:1].isalpha() and sum(c.isalnum() for c in text) == 1


def juxtapose(a: Expr, b: Expr) -> Expr:
    """Matrix products as the notes write them: ``Aᵀ ȳ``, ``ȳ xᵀ`` (associative; an elementwise
    product beside them binds tighter: ``a·b C`` is (a·b) C, ``a·(B c)`` needs its parentheses)."""
    return Expr(f"{a.at(MATPRODUCT)} {b.at(MATPRODUCT)}", MATPRODUCT)


def neg(a: Expr) -> Expr:
    return Expr(f"−{a.at(PREFIX)}", PREFIX)


def div(a: Expr, b: Expr) -> Expr:
    return Expr(f"{a.at(PRODUCT)} / {b.at(PRODUCT + 1)}", PRODUCT)


def apply(name: str, *args: Expr) -> Expr:
    return Expr(f"{name}({', '.join(a.text for a in args)})", POSTFIX)


def power(a: Expr, b: Expr) -> Expr:
    return Expr(f"{a.at(POSTFIX + 1)}^{b.at(POSTFIX + 1)}", POSTFIX)


def transposed(a: Expr) -> Expr:
    if a.prec == POSTFIX and a.text.endswith("⁻¹"):  # (A⁻¹)ᵀ = A⁻ᵀ
        return Expr(a.text[:-1] + "ᵀ", POSTFIX)
    return Expr(f"{a.at(POSTFIX)}ᵀ", POSTFIX)


# ----------------------------------------------------------------------------------------------
# Formula builders for declarations: each returns ``formula(node, *args) -> Expr``


def call(name: str) -> Formula:
    """``name(a, b, ...)``."""
    return lambda node, *args: apply(name, *args)


def infix(symbol: str, prec: int, associative: bool = False) -> Formula:
    """``a symbol b``; the right operand is parenthesised at equal precedence unless the operator
    is associative (``a − (b − c)``, ``a + b + c``)."""
    right = prec if associative else prec + 1
    return lambda node, a, b: Expr(f"{a.at(prec)} {symbol} {b.at(right)}", prec)


def prefix(symbol: str) -> Formula:
    return lambda node, a: Expr(f"{symbol}{a.at(PREFIX)}", PREFIX)


def template(text: str, prec: int = POSTFIX) -> Formula:
    """A formula from a template with ``{0}``, ``{1}``... for the operands (each parenthesised
    unless it is an atom or a call): ``template("√{0}")``, a user op's ``"ln(1 + e^{0})"``."""
    def formula(node, *args):
        return Expr(text.format(*[a.at(POSTFIX) for a in args]), prec)

    return formula


def as_formula(spec) -> Formula | None:
    """A declaration's ``formula=``: a formula function, a template string, or None."""
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        return template(spec)
    raise TypeError(f"formula must be a function or a template string, got {type(spec).__name__}")
