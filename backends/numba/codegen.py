"""Source generation for the numba backend: one readable Python function per graph.

:class:`Generator` walks the graph in topological order and writes one function body:

* 0-d values are scalar locals (``v7 = math.exp(v5)``); the graph's placeholders and its constants
  of rank >= 1 are the function's arguments; 0-d constants are typed literals;
* each loop of :mod:`.fusion` becomes one loop nest: members are scalar locals of the body
  (``s12 = tanh(s11)``), each root is written once per index, and a reduction keeps a scalar
  accumulator across its trailing reduced axes (or one partial result per block of rows when the
  loop runs in parallel over the axis it reduces); a root may be written over a workspace array
  the loop reads for the last time (``_donors``), as XLA reuses a dead operand's buffer;
* views (:mod:`.views`) cost nothing: a :class:`Value` knows how to *read* itself at an
  index, so a loop reads ``x[i1, i0]`` through a transpose or ``(g[i0 - 1] if 1 <= i0 < 3 else 0.0)``
  through an unslice; only ops that need a real array (BLAS, LAPACK, reshape) copy a view;
* statements (:mod:`.statements`) call BLAS / LAPACK functions and ``np.linalg`` on arrays
  whose layout numba knows: C-contiguous, or the ``.T`` (F-contiguous) of one, never layout 'A'.

With ``batch``, the body runs once per sample inside ``for k in prange(n_batch)``: batched inputs
are read as ``in_x[k, ...]``, outputs are written straight into ``out0[k, ...]``, and every node
that does not depend on a batched input is computed once, before the loop.
"""

from __future__ import annotations

import contextlib
import keyword
import re

import networkx as nx
import numpy as np

from graphc.ir import Graph, Node
from graphc.listing import node_labels
from graphc.ops.core import PRIMITIVES, evaluate

from .fusion import Loop, constant_like, kind, plan_fusion
from .lowering import lowering
from .runtime import exp as vector_exp
from .runtime import tanh as vector_tanh
from .runtime.lapack import HELPERS, NO_BLAS_HELPERS
from .scalars import NP_TYPE, REDUCTIONS, literal
from .segments import MAX_PIECES, Pieces
from .values import Value, broadcast_index, shape_text

BLOCK = 512  # elements per block of a vectorized reduction loop (Generator._blocked): 4 KB, in L1
BLOCK_MIN = 2048  # loops (or a parallel loop's chunks, BLOCK) shorter than this stay one loop
NO_BAD_INDEX = -(2**63)  # a sample's entry of a batch kernel's bad-index array while its indices are fine

# elementwise ops whose loops get branch-free statements in place of a libm call: op -> (the
# statements, their module, their temporaries' prefix, the dtypes they are for (None: all))
WRITTEN_OUT = {"tanh": (vector_tanh.statements, "tanh", "th", None),
               "exp": (vector_exp.exp_statements, "exp", "ex", np.float64),
               "sigmoid": (vector_exp.sigmoid_statements, "exp", "sg", np.float64)}

# A loop nest runs its outer axis with prange only when its estimated work (elements times the
# cost of one element: a transcendental op counts TRANSCENDENTAL_COST, four arithmetic ops count 1,
# as memory traffic bounds them) is at least PARALLEL_MIN_WORK. Each prange loop adds ~0.6 s to
# numba's compile and a thread hand-off to every call; on the reference 2-core machine a
# memory-bound 300x300 loop gained nothing from two threads, the 4096x256 tanh layer of the MLP
# 1.8x (benchmarks/README.md, numba).
PARALLEL_MIN_WORK = 1 << 21
TRANSCENDENTAL_COST = 8
CHUNKS = 32  # blocks of axis 0 when a parallel loop reduces over it (partial results per block)
# Intermediate arrays of at least this many bytes live in a workspace the caller passes in and
# reuses across calls, as XLA does with its buffers: a fresh large array is fresh pages from the
# OS, and on the reference machine (a KVM guest) their page faults cost ~2 µs per 4 KiB, more
# than the MLP's whole tanh layer. Outputs are always new arrays.
WORKSPACE_MIN_BYTES = 1 << 16
CODEGEN_VERSION = "2"  # part of the cache key: bump when the generated code changes meaning


def _ident(text: str) -> str:
    text = re.sub(r"\W", "_", text.encode("ascii", "ignore").decode()).strip("_")
    return text if text and not text[0].isdigit() else f"_{text}"


