"""The numba backend's lowering table: one entry per primitive, saying how the op becomes code.

Every primitive of :data:`graphc.ops.PRIMITIVES` has exactly one entry, of one of five kinds:

* ``elementwise`` and ``reduction``: scalar code at one index (:mod:`.scalars`);
* ``view``: ``fn(gen, node, operand_values) -> Value``: an index mapping that costs nothing until
  something reads it (broadcast, transpose, slice, concatenate, diagonal, ...); a consumer's loop
  reads *through* the view, and only an op that needs a real array (BLAS, LAPACK) copies it;
* ``statement``: ``fn(gen, node, operand_values, dest) -> Value``: code of its own (matmul through
  BLAS, LAPACK and ``np.linalg`` calls, einsum loops);
* ``source``: placeholders and constants, bound to the kernel's arguments or inlined as literals.

The table is data: :func:`check_lowerable` refuses a graph with an op missing from it, naming the
op, before any code is generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphc.context import where
from graphc.errors import BackendError

from .scalars import ELEMENTWISE, REDUCTIONS
from .statements import STATEMENTS
from .views import VIEWS


@dataclass(frozen=True)
class Lowering:
    kind: str  # "source" | "elementwise" | "reduction" | "view" | "statement"
    emit: Callable | tuple | None = None


# ----------------------------------------------------------------------------------------------
# The table: this file is the one place that lists every op's kind.


def _table() -> dict[str, Lowering]:
    table = {"placeholder": Lowering("source"), "constant": Lowering("source")}
    table.update({op: Lowering("elementwise", fn) for op, fn in ELEMENTWISE.items()})
    table.update({op: Lowering("reduction", fns) for op, fns in REDUCTIONS.items()})
    table.update({op: Lowering("view", fn) for op, fn in VIEWS.items()})
    table.update({op: Lowering("statement", fn) for op, fn in STATEMENTS.items()})
    return table


LOWERING: dict[str, Lowering] = _table()


def check_lowerable(graph, table: dict[str, Lowering] | None = None) -> None:
    """BackendError naming every op of ``graph`` the table has no entry for (and where it is)."""
    table = LOWERING if table is None else table
    missing: dict[str, object] = {}
    for node in graph.nodes:
        if node.op not in table:
            missing.setdefault(node.op, node)
    if missing:
        details = "; ".join(f"{op!r} (node {n.meta.name or n.op}{where(n.meta)})"
                            for op, n in missing.items())
        raise BackendError(
            f"the numba backend cannot lower op(s) {sorted(missing)}: {details}; it lowers "
            f"{len(table)} ops: {', '.join(sorted(table))}"
        )

