"""Row-blocked kernels: a graph over the rows of a data matrix, computed a block of rows at a time.

A loss over the N rows of a data matrix (the MLP's mean squared error, a logistic loss) and its
gradient and HVP pass over every [N, h] intermediate several times: the forward products, the
elementwise layers, the backward products. When these do not fit in cache each pass goes to
memory. Cut into blocks of B rows, each pass over a block finds it still in cache; and the
blocks are shared among threads, each adding its blocks' part of every sum over the rows
(``sum`` over axis 0, ``Xᵀ @ dZ``) into partial sums of its own, added up at the end: the
chunked reductions of a parallel loop, one level up.

:func:`plan_rows` decides whether a graph can be computed so, and classifies its nodes:

* ``shared``: depends on no row input (weights, their transposes, constants);
* ``row``: axis 0 runs over the rows, and its block r needs only block r of the row inputs
  (elementwise ops, reductions keeping axis 0, reshapes of the trailing axes, ``X @ W``);
* ``rowT``: the transpose of a 2-d row node, the left operand of a product over the rows;
* ``partial``: a sum over the rows (``sum`` over axis 0, ``Xᵀ @ Y``, ``y @ X``, ``x @ y``);
* ``post``: depends on a partial, computed once every block is done.

The row inputs are the placeholders whose leading axis has length N. A graph qualifies when no
row node depends on a partial (one pass over the rows suffices), no output is a row node, every
op reading a row node is one of those above, and N has a divisor between MIN_BLOCK and MAX_BLOCK
rows (a block size that does not divide N would need a second, shorter block function, and its
compile). It is worth it when the row intermediates outgrow the caches (MIN_ROW_BYTES) and a
product over the rows (``Xᵀ @ dZ``: a backward pass) reads a block again: a forward pass reads
each intermediate once, and there products over all rows at once are the faster (the MLP's loss
alone: 6.0 ms in blocks, 5.7 ms as one kernel). Anything else compiles as one kernel
(:mod:`.codegen`), as before.

The kernel is then three parts (:func:`split`): ``pre``, the graph of the shared values the
blocks read that are more than views of inputs; the block graph, whose row inputs have B rows
and whose outputs are the partials; and ``post``, the graph from the partials to the outputs
that are not partials themselves. ``pre`` and ``post`` compile as any graph. The block graph
becomes one serial function (:class:`BlockGenerator`), ``kernel(t, lo, hi, ...)``: blocks
lo..hi-1, their partial sums added into row t of the accumulators. Threads (numba's count,
``NUMBA_NUM_THREADS``) are a Python thread pool, the function releasing the GIL: a ``prange``
loop around the same body made numba compile it again, inside a gufunc, for 3-5 s on the MLP
against 1-1.5 s for the serial function.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from graphc.builder import placeholder
from graphc.ir import Graph, Node
from graphc.ops.core import bind
from graphc.rewrite.driver import rebuild

from .codegen import Generator
from .fusion import kind
from .scalars import literal
from .values import Value

_GATHERS_ALONG = ("take", "take_along_axis", "scatter_add", "scatter_add_along_axis", "scatter")
BLOCK_ROWS = 128  # the preferred block: the MLP's gradient ran fastest at 128 rows of 32-256
MIN_BLOCK, MAX_BLOCK = 32, 512
# Worth it only when the row intermediates outgrow the caches: their bytes, summed over nodes
MIN_ROW_BYTES = 16 << 20


@dataclass
class RowPlan:
    """How a graph runs a block of rows at a time (see the module docstring)."""

    rows: int  # N
    block: int  # B
    kinds: dict[int, str]  # serial -> shared | row | rowT | partial | post
    row_inputs: tuple[int, ...]  # positions among the graph's inputs

    @property
    def n_blocks(self) -> int:
        return self.rows // self.block


def _block_size(rows: int, min_blocks: int) -> int | None:
    """The divisor of ``rows`` in [MIN_BLOCK, MAX_BLOCK] nearest BLOCK_ROWS (the larger on a tie)
    that leaves at least ``min_blocks`` blocks, or None."""
    found = [b for b in range(MIN_BLOCK, MAX_BLOCK + 1) if rows % b == 0 and rows // b >= min_blocks]
    return min(found, key=lambda b: (abs(b - BLOCK_ROWS), -b)) if found else None


def _row_kind(node: Node, kinds: dict[int, str], rows: int) -> str | None:
    """The kind of ``node``, an op reading at least one row or rowT node; None: not blockable."""
    ks = [kinds[i.serial] for i in node.inputs]
    if "partial" in ks or "post" in ks:
        return None  # a row value after a sum over the rows: two passes
    k = kind(node)
    if k == "elementwise":
        for i, ki in zip(node.inputs, ks):
            if ki == "rowT" or (ki == "row" and i.ndim != node.ndim):
                return None
            if ki == "shared" and i.ndim == node.ndim and i.shape[0] != 1:
                return None  # varies along the rows but is not a row input
        return "row"
    if k == "reduction":
        if 0 not in node.attrs["axes"]:
            return "row"
        return "partial" if node.op == "sum" else None
    if node.op == "stop_gradient":
        return ks[0]
    if node.op in _GATHERS_ALONG and node.attrs["axis"] % node.ndim != 0:  # rows stay rows
        data = [ki for i, ki in zip(node.inputs, ks) if i.dtype.kind == "f"]
        if all(ki == "row" for ki in data) and all(ki in ("row", "shared") for ki in ks):
            if node.op in ("take_along_axis", "scatter_add_along_axis") and ks[1] != "row":
                return None  # an index array per row must be the rows' own
            return "row"
        return None
    if node.op == "transpose":
        return "rowT" if node.ndim == 2 and tuple(node.attrs["axes"]) == (1, 0) else None
    if node.op == "reshape" and ks[0] == "row" and node.ndim and node.shape[0] == rows:
        return "row"  # of the trailing axes only (as a gradient's (N,) -> (N, 1)): row by row
    if node.op == "matmul" and node.dtype.kind == "f":
        (a, b), (ka, kb) = node.inputs, ks
        if ka == "row" and a.ndim == 2 and kb == "shared" and b.ndim <= 2:
            return "row"  # X @ W
        if kb == "row" and b.ndim <= 2 and (ka == "rowT" or (ka == "row" and a.ndim == 1)):
            return "partial"  # Xᵀ @ Y, y @ X, x @ y
    return None


def _spread_over_rows(node: Node, kinds: dict[int, str], rows: int) -> bool:
    """A broadcast of a shared value that is the same in every row to N rows (a gradient's seed
    ``broadcast_to(1/N, (N, 1))``): a row node that each block builds with its B rows."""
    if node.op != "broadcast_to" or not node.ndim or node.shape[0] != rows:
        return False
    x = node.inputs[0]
    return kinds[x.serial] == "shared" and (x.ndim < node.ndim or x.shape[0] == 1)


def _classify(graph: Graph, rows: int) -> dict[int, str] | None:
    kinds: dict[int, str] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            kinds[node.serial] = "row" if node.ndim and node.shape[0] == rows else "shared"
            continue
        if _spread_over_rows(node, kinds, rows):
            kinds[node.serial] = "row"
            continue
        ks = {kinds[i.serial] for i in node.inputs}
        if ks & {"row", "rowT"}:
            found = _row_kind(node, kinds, rows)
            if found is None:
                return None
            kinds[node.serial] = found
        elif ks & {"partial", "post"}:
            kinds[node.serial] = "post"
        else:
            kinds[node.serial] = "shared"
    for node in graph.nodes:  # a transpose over the rows only feeds products over the rows
        if kinds[node.serial] == "rowT":
            for serial in graph.nx.successors(node.serial):
                user = graph.node_by_serial(serial)
                if not (kinds[serial] == "partial" and user.op == "matmul" and user.inputs[0] is node
                        and user.inputs[1] is not node):
                    return None
    if any(kinds[o.serial] in ("row", "rowT") for o in graph.outputs):
        return None
    return kinds


def plan_rows(graph: Graph, threads: int) -> RowPlan | None:
    """How ``graph`` runs a block of rows at a time on ``threads`` threads, or None when it
    cannot or it would not pay (see the module docstring)."""
    if threads < 1:
        return None
    for rows in sorted({p.shape[0] for p in graph.inputs if p.ndim == 2}, reverse=True):
        block = _block_size(rows, 2 * threads)  # at least two blocks per thread
        if block is None:
            continue
        kinds = _classify(graph, rows)
        if kinds is None or not any(n.op == "matmul" and kinds[n.serial] == "partial" for n in graph.nodes):
            continue  # no product over the rows (Xᵀ dZ: a backward pass) reads a block again
        row_bytes = sum(n.size * n.dtype.itemsize for n in graph.nodes
                        if kinds[n.serial] == "row" and kind(n) != "view")
        if row_bytes < MIN_ROW_BYTES:
            continue
        positions = tuple(i for i, p in enumerate(graph.inputs) if kinds[p.serial] == "row")
        return RowPlan(rows, block, kinds, positions)
    return None


# --- the three graphs -------------------------------------------------------------------------

@dataclass
class Parts:
    """The graphs of a row-blocked kernel and where each one's inputs come from: ("input", i),
    ("pre", j) (output j of ``pre``) or ("partial", j) (the sum of partial j); and where each
    output of the graph comes from: ("partial", j) as it is, or ("post", k), output k of
    ``post`` (None when every output is a partial)."""

    pre: Graph | None
    block: Graph
    post: Graph | None
    outputs: list[tuple[str, int]]
    pre_sources: list[tuple[str, int]] = field(default_factory=list)
    block_sources: list[tuple[str, int]] = field(default_factory=list)
    post_sources: list[tuple[str, int]] = field(default_factory=list)


def _cheap(node: Node) -> bool:
    """Whether a shared node is recomputed in each graph that reads it rather than computed
    once by ``pre``: a view or a scalar op costs nothing."""
    return node.op in ("placeholder", "constant") or kind(node) == "view" or (
        node.shape == () and kind(node) == "elementwise")


def split(graph: Graph, plan: RowPlan) -> Parts:
    """``graph`` as ``pre``, block and ``post`` graphs (see the module docstring)."""
    kinds = plan.kinds
    position = {p.serial: i for i, p in enumerate(graph.inputs)}
    taken = {p.attrs["name"] for p in graph.inputs}

    def fresh(base: str) -> str:
        """An input name for a value of ours that no input of the graph has."""
        name = base
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    pre_nodes: list[Node] = []
    pre_index: dict[int, int] = {}
    pre_names: dict[int, str] = {}
    labels = {n.serial: i for i, n in enumerate(graph.nodes)}

    def shared_value(node: Node, env: dict, inputs: list, sources: list) -> Node:
        """``node`` (shared) in the graph ``env`` builds: rebuilt when cheap, else an input."""
        stack = [node]
        while stack:
            cur = stack[-1]
            if cur.serial in env:
                stack.pop()
                continue
            if cur.op == "placeholder":
                env[cur.serial] = cur
                inputs.append(cur)
                sources.append(("input", position[cur.serial]))
            elif not _cheap(cur):
                if cur.serial not in pre_index:
                    pre_index[cur.serial] = len(pre_nodes)
                    pre_nodes.append(cur)
                    pre_names[cur.serial] = fresh(f"shared{labels[cur.serial]}")
                new = placeholder(pre_names[cur.serial], cur.shape, cur.dtype)
                env[cur.serial] = new
                inputs.append(new)
                sources.append(("pre", pre_index[cur.serial]))
            else:
                missing = [i for i in cur.inputs if i.serial not in env]
                if missing:
                    stack.extend(missing)
                    continue
                env[cur.serial] = rebuild(cur, [env[i.serial] for i in cur.inputs])
            stack.pop()
        return env[node.serial]

    # the block graph: row inputs with B rows, the partials as outputs
    env: dict[int, Node] = {}
    block_inputs: list[Node] = []
    block_sources: list[tuple[str, int]] = []
    partials: list[Node] = []
    for node in graph.nodes:
        k = kinds[node.serial]
        if k not in ("row", "rowT", "partial"):
            continue
        if node.op == "placeholder":
            new = placeholder(node.attrs["name"], (plan.block,) + node.shape[1:], node.dtype)
            block_inputs.append(new)
            block_sources.append(("input", position[node.serial]))
        else:
            operands = [env[i.serial] if kinds[i.serial] != "shared"
                        else shared_value(i, env, block_inputs, block_sources) for i in node.inputs]
            attrs = dict(node.attrs)
            if node.op in ("reshape", "broadcast_to"):
                attrs["shape"] = (plan.block,) + tuple(attrs["shape"][1:])
            new = bind(node.op, operands, attrs, value=node.value, meta=node.meta)
        env[node.serial] = new
        if k == "partial":
            partials.append(node)
    block = Graph(block_inputs, [env[p.serial] for p in partials], name=f"{graph.name or 'graph'}[rows]")

    # post: from the partials (inputs) to the outputs
    env = {}
    post_inputs: list[Node] = []
    post_sources: list[tuple[str, int]] = []
    for j, p in enumerate(partials):
        env[p.serial] = placeholder(fresh(f"partial{labels[p.serial]}"), p.shape, p.dtype)
        post_inputs.append(env[p.serial])
        post_sources.append(("partial", j))
    for serial, j in pre_index.items():
        node = pre_nodes[j]
        env[serial] = placeholder(pre_names[serial], node.shape, node.dtype)
        post_inputs.append(env[serial])
        post_sources.append(("pre", j))
    for node in graph.nodes:
        if node.serial in env or kinds[node.serial] in ("row", "rowT"):
            continue
        if node.op == "placeholder":
            env[node.serial] = node
            post_inputs.append(node)
            post_sources.append(("input", position[node.serial]))
        else:
            env[node.serial] = rebuild(node, [env[i.serial] for i in node.inputs])
    # an output that is a partial is its sum as it is: no copy, and no post kernel if all are
    partial_index = {p.serial: j for j, p in enumerate(partials)}
    outputs, outs = [], []
    for o in graph.outputs:
        if o.serial in partial_index:
            outputs.append(("partial", partial_index[o.serial]))
        else:
            outputs.append(("post", len(outs)))
            outs.append(env[o.serial])
    post = Graph(post_inputs, outs, name=graph.name) if outs else None

    pre = pre_sources = None
    if pre_nodes:
        shared_inputs = [p for p in graph.inputs if kinds[p.serial] == "shared"]
        pre = Graph(shared_inputs, pre_nodes, name=f"{graph.name or 'graph'}[shared]")
        pre_sources = [("input", position[p.serial]) for p in shared_inputs]
    return Parts(pre, block, post, outputs, pre_sources or [], block_sources, post_sources)


# --- the block function -----------------------------------------------------------------------

class BlockGenerator(Generator):
    """Generates ``kernel(t, lo, hi, <inputs>, <accumulators>, <workspace>)`` for a block
    graph: for blk in lo..hi-1, the row inputs' rows blk*B..(blk+1)*B, the graph's outputs (the
    partials) added into ``acc[t]``, zeroed first. Serial (the threads are the caller's); every
    intermediate array is in the workspace, one per thread, so no block allocates."""

    def __init__(self, graph: Graph, row_names: set[str], block: int):
        super().__init__(graph, (), parallel=False)
        self.row_names = row_names
        self.block = block
        self.taken |= {"t", "lo", "hi", "blk", "r0"}
        self.accumulator_args: list[tuple[str, Node]] = []
        self.body_lines: list[str] = []

    def scratch(self, name: str, shape, dtype) -> Value | None:
        self.workspace.append((name, tuple(shape), np.dtype(dtype)))
        return Value(tuple(shape), array=name)

    def generate(self) -> str:
        g = self.graph
        slices = []
        for p in g.inputs:
            pname = p.attrs["name"]
            name = self.name("in_" + pname)
            self.args.append((name, p, False))
            if pname in self.row_names:
                local = self.name("b_" + pname)
                slices.append(f"{local} = {name}[r0:r0 + {self.block}]")
                self.values[p.serial] = Value(p.shape, array=local)
            else:
                self.values[p.serial] = (Value((), scalar=name) if p.shape == ()
                                         else Value(p.shape, array=name))
        for o in g.outputs:
            acc = self.name(f"acc{self.index[o.serial]}")
            self.accumulators[o.serial] = Value(o.shape, array=acc, prefix=("t",))
            self.accumulator_args.append((acc, o))
            zero = literal(0, o.dtype)
            idx = tuple(f"i{d}" for d in range(o.ndim))
            self.loop_nest(o.shape, [f"{acc}[{', '.join(('t',) + idx)}] = {zero}"])
        zeroing = self.lines
        self.lines = self.body_lines
        self.depth = 2
        for node in g.nodes:
            self.emit(node)
        head = ["    for blk in range(lo, hi):", f"        r0 = blk * {self.block}"]
        head += [f"        {text}" for text in slices]
        names = [name for name, _, _ in self.args] + [a for a, _ in self.accumulator_args]
        names += [name for name, _, _ in self.workspace]
        return (f"def kernel(t, lo, hi, {', '.join(names)}):\n"
                + "\n".join(zeroing + head + self.body_lines) + "\n")

    def lifetimes_text(self) -> str:
        """The loop body as a function body, for the workspace's lifetime analysis (each
        top-level statement of one block is a step; blocks run one after another)."""
        return "def kernel():\n" + "\n".join(line[4:] for line in self.body_lines) + "\n"


# --- running ----------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's thread pool for block functions (at least ``workers`` threads)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:  # noqa: SLF001 - its documented size
            if _pool is not None:
                _pool.shutdown(wait=False)  # its threads end once their tasks are done
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="graphc-rows")
        return _pool


def _forget_pool_in_child() -> None:
    """A forked child has none of its parent's threads: it starts a pool of its own."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def run_blocks(block_fn, n_blocks: int, args: tuple, accumulators: tuple, workspaces: list) -> None:
    """block_fn over ``n_blocks`` blocks, cut into len(workspaces) contiguous runs of blocks,
    one per thread (the calling thread takes the first), each with its own workspace."""
    threads = len(workspaces)
    bounds = [(t * n_blocks // threads, (t + 1) * n_blocks // threads) for t in range(threads)]
    futures = []
    if threads > 1:
        pool = _executor(threads - 1)
        futures = [pool.submit(block_fn, t, lo, hi, *args, *accumulators, *workspaces[t])
                   for t, (lo, hi) in enumerate(bounds) if t > 0]
    try:
        block_fn(0, *bounds[0], *args, *accumulators, *workspaces[0])
    finally:
        errors = []
        for f in futures:
            try:
                f.result()
            except Exception as exc:  # noqa: BLE001 - re-raised below, after every thread is done
                errors.append(exc)
    if errors:
        raise errors[0]
