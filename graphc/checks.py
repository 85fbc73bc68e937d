"""Numerical checks: central finite differences against which derived graphs are measured."""

from __future__ import annotations

import numpy as np

from .ir import Graph


def evaluate(graph: Graph, inputs: dict, backend: str = "numpy"):
    """Outputs of ``graph`` as a list (compiled once per call; for checks, not for speed)."""
    from .compile import compile as compile_graph

    result = compile_graph(graph, backend=backend)(**inputs)
    return list(result.values()) if isinstance(result, dict) else list(result)


def numeric_gradient(graph: Graph, inputs: dict, wrt: str, output=0, eps: float = 1e-6):
    """∂ output / ∂ inputs[wrt] by central differences in float64, one element at a time.

    The output may be non-scalar: the result then has shape ``output.shape + wrt.shape``.
    """
    from .compile import compile as compile_graph

    fn = compile_graph(graph)
    index = graph.output_index(output)
    floats = {p.attrs["name"] for p in graph.inputs if p.dtype.kind == "f"}  # integer inputs stay so
    base = {k: np.array(v, dtype=np.float64) if k in floats and (np.ndim(v) or isinstance(v, float)) else v
            for k, v in inputs.items()}
    x0 = np.array(base[wrt], dtype=np.float64)
    out_shape = graph.outputs[index].shape
    jac = np.zeros(out_shape + x0.shape)
    flat = x0.reshape(-1)
    for i in range(flat.size):
        step = eps * max(1.0, abs(flat[i]))
        values = []
        for sign in (1.0, -1.0):
            xp = flat.copy()
            xp[i] += sign * step
            base[wrt] = xp.reshape(x0.shape)
            res = fn(**base)
            res = list(res.values()) if isinstance(res, dict) else res
            values.append(np.asarray(res[index], dtype=np.float64))
        jac.reshape(out_shape + (flat.size,))[..., i] = (values[0] - values[1]) / (2 * step)
    return jac


def relative_error(a, b) -> float:
    """max |a - b| / max(1, max |b|): a scale-aware error that is 0 for identical arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))
