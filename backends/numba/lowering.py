"""The numba backend's lowering of each op: its kind, and how it becomes code.

Every op a graph holds is lowered as one of five kinds:

* ``elementwise`` and ``reduction``: scalar code at one index (:mod:`.scalars`). An elementwise op
  with no template of its own there is lowered from its declaration's scalar function: a
  function of Python's ``math`` module is called by name (``math.atan(x)``), any other (a user
  op's) is bound in the generated module as a global, compiled by numba
  (:mod:`.runtime.user_ops`). So most elementwise ops need no numba code at all;
* ``view``: ``fn(gen, node, operand_values) -> Value``: an index mapping that costs nothing until
  something reads it (broadcast, transpose, slice, concatenate, diagonal, ...); a consumer's loop
  reads *through* the view, and only an op that needs a real array (BLAS, LAPACK) copies it;
* ``statement``: ``fn(gen, node, operand_values) -> Value``: code of its own (matmul through BLAS,
  LAPACK and ``np.linalg`` calls, einsum loops), or a call of a user op's declared array
  function (``numba=``);
* ``source``: placeholders and constants, bound to the kernel's arguments or inlined as literals.

:func:`check_lowerable` refuses a graph with an op that has none, naming the op and what its
declaration needs, before any code is generated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from graphc.context import where
from graphc.errors import BackendError
from graphc.ops.core import PRIMITIVES, Primitive

from .factorizations import STATEMENTS as FACTORIZATIONS
from .indexing import STATEMENTS as INDEXING
from .loops import lower_scan
from .scalars import ELEMENTWISE, REDUCTIONS
from .statements import STATEMENTS, user_array_call
from .views import VIEWS


@dataclass(frozen=True)
class Lowering:
    kind: str  # "source" | "elementwise" | "reduction" | "view" | "statement"
    emit: Callable | tuple | None = None
    function: str | None = None  # a user op whose function the generated module binds as a global


def function_global(op: str) -> str:
    """The generated module's global name for the scalar or array function of op ``op``."""
    return "_op_" + re.sub(r"\W", "_", op)


_BUILTIN: dict[str, Lowering] = {"placeholder": Lowering("source"), "constant": Lowering("source")}
_BUILTIN.update({op: Lowering("elementwise", fn) for op, fn in ELEMENTWISE.items()})
_BUILTIN.update({op: Lowering("reduction", fns) for op, fns in REDUCTIONS.items()})
_BUILTIN.update({op: Lowering("view", fn) for op, fn in VIEWS.items()})
_BUILTIN.update({op: Lowering("statement", fn) for op, fn in STATEMENTS.items()})
_BUILTIN.update({op: Lowering("statement", fn) for op, fn in INDEXING.items()})
_BUILTIN.update({op: Lowering("statement", fn) for op, fn in FACTORIZATIONS.items()})
_BUILTIN["scan"] = Lowering("statement", lower_scan)
_FROM_DECLARATION: dict[Primitive, Lowering | None] = {}  # by declaration: a replaced op is lowered anew


def _math_name(fn) -> str | None:
    name = getattr(fn, "__name__", None)
    return f"math.{name}" if name and getattr(math, name, None) is fn else None


def _declared(prim: Primitive) -> Lowering | None:
    if prim.category == "elementwise" and prim.scalar is not None:
        name = _math_name(prim.scalar)
        if name is not None:
            return Lowering("elementwise", lambda n, a, _f=name: f"{_f}({', '.join(a)})")
        glob = function_global(prim.name)
        return Lowering("elementwise", lambda n, a, _f=glob: f"{_f}({', '.join(a)})", function=prim.name)
    if prim.category != "elementwise" and prim.numba is not None:
        glob = function_global(prim.name)
        return Lowering("statement", lambda gen, node, ops, _f=glob: user_array_call(gen, node, ops, _f),
                        function=prim.name)
    return None


def lowering(op: str) -> Lowering | None:
    """How the numba backend lowers ``op``: its own entry, else what the op's declaration gives."""
    found = _BUILTIN.get(op)
    if found is not None:
        return found
    prim = PRIMITIVES.get(op)
    if prim is None:
        return None
    if prim not in _FROM_DECLARATION:
        _FROM_DECLARATION[prim] = _declared(prim)
    return _FROM_DECLARATION[prim]


def _advice(prim: Primitive | None) -> str:
    if prim is None:
        return "it is not a declared op"
    if prim.category == "call":
        return "a call is inlined before lowering (graphc.transform.inline_calls)"
    if prim.category == "elementwise":
        return ("declare scalar= in its defop: a scalar function numba can compile (e.g. an "
                "@numba.njit function of floats)")
    return ("declare numba= in its defop: an array function numba can compile, called with the operand "
            "arrays and the attributes as keywords")


def check_lowerable(graph) -> None:
    """BackendError naming every op of ``graph`` the backend cannot lower, where it is, and what
    its declaration needs."""
    missing: dict[str, object] = {}
    for node in graph.nodes:
        if lowering(node.op) is None:
            missing.setdefault(node.op, node)
    if missing:
        details = "; ".join(f"op {op!r} (node {n.meta.name or n.op}{where(n.meta)}): "
                            f"{_advice(PRIMITIVES.get(op))}" for op, n in missing.items())
        raise BackendError(f"the numba backend cannot lower {details}")
