"""The numba backend: one generated, fused, jitted function per graph.

``gc.compile(graph, backend="numba")`` generates the source of ONE Python function for the whole
graph (:mod:`.numba_codegen`), writes it to the kernel cache (:mod:`.numba_cache`) and jits it
with ``numba.njit`` in nopython mode (there is no object-mode fallback), eagerly, for the exact
argument types the graph declares. The source is readable: ``compiled.source`` (or
:meth:`NumbaBackend.source`) shows it, one line per node, each commented with the node's label
in the graph listing (``v7`` is ``%7``).

What the generated code does:

* chains of elementwise ops, with numpy broadcasting, are fused into explicit loop nests that
  write each materialised result once; reductions run inside the loop of the elementwise work
  feeding them, and loops of one shape that feed each other share one pass over memory
  (:mod:`.numba_fusion`). :meth:`NumbaBackend.fusion_groups` returns, for renderers, the nodes
  computed together in each loop nest (a list of lists of nodes, in emission order);
* broadcasts, transposes, slices, unslices, concatenations and diagonals are index mappings the
  loops read through (:mod:`.numba_views`), never copies;
* matrix products call BLAS ?gemm / ?gemv directly (:mod:`.numba_statements`,
  :mod:`.numba_lapack`) on C-contiguous arrays, a transposed operand passed as its C parent and
  a flag, so no view reaches numba's slow layout-'A' path (numba's performance warnings are left
  on); products of at least ``PARALLEL_MIN_WORK`` multiply-adds (matrix-vector: a quarter of it)
  are cut into blocks across numba's threads. ``solve``, ``inv``, ``det`` and ``slogdet`` call
  LAPACK directly, and products with ``symmetrize(A)`` BLAS ?symv/?symm, all through functions
  of :mod:`.numba_lapack` that numba compiles once per machine (its ``np.linalg.solve`` alone
  takes 6 s to compile in every process); ``cholesky``, ``eigh``, ``eigvalsh`` and ``svd`` use
  ``np.linalg``, and a vector @ vector ``np.dot``;
* intermediate arrays of 64 KiB or more are kernel arguments from a workspace the kernel keeps
  between calls (one per concurrent caller, arrays sharing memory where their lifetimes allow:
  :mod:`.numba_workspace`): fresh large arrays cost page faults on every call, more than the
  MLP's whole tanh layer on the reference machine;
* large loops (estimated work at least ``PARALLEL_MIN_WORK``) run their outer axis with ``prange``;
  a reduction over that axis then keeps one partial result per block of rows, combined after
  the loop, so no two threads ever update one element. The function is compiled with
  ``parallel=True`` only when it has such a loop, since parallel compilation costs time;
* 0-d constants and the 0-d ops of them are folded into literals; ``tanh`` is a helper of the
  generated module, written out in loop bodies so that LLVM vectorizes it (:mod:`.numba_tanh`),
  2x faster than libm's;
* a loss over the rows of a large data matrix (the MLP's, a logistic regression's), its
  gradient and HVP, runs a block of rows at a time, every intermediate of a block still in
  cache when the next op reads it, the blocks shared among threads that each keep their own
  partial sums over the rows (:mod:`.numba_rows`, a :class:`RowBlockedKernel`: three parts, the
  middle one a generated serial function on a thread pool). ``rows=False`` turns this off;
* ``batch=("x", ...)`` runs the per-sample body inside one ``for k in prange(n_batch)`` loop,
  reading ``in_x[k, ...]`` and writing outputs straight into ``out0[k, ...]``: no per-sample
  allocation except the intermediate arrays the graph itself needs; nodes that do not depend on
  a batched input are computed once, before the loop.

Threads. A parallel kernel (one with prange loops or products split across threads) has one
thread pool, numba's (``NUMBA_NUM_THREADS``). While such a kernel runs and calls BLAS or LAPACK,
SciPy's OpenBLAS (which numba's and graphc's BLAS calls use; numpy has its own) is set to one
thread, and set back when the last such kernel returns
(:func:`.numba_lapack.with_one_blas_thread`), so OpenBLAS's pool never competes with numba's for
the cores: on the reference machine (2 cores) the two pools together made a 300x300 product
2-15x slower and the MLP's gradient 4x slower (``benchmarks/README.md``, section "numba"). A
kernel without parallel work (small graphs, ``parallel=False``) leaves OpenBLAS's threads to
OpenBLAS, so a large ``inv`` or ``eigh`` alone still uses them. Large products run across
numba's threads only when graphc can set SciPy's OpenBLAS thread count (``BLAS_THREAD_CONTROL``:
SciPy's own wheels; not a conda or system SciPy linked to another BLAS); otherwise each is one
BLAS call. Under numba's workqueue threading layer (not thread-safe) parallel kernels run one
at a time.
"""

