"""Compiled kernels of the numba backend: the objects ``gc.compile`` calls.

A :class:`NumbaKernel` wraps one generated, jitted function: it converts inputs to exactly the
signature's types (or takes them as they are on the fast path, ``call_exact``), lends the call a
workspace of large intermediates (:mod:`.runtime.workspace`), holds OpenBLAS at one thread around
parallel kernels (:mod:`.runtime.lapack`) and turns a numba failure into a ``GraphError``. A
:class:`RowBlockedKernel` runs a graph split by :mod:`.rows`: ``pre``, the block function on a
thread pool, then ``post``.
"""

from __future__ import annotations

import threading
from functools import partial

import numba
import numpy as np

from graphc.errors import GraphError, InputError
from graphc.ir import Graph
from graphc.ops.indexing import index_error_message

from . import rows
from .codegen import Generator
from .runtime import lapack
from .runtime.workspace import Workspace


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


def _kernel_failure(kernel, exc) -> GraphError:
    """The error a kernel's exception stands for: an index out of range (``codegen.index_check``
    raises ``IndexError("graphc-index", check, value[, sample])``) is the InputError the numpy
    backend raises; anything else a GraphError naming the kernel's source file."""
    if isinstance(exc, IndexError) and exc.args[:1] == ("graphc-index",):
        node, size, axis = kernel._index_checks[exc.args[1]]
        sample = exc.args[3] if len(exc.args) > 3 else None
        return InputError(index_error_message(node, int(exc.args[2]), size, axis, sample))
    return GraphError(
        f"the numba kernel of graph {kernel.graph.name or ''!r} failed: {exc} (source: {kernel.path})"
    )


class NumbaKernel(_Compiled):
    """A compiled graph: call it with the input arrays (in input order) to get the outputs.

    ``source`` is the generated module; ``compile_seconds`` the time numba took to compile it,
    or to load it (``cache_hit``: from the disk cache, or compiled earlier in this process).
    Large intermediate arrays live in a workspace (arrays passed to the kernel, sharing memory
    where their lifetimes allow: :mod:`.runtime.workspace`) that it keeps between calls, one per
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
        self._index_checks = list(gen.index_checks)
        self._workspace = Workspace(source[source.index("\ndef kernel(") + 1:], gen.workspace, gen.aliases) \
            if gen.workspace else None
        self._workspaces: list[tuple] = []  # free workspaces; a call takes one, so threads never share
        self._run = dispatcher
        parallel = gen.used_prange or bool(gen.helpers & set(lapack.PARALLEL_HELPERS))
        if gen.calls_blas and parallel:  # numba's threads are its parallelism: see "Threads" above
            self._run = partial(lapack.with_one_blas_thread, self._run)
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
        run, wrap, failure = self._run, self._scalar_out[0][1], partial(_kernel_failure, self)

        def call_exact(args):
            try:
                return [wrap(run(*args)[0])]
            except (ArithmeticError, ValueError, IndexError, MemoryError, np.linalg.LinAlgError) as exc:
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
        except (ArithmeticError, ValueError, IndexError, MemoryError, np.linalg.LinAlgError) as exc:
            raise _kernel_failure(self, exc) from None
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



class RowBlockedKernel(_Compiled):
    """A graph compiled as a row-blocked kernel (:mod:`.rows`): ``pre`` (a
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
        self._index_checks = list(gen.index_checks)
        self._accumulators = [(node.shape, node.dtype) for _, node in gen.accumulator_args]
        self._workspace = (Workspace(gen.lifetimes_text(), gen.workspace, gen.aliases)
                           if gen.workspace else None)
        self._states: list[tuple] = []  # free (accumulators, per-thread workspaces): one per caller
        self._run = dispatcher if self.threads == 1 else partial(lapack.with_one_blas_thread,
                                                                 rows.run_blocks, dispatcher)

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
        except (ArithmeticError, ValueError, IndexError, MemoryError, np.linalg.LinAlgError) as exc:
            self._states.append(state)  # run_blocks returns once every thread is done
            raise _kernel_failure(self, exc) from None
        # anything else (KeyboardInterrupt while waiting) drops the state: a thread may still write
        self._states.append(state)
        found["partial"] = sums
        post = self.post([found[kind][i] for kind, i in self.parts.post_sources]) if self.post else ()
        found = {"partial": sums, "post": post}
        return [found[kind][i] for kind, i in self.parts.outputs]


