"""A rewrite the numba backend makes before generating code, so that products pair up.

``M @ x`` next to ``Mᵀ @ x`` is one pass over M in a numba kernel (``both_matvecs``). The
Hessian-vector product of ln(xᵀAx) for a general A computes A x, A d and Aᵀ(a·x + b·d): three
passes over A, where the hand-derived HVP makes two. Written a·(Aᵀx) + b·(Aᵀd), the last product
becomes two that pair with A x and A d: two passes. For the numpy backend, which makes one pass
per product, that would be four, so this is not one of the general simplifications
(:mod:`graphc.rewrite.rules`); it runs only here, and only when a product qualifies.
"""

from __future__ import annotations

from graphc import builder as gc
from graphc.ir import Graph, Node
from graphc.rewrite.driver import Pat, Rule, placed, rewrite
from graphc.rewrite.rules import combine_terms, linear_terms

from .statements import matvec_form


def _candidate(node: Node) -> tuple[Node, Node, bool] | None:
    """(M, v, transposed) as :func:`.statements.matvec_form` gives them, for a product of a
    square, plain (not symmetrized) matrix M (square, so that v's terms times M the other way
    round exist) whose vector v is a sum or difference of terms; else None."""
    form = matvec_form(node)
    if form is None:
        return None
    matrix, vector, _ = form
    if matrix.shape[0] != matrix.shape[1] or matrix.op == "symmetrize" or vector.op not in ("add", "sub"):
        return None
    return form


def _product(matrix: Node, vector: Node, transposed: bool) -> Node:
    """Mᵀ @ v (as v @ M) when ``transposed``, else M @ v."""
    return gc.matmul(vector, matrix) if transposed else gc.matmul(matrix, vector)


def split_for_pairing(root: Node) -> Node | None:
    found = _candidate(root)
    if found is None:
        return None
    matrix, vector, transposed = found
    terms = linear_terms(vector)
    if len(terms) < 2 or any(placed(_product(matrix, u, not transposed)) is None for u, _, _ in terms):
        return None
    return combine_terms([(_product(matrix, u, transposed), s, neg) for u, s, neg in terms], root)


RULE = Rule(Pat("matmul", where=lambda n: _candidate(n) is not None), split_for_pairing,
            "Mᵀ(a u + b w) -> a Mᵀu + b Mᵀw (pairs with M u, M w)")


def pair_products(graph: Graph) -> Graph:
    """``graph`` with the products that qualify split (see the module docstring); ``graph``
    itself, without a rewrite sweep, when none can."""
    if not any(_candidate(n) is not None for n in graph.nodes):
        return graph
    return rewrite(graph, [RULE], "numba pairing")
