"""Statement lowerings of the numba backend: matrix products and linear algebra.

Each entry is ``fn(gen, node, operands) -> Value`` and emits code of its own. Float matrix
products call BLAS ?gemm / ?gemv through :mod:`.runtime.lapack` (``blas_dot``, ``blas_matvec``, or
their ``parallel_`` versions for large products) on C-contiguous operands, a transposed one
passed as its C parent and a flag (:meth:`Generator.blas_operand` copies any other view first,
so numba never meets a layout-'A' array); a vector @ vector product is ``np.dot``. M @ x and
Mᵀ @ x of the same M and x (a gradient of xᵀMx has both) are one ``both_matvecs`` call. Batched
products and linear-algebra calls loop over the leading (batch) axes, one 2-d call per matrix:
LAPACK through :mod:`.runtime.lapack` for solve, inv, det and slogdet, ``np.linalg`` for the rest,
their array results copied into place by ``copy_into``. Integer and boolean products, and
``einsum``, are loops with a scalar accumulator.
"""

from __future__ import annotations

import numba
import numpy as np

from graphc.ops.einsum import parse

from .runtime.lapack import BLAS_THREAD_CONTROL
from .scalars import NP_TYPE, REDUCTIONS
from .values import Value, broadcast_index, shape_text


def _sub(expr: str, idx) -> str:
    return f"{expr}[{', '.join(idx)}]" if idx else expr


def _batch_loops(gen, batch_shape, lines_for, parallel: bool = False) -> None:
    """The lines ``lines_for(idx)`` once per batch index (or once, at top level, with no batch);
    ``parallel``: the outer batch loop is a prange."""
    idx = tuple(f"i{d}" for d in range(len(batch_shape)))
    if not batch_shape:
        for text in lines_for(()):
            gen.line(text)
        return
    gen.loop_nest(batch_shape, lines_for(idx), parallel=parallel)


def _contract(gen, node, product, n_out: int, contracted: tuple[int, ...]) -> Value:
    """out[i...] = sum over the contracted axes of ``product(index)``: one loop nest over the
    output axes then the contracted ones, accumulating in a scalar."""
    shape = node.shape + tuple(contracted)
    idx = tuple(f"i{d}" for d in range(len(shape)))
    init = REDUCTIONS["sum"][0](node.dtype)
    update = REDUCTIONS["sum"][1]
    if node.shape == ():
        acc = gen.var(node)
        gen.loop_nest(shape, [update(acc, product(idx), node.dtype)], pre={0: [f"{acc} = {init}"]})
        return Value((), scalar=acc, outer=not gen.inner)
    dest = gen.alloc(node)
    out_idx = idx[:n_out]
    if not contracted:
        body, pre, post = [f"{dest.read(out_idx)} = {product(idx)}"], {}, {}
    else:
        acc = gen.name(f"acc{gen.index[node.serial]}")
        body = [update(acc, product(idx), node.dtype)]
        pre, post = {n_out: [f"{acc} = {init}"]}, {n_out: [f"{dest.read(out_idx)} = {acc}"]}
    gen.loop_nest(shape, body, pre, post, parallel=gen.can_parallel(shape))
    return dest


def _times(dtype) -> str:
    return " & " if dtype.kind == "b" else " * "


def _matmul_loops(gen, node, a, b) -> Value:
    A, B = node.inputs
    n_batch = len(node.shape) - (A.ndim >= 2) - (B.ndim >= 2)
    n_out = len(node.shape)

    def product(idx):
        bidx, k = idx[:n_batch], idx[n_out]
        rest = list(idx[n_batch:n_out])
        ia = broadcast_index(A.shape[:-2], node.shape[:n_batch], bidx) if A.ndim > 2 else ()
        ib = broadcast_index(B.shape[:-2], node.shape[:n_batch], bidx) if B.ndim > 2 else ()
        ia += ((rest.pop(0),) if A.ndim >= 2 else ()) + (k,)
        ib += (k,) + ((rest.pop(0),) if B.ndim >= 2 else ())
        return f"{a.read(ia)}{_times(node.dtype)}{b.read(ib)}"

    return _contract(gen, node, product, n_out, (A.shape[-1],))