from __future__ import annotations

import re
import threading
import time
from functools import partial

import numba
import numpy as np
from numba import types

from graphc.errors import BackendError, GraphError
from graphc.ir import Graph, Node

from . import numba_cache, numba_lapack, numba_rows, numba_tanh
from .numba_codegen import Generator
from .numba_lapack import BLAS_THREAD_CONTROL
from .numba_lowering import LOWERING, check_lowerable
from .numba_pairing import pair_products
from .numba_workspace import Workspace

OPTIONS = {"parallel": True, "cache": True, "rows": True}
_LOADED: dict[str, object] = {}  # cache key -> compiled dispatcher, for this process

HEADER = '''"""A numba kernel generated by graphc's numba backend from the graph listed below."""

{listing}

import math

import numba
import numpy as np
from numba import prange


{tanh}
{helpers}
@numba.njit({decorator})
'''


def _comment_block(text: str) -> str:
    """``text`` as Python comment lines, whatever it holds (graph and node names are the user's:
    quotes, backslashes, line breaks and control characters must not end the comment)."""
    lines = []
    for line in text.splitlines() or [""]:
        line = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: repr(m.group())[1:-1], line)
        lines.append(f"# {line}".rstrip())
    return "\n".join(lines)


def _numba_type(dtype, ndim: int):
    scalar = numba.from_dtype(np.dtype(dtype))
    return scalar if ndim == 0 else types.Array(scalar, ndim, "C")


def _c_array(a: np.ndarray) -> np.ndarray:
    """The array as the kernel's signature declares it: C-contiguous, aligned and writeable."""
    return a if a.flags.carray else np.array(a, order="C")


def _scalar(a, dtype: np.dtype):
    """A 0-d input as a numpy scalar of ``dtype`` (given as a 0-d array, a numpy scalar or a
    Python number: CompiledGraph's fast path hands Python numbers on)."""
    return np.asarray(a, dtype=dtype)[()]


def _same(a):
    return a


def _zero_d(dtype: np.dtype):
    """The conversion of a 0-d input of ``dtype`` to what a kernel's signature declares."""
    return _PYTHON_TYPE.get(dtype) or partial(_scalar, dtype=dtype)


# 0-d inputs of these dtypes are passed as Python float/int/bool: numba's dispatcher types those
# faster than numpy scalars, and they are exactly the float64, int64 and bool the signature declares
_PYTHON_TYPE = {np.dtype("float64"): float, np.dtype("int64"): int, np.dtype("bool"): bool}


_WORKQUEUE_LOCK = threading.Lock()


def _one_at_a_time(fn, *args):
    """fn(*args) under a process-wide lock: numba's workqueue threading layer (its fallback when
    neither OpenMP nor TBB is available) aborts the process when two threads run parallel
    regions at once ("Concurrent access has been detected")."""
    with _WORKQUEUE_LOCK:
        return fn(*args)


class _Compiled:
    """What every kernel of this backend records: its graph, numba dispatcher, source, the
    file it was loaded from, and how long compiling (or loading) took."""

    def __init__(self, graph: Graph, dispatcher, source: str, path, seconds: float, hit: bool):
        self.graph = graph
        self.dispatcher = dispatcher
        self.source = source
        self.path = path
        self.compile_seconds = seconds
        self.cache_hit = hit


