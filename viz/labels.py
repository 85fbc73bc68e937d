"""Text for pictures: escaping for DOT and HTML, readable names, shapes and numbers.

Everything a user wrote (node names, scope names, graph names) reaches a picture through one of
the escapes here, so quotes, braces, angle brackets, backslashes, newlines, control characters and
non-ASCII text never break the DOT source, the SVG or the HTML page.
"""

from __future__ import annotations

import re

import numpy as np

from graphc.ops.notation import shape_text, subscript  # noqa: F401 - re-exported for pictures

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BAR_ONE = "\u0304"  # combining macron: x̄ (the notes' v̄ᵢ)
BAR_LONG = "\u0305"  # combining overline, joined across letters: l̅o̅s̅s̅
BAR_TWO = "\u033f"  # combining double overline: the adjoint of an adjoint
DOT_ABOVE = "\u0307"  # ẋ: a tangent (forward mode)


def visible(text: str) -> str:
    """Control characters (other than newline and tab) shown as ``\\xNN``: they are not valid XML."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def dot_string(text: str) -> str:
    """A DOT double-quoted string (an escString: ``\\n`` is a line break) with ``text`` literal."""
    text = visible(str(text)).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "").replace("\n", "\\n") + '"'


def html(text: str, newline: str = "<BR/>") -> str:
    """Escape text for a graphviz HTML-like label (and for an HTML page, with ``newline="\\n"``)."""
    text = visible(str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text.replace("\r", "").replace("\n", newline)


def page(text: str) -> str:
    """Escape text for an HTML page (element content or a double-quoted attribute)."""
    return html(text, newline="\n").replace("'", "&#39;")


def _single_grapheme(name: str) -> bool:
    """One visible character, possibly followed by combining marks (𝓛, x̄, ẏ)."""
    import unicodedata

    return len(name) > 0 and all(unicodedata.combining(c) for c in name[1:])


def bar(name: str) -> str:
    """The adjoint's name: ``x`` -> ``x̄``, ``v₄`` -> ``v̄₄``, ``loss`` -> ``l̅o̅s̅s̅``; the adjoint of
    an adjoint (reverse over reverse) gets a double bar, ``x̿``, never two stacked bars."""
    if BAR_ONE in name:
        return name.replace(BAR_ONE, BAR_TWO, 1)
    if BAR_LONG in name or BAR_TWO in name:
        return f"adj({name})"
    if _single_grapheme(name):
        return name + BAR_ONE
    head, digits = _split_subscript(name)
    if digits and _single_grapheme(head):
        return head + BAR_ONE + digits
    return "".join(c + BAR_LONG if not c.isspace() else c for c in name)


def tangent(name: str) -> str:
    """The tangent's name: ``x`` -> ``ẋ``; longer names, and names already marked (the tangent
    of x̄), get a leading ``δ`` (``δloss``, ``δx̄``) so marks never stack."""
    import unicodedata

    if any(unicodedata.combining(c) for c in name):
        return "δ" + name
    if _single_grapheme(name):
        return name + DOT_ABOVE
    head, digits = _split_subscript(name)
    if digits and _single_grapheme(head):
        return head + DOT_ABOVE + digits
    return "δ" + name


def _split_subscript(name: str) -> tuple[str, str]:
    i = len(name)
    while i > 0 and "₀" <= name[i - 1] <= "₉":
        i -= 1
    return name[:i], name[i:]


def number(x, digits: int = 5) -> str:
    """A scalar as a student would write it: 5 significant digits, no trailing noise."""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    x = x.item() if isinstance(x, np.generic) else x
    if isinstance(x, int):
        return str(x)
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "∞" if x > 0 else "−∞"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text.replace("-", "−")


def array_text(value, max_items: int = 6, digits: int = 5) -> str:
    """A value for a node label: the number, a short vector or matrix, or a summary of a big one."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return number(arr[()], digits)
    if arr.size == 0:
        return "[]"
    if arr.size <= max_items and arr.ndim == 1:
        return "[" + ", ".join(number(v, digits) for v in arr) + "]"
    if arr.size <= max_items and arr.ndim == 2:
        return "[" + "; ".join(", ".join(number(v, digits) for v in row) for row in arr) + "]"
    if arr.dtype.kind == "b":
        return f"{int(arr.sum())} of {arr.size} true"
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    bad = arr.size - finite.size
    parts = []
    if finite.size:
        parts.append(f"{number(finite.min(), 3)} … {number(finite.max(), 3)}")
        parts.append(f"‖·‖={number(float(np.linalg.norm(finite.astype(np.float64))), 4)}")
    if bad:
        parts.append(f"{bad} NaN/∞")
    return ", ".join(parts)


def full_text(value) -> str:
    """A value at full precision, for tooltips (where a student checks numbers digit by digit)."""
    arr = np.asarray(value)
    with np.printoptions(precision=17, threshold=64, linewidth=100):
        return np.array2string(arr, separator=", ") if arr.ndim else repr(arr.item())


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