def _symmetric_matmul(gen, node, a, b) -> Value | None:
    """S @ x, S @ B, x @ S or B @ S with S = symmetrize(m) of a plain matrix m: BLAS ?symv/?symm
    read m's lower triangle in place (a copy of S would cost more than the product)."""
    A, B = node.inputs
    if a.symmetric_of is not None and a.symmetric_of.plain and B.ndim <= 2 and node.ndim >= 1:
        raw, other, other_node, left = a.symmetric_of, b, B, True
    elif b.symmetric_of is not None and b.symmetric_of.plain and A.ndim <= 2 and node.ndim >= 1:
        raw, other, other_node, left = b.symmetric_of, a, A, False
    else:
        return None
    eo, _ = gen.realize(other, other_node.dtype, allow_f=False)
    dest = gen.alloc(node)
    gen.line(f"{gen.helper('symmetric_dot')}({raw.array_expr()}, {eo}, {dest.array_expr()}, {left})"
             f"{gen.comment(node)}")
    return dest


def matvec_form(node):
    """(M, x, transposed) when ``node`` is a float matrix-vector product op(M) @ x (x @ M counts
    as Mᵀ @ x, a transpose node's input as M), op(M) = Mᵀ when ``transposed``; else None."""
    if node.op != "matmul" or node.dtype.kind != "f" or node.ndim != 1:
        return None
    A, B = node.inputs
    matrix, vector, transposed = (A, B, False) if A.ndim == 2 else (B, A, True)
    if matrix.op == "transpose" and tuple(matrix.attrs["axes"]) == (1, 0):
        matrix, transposed = matrix.inputs[0], not transposed
    return matrix, vector, transposed


def _both_matvecs(gen, node) -> Value | None:
    """M @ x where the graph also computes Mᵀ @ x (a gradient of xᵀMx does): both at once, by
    ``both_matvecs``, which reads M once; the other node's value is set here."""
    form = matvec_form(node)
    if form is None:
        return None
    matrix, vector, transposed = form
    partner = None
    for serial in gen.graph.nx.successors(vector.serial):
        other = gen.graph.node_by_serial(serial)
        form = matvec_form(other)
        if (other.serial not in gen.values and form is not None and form[0] is matrix
                and form[1] is vector and form[2] != transposed):
            partner = other
            break
    if partner is None:
        return None
    em, m_t = gen.blas_operand(gen.value(matrix), matrix.dtype)
    ex, _ = gen.realize(gen.value(vector), vector.dtype, allow_f=False)
    dest, other = gen.alloc(node), gen.alloc(partner)
    y, z = (other, dest) if transposed != m_t else (dest, other)
    n = matrix.shape[0]
    parallel = gen.can_parallel((n,), work=4 * n * n)  # memory-bound, as a matrix-vector product
    blocks = f", {numba.config.NUMBA_NUM_THREADS}" if parallel else ""
    helper = gen.helper("parallel_both_matvecs" if parallel else "both_matvecs")
    gen.line(f"{helper}({em}, {ex}, {y.array_expr()}, {z.array_expr()}{blocks})"
             f"{gen.comment(node)}, {gen.labels[partner.serial]} {partner.op}")
    gen.values[partner.serial] = other
    return dest