class NumbaKernel(_Compiled):
    """A compiled graph: call it with the input arrays (in input order) to get the outputs.

    ``source`` is the generated module; ``compile_seconds`` the time numba took to compile it,
    or to load it (``cache_hit``: from the disk cache, or compiled earlier in this process).
    Large intermediate arrays live in a workspace (arrays passed to the kernel, sharing memory
    where their lifetimes allow: :mod:`.numba_workspace`) that it keeps between calls, one per
    concurrent caller: ``workspace_bytes`` is its size.
    """

    def __init__(self, graph: Graph, gen: Generator, dispatcher, source: str, path, seconds, hit):
        super().__init__(graph, dispatcher, source, path, seconds, hit)
        n_inputs = len(graph.inputs)
        self._convert = []
        for _, node, batched in gen.args[:n_inputs]:
            if batched or node.shape != ():
                self._convert.append(_c_array)
            else:
                self._convert.append(_zero_d(node.dtype))
        # input index -> the Python type CompiledGraph may pass for that 0-d input as it is
        self.python_scalar_inputs = {
            i: _PYTHON_TYPE[node.dtype] for i, (_, node, batched) in enumerate(gen.args[:n_inputs])
            if not batched and node.shape == () and node.dtype in _PYTHON_TYPE}
        self._constants = tuple(_c_array(node.value) for _, node, _ in gen.args[n_inputs:])
        self._workspace = Workspace(source[source.index("\ndef kernel(") + 1:], gen.workspace, gen.aliases) \
            if gen.workspace else None
        self._workspaces: list[tuple] = []  # free workspaces; a call takes one, so threads never share
        self._run = dispatcher
        parallel = gen.used_prange or bool(gen.helpers & set(numba_lapack.PARALLEL_HELPERS))
        if gen.calls_blas and parallel:  # numba's threads are its parallelism: see "Threads" above
            self._run = partial(numba_lapack.with_one_blas_thread, self._run)
        if parallel:
            numba.get_num_threads()  # starts numba's threads if need be: the layer is known after
            if numba.threading_layer() == "workqueue":
                self._run = partial(_one_at_a_time, self._run)
        # call_exact(args): the outputs for inputs exactly as the signature declares them:
        # C-contiguous arrays, and Python scalars of the types python_scalar_inputs gives
        self.call_exact = self._call_with_workspace if self._workspace else self._call
        # 0-d outputs come back as Python scalars (numba boxes them so): 0-d arrays of their dtype
        self._scalar_out = [(i, np.array if o.dtype in _PYTHON_TYPE else partial(np.asarray, dtype=o.dtype))
                            for i, o in enumerate(graph.outputs) if o.shape == () and not gen.batch]
        if not self._workspace and not self._constants and len(graph.outputs) == 1 and self._scalar_out:
            self.call_exact = self._scalar_call()

    def _scalar_call(self):
        """call_exact for the commonest small kernel, one 0-d output and no constant or workspace
        arguments: the general ``_call`` less its loops (a third of a scalar graph's call)."""
        run, wrap, failure = self._run, self._scalar_out[0][1], self._failure

        def call_exact(args):
            try:
                return [wrap(run(*args)[0])]
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
                raise failure(exc) from None

        return call_exact

    @property
    def workspace_bytes(self) -> int:
        return self._workspace.nbytes if self._workspace else 0

    def __call__(self, arrays):
        """The outputs for ``arrays``, inputs of the graph's dtypes and shapes (checked by the
        caller); 0-d inputs may be numpy or Python scalars, arrays any layout."""
        return self.call_exact([conv(a) for conv, a in zip(self._convert, arrays)])

    def _call(self, args, workspace=()):
        """The outputs for inputs exactly as the signature declares them (``call_exact``)."""
        try:
            results = self._run(*args, *self._constants, *workspace)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            raise self._failure(exc) from None
        if self._scalar_out:
            results = list(results)
            for i, wrap in self._scalar_out:
                results[i] = wrap(results[i])
        return results

    def _call_with_workspace(self, args):
        try:
            workspace = self._workspaces.pop()  # atomic under the GIL, unlike a check then a pop
        except IndexError:
            workspace = self._workspace.allocate()
        try:
            return self._call(args, workspace)
        finally:
            self._workspaces.append(workspace)

    def _failure(self, exc) -> GraphError:
        return GraphError(
            f"the numba kernel of graph {self.graph.name or ''!r} failed: {exc} (source: {self.path})"
        )