class Generator:
    """Generates the kernel source of one graph (see the module docstring)."""

    def __init__(self, graph: Graph, batch=(), parallel: bool = True, parent: Generator | None = None):
        self.graph = graph
        self.batch = tuple(batch)
        self.parallel = parallel
        self.labels = node_labels(graph)
        self.index = {n.serial: i for i, n in enumerate(graph.nodes)}
        self.variant = self._variant_serials()
        self.values: dict[int, Value] = {}
        self.realized: dict[int, tuple[Value, Value]] = {}
        self.outer_lines: list[str] = []
        self.inner_lines: list[str] = []
        self.lines = self.outer_lines
        self.depth = 1
        self.inner = False
        self.plan = plan_fusion(graph, frozenset(self.variant) if self.batch else frozenset())
        # loops already written: a loop is written where its first root stands, and a merged loop's
        # first node may be a member that stays a scalar local (no value), which emit meets again
        self.emitted_loops: set[int] = set()
        self.blockable: dict[str, str] = {}  # accumulator -> reduction, of the loop being written
        self.used_prange = False
        self.calls_blas = False  # whether the code calls BLAS or LAPACK
        self.output_serials = {o.serial for o in graph.outputs}
        self.out_slot: dict[int, int] = {}
        self.slot_used: set[int] = set()
        # serial -> the array a sum node's value is added into, not written (a thread's partial
        # sum over the blocks of rows it computes: rows.BlockGenerator)
        self.accumulators: dict[int, Value] = {}
        # a loop body's: serial -> where the node's value goes (a stacked output's row, a carry's
        # next buffer), and where its arrays are allocated (before the outermost loop)
        self.out_dest: dict[int, Value] = {}
        self.hoist: tuple[list[str], int] | None = None
        self.local_prefix = ""  # of the loop bodies' scalar locals: one function, one namespace
        self.ranges: dict[str, tuple[int, int]] = {}  # loop variable -> its range, where lines go now
        if parent is None:
            self.taken = {"np", "numba", "prange", "math", "k", "c", "n_batch", "kernel", "tanh",
                          "tanh_fma", "tanh_pow2"}
            self.taken |= set(HELPERS)
            self.args: list[tuple[str, Node, bool]] = []  # (name, node, batched)
            self.helpers: set[str] = set()  # the runtime.lapack functions the code calls
            self.functions: set[str] = set()  # user ops whose scalar or array function the code calls
            self.workspace: list[tuple[str, tuple[int, ...], np.dtype]] = []  # (argument, shape, dtype)
            self.owner: dict[str, int] = {}  # workspace array -> the serial of the node it holds
            self.aliases: dict[str, str] = {}  # array -> the array it is a view of (a reshape's)
            self.batch_errors: dict[str, str] = {}  # flag array -> message, for errors in the batch loop
            self.pieces = Pieces()  # piecewise reads (concatenate, unslice): .segments
            self.index_checks: list[tuple[Node, int, int]] = []  # (node, axis size, axis) per check
            self.index_flags: dict[str, int] = {}  # the batch loop's: array of bad indices -> check
        else:  # a loop body: one kernel, so names, arguments, workspace and helpers are shared
            for key in ("taken", "args", "helpers", "functions", "workspace", "owner", "aliases",
                        "batch_errors", "outer_lines", "pieces", "index_checks", "index_flags"):
                setattr(self, key, getattr(parent, key))
            self.inner = parent.inner

    def body(self, graph: Graph, inputs, depth: int, out_dest: dict, hoist) -> Generator:
        """A generator for a loop's body graph, its code indented at ``depth``: its placeholders
        read as ``inputs`` (Values), the outputs named in ``out_dest`` written there, and every
        array it allocates allocated once, into ``hoist`` (lines, depth) before the loop."""
        child = Generator(graph, parallel=self.parallel and not self.inner, parent=self)
        child.lines, child.depth = [], depth
        child.local_prefix = self.name("b") + "_"
        child.out_dest = dict(out_dest)
        child.hoist = self.hoist if self.hoist is not None else hoist
        for p, value in zip(graph.inputs, inputs):
            child.values[p.serial] = value
        return child

    def emit_all(self) -> None:
        """Every node not yet computed: constants and what folds from them first."""
        early = constant_like(self.graph)
        for node in self.graph.nodes:
            if node.serial in early:
                self.emit(node)
        for node in self.graph.nodes:
            if node.serial not in self.values:
                self.emit(node)

    def _alloc_line(self, text: str) -> None:
        """An array's allocation: here, or hoisted out of the loop that holds this code."""
        if self.hoist is None:
            self.line(text)
        else:
            lines, depth = self.hoist
            lines.append("    " * depth + text)

    # --- names and lines -------------------------------------------------------------------

    def name(self, base: str) -> str:
        base = _ident(base)
        if keyword.iskeyword(base):
            base += "_"
        name, i = base, 1
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name

    def var(self, node: Node, prefix: str = "v") -> str:
        text = f"{prefix}{self.index[node.serial]}"
        if node.meta.name and node.op != "placeholder":
            suffix = _ident(node.meta.name)
            if suffix != "_":
                text += "_" + suffix
        return self.name(text)

    def helper(self, name: str) -> str:
        """``name``, a function of :mod:`.runtime.lapack`, recorded so that the module imports it."""
        self.helpers.add(name)
        self.calls_blas |= name not in NO_BLAS_HELPERS
        return name

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + self.pieces.resolve(text, self.ranges))

    @contextlib.contextmanager
    def outer_section(self):
        """Emit into the batch-invariant section (before the batch loop) for a while."""
        saved = (self.lines, self.depth, self.inner)
        self.lines, self.depth, self.inner = self.outer_lines, 1, False
        try:
            yield
        finally:
            self.lines, self.depth, self.inner = saved

    def comment(self, node: Node) -> str:
        label = self.labels[node.serial]
        name = f" {node.meta.name!r}" if node.meta.name and node.op != "placeholder" else ""
        return f"  # {label} {node.op}{name}"

    # --- values ----------------------------------------------------------------------------

    def value(self, node: Node) -> Value:
        return self.values[node.serial]

    def alloc(self, node: Node, fill: str | None = None) -> Value:
        """The array a node's result is written into: its batch output slot, its place in a loop
        (``out_dest``), or a new array."""
        dest = self.out_dest.pop(node.serial, None)
        if dest is not None:
            if fill is not None:
                self.line(f"{dest.array_expr()}.fill({fill})")
            return dest
        slot = self.out_slot.get(node.serial) if self.inner else None
        if slot is not None and slot not in self.slot_used:
            self.slot_used.add(slot)
            dest = Value(node.shape, array=f"out{slot}", prefix=("k",), fresh=True, outer=False)
            if fill is not None:
                self.line(f"{dest.array_expr()}.fill({fill})")
            return dest
        name = self.var(node)
        dt = NP_TYPE[node.dtype]
        if node.serial not in self.output_serials:
            scratch = self.scratch(name, node.shape, node.dtype)
            if scratch is not None:
                self.owner[name] = node.serial
                if fill is not None:
                    self.line(f"{name}.fill({fill})")
                return scratch
        if fill is None:
            self._alloc_line(f"{name} = np.empty({shape_text(node.shape)}, {dt}){self.comment(node)}")
        elif self.hoist is None:
            self.line(f"{name} = np.full({shape_text(node.shape)}, {fill}, {dt}){self.comment(node)}")
        else:  # allocated once before the loop, filled at every step
            self._alloc_line(f"{name} = np.empty({shape_text(node.shape)}, {dt}){self.comment(node)}")
            self.line(f"{name}.fill({fill})")
        return Value(node.shape, array=name, fresh=True, outer=not self.inner)

    def scratch(self, name: str, shape, dtype) -> Value | None:
        """``name`` as an array of the workspace (see WORKSPACE_MIN_BYTES): a kernel argument of
        its own, or None inside a batch kernel's sample loop or when the array is too small to be
        worth it. Not fresh: an output reading it gets a copy. (Slices of one big workspace array
        would do too, but then every loop may alias every other and numba's compile took ~1 s
        longer on the MLP.)"""
        dtype = np.dtype(dtype)
        if self.inner or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize < WORKSPACE_MIN_BYTES:
            return None
        self.workspace.append((name, tuple(shape), dtype))
        return Value(tuple(shape), array=name, outer=not self.inner)

    def temp_array(self, base: str, shape, dtype, scratch: bool = False) -> Value:
        name = self.name(base)
        if scratch:
            found = self.scratch(name, shape, dtype)
            if found is not None:
                return found
        self._alloc_line(f"{name} = np.empty({shape_text(shape)}, {NP_TYPE[np.dtype(dtype)]})")
        return Value(tuple(shape), array=name, fresh=True, outer=not self.inner)

    def batch_error(self, message: str) -> str:
        """The name of a flag array, one entry per sample, set where ``message``'s error happens
        inside the batch loop: the error is raised after the loop, since a ``raise`` inside a
        ``prange`` loop keeps numba from running it in parallel."""
        name = self.name("failed")
        self.batch_errors[name] = message
        return name

    NEGATIVE_POWER = "Integers to negative integer powers are not allowed."  # numpy's words

    def _raises_on_negative_power(self, node: Node) -> bool:
        """An integer power whose exponent may be negative: numpy refuses it, so must the kernel."""
        if node.op != "pow" or node.dtype.kind not in "iu" or node.inputs[1].dtype.kind == "u":
            return False
        e = node.inputs[1]
        return not (e.op == "constant" and bool((e.value >= 0).all()))

    def precondition(self, node: Node, operands: list[str]) -> list[str]:
        """Lines that fail as the numpy backend does where ``node``'s value is undefined (an integer
        to a negative power), given its operands' expressions; none for most ops. In the batch loop
        the failure is recorded per sample and raised after the loop."""
        if not self._raises_on_negative_power(node):
            return []
        condition = f"if {operands[1]} < 0:"
        if self.inner:
            return [condition, f"    {self.batch_error(self.NEGATIVE_POWER)}[k] = True"]
        return [condition, f"    raise ValueError({self.NEGATIVE_POWER!r})"]

    def index_check(self, node: Node, j: str, size: int, axis: int) -> list[str]:
        """Lines raising ``IndexError("graphc-index", check, value)`` when the index ``j`` is
        outside [-size, size): the kernel turns it into the InputError the numpy backend raises
        (:meth:`.kernel.NumbaKernel._failure`). In the batch loop the bad index is recorded per
        sample and raised after the loop (a raise inside a prange stops it running in parallel)."""
        check = len(self.index_checks)
        self.index_checks.append((node, size, axis))
        condition = f"if {j} < {-size} or {j} >= {size}:"
        if not self.inner:
            return [condition, f'    raise IndexError("graphc-index", {check}, {j})']
        flag = self.name(f"bad_index{check}")
        self.index_flags[flag] = check
        return [condition, f"    {flag}[k] = {j}"]

    def can_parallel(self, shape, ops=(), work: int | None = None) -> bool:
        """Whether a loop nest over ``shape`` computing the ops named in ``ops`` (per element),
        or ``work`` multiply-adds if given, should run in parallel (see PARALLEL_MIN_WORK)."""
        if work is None:
            size = int(np.prod(shape, dtype=np.int64)) if shape else 1
            transcendental = sum("transcendental" in PRIMITIVES[op].flags for op in ops)
            work = size * (TRANSCENDENTAL_COST * transcendental + max(1, (len(ops) - transcendental) // 4))
        return (self.parallel and not self.inner and len(shape) > 0 and shape[0] > 1
                and work >= PARALLEL_MIN_WORK)

    def loop_nest(self, shape, body, pre=None, post=None, parallel=False, chunks: int = 0,
                  accumulators: dict[str, str] | None = None) -> None:
        """Nested loops over ``shape`` (index variables i0, i1, ...). ``pre[d]`` / ``post[d]``
        run before / after the loop of axis d; ``parallel`` makes the outermost loop a prange;
        ``chunks`` instead splits axis 0 into that many blocks, ``for c in prange(chunks)``, so
        that a reduction over axis 0 can keep one partial result per block."""
        n = len(shape)
        pre = pre or {}
        post = post or {}
        idx = tuple(f"i{d}" for d in range(n))
        base = self.depth
        if chunks:
            self.used_prange = True
            self.line(f"for c in prange({chunks}):")
            self.depth += 1
        inside = [list(body)] + [list(pre.get(d, ())) + list(post.get(d, ())) for d in range(n + 1)]

        def level(d: int) -> None:
            for text in pre.get(d, ()):
                self.line(text)
            if d == n:
                for text in body:
                    self.line(text)
                return
            rng = "prange" if d == 0 and parallel and not chunks else "range"
            self.used_prange |= rng == "prange"
            if d == 0 and chunks:
                spans = [None]
            else:  # one loop per piece of the piecewise reads inside (.segments)
                texts = [t for group in inside[:1] + inside[d + 2:] for t in group]
                cuts = self.pieces.cuts(texts, idx[d], 0, shape[d])
                bounds = [0, *cuts, shape[d]] if len(cuts) < MAX_PIECES else [0, shape[d]]
                spans = list(zip(bounds, bounds[1:]))
            for span in spans:
                if n == 1 and accumulators and rng == "range" and self._blocked(body, accumulators, span,
                                                                                  shape[0], chunks):
                    continue
                if span is None:
                    self.line(f"for {idx[d]} in {rng}((c * {shape[0]}) // {chunks}, "
                              f"((c + 1) * {shape[0]}) // {chunks}):")
                else:
                    lo, hi = span
                    self.line(f"for {idx[d]} in {rng}({hi if lo == 0 else f'{lo}, {hi}'}):")
                    self.ranges[idx[d]] = span
                self.depth += 1
                level(d + 1)
                self.depth -= 1
                self.ranges.pop(idx[d], None)
            for text in post.get(d, ()):
                self.line(text)

        level(0)
        if chunks:
            self.depth -= 1
        assert self.depth == base

    def _blocked(self, body: list[str], accumulators: dict[str, str], span, size: int, chunks: int) -> bool:
        """Write a 1-D loop that accumulates floats as blocks of BLOCK elements: each block reads its
        arrays through views (``x[b0:e0]``, indexed from 0), writes the accumulated values to a
        buffer in a loop LLVM vectorizes, then adds the buffer up with four accumulators. The fused
        loop itself cannot vectorize (a float reduction in order; numba's fast-math is per
        function, and the generated exp and log need exact rounding): sum(exp(x - s)) over 10⁶
        values took 5.2 ms as one loop, 0.9 ms as exp into an array. The terms are added in
        another order (a sum's order is unspecified; max and min are exact). Returns False (and
        writes nothing) when the body reads the index in any other way than ``array[i0]``."""
        if span is None:  # one chunk of a parallel loop
            lo, hi = f"(c * {size}) // {chunks}", f"((c + 1) * {size}) // {chunks}"
            if size // chunks < BLOCK:
                return False
        else:
            lo, hi = span
            if hi - lo < BLOCK_MIN:
                return False
        text = "\n".join(body)
        if "\x01" in text:
            return False
        arrays = sorted(set(re.findall(r"\b([A-Za-z_]\w*)\[i0\]", text)))
        if re.search(r"\bi0\b", re.sub(r"\b[A-Za-z_]\w*\[i0\]", "", text)):
            return False  # i0 in an index expression, a comparison...: the loop stays as it is
        updates = {}
        for acc, op in accumulators.items():
            head = f"{acc} += " if op == "sum" else f"{acc} = "
            found = [k for k, line in enumerate(body) if line.startswith(head)]
            if len(found) != 1:
                return False
            updates[found[0]] = (acc, op)
        b0, e0, j0, m = (self.name(v) for v in ("b0", "e0", "j0", "m"))
        view = {a: self.name(f"{a}_blk") for a in arrays}
        buffers = {acc: self.name(f"{acc}_buf") for acc in accumulators}
        for buf in buffers.values():
            self.line(f"{buf} = np.empty({BLOCK}, np.float64)")
        self.line(f"for {b0} in range({lo}, {hi}, {BLOCK}):")
        self.depth += 1
        self.line(f"{e0} = min({b0} + {BLOCK}, {hi})")
        for a, v in view.items():
            self.line(f"{v} = {a}[{b0}:{e0}]")
        self.line(f"{m} = {e0} - {b0}")
        self.line(f"for {j0} in range({m}):")
        self.depth += 1
        for k, line in enumerate(body):
            line = re.sub(r"\b([A-Za-z_]\w*)\[i0\]", lambda g: f"{view[g.group(1)]}[{j0}]", line)
            if k in updates:
                acc, op = updates[k]
                value = (line.split(" += ", 1)[1] if op == "sum"
                         else line.split(" = ", 1)[1].split(" if ", 1)[0])
                line = f"{buffers[acc]}[{j0}] = {value}"
            self.line(line)
        self.depth -= 1
        for acc, op in accumulators.items():
            buf = buffers[acc]
            if op == "sum":
                parts = [self.name(f"{acc}_p") for _ in range(4)]
                self.line(f"{' = '.join(parts)} = 0.0")
                self.line(f"for {j0} in range(0, {m} - {m} % 4, 4):")
                for q, part in enumerate(parts):
                    self.line(f"    {part} += {buf}[{j0} + {q}]")
                self.line(f"for {j0} in range({m} - {m} % 4, {m}):")
                self.line(f"    {parts[0]} += {buf}[{j0}]")
                self.line(f"{acc} += ({parts[0]} + {parts[1]}) + ({parts[2]} + {parts[3]})")
            else:
                compare = ">" if op == "max" else "<"
                self.line(f"for {j0} in range({m}):")
                self.line(f"    {acc} = {buf}[{j0}] if {buf}[{j0}] {compare} {acc} else {acc}")
        self.depth -= 1
        return True

    def copy(self, src: Value, dest: Value, shape) -> None:
        """dest[...] = src[...], one loop over ``shape`` (src may be any view)."""
        if not shape:
            self.line(f"{dest.read(())} = {src.read(())}")
            return
        idx = tuple(f"i{d}" for d in range(len(shape)))
        self.loop_nest(shape, [f"{dest.read(idx)} = {src.read(idx)}"], parallel=self.can_parallel(shape))

    def realize(self, val: Value, dtype, allow_f: bool = True) -> tuple[str, str]:
        """An array expression for ``val`` with a layout numba knows ('C' or 'F'), copying a view
        into a new C array when needed (so BLAS never meets a layout-'A' view)."""
        if val.plain:
            return val.array_expr(), "C"
        t = val.transpose_of
        if allow_f and t is not None and t.plain and len(val.shape) == 2:
            return f"{t.array_expr()}.T", "F"
        found = self.realized.get(id(val))
        if found is None:
            section = self.outer_section() if val.outer and self.inner else contextlib.nullcontext()
            with section:
                copy = self.temp_array("r", val.shape, dtype, scratch=True)
                self.copy(val, copy, val.shape)
            found = self.realized[id(val)] = (val, copy)  # val kept alive: its id stays unique
        return found[1].array_expr(), "C"

    def blas_operand(self, val: Value, dtype) -> tuple[str, bool]:
        """(a C-contiguous array expression, whether ``val`` is its transpose): a matrix operand
        as the BLAS helpers of :mod:`.runtime.lapack` take it."""
        t = val.transpose_of
        if not val.plain and t is not None and t.plain and len(val.shape) == 2:
            return t.array_expr(), True
        return self.realize(val, dtype, allow_f=False)[0], False

    # --- the graph -------------------------------------------------------------------------

    def _variant_serials(self) -> set[int]:
        found: set[int] = set()
        for name in self.batch:
            p = self.graph.input(name)
            found.add(p.serial)
            found |= nx.descendants(self.graph.nx, p.serial)
        return found

    def generate(self) -> str:
        """The source of ``def kernel(...)`` (without imports or decorator)."""
        g = self.graph
        for p in g.inputs:
            batched = p.attrs["name"] in self.batch
            name = self.name("in_" + p.attrs["name"])
            self.args.append((name, p, batched))
            if not batched:
                self.values[p.serial] = (Value((), scalar=name) if p.shape == ()
                                         else Value(p.shape, array=name))
        if self.batch:
            for i, o in enumerate(g.outputs):
                if o.serial in self.variant and o.shape != () and o.serial not in self.out_slot:
                    self.out_slot[o.serial] = i
        early = constant_like(g)  # constants, their views, 0-d ops of them (folded): first
        for node in g.nodes:
            if node.serial in early:
                self.emit(node)
        if not self.batch:
            self.emit_all()
        outer = [n for n in g.nodes if n.serial not in self.variant and n.serial not in self.values]
        inner = [n for n in g.nodes if n.serial in self.variant and n.serial not in self.values]
        for node in outer:
            self.emit(node)
        if not self.batch:
            results = [self.result(i, o) for i, o in enumerate(g.outputs)]
            return self._function(self.outer_lines + [f"    return ({''.join(r + ', ' for r in results)})"])
        self.lines, self.depth, self.inner = self.inner_lines, 2, True
        for name, p, batched in self.args:
            if batched:
                self.values[p.serial] = (Value((), scalar=name + "[k]", outer=False) if p.shape == ()
                                         else Value(p.shape, array=name, prefix=("k",), outer=False))
        for node in inner:
            self.emit(node)
        for i, o in enumerate(g.outputs):
            if i not in self.slot_used:
                src = self.value(o)
                self.copy(src, Value(o.shape, array=f"out{i}", prefix=("k",)), o.shape)
        first = next(name for name, _, b in self.args if b)
        head = [f"    n_batch = {first}.shape[0]"]
        head += [f"    out{i} = np.empty({shape_text(('n_batch',) + o.shape)}, {NP_TYPE[o.dtype]})"
                 .replace("'", "") for i, o in enumerate(g.outputs)]
        head += [f"    {flag} = np.zeros(n_batch, np.bool_)" for flag in self.batch_errors]
        head += [f"    {flag} = np.full(n_batch, {NO_BAD_INDEX}, np.int64)" for flag in self.index_flags]
        head.append("    for k in prange(n_batch):")
        self.used_prange = True
        tail = []
        for flag, message in self.batch_errors.items():
            tail += [f"    if {flag}.any():", f"        raise ValueError({message!r})"]
        for flag, check in self.index_flags.items():
            tail += ["    for k in range(n_batch):", f"        if {flag}[k] != {NO_BAD_INDEX}:",
                     f'            raise IndexError("graphc-index", {check}, {flag}[k], k)']
        outs = "".join(f"out{i}, " for i in range(len(g.outputs)))
        return self._function(self.outer_lines + head + self.inner_lines + tail + [f"    return ({outs})"])

    def _function(self, body: list[str]) -> str:
        args = ", ".join([name for name, _, _ in self.args] + [name for name, _, _ in self.workspace])
        text = f"def kernel({args}):\n" + "\n".join(body) + "\n"
        return self.pieces.resolve(text, {})  # a read written without line(): its conditional

    def result(self, i: int, node: Node) -> str:
        """The returned expression of output ``i`` (copied when it would alias an input)."""
        val = self.value(node)
        if node.shape == ():
            return val.read(())
        if val.fresh and val.plain:
            return val.array_expr()
        dest = self.temp_array(f"out{i}", node.shape, node.dtype)
        self.copy(val, dest, node.shape)
        return dest.array
    # --- nodes -----------------------------------------------------------------------------

    def emit(self, node: Node) -> None:
        if node.serial in self.values:  # computed with another node (see both_matvecs)
            return
        k = kind(node)
        low = lowering(node.op)
        if low.function is not None:
            self.functions.add(low.function)
        if k == "source":
            if node.op == "constant":
                self.values[node.serial] = self._constant(node)
            return
        operands = [self.value(i) if i.serial in self.values else None for i in node.inputs]
        if k == "elementwise" and node.shape == () and all(v.const is not None for v in operands):
            self.values[node.serial] = self._fold(node, operands)
        elif k == "elementwise" and node.shape == ():
            name = self.var(node)
            reads = [v.read(()) for v in operands]
            for line in self.precondition(node, reads):
                self.line(line)
            expr = low.emit(node, reads)
            if node.dtype == np.float32:
                expr = f"np.float32({expr})"
            self.line(f"{name} = {expr}{self.comment(node)}")
            self.values[node.serial] = Value((), scalar=name, outer=not self.inner)
        elif k in ("elementwise", "reduction") and node.serial in self.plan.loop_of:
            loop = self.plan.loop_of[node.serial]
            if loop.root is node and id(loop) not in self.emitted_loops:
                self.emitted_loops.add(id(loop))
                self.emit_loop(loop)
        elif k == "reduction":  # of a 0-d operand: the identity
            self.values[node.serial] = operands[0]
        elif k == "view":
            self.values[node.serial] = low.emit(self, node, operands)
        else:
            self.values[node.serial] = low.emit(self, node, operands)

    def _fold(self, node: Node, operands) -> Value:
        """A 0-d op of constants, computed now by the reference backend: a literal in the code."""
        with np.errstate(all="ignore"):
            consts = [np.asarray(v.const, x.dtype) for v, x in zip(operands, node.inputs)]
            value = evaluate(node, consts)
        return Value((), scalar=literal(value[()], node.dtype), const=value[()])

    def _constant(self, node: Node) -> Value:
        if node.shape == ():
            return Value((), scalar=literal(node.value[()], node.dtype), const=node.value[()])
        name = self.name(f"c{self.index[node.serial]}")
        self.args.append((name, node, False))
        return Value(node.shape, array=name)

    def loop_read(self, operand: Node, loop: Loop, idx) -> str:
        if self.plan.loop_of.get(operand.serial) is loop and kind(operand) == "elementwise":
            return self.scalar_local(operand)  # computed earlier in this loop body
        return self.value(operand).read(broadcast_index(operand.shape, loop.shape, idx))

    def scalar_local(self, node: Node) -> str:
        return f"{self.local_prefix}s{self.index[node.serial]}"

    def emit_loop(self, loop: Loop) -> None:
        shape = loop.shape
        n = len(shape)
        idx = tuple(f"i{d}" for d in range(n))
        pre: dict[int, list[str]] = {}
        post: dict[int, list[str]] = {}
        body: list[str] = []
        parallel = self.can_parallel(shape, [m.op for m in loop.members])
        if any(self._raises_on_negative_power(m) for m in loop.members):
            parallel = False  # the loop may raise, and a raise inside a prange keeps it serial anyway
        self.blockable = {}
        chunks = 0
        if parallel and any(kind(r) == "reduction" and 0 in r.attrs["axes"] for r in loop.roots):
            chunks = min(shape[0], CHUNKS)  # two threads must never update one element
        combine = []
        donors = self._donors(loop)
        stores: list[str] = []  # into a donor: after every read of it at this index
        for m in loop.members:
            if kind(m) == "elementwise":
                local = self.scalar_local(m)
                operands = [self.loop_read(o, loop, idx) for o in m.inputs]
                body += self.precondition(m, operands)
                statements, module, short, dtype = WRITTEN_OUT.get(m.op, (None,) * 4)
                if statements is not None and dtype in (None, m.dtype):  # LLVM vectorizes the loop
                    prefix = f"{self.local_prefix}{short}{self.index[m.serial]}_"
                    body.append(f"# {self.labels[m.serial]} {m.op}, written out so that LLVM vectorizes "
                                f"the loop (graphc.backends.numba.runtime.{module})")
                    body.append(f"{prefix}x = {operands[0]}")
                    body += statements(f"{prefix}x", local, prefix)
                    body[-1] += self.comment(m)
                else:
                    low = lowering(m.op)
                    if low.function is not None:
                        self.functions.add(low.function)
                    body.append(f"{local} = {low.emit(m, operands)}{self.comment(m)}")
                if m.dtype == np.float32:  # math functions and float64 literals give float64: round,
                    body.append(f"{local} = np.float32({local})")  # so every reader sees the stored value
                if any(m is r for r in loop.roots):
                    donor = next((d for d in donors if d.shape == m.shape and d.dtype == m.dtype), None)
                    if donor is not None and m.serial not in self.output_serials:
                        donors.remove(donor)
                        dest = self.value(donor)
                        self.owner[dest.array] = m.serial
                        label = self.labels[donor.serial]
                        stores.append(f"{dest.read(idx)} = {local}  # in place of {label}")
                    else:
                        dest = self.alloc(m)
                        body.append(f"{dest.read(idx)} = {local}")
                    self.values[m.serial] = dest
            elif m.serial in self.accumulators:
                self._reduction(m, loop, idx, pre, post, body, target=self.accumulators[m.serial])
            elif chunks and 0 in m.attrs["axes"]:
                combine.append(self._chunked_reduction(m, loop, idx, pre, post, body, chunks))
            else:
                self._reduction(m, loop, idx, pre, post, body)
        accumulators, self.blockable = self.blockable, {}
        self.loop_nest(shape, body + stores, pre, post, parallel, chunks, accumulators)
        for m, part in combine:
            self._combine(m, part, chunks)

    def _donors(self, loop: Loop) -> list[Node]:
        """The arrays ``loop`` reads for the last time, element by element: workspace arrays of
        the loop's shape used by nothing outside it, each holding its own node's value (not a
        view of, or the same array as, another node's value). An elementwise root can be written
        over one (read at index i, written at index i after that), which spares a fresh 8 MB
        array ~0.5 ms of cache misses on the MLP's gradient."""
        found = []
        for m in loop.members:
            for o in m.inputs:
                val = self.values.get(o.serial)
                if (val is None or not val.plain or val.prefix or self.owner.get(val.array) != o.serial
                        or o.shape != loop.shape or o.serial in self.output_serials
                        or any(d is o for d in found) or self.plan.loop_of.get(o.serial) is loop):
                    continue
                if all(self.plan.loop_of.get(c) is loop for c in self.graph.nx.successors(o.serial)):
                    found.append(o)
        return found

    def _reduction(self, m, loop, idx, pre, post, body, target=None) -> None:
        """Accumulate reduction ``m`` in the loop body: in place when the innermost axis is kept,
        else in a scalar across the trailing reduced axes, stored (or combined, when an earlier
        axis is reduced too) after them. ``target`` replaces the result array (chunk partials)."""
        n = len(loop.shape)
        axes, keep = m.attrs["axes"], m.attrs["keepdims"]
        init_fn, update = REDUCTIONS[m.op]
        init = init_fn(m.dtype)
        value = self.loop_read(m.inputs[0], loop, idx)
        t = n
        while t > 0 and (t - 1) in axes:
            t -= 1
        earlier = target is not None or any(a < t for a in axes)
        out_idx = tuple("0" if d in axes else idx[d] for d in range(n) if keep or d not in axes)
        if t == n:  # the innermost axis is kept: accumulate in place
            dest = target or self.alloc(m, fill=init)
            body.append(update(dest.read(out_idx), value, m.dtype) + self.comment(m))
            self.values[m.serial] = dest
            return
        acc = self.var(m) if m.shape == () and target is None else self.name(f"acc{self.index[m.serial]}")
        pre.setdefault(t, []).append(f"{acc} = {init}")
        if n == 1 and m.dtype.kind == "f" and not self.inner:
            self.blockable[acc] = m.op  # a float accumulator over the loop's one axis: see BLOCK
        if m.op in ("max", "min"):
            # a plain select, with NaNs counted beside it: LLVM keeps the select's chain short
            # (3x faster than the NaN-propagating compare on 10^6 values), and a NaN seen still
            # wins, as in np.max, once the loop is over
            compare = ">" if m.op == "max" else "<"
            local = self.name(f"e{self.index[m.serial]}")
            body.append(f"{local} = {value}")
            body.append(f"{acc} = {local} if {local} {compare} {acc} else {acc}" + self.comment(m))
            if m.dtype.kind == "f":
                seen = self.name(f"nan{self.index[m.serial]}")
                pre[t].append(f"{seen} = False")
                body.append(f"{seen} |= {local} != {local}")
                post.setdefault(t, []).insert(0, f"{acc} = {literal(np.nan, m.dtype)} if {seen} else {acc}")
        else:
            body.append(update(acc, value, m.dtype) + self.comment(m))
        if m.shape == () and target is None:
            self.values[m.serial] = Value((), scalar=acc, outer=not self.inner)
            return
        dest = target or self.alloc(m, fill=init if earlier else None)
        store = update(dest.read(out_idx), acc, m.dtype) if earlier else f"{dest.read(out_idx)} = {acc}"
        post.setdefault(t, []).append(store)
        self.values[m.serial] = dest

    def _chunked_reduction(self, m, loop, idx, pre, post, body, chunks):
        """A reduction over axis 0 in a chunked parallel loop: one partial result per chunk."""
        init = REDUCTIONS[m.op][0](m.dtype)
        part = self.name(f"part{self.index[m.serial]}")
        self.line(f"{part} = np.full({shape_text((chunks,) + m.shape)}, {init}, {NP_TYPE[m.dtype]})")
        self._reduction(m, loop, idx, pre, post, body, Value(m.shape, array=part, prefix=("c",)))
        return m, part

    def _combine(self, m, part: str, chunks: int) -> None:
        """The result of a chunked reduction: its partial results combined in chunk order."""
        init_fn, update = REDUCTIONS[m.op]
        idx = tuple(f"i{d}" for d in range(m.ndim))
        acc = self.var(m) if m.shape == () else self.name(f"acc{self.index[m.serial]}")
        lines = [f"{acc} = {init_fn(m.dtype)}", "for c in range(" + str(chunks) + "):",
                 "    " + update(acc, f"{part}[{', '.join(('c',) + idx)}]", m.dtype)]
        if m.shape == ():
            for text in lines:
                self.line(text + (self.comment(m) if text is lines[0] else ""))
            self.values[m.serial] = Value((), scalar=acc, outer=not self.inner)
            return
        dest = self.alloc(m)
        self.loop_nest(m.shape, lines + [f"{dest.read(idx)} = {acc}"])
        self.values[m.serial] = dest
