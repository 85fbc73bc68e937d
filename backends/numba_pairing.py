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


def _matvec(node: Node) -> tuple[int, Node, Node] | None:
    """(k, M, v) for a float matrix-vector product M @ v (k = 1) or v @ M (k = 0) of a square,
    plain (not symmetrized) matrix M whose vector v is a sum or difference of terms; else None
    (M must be square for the product of v's terms with M the other way round to exist)."""
    if node.op != "matmul" or node.dtype.kind != "f" or node.ndim != 1:
        return None
    a, b = node.inputs
    k, matrix, vector = (1, a, b) if a.ndim == 2 else (0, b, a)
    if (matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.op == "symmetrize"
            or vector.op not in ("add", "sub")):
        return None
    return k, matrix, vector


def _product(k: int, matrix: Node, vector: Node, transposed: bool) -> Node:
    """M @ v (k = 1) or v @ M (k = 0), or the other one when ``transposed``."""
    return gc.matmul(matrix, vector) if (k == 1) != transposed else gc.matmul(vector, matrix)


def split_for_pairing(root: Node) -> Node | None:
    found = _matvec(root)
    if found is None:
        return None
    k, matrix, vector = found
    terms = linear_terms(vector)
    if len(terms) < 2 or any(placed(_product(k, matrix, u, True)) is None for u, _, _ in terms):
        return None
    return combine_terms([(_product(k, matrix, u, False), s, neg) for u, s, neg in terms], root)


RULE = Rule(Pat("matmul", where=lambda n: _matvec(n) is not None), split_for_pairing,
            "Mᵀ(a u + b w) -> a Mᵀu + b Mᵀw (pairs with M u, M w)")


def pair_products(graph: Graph) -> Graph:
    """``graph`` with the products that qualify split (see the module docstring); ``graph``
    itself, without a rewrite sweep, when none can."""
    if not any(_matvec(n) is not None for n in graph.nodes):
        return graph
    return rewrite(graph, [RULE], "numba pairing")
