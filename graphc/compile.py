"""``gc.compile``: hand the graph to a backend; :class:`CompiledGraph`: call it, pack the outputs.

Everything a user can get wrong when *calling* a compiled graph is checked once, for every
backend: missing, unknown or duplicated inputs here, misshapen or mistyped ones by
:mod:`graphc.inputs`; each raises :class:`InputError`.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Mapping

import numpy as np

from .context import where
from .dtypes import type_string
from .errors import BackendError, GraphTypeError, InputError
from .inputs import check_input, is_dask_array
from .ir import Graph, require_graph
from .transform import inline_calls


class _General:
    """Never an input's type: marks 0-d inputs that always take the general path."""


class CompiledGraph:
    """A graph compiled by a backend. Call it with the inputs by keyword or position; it returns
    a tuple of arrays in output order, or a dict when the graph's outputs are named."""

    def __init__(self, graph: Graph, backend, kernel, batch: tuple[str, ...]):
        self.graph = graph
        self.backend = backend
        self.kernel = kernel
        self.batch = batch
        self.input_names = graph.input_names
        # The fast path of __call__: inputs that need no conversion pass after a few identity
        # tests; anything else takes the general path, which checks and converts (same results).
        scalars = getattr(kernel, "python_scalar_inputs", None)
        self._fast_inputs = None if batch or scalars is None else tuple(
            (p.dtype, p.shape, scalars.get(i, None if p.shape else _General))
            for i, p in enumerate(graph.inputs))
        # when every input is a 0-d one the kernel takes as a Python scalar: their types, compared
        # in one go (a scalar graph's call is mostly this check)
        self._scalar_types = None
        if self._fast_inputs and all(t not in (None, _General) for _, _, t in self._fast_inputs):
            self._scalar_types = tuple(t for _, _, t in self._fast_inputs)
        names = self.input_names
        self._by_name = (operator.itemgetter(*names) if len(names) > 1
                         else lambda kw: tuple(kw[n] for n in names))
        self._output_names = graph.output_names

    @property
    def source(self) -> str | None:
        """The generated source code, for backends that generate code."""
        return getattr(self.kernel, "source", None)

    def _gather(self, args, kwargs) -> dict:
        """Inputs by name, from positional and keyword arguments; names checked."""
        names = self.input_names
        if len(args) > len(names):
            raise InputError(
                f"got {len(args)} positional inputs but the graph has {len(names)}: {list(names)}"
            )
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise InputError(f"unknown input {key!r}; the graph's inputs are {list(names)}")
            if key in given:
                raise InputError(f"input {key!r} given both by position and by keyword")
            given[key] = value
        missing = [n for n in names if n not in given]
        if missing:
            raise InputError(f"missing input(s) {missing}; the graph's inputs are {list(names)}")
        return given

    def _check(self, given: dict) -> list[np.ndarray]:
        arrays = [check_input(p, given[p.attrs["name"]], batch=p.attrs["name"] in self.batch)
                  for p in self.graph.inputs]
        if self.batch:
            sizes = {a.shape[0] for a, p in zip(arrays, self.graph.inputs) if p.attrs["name"] in self.batch}
            if len(sizes) > 1:
                raise InputError(
                    f"batched inputs {list(self.batch)} must share one leading batch size, "
                    f"got {sorted(sizes)}"
                )
        return arrays

    def __call__(self, *args, **kwargs):
        if self._fast_inputs is not None:
            values = None
            if not kwargs:
                values = args if len(args) == len(self.input_names) else None
            elif not args and len(kwargs) == len(self.input_names):
                try:
                    values = self._by_name(kwargs)
                except KeyError:
                    pass
            if values is not None:
                values = self._exact(values)
            if values is not None:
                results = self.kernel.call_exact(values)
                if self._output_names is not None:
                    return dict(zip(self._output_names, results))
                return tuple(results)
        return self._call(args, kwargs)

    def _exact(self, values):
        """``values`` as the kernel's ``call_exact`` takes them (C-contiguous ndarrays of the
        inputs' dtypes and shapes; Python float, int or bool for the 0-d inputs the kernel takes
        as such, converted from 0-d arrays here), or None: the general path then checks and
        converts whatever was given."""
        if self._scalar_types is not None and tuple(map(type, values)) == self._scalar_types:
            return values
        converted = None
        for i, (value, (dtype, shape, python_type)) in enumerate(zip(values, self._fast_inputs)):
            if python_type is not None:
                if type(value) is not python_type:
                    if type(value) is not np.ndarray or value.dtype is not dtype or value.shape != ():
                        return None
                    if converted is None:
                        converted = list(values)
                    converted[i] = value.item()
            elif type(value) is not np.ndarray or value.dtype is not dtype or value.shape != shape \
                    or not value.flags.carray:
                return None
        return values if converted is None else converted

    def _call(self, args, kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping) and len(self.input_names) != 1:
            kwargs = dict(args[0])
            args = ()
        given = self._gather(args, kwargs)
        if self.batch and any(is_dask_array(v) for v in given.values()):
            from .dask_batch import evaluate

            return evaluate(self, given)  # Dask arrays in, Dask arrays out
        results = self.kernel(self._check(given))
        if self.graph.output_names is not None:
            return dict(zip(self.graph.output_names, results))
        return tuple(results)