def _accumulated_matmul(gen, node, a, b, acc: Value) -> Value:
    """acc += a @ b, for a product over the rows of a block (rows): ?gemm / ?gemv with
    beta = 1, or a dot of two vectors."""
    A, B = node.inputs
    if A.ndim == 1 and B.ndim == 1:
        ea, _ = gen.realize(a, A.dtype)
        eb, _ = gen.realize(b, B.dtype)
        gen.line(f"{acc.read(())} += np.dot({ea}, {eb}){gen.comment(node)}")
        gen.calls_blas = True
        return acc
    ea, a_t = gen.blas_operand(a, A.dtype)
    eb, b_t = gen.blas_operand(b, B.dtype)
    helper = gen.helper("blas_matvec_add" if A.ndim == 1 or B.ndim == 1 else "blas_dot_add")
    gen.line(f"{helper}({_blas_args(A, B, ea, a_t, eb, b_t)}, {acc.array_expr()}){gen.comment(node)}")
    return acc


def _blas_args(A, B, ea: str, a_t: bool, eb: str, b_t: bool) -> str:
    """The operands of the BLAS helper computing A @ B (blas_matvec or blas_dot and kin)."""
    if B.ndim == 1:  # op(a) @ x
        return f"{ea}, {a_t}, {eb}"
    if A.ndim == 1:  # x @ op(b) = op(b)ᵀ @ x
        return f"{eb}, {not b_t}, {ea}"
    return f"{ea}, {a_t}, {eb}, {b_t}"


def _matmul(gen, node, ops):
    a, b = ops
    A, B = node.inputs
    if node.dtype.kind != "f":  # BLAS has no integer or boolean products
        return _matmul_loops(gen, node, a, b)
    if node.serial in gen.accumulators:
        return _accumulated_matmul(gen, node, a, b, gen.accumulators[node.serial])
    symmetric = _symmetric_matmul(gen, node, a, b)
    if symmetric is not None:
        return symmetric
    both = _both_matvecs(gen, node)
    if both is not None:
        return both
    if A.ndim == 1 and B.ndim == 1:
        ea, _ = gen.realize(a, A.dtype)
        eb, _ = gen.realize(b, B.dtype)
        name = gen.var(node)
        gen.line(f"{name} = np.dot({ea}, {eb}){gen.comment(node)}")
        gen.calls_blas = True
        return Value((), scalar=name, outer=not gen.inner)
    ea, a_t = gen.blas_operand(a, A.dtype)
    eb, b_t = gen.blas_operand(b, B.dtype)
    dest = gen.alloc(node)
    n_batch = len(node.shape) - (A.ndim >= 2) - (B.ndim >= 2)
    batch = node.shape[:n_batch]
    m = A.shape[-2] if A.ndim >= 2 else 1
    n = B.shape[-1] if B.ndim >= 2 else 1
    work = m * n * A.shape[-1]
    # a matrix-vector product is memory-bound: worth two threads at a quarter of the work
    work *= 4 if A.ndim == 1 or B.ndim == 1 else 1
    parallel = not batch and BLAS_THREAD_CONTROL and gen.can_parallel((max(m, n),), work=work)
    # a batch of products: the batch loop runs across numba's threads when the whole is large
    parallel_batch = bool(batch) and BLAS_THREAD_CONTROL and gen.can_parallel(
        batch, work=work * int(np.prod(batch, dtype=np.int64)))
    kind = "matvec" if A.ndim == 1 or B.ndim == 1 else "dot"
    helper = gen.helper(f"{'parallel' if parallel else 'blas'}_{kind}")

    def lines(idx):
        ia = broadcast_index(A.shape[:-2], batch, idx) if A.ndim > 2 else ()
        ib = broadcast_index(B.shape[:-2], batch, idx) if B.ndim > 2 else ()
        sa, sb, out = _sub(ea, ia), _sub(eb, ib), _sub(dest.array_expr(), idx)
        args = _blas_args(A, B, sa, a_t, sb, b_t)
        blocks = f", {numba.config.NUMBA_NUM_THREADS}" if parallel else ""  # one block per thread
        return [f"{helper}({args}, {out}{blocks}){gen.comment(node)}"]

    _batch_loops(gen, batch, lines, parallel=parallel_batch)
    return dest