def _rows_source(plan, pre: str | None, block: str, post: str) -> str:
    """The three modules of a row-blocked kernel as one text, in the order they run."""
    threads = min(numba.config.NUMBA_NUM_THREADS, plan.n_blocks)
    intro = (f"# A row-blocked kernel (graphc.backends.numba_rows): the {plan.rows} rows in "
             f"{plan.n_blocks} blocks of {plan.block},\n# the blocks shared among {threads} "
             "threads. It runs the modules below in this order.\n")
    sections = [("pre: the shared values the blocks read", pre),
                ("blocks: kernel(t, lo, hi, ...) computes blocks lo..hi-1, thread t's partial sums", block),
                ("post: from the partial sums, added over the threads, to the outputs that are not "
                 "partial sums themselves", post)]
    return intro + "".join(f"\n# ===== {title} =====\n\n{text}" for title, text in sections if text)


class RowBlockedKernel(_Compiled):
    """A graph compiled as a row-blocked kernel (:mod:`.numba_rows`): ``pre`` (a
    :class:`NumbaKernel`, or None), the block function on a thread pool, then ``post``. The
    same interface as :class:`NumbaKernel`; ``source`` holds the three modules."""

    def __init__(self, graph: Graph, plan, parts, pre, post, gen, dispatcher, source, path, seconds, hit):
        super().__init__(graph, dispatcher, source, path, seconds, hit)
        self.plan = plan
        self.parts = parts
        self.pre = pre
        self.post = post
        self.threads = max(1, min(numba.config.NUMBA_NUM_THREADS, plan.n_blocks))
        self._convert = [_c_array if p.shape != () else _zero_d(p.dtype)
                         for p in graph.inputs]
        self.python_scalar_inputs = {i: _PYTHON_TYPE[p.dtype] for i, p in enumerate(graph.inputs)
                                     if p.shape == () and p.dtype in _PYTHON_TYPE}
        n_inputs = len(parts.block.inputs)
        # block argument j: (from graph inputs or pre's outputs, index, conversion to the signature)
        self._block_args = [(kind, i, _zero_d(node.dtype) if node.shape == () else _same)
                            for (kind, i), node in zip(parts.block_sources, parts.block.inputs)]
        self._constants = tuple(_c_array(node.value) for _, node, _ in gen.args[n_inputs:])
        self._accumulators = [(node.shape, node.dtype) for _, node in gen.accumulator_args]
        self._workspace = (Workspace(gen.lifetimes_text(), gen.workspace, gen.aliases)
                           if gen.workspace else None)
        self._states: list[tuple] = []  # free (accumulators, per-thread workspaces): one per caller
        self._run = dispatcher if self.threads == 1 else partial(numba_lapack.with_one_blas_thread,
                                                                 numba_rows.run_blocks, dispatcher)

    @property
    def workspace_bytes(self) -> int:
        per_thread = self._workspace.nbytes if self._workspace else 0
        sums = sum(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                   for shape, dtype in self._accumulators)
        return self.threads * (per_thread + sums)

    def __call__(self, arrays):
        """As :meth:`NumbaKernel.__call__`."""
        return self.call_exact([conv(a) for conv, a in zip(self._convert, arrays)])

    def _state(self):
        accumulators = tuple(np.empty((self.threads,) + shape, dtype) for shape, dtype in self._accumulators)
        workspaces = [self._workspace.allocate() if self._workspace else () for _ in range(self.threads)]
        return accumulators, workspaces

    def call_exact(self, args):
        pre = self.pre.call_exact([args[i] for _, i in self.parts.pre_sources]) if self.pre else ()
        found = {"input": args, "pre": pre}
        block_args = tuple(conv(found[kind][i]) for kind, i, conv in self._block_args) + self._constants
        try:
            state = self._states.pop()  # atomic under the GIL
        except IndexError:
            state = self._state()
        accumulators, workspaces = state
        try:
            if self.threads == 1:
                self._run(0, 0, self.plan.n_blocks, *block_args, *accumulators, *workspaces[0])
            else:
                self._run(self.plan.n_blocks, block_args, accumulators, workspaces)
            # thread by thread, in order; a 0-d one as a 0-d array, as kernels return them
            sums = [np.asarray(a.sum(axis=0), dtype=a.dtype) for a in accumulators]
        except (ArithmeticError, ValueError) as exc:
            self._states.append(state)  # run_blocks returns once every thread is done
            raise GraphError(f"the numba kernel of graph {self.graph.name or ''!r} failed: {exc} "
                             f"(source: {self.path})") from None
        # anything else (KeyboardInterrupt while waiting) drops the state: a thread may still write
        self._states.append(state)
        found["partial"] = sums
        post = self.post([found[kind][i] for kind, i in self.parts.post_sources]) if self.post else ()
        found = {"partial": sums, "post": post}
        return [found[kind][i] for kind, i in self.parts.outputs]


