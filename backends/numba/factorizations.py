"""The numba lowering of the ops that share a factorization (:mod:`graphc.ops.factorizations`):
each is one call of a :mod:`.runtime.lapack` function on the factor, written into the node's
array. ``pos_solve`` is two triangular solves with K's Cholesky factor, ``pos_inv`` LAPACK's
?potri on it, ``lu_factor`` ?getrf, ``lu_solve`` and ``lu_inv`` the row swaps and two
triangular solves on the stored factor; no factor is copied to be read."""

from __future__ import annotations

from .values import Value

# ops of about n³ work on their (n, n) matrix, in LAPACK (OpenBLAS threads it)
CUBIC = ("cholesky", "pos_inv", "lu_factor", "lu_inv", "solve", "inv", "det", "slogdet", "eigh",
         "eigvalsh", "svd")


def factorization_bound(graph) -> bool:
    """Whether the graph's LAPACK factorizations outweigh the rest of its work (a Gaussian
    process's likelihood: a Cholesky factor and ?potri of an n x n matrix against a few loops over
    its n² elements). Such a kernel is compiled without parallel loops, so OpenBLAS keeps its
    threads for the factorizations: a parallel kernel holds it at one thread while it runs, and a
    LAPACK call cannot be split among numba's threads as a product is. On the reference machine
    (2 cores) the GP value+gradient at n = 2000 took 146 ms as a parallel kernel, against 120 ms
    for SciPy's two-thread LAPACK."""
    cubic = loops = 0
    for node in graph.nodes:
        if node.op in CUBIC and node.inputs and node.inputs[0].ndim >= 2:
            a = node.inputs[0]
            cubic += (a.size // (a.shape[-1] * a.shape[-2])) * a.shape[-1] ** 3
        elif node.shape is not None:
            loops += node.size
    return cubic > 4 * loops


def _arrays(gen, node, ops, which):
    gen.calls_blas = True
    return [gen.realize(ops[i], node.inputs[i].dtype, allow_f=False)[0] for i in which]


def _into(fn, which, *attrs):
    """``fn(operands..., attrs..., dest)``: a helper that writes the node's array."""
    def lower(gen, node, ops):
        args = _arrays(gen, node, ops, which) + [str(node.attrs[a]) for a in attrs]
        dest = gen.alloc(node)
        gen.line(f"{gen.helper(fn)}({', '.join(args)}, {dest.array_expr()}){gen.comment(node)}")
        return dest
    return lower


def _pos_logdet(gen, node, ops):
    (l,) = _arrays(gen, node, ops, (1,))
    name = gen.var(node)
    gen.line(f"{name} = {gen.helper('cholesky_logdet')}({l}){gen.comment(node)}")
    return Value((), scalar=name, outer=not gen.inner)


def _lu_factor(gen, node, ops):
    (a,) = _arrays(gen, node, ops, (0,))
    lu, piv = gen.var(node, "lu"), gen.var(node, "piv")
    gen.line(f"{lu}, {piv} = {gen.helper('lu_factor')}({a}){gen.comment(node)}")
    outer = not gen.inner
    return [Value(t[0], array=name, fresh=True, outer=outer) for t, name in zip(node.types, (lu, piv))]


def _lu_slogdet(gen, node, ops):
    lu, piv = _arrays(gen, node, ops, (1, 2))
    sign, logabs = gen.name("sign"), gen.name("logabsdet")
    dest = gen.alloc(node)
    gen.line(f"{sign}, {logabs} = {gen.helper('lu_slogdet')}({lu}, {piv}){gen.comment(node)}")
    gen.line(f"{dest.read(('0',))} = {sign}")
    gen.line(f"{dest.read(('1',))} = {logabs}")
    return dest


STATEMENTS = {
    "pos_solve": _into("cholesky_solve", (1, 2)),
    "pos_inv": _into("cholesky_inverse", (1,)),
    "pos_logdet": _pos_logdet,
    "lu_factor": _lu_factor,
    "lu_solve": _into("lu_solve", (1, 2, 3), "trans"),
    "lu_inv": _into("lu_inverse", (1, 2)),
    "lu_slogdet": _lu_slogdet,
}