def _einsum(gen, node, ops):
    ins, out = parse(node.attrs["subscripts"], len(ops))
    sizes = {}
    for sub, x in zip(ins, node.inputs):
        sizes.update(zip(sub, x.shape))
    contracted = []
    for sub in ins:
        contracted += [c for c in sub if c not in out and c not in contracted]
    position = {c: i for i, c in enumerate(list(out) + contracted)}

    def product(idx):
        return _times(node.dtype).join(
            v.read(tuple(idx[position[c]] for c in sub)) for sub, v in zip(ins, ops))

    return _contract(gen, node, product, len(out), tuple(sizes[c] for c in contracted))


# --- linear algebra, one matrix at a time ----------------------------------------------------


def _linalg(gen, node, ops, call, store):
    """dest[batch..., ...] from ``call(matrix expressions)``; ``store(dest_prefix, result)`` gives
    the assignment lines."""
    gen.calls_blas = True
    mats = [gen.realize(v, x.dtype)[0] for v, x in zip(ops, node.inputs)]
    first = node.inputs[0]
    batch = first.shape[:-2]
    for x in node.inputs[1:]:
        if x.ndim > 2 and len(x.shape[:-2]) > len(batch):
            batch = x.shape[:-2]
    batch = node.shape[:len(batch)] if batch else ()
    if node.shape == ():
        name = gen.var(node)
        gen.line(f"{name} = {call(mats)}{gen.comment(node)}")
        return Value((), scalar=name, outer=not gen.inner)
    dest = gen.alloc(node)

    def lines(idx):
        subs = [_sub(m, broadcast_index(x.shape[:-2], batch, idx) if x.ndim > 2 else ())
                for m, x in zip(mats, node.inputs)]
        return [f"# {gen.labels[node.serial]} {node.op}"] + store(dest, idx, call(subs))

    _batch_loops(gen, batch, lines)
    return dest


def _assign(gen, dest, idx, rest, value):
    """``dest[idx, rest] = value``; an array-valued one through the module's ``copy_into``."""
    target = dest.read(tuple(idx) + rest)
    if any(":" in r for r in rest):
        return f"{gen.helper('copy_into')}({target}, {value})"
    return f"{target} = {value}"


def _simple(fn, rest):
    def lower(gen, node, ops):
        return _linalg(gen, node, ops, lambda m: f"{fn}({', '.join(m)})",
                       lambda d, idx, v: [_assign(gen, d, idx, rest, v)])
    return lower


def _slogdet(gen, node, ops):
    sign, logabs = gen.name("sign"), gen.name("logabsdet")
    fn = gen.helper("lapack_slogdet")

    def store(d, idx, v):
        return [f"{sign}, {logabs} = {v}", _assign(gen, d, idx, ("0",), sign),
                _assign(gen, d, idx, ("1",), logabs)]

    return _linalg(gen, node, ops, lambda m: f"{fn}({m[0]})", store)


def _eigh(gen, node, ops):
    w, q = gen.name("w"), gen.name("q")

    def store(d, idx, v):
        return [f"{w}, {q} = {v}", _assign(gen, d, idx, ("0", ":"), w),
                _assign(gen, d, idx, ("1:", ":"), q)]

    fn = gen.helper("eigh_or_nan")
    return _linalg(gen, node, ops, lambda m: f"{fn}({m[0]})", store)


def _svd(gen, node, ops):
    m = node.inputs[0].shape[-2]
    u, s, vh = gen.name("u"), gen.name("s"), gen.name("vh")

    def store(d, idx, v):
        return [f"{u}, {s}, {vh} = {v}", _assign(gen, d, idx, (f":{m}", ":"), u),
                _assign(gen, d, idx, (str(m), ":"), s), _assign(gen, d, idx, (f"{m + 1}:", ":"), f"{vh}.T")]

    return _linalg(gen, node, ops, lambda mats: f"np.linalg.svd({mats[0]}, full_matrices=False)", store)