def compile(graph: Graph, backend: str = "numpy", batch=(), optimize: bool | str = True,  # noqa: A001
            **options) -> CompiledGraph:
    """Compile ``graph`` with the named backend (:func:`gc.list_backends` names them).

    ``batch`` names inputs that take one extra leading axis (the same length B for all of them);
    every output then gains that leading axis. Other inputs are shared across the batch.
    ``optimize`` runs :func:`gc.optimize` first (same inputs, outputs and output names; results
    equal up to rounding, NaNs, infinities and signed zeros kept); ``optimize="fast"`` also
    applies the rewrites that hold only in real arithmetic (``gc.optimize(mode="fast")``);
    ``optimize=False`` compiles the graph as it is.
    """
    from .backend_registry import get_backend

    require_graph(graph, "compile")
    if isinstance(batch, str):
        batch = (batch,)
    if not isinstance(batch, (tuple, list)) or not all(isinstance(b, str) for b in batch):
        raise GraphTypeError(f"batch must name inputs (a name or a list of names), got {batch!r}")
    batch = tuple(batch)
    for name in batch:
        graph.input(name)  # raises GraphError naming the inputs when unknown
    impl = get_backend(backend)
    graph = inline_calls(graph)  # custom derivatives matter no more: what runs is the functions
    if optimize not in (True, False, "ieee", "fast"):
        raise GraphTypeError(f"optimize must be True, False, 'ieee' or 'fast', got {optimize!r}")
    if optimize:
        from .rewrite import optimize as optimize_graph

        graph = optimize_graph(graph, mode="fast" if optimize == "fast" else "ieee")
    check_array_sizes(list(graph.inputs) + list(graph.outputs))  # what every backend holds
    kernel = impl.compile(graph, batch=batch, **options)
    return CompiledGraph(graph, impl, kernel, batch)


def max_array_bytes() -> int:
    """The largest array a compiled graph may hold: ``GRAPHC_MAX_ARRAY_BYTES``, by default the
    machine's physical memory (an array larger than that can only end in a MemoryError or the
    out-of-memory killer)."""
    text = os.environ.get("GRAPHC_MAX_ARRAY_BYTES")
    if text is not None:
        try:
            return int(text)
        except ValueError:
            raise BackendError(f"GRAPHC_MAX_ARRAY_BYTES must be an integer, got {text!r}") from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no limit known
        return 2**63 - 1


def _bytes_text(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_array_sizes(nodes) -> None:
    """Refuse, before anything is allocated, a value larger than the limit (a valid five-node
    file may declare a 65536 x 65536 intermediate). ``compile`` checks the inputs and outputs,
    which every backend holds; a backend checks the intermediates it allocates (the numpy backend
    every node, the numba backend its workspace: its fused loops hold no array at all)."""
    limit = max_array_bytes()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        body = node.attrs.get("body")
        if isinstance(body, Graph):
            stack.extend(body.nodes)
        for shape, dtype in (node.types or ((node.shape, node.dtype),)):
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize
            if nbytes > limit:
                label = node.meta.name or node.op
                raise BackendError(
                    f"{label} ({node.op} -> {type_string(shape, np.dtype(dtype))}){where(node.meta)} needs "
                    f"{_bytes_text(nbytes)}, more than the {_bytes_text(limit)} an array may take "
                    "(GRAPHC_MAX_ARRAY_BYTES sets the limit; by default the machine's memory)")
