"""Batch evaluation over Dask arrays: the same compiled graph, chunk by chunk, on any Dask
scheduler (threads, processes, or a ``dask.distributed`` cluster).

A compiled graph called with Dask arrays for its batched inputs returns Dask arrays. Each chunk
of the batch axis becomes one task that runs the backend's batch kernel once and yields every
output. What a task ships is plain data: the graph as JSON (graphc's file format), the backend
name and the chunk; a worker compiles the graph once per process (the numba backend loads it from
its on-disk cache) and reuses it for every chunk. Shared (non-batched) inputs enter the task graph
once, as one key each, so a cluster sends them to each worker once rather than with every chunk.
"""

from __future__ import annotations

import threading

import numpy as np

from .errors import GraphError, InputError
from .inputs import check_input, is_dask_array

_kernels: dict[tuple, object] = {}
_kernels_lock = threading.Lock()


def _require_dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - dask is in the dev group, so CI always has it
        raise GraphError(
            "Dask arrays were given as inputs but Dask is not installed: "
            "install the extra with `pip install 'graphc[dask]'` (or `uv sync --extra dask`)"
        ) from None
    return dask, da


def _compiled(graph_json: str, digest: str, backend: str, batch: tuple[str, ...]):
    """The compiled batch kernel for this graph in this process (compiled at most once)."""
    key = (digest, backend, batch)
    with _kernels_lock:
        fn = _kernels.get(key)
        if fn is None:
            from .compile import compile as compile_graph
            from .serialize import from_json

            fn = compile_graph(from_json(graph_json), backend=backend, batch=batch, optimize=False)
            _kernels[key] = fn
    return fn


def _evaluate_chunk(graph_json, digest, backend, batch, names, *values):
    fn = _compiled(graph_json, digest, backend, batch)
    result = fn(**dict(zip(names, values)))
    return tuple(result.values()) if isinstance(result, dict) else tuple(result)


def evaluate(compiled, given: dict):
    """Run ``compiled`` over Dask-array inputs; returns Dask arrays shaped like ``compiled``'s
    batch outputs, in the same container (tuple or dict)."""
    dask, da = _require_dask()
    from .serialize import to_json

    graph = compiled.graph
    batch = compiled.batch
    if not batch:
        raise InputError("Dask arrays need a batched input: compile with batch=(...)")
    for name, value in given.items():
        if is_dask_array(value) and name not in batch:
            raise InputError(
                f"input {name!r} is a Dask array but is not batched; Dask arrays are split along "
                f"the batch axis only (batched inputs: {list(batch)})"
            )
    lead = next(given[n] for n in batch if is_dask_array(given[n]))
    chunks = lead.chunks[0]
    parts = {}
    for p in graph.inputs:
        name = p.attrs["name"]
        value = given[name]
        if name in batch:
            arr = value if is_dask_array(value) else da.from_array(np.asarray(value), chunks=(chunks,))
            expected = (arr.shape[0],) + p.shape
            if tuple(arr.shape) != expected or arr.shape[0] != lead.shape[0]:
                raise InputError(
                    f"input {name!r}: expected a batch of shape {expected[1:]} with "
                    f"{lead.shape[0]} samples, got a Dask array of shape {tuple(arr.shape)}"
                )
            # one block per batch chunk: the batch axis chunked like the first batched input,
            # every other axis whole
            arr = arr.astype(p.dtype).rechunk((chunks,) + tuple(-1 for _ in p.shape))
            parts[name] = [block for block in arr.to_delayed().reshape(-1)]
        else:
            parts[name] = dask.delayed(check_input(p, value), pure=True)  # one key, shared
    names = tuple(p.attrs["name"] for p in graph.inputs)
    graph_key = dask.delayed(to_json(graph), pure=True)
    run = dask.delayed(_evaluate_chunk, pure=True, nout=len(graph.outputs))
    per_output = [[] for _ in graph.outputs]
    for k, size in enumerate(chunks):
        args = [parts[n][k] if n in batch else parts[n] for n in names]
        results = run(graph_key, graph.digest, compiled.backend.name, batch, names, *args)
        for j, out in enumerate(graph.outputs):
            per_output[j].append(da.from_delayed(results[j], shape=(size,) + out.shape, dtype=out.dtype))
    arrays = [da.concatenate(blocks, axis=0) for blocks in per_output]
    if graph.output_names is not None:
        return dict(zip(graph.output_names, arrays))
    return tuple(arrays)