def _solve(gen, node, ops):
    rest = (":",) if node.inputs[1].ndim == 1 else (":", ":")
    return _simple(gen.helper("lapack_solve"), rest)(gen, node, ops)


def _det(gen, node, ops):
    return _simple(gen.helper("lapack_det"), ())(gen, node, ops)


def _inv(gen, node, ops):
    return _simple(gen.helper("lapack_inv"), (":", ":"))(gen, node, ops)


def _solve_triangular(gen, node, ops):
    """op(A)⁻¹ b by BLAS ?trsm (``triangular_solve``), one matrix at a time over batch axes."""
    a, b = ops
    A, B = node.inputs
    ea, _ = gen.realize(a, A.dtype, allow_f=False)
    eb, _ = gen.realize(b, B.dtype, allow_f=False)
    dest = gen.alloc(node)
    core = 1 if B.ndim == 1 else 2
    batch = node.shape[:node.ndim - core]
    at = node.attrs
    fn = gen.helper("triangular_solve")

    def lines(idx):
        ia = broadcast_index(A.shape[:-2], batch, idx)
        ib = broadcast_index(B.shape[:-core], batch, idx)
        return [f"{fn}({_sub(ea, ia)}, {_sub(eb, ib)}, {_sub(dest.array_expr(), idx)}, {at['lower']}, "
                f"{at['trans']}, {at['unit_diagonal']}){gen.comment(node)}"]

    _batch_loops(gen, batch, lines)
    return dest


STATEMENTS = {
    "solve_triangular": _solve_triangular,
    "matmul": _matmul,
    "einsum": _einsum,
    "inv": _inv,
    "solve": _solve,
    "det": _det,
    "slogdet": _slogdet,
    "cholesky": _simple("np.linalg.cholesky", (":", ":")),
    "eigh": _eigh,
    "eigvalsh": lambda gen, node, ops: _simple(gen.helper("eigvalsh_or_nan"), (":",))(gen, node, ops),
    "svd": _svd,
}


# --- a user op's array function --------------------------------------------------------------


def _attr_literal(value) -> str:
    if isinstance(value, tuple):
        return "(" + "".join(f"{_attr_literal(v)}, " for v in value) + ")"
    return repr(value)


def user_array_call(gen, node, ops, function: str) -> Value:
    """``function(*operands, **attrs)``, the array function a user op declares (``numba=``), its
    result checked against the node's shape and cast to its dtype (a copy: the function may
    return one of its operands)."""
    args = [gen.realize(v, x.dtype, allow_f=False)[0] if x.ndim else v.read(())
            for v, x in zip(ops, node.inputs)]
    args += [f"{key}={_attr_literal(value)}" for key, value in sorted(node.attrs.items())]
    name = gen.var(node)
    dt = NP_TYPE[node.dtype]
    if node.shape == ():
        gen.line(f"{name} = {dt}({function}({', '.join(args)})){gen.comment(node)}")
        return Value((), scalar=name, outer=not gen.inner)
    result = gen.name(f"r{gen.index[node.serial]}")
    gen.line(f"{result} = {function}({', '.join(args)}){gen.comment(node)}")
    gen.line(f"if {result}.shape != {shape_text(node.shape)}:")
    message = (f"op {node.op!r}: its numba function returned an array of another shape than "
               f"{shape_text(node.shape)}")
    if gen.inner:  # no raise inside the batch loop (numba would not run it in parallel): flagged
        gen.line(f"    {gen.batch_error(message)}[k] = True")
        gen.line(f"    {result} = np.zeros({shape_text(node.shape)}, {result}.dtype)")
    else:
        gen.line(f"    raise ValueError({message!r})")
    gen.line(f"{name} = {result}.astype({dt})")
    return Value(node.shape, array=name, fresh=True, outer=not gen.inner)
