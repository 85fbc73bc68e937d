"""The numba backend: one generated, fused, jitted function per graph.

``gc.compile(graph, backend="numba")`` generates the source of ONE Python function for the whole
graph (:mod:`.codegen`), writes it to the kernel cache (:mod:`.cache`) and jits it
with ``numba.njit`` in nopython mode (there is no object-mode fallback), eagerly, for the exact
argument types the graph declares. The source is readable: ``compiled.source`` (or
:meth:`NumbaBackend.source`) shows it, one line per node, each commented with the node's label
in the graph listing (``v7`` is ``%7``).

What the generated code does:

* chains of elementwise ops, with numpy broadcasting, are fused into explicit loop nests that
  write each materialised result once; reductions run inside the loop of the elementwise work
  feeding them, and loops of one shape that feed each other share one pass over memory
  (:mod:`.fusion`). :meth:`NumbaBackend.fusion_groups` returns, for renderers, the nodes
  computed together in each loop nest (a list of lists of nodes, in emission order);
* broadcasts, transposes, slices, unslices, concatenations and diagonals are index mappings the
  loops read through (:mod:`.views`), never copies;
* matrix products call BLAS ?gemm / ?gemv directly (:mod:`.statements`,
  :mod:`.runtime.lapack`) on C-contiguous arrays, a transposed operand passed as its C parent and
  a flag, so no view reaches numba's slow layout-'A' path (numba's performance warnings are left
  on); products of at least ``PARALLEL_MIN_WORK`` multiply-adds (matrix-vector: a quarter of it)
  are cut into blocks across numba's threads. ``solve``, ``inv``, ``det`` and ``slogdet`` call
  LAPACK directly, and products with ``symmetrize(A)`` BLAS ?symv/?symm, all through functions
  of :mod:`.runtime.lapack` that numba compiles once per machine (its ``np.linalg.solve`` alone
  takes 6 s to compile in every process); ``cholesky``, ``eigh``, ``eigvalsh`` and ``svd`` use
  ``np.linalg``, and a vector @ vector ``np.dot``;
* intermediate arrays of 64 KiB or more are kernel arguments from a workspace the kernel keeps
  between calls (one per concurrent caller, arrays sharing memory where their lifetimes allow:
  :mod:`.runtime.workspace`): fresh large arrays cost page faults on every call, more than the
  MLP's whole tanh layer on the reference machine;
* large loops (estimated work at least ``PARALLEL_MIN_WORK``) run their outer axis with ``prange``;
  a reduction over that axis then keeps one partial result per block of rows, combined after
  the loop, so no two threads ever update one element. The function is compiled with
  ``parallel=True`` only when it has such a loop, since parallel compilation costs time;
* 0-d constants and the 0-d ops of them are folded into literals; ``tanh`` is a helper of the
  generated module, written out in loop bodies so that LLVM vectorizes it (:mod:`.runtime.tanh`),
  2x faster than libm's;
* a loss over the rows of a large data matrix (the MLP's, a logistic regression's), its
  gradient and HVP, runs a block of rows at a time, every intermediate of a block still in
  cache when the next op reads it, the blocks shared among threads that each keep their own
  partial sums over the rows (:mod:`.rows`, a :class:`RowBlockedKernel`: three parts, the
  middle one a generated serial function on a thread pool). ``rows=False`` turns this off;
* ``batch=("x", ...)`` runs the per-sample body inside one ``for k in prange(n_batch)`` loop,
  reading ``in_x[k, ...]`` and writing outputs straight into ``out0[k, ...]``: no per-sample
  allocation except the intermediate arrays the graph itself needs; nodes that do not depend on
  a batched input are computed once, before the loop.

Threads. A parallel kernel (one with prange loops or products split across threads) has one
thread pool, numba's (``NUMBA_NUM_THREADS``). While such a kernel runs and calls BLAS or LAPACK,
SciPy's OpenBLAS (which numba's and graphc's BLAS calls use; numpy has its own) is set to one
thread, and set back when the last such kernel returns
(:func:`.runtime.lapack.with_one_blas_thread`), so OpenBLAS's pool never competes with numba's for
the cores: on the reference machine (2 cores) the two pools together made a 300x300 product
2-15x slower and the MLP's gradient 4x slower (``benchmarks/README.md``, section "numba"). A
kernel without parallel work (small graphs, ``parallel=False``) leaves OpenBLAS's threads to
OpenBLAS, so a large ``inv`` or ``eigh`` alone still uses them. Large products run across
numba's threads only when graphc can set SciPy's OpenBLAS thread count (``BLAS_THREAD_CONTROL``:
SciPy's own wheels; not a conda or system SciPy linked to another BLAS); otherwise each is one
BLAS call. Under numba's workqueue threading layer (not thread-safe) parallel kernels run one
at a time.

The package is layered, each module reading only those above it in this list:

* :mod:`.scalars` — dtypes, literals and the scalar code of elementwise ops and reductions;
* :mod:`.values` — how generated code reads a value (:class:`~.values.Value`);
* :mod:`.runtime` — what runs inside or beside a kernel: BLAS/LAPACK helpers (:mod:`.runtime.lapack`),
  the vectorizable tanh (:mod:`.runtime.tanh`), the workspace of large intermediates
  (:mod:`.runtime.workspace`);
* :mod:`.views`, :mod:`.statements` — lowerings of index-mapping ops and of ops with code of their own;
* :mod:`.lowering` — the table: every op's kind and lowering;
* :mod:`.fusion` — which nodes share a loop nest;
* :mod:`.codegen` — the generator of one kernel's source;
* :mod:`.pairing`, :mod:`.rows` — graph rewrites and splits made before generating code;
* :mod:`.cache` — the on-disk kernel cache;
* :mod:`.kernel` — the compiled kernel objects;
* :mod:`.backend` — :class:`NumbaBackend`, registered as ``numba``.
"""

from .backend import NumbaBackend
from .kernel import NumbaKernel, RowBlockedKernel

__all__ = ["NumbaBackend", "NumbaKernel", "RowBlockedKernel"]