class NumbaBackend:
    """Registered as ``numba``. Options: ``parallel`` (allow prange loops and products split
    across numba's threads, default True), ``cache`` (use the on-disk kernel cache, default
    True) and ``rows`` (run a large sum over the rows of a data matrix a block of rows at a time
    when it can: :mod:`.numba_rows`; default True, needs ``parallel``)."""

    name = "numba"
    lowering = LOWERING

    def compile(self, graph: Graph, batch=(), **options):
        """A :class:`NumbaKernel`, or a :class:`RowBlockedKernel` when the graph is a large sum
        over the rows of a data matrix that runs faster a block of rows at a time
        (:mod:`.numba_rows`)."""
        opts, batch = self._options(options), tuple(batch)
        paired = self._prepare(graph)
        plan = self._row_plan(paired, batch, opts)
        if plan is not None:
            return self._compile_rows(paired, plan, opts)
        return self._compile_generated(graph, batch, opts, *self._generate(paired, batch, opts))

    def _compile_generated(self, graph: Graph, batch: tuple, opts: dict, gen: Generator, source: str):
        key = numba_cache.kernel_key(graph.digest, batch, opts, source)
        signature = tuple(_numba_type(n.dtype, n.ndim + batched) for _, n, batched in gen.args)
        signature += tuple(_numba_type(dtype, len(shape)) for _, shape, dtype in gen.workspace)
        dispatcher, path, seconds, hit = self._jit(graph, source, key, opts, signature)
        return NumbaKernel(graph, gen, dispatcher, source, path, seconds, hit)

    def _jit(self, graph: Graph, source: str, key: str, opts: dict, signature):
        """(dispatcher, path, seconds, cache hit): ``source``'s ``kernel`` compiled for
        ``signature``, or loaded from numba's cache, or taken from this process's."""
        start = time.perf_counter()
        if key in _LOADED:  # compiled earlier in this process: nothing to compile or load
            dispatcher, path = _LOADED[key]
            return dispatcher, path, time.perf_counter() - start, True
        dispatcher, path = self._load(source, key, opts)
        try:
            dispatcher.compile(signature)  # numba loads it from its cache when it can
        except Exception as exc:  # noqa: BLE001 - a numba failure is reported as ours
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(
                f"numba could not compile the kernel of graph {graph.name or ''!r}: {first} "
                f"(generated source: {path})"
            ) from exc
        dispatcher.disable_compile()  # inputs are normalised to the signature: never recompile
        _LOADED[key] = (dispatcher, path)
        hit = opts["cache"] and sum(dispatcher.stats.cache_hits.values()) > 0
        return dispatcher, path, time.perf_counter() - start, hit

    @staticmethod
    def _row_plan(paired: Graph, batch: tuple, opts: dict):
        """The :class:`.numba_rows.RowPlan` of a prepared graph, or None (one kernel)."""
        if batch or not opts["parallel"] or not opts["rows"] or not BLAS_THREAD_CONTROL:
            return None
        return numba_rows.plan_rows(paired, numba.config.NUMBA_NUM_THREADS)

    def _compile_rows(self, graph: Graph, plan, opts: dict) -> RowBlockedKernel:
        parts, gen, block_source, inner = self._row_parts(graph, plan, opts)
        pre = None
        if parts.pre is not None:
            pre = self._compile_generated(parts.pre, (), inner, *self._generate(parts.pre, (), inner))
        post = None
        if parts.post is not None:
            post = self._compile_generated(parts.post, (), inner, *self._generate(parts.post, (), inner))
        key = numba_cache.kernel_key(parts.block.digest, ("rows",), opts, block_source)
        index = types.int64
        signature = (index, index, index)
        signature += tuple(_numba_type(n.dtype, n.ndim) for _, n, _ in gen.args)
        signature += tuple(_numba_type(n.dtype, n.ndim + 1) for _, n in gen.accumulator_args)
        signature += tuple(_numba_type(dtype, len(shape)) for _, shape, dtype in gen.workspace)
        dispatcher, path, seconds, hit = self._jit(parts.block, block_source, key, opts, signature)
        seconds += sum(k.compile_seconds for k in (pre, post) if k is not None)
        hit = hit and all(k.cache_hit for k in (pre, post) if k is not None)
        source = _rows_source(plan, pre and pre.source, block_source, post and post.source)
        return RowBlockedKernel(graph, plan, parts, pre, post, gen, dispatcher, source, path, seconds, hit)

    def _row_parts(self, graph: Graph, plan, opts: dict):
        """(parts, block generator, block module source, options of pre and post)."""
        parts = numba_rows.split(graph, plan)
        row_names = {graph.inputs[i].attrs["name"] for i in plan.row_inputs}
        gen = numba_rows.BlockGenerator(parts.block, row_names, plan.block)
        block_source = self._module(parts.block, gen, gen.generate(), opts)
        return parts, gen, block_source, {**opts, "rows": False}

    def source(self, graph: Graph, batch=(), **options) -> str:
        """The generated module(s) for ``graph`` (what :meth:`compile` would jit)."""
        opts, batch = self._options(options), tuple(batch)
        paired = self._prepare(graph)
        plan = self._row_plan(paired, batch, opts)
        if plan is None:
            return self._generate(paired, batch, opts)[1]
        parts, _, block_source, inner = self._row_parts(paired, plan, opts)
        pre, post = (self._generate(g, (), inner)[1] if g is not None else None
                     for g in (parts.pre, parts.post))
        return _rows_source(plan, pre, block_source, post)

    def fusion_groups(self, graph: Graph) -> list[list[Node]]:
        """The nodes fused into each loop nest of the generated code, in emission order. Nodes
        not listed are scalars, views, sources or calls (BLAS, LAPACK, np.linalg)."""
        check_lowerable(graph)
        return [list(loop.members) for loop in Generator(graph).plan.loops]

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _options(options: dict) -> dict:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise BackendError(
                f"the numba backend does not take option(s) {unknown}; its options are {sorted(OPTIONS)}"
            )
        opts = {**OPTIONS, **options}
        for key, value in opts.items():
            if not isinstance(value, bool):
                raise BackendError(f"numba backend option {key}= must be True or False, got {value!r}")
        return opts

    @staticmethod
    def _prepare(graph: Graph) -> Graph:
        """The graph code is generated from (listed above it): checked, its products paired."""
        if not isinstance(graph, Graph):
            raise BackendError(f"the numba backend compiles a Graph, got {type(graph).__name__}")
        check_lowerable(graph)
        return pair_products(graph)

    @staticmethod
    def _generate(graph: Graph, batch: tuple[str, ...], opts: dict) -> tuple[Generator, str]:
        """The generator and module of a prepared graph (or a part of one)."""
        gen = Generator(graph, batch, parallel=opts["parallel"])
        return gen, NumbaBackend._module(graph, gen, gen.generate(), opts)

    @staticmethod
    def _module(graph: Graph, gen: Generator, body: str, opts: dict) -> str:
        """The generated module: the graph's listing, imports, helpers and ``body``."""
        flags = [f"cache={opts['cache']}", 'error_model="numpy"', "nogil=True"]
        if gen.used_prange:
            flags.append("parallel=True")
        listing = str(graph) if len(graph) <= 400 else f"graph {graph.name!r}: {len(graph)} nodes"
        helper_flags = ", ".join(flags[:3])
        helpers = numba_lapack.helper_sources(gen.helpers) if gen.helpers else ""
        tanh = numba_tanh.SOURCE.format(flags=helper_flags)
        header = HEADER.format(listing=_comment_block(listing), decorator=", ".join(flags), tanh=tanh,
                               helpers=helpers)
        return header + body

    @staticmethod
    def _load(source: str, key: str, opts: dict):
        if opts["cache"]:
            path = numba_cache.publish(source, key)
            return numba_cache.import_module(path).kernel, path
        namespace: dict = {}
        path = f"<graphc kernel {key}>"
        exec(compile(source, path, "exec"), namespace)  # noqa: S102 - our own generated code
        return namespace["kernel"], path
