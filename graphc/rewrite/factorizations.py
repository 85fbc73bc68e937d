"""The ``factorizations`` pass: solves, inverses and determinants of one matrix share its LU factors.

A gradient reads its matrix several times: the value's ``solve(A, b)``, the adjoint's
``solve(Aᵀ, ḡ)``, ``slogdet(A)`` and the ``inv(A)`` of its derivative. Each alone factors A
again (LAPACK ?gesv, ?getrf: n³/3 flops each). When a graph reads one square matrix (2-d) in two
or more of ``solve(A, ·)``, ``solve(Aᵀ, ·)``, ``inv(A)``, ``inv(Aᵀ)``, ``slogdet(A)``,
``slogdet(Aᵀ)``, ``det(A)`` and ``det(Aᵀ)``, this pass factors it once, ``(lu, piv) =
lu_factor(A)``, and each becomes the op of :mod:`graphc.ops.factorizations` on those factors
(a solve with Aᵀ is ``lu_solve(..., trans=1)``: no transposed copy, no second factorization).
The new ops differentiate through A, so the rewritten graph can still be differentiated, and its
derivative then reads the same factors again.

Positive-definite matrices need no pass: ``assume_a="pos"`` builds every op on the one
``cholesky(K)`` node, which CSE shares.
"""

from __future__ import annotations

from ..context import reset_provenance, set_provenance
from ..ir import Graph, Node
from ..ops.core import api as gc
from .driver import Pass, map_outputs, rebuild

_READERS = ("solve", "inv", "slogdet", "det")


def _square(a: Node) -> bool:
    return a.ndim == 2 and a.shape[0] == a.shape[1] and a.dtype.kind == "f"


def _read_matrix(node: Node) -> tuple[Node, bool] | None:
    """(the matrix A that ``node`` factors, whether it reads Aᵀ), for a node the pass can rewrite."""
    if node.op not in _READERS:
        return None
    a = node.inputs[0]
    if node.op == "solve" and not (node.inputs[1].ndim in (1, 2) and a.ndim == 2):
        return None
    transposed = a.op == "transpose" and a.ndim == 2 and tuple(a.attrs["axes"]) == (1, 0)
    base = a.inputs[0] if transposed else a
    return (base, transposed) if _square(base) else None


def _on_factors(node: Node, a: Node, transposed: bool, factor, operands) -> Node:
    lu, piv = factor
    if node.op == "solve":
        return gc.lu_solve(a, lu, piv, operands[1], int(transposed))
    if node.op == "inv":
        inverse = gc.lu_inv(a, lu, piv)
        return gc.matrix_transpose(inverse) if transposed else inverse
    packed = gc.lu_slogdet(a, lu, piv)  # det(Aᵀ) = det(A)
    if node.op == "slogdet":
        return packed
    return packed[0] * gc.exp(packed[1])


def _factorizations(graph: Graph) -> Graph:
    readers: dict[int, int] = {}
    for node in graph.nodes:
        found = _read_matrix(node)
        if found is not None:
            readers[found[0].serial] = readers.get(found[0].serial, 0) + 1
    shared = {serial for serial, count in readers.items() if count >= 2}
    if not shared:
        return graph
    env: dict[int, Node] = {}
    factors: dict[int, tuple[Node, Node]] = {}
    for node in graph.nodes:
        operands = [env[i.serial] for i in node.inputs]
        found = _read_matrix(node)
        if found is None or found[0].serial not in shared:
            env[node.serial] = rebuild(node, operands) if node.inputs else node
            continue
        base, transposed = found
        meta = node.meta
        token = set_provenance({"pass_name": "factorizations", "rule": f"{node.op} on shared LU factors",
                                "role": meta.role, "scope": meta.scope, "location": meta.location,
                                "derived_from": meta.derived_from, "adjoint_of": meta.adjoint_of,
                                "tangent_of": meta.tangent_of})
        try:
            a = env[base.serial]
            if base.serial not in factors:
                lu = gc.lu_factor(a)
                factors[base.serial] = (lu[0], lu[1])
            env[node.serial] = _on_factors(node, a, transposed, factors[base.serial], operands)
        finally:
            reset_provenance(token)
    return map_outputs(graph, env)


def _reads_a_matrix_twice(graph: Graph) -> bool:
    return sum(1 for n in graph.nodes if n.op in _READERS) >= 2


factorizations = Pass("factorizations", _factorizations,
                      "factor a matrix read by several solves, inverses and determinants once (LU)",
                      applies=_reads_a_matrix_twice)
