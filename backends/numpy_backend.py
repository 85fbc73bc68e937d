"""The reference backend: a small interpreter that runs each node with numpy.

It walks the graph in topological order over an environment of values, like JAX's jaxpr
interpreter, and drops every intermediate after its last use so peak memory stays near the
largest set of live values. Floating-point exceptions give numpy's inf/nan, never an error.
"""

from __future__ import annotations

import numpy as np

from graphc.context import where
from graphc.errors import BackendError, GraphError
from graphc.ir import Graph


def _sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| never overflows, and e / (1 + e) keeps full
    relative precision for negative x (scipy.special.expit's accuracy; importing scipy.special
    took 130 ms of every process's first compile)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _slices(starts, steps, lengths):
    out = []
    for start, step, length in zip(starts, steps, lengths):
        stop = start + step * length
        out.append(slice(start, None if stop < 0 else stop, step))
    return tuple(out)


def _unslice(node, g):
    a = node.attrs
    out = np.zeros(a["shape"], dtype=node.dtype)
    out[_slices(a["starts"], a["steps"], g.shape)] = g
    return out


def _embed_diagonal(node, v):
    m, n = node.attrs["shape"]
    offset = node.attrs["offset"]
    out = np.zeros(v.shape[:-1] + (m, n), dtype=node.dtype)
    i = np.arange(v.shape[-1])
    out[..., i + max(0, -offset), i + max(0, offset)] = v
    return out


def _eigh(node, a):
    w, v = np.linalg.eigh(a)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _svd(node, a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.concatenate([u, s[..., None, :], np.swapaxes(vh, -1, -2)], axis=-2)


# op -> fn(node, *operand_values)
LOWERING = {
    "neg": lambda n, x: np.negative(x),
    "exp": lambda n, x: np.exp(x),
    "log": lambda n, x: np.log(x),
    "log1p": lambda n, x: np.log1p(x),
    "expm1": lambda n, x: np.expm1(x),
    "sqrt": lambda n, x: np.sqrt(x),
    "tanh": lambda n, x: np.tanh(x),
    "sigmoid": lambda n, x: _sigmoid(x),
    "sin": lambda n, x: np.sin(x),
    "cos": lambda n, x: np.cos(x),
    "abs": lambda n, x: np.abs(x),
    "sign": lambda n, x: np.sign(x),
    "add": lambda n, x, y: np.add(x, y),
    "sub": lambda n, x, y: np.subtract(x, y),
    "mul": lambda n, x, y: np.multiply(x, y),
    "div": lambda n, x, y: np.divide(x, y),
    "pow": lambda n, x, y: np.power(x, y),
    "maximum": lambda n, x, y: np.maximum(x, y),
    "minimum": lambda n, x, y: np.minimum(x, y),
    "lt": lambda n, x, y: np.less(x, y),
    "le": lambda n, x, y: np.less_equal(x, y),
    "gt": lambda n, x, y: np.greater(x, y),
    "ge": lambda n, x, y: np.greater_equal(x, y),
    "eq": lambda n, x, y: np.equal(x, y),
    "ne": lambda n, x, y: np.not_equal(x, y),
    "where": lambda n, c, x, y: np.where(c, x, y),
    "cast": lambda n, x: np.asarray(x).astype(n.dtype),
    "stop_gradient": lambda n, x: x,
    "sum": lambda n, x: np.sum(x, axis=n.attrs["axes"], keepdims=n.attrs["keepdims"]),
    "max": lambda n, x: np.max(x, axis=n.attrs["axes"], keepdims=n.attrs["keepdims"]),
    "min": lambda n, x: np.min(x, axis=n.attrs["axes"], keepdims=n.attrs["keepdims"]),
    "reshape": lambda n, x: np.reshape(x, n.attrs["shape"]),
    "broadcast_to": lambda n, x: np.broadcast_to(x, n.attrs["shape"]),
    "transpose": lambda n, x: np.transpose(x, n.attrs["axes"]),
    "slice": lambda n, x: x[_slices(n.attrs["starts"], n.attrs["steps"], n.attrs["lengths"])],
    "unslice": _unslice,
    "concatenate": lambda n, *xs: np.concatenate(xs, axis=n.attrs["axis"]),
    "matmul": lambda n, a, b: np.matmul(a, b),
    "diagonal": lambda n, x: np.diagonal(x, n.attrs["offset"], axis1=-2, axis2=-1),
    "embed_diagonal": _embed_diagonal,
    "symmetrize": lambda n, a: np.where(np.tri(a.shape[-1], dtype=bool), a, np.swapaxes(a, -1, -2)),
    "inv": lambda n, a: np.linalg.inv(a),
    "solve": lambda n, a, b: np.linalg.solve(a, b),
    "det": lambda n, a: np.linalg.det(a),
    "slogdet": lambda n, a: np.stack(np.linalg.slogdet(a), axis=-1),
    "cholesky": lambda n, a: np.linalg.cholesky(a),
    "eigh": _eigh,
    "eigvalsh": lambda n, a: np.linalg.eigvalsh(a),
    "svd": _svd,
    "einsum": lambda n, *xs: np.einsum(n.attrs["subscripts"], *xs),
}


class Interpreter:
    """A graph turned into a flat list of steps, each with the values to free after it."""

    def __init__(self, graph: Graph, lowering: dict):
        missing = sorted({n.op for n in graph.nodes if n.inputs and n.op not in lowering})
        if missing:
            raise BackendError(f"the numpy backend cannot lower op(s) {missing}")
        self.graph = graph
        nodes = graph.nodes
        slot = {n.serial: i for i, n in enumerate(nodes)}
        self.n_slots = len(nodes)
        self.input_slots = [slot[p.serial] for p in graph.inputs]
        self.output_slots = [slot[o.serial] for o in graph.outputs]
        self.constants = [(slot[n.serial], n.value) for n in nodes if n.op == "constant"]
        last_use = {}
        for step, n in enumerate(nodes):
            for inp in n.inputs:
                last_use[slot[inp.serial]] = step
        keep = set(self.output_slots)
        free_after: dict[int, list[int]] = {}
        for s, step in last_use.items():
            if s not in keep:
                free_after.setdefault(step, []).append(s)
        self.steps = [
            (slot[n.serial], lowering[n.op], n, tuple(slot[i.serial] for i in n.inputs),
             tuple(free_after.get(step, ())))
            for step, n in enumerate(nodes)
            if n.inputs
        ]

    def __call__(self, arrays):
        env = [None] * self.n_slots
        for s, value in self.constants:
            env[s] = value
        for s, value in zip(self.input_slots, arrays):
            env[s] = value
        with np.errstate(all="ignore"):
            for s, fn, node, operands, free in self.steps:
                try:
                    env[s] = fn(node, *[env[i] for i in operands])
                except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                    label = node.meta.name or node.op
                    raise GraphError(
                        f"evaluating {label} ({node.op} -> {node.type_string}){where(node.meta)} "
                        f"failed: {exc}"
                    ) from None
                for i in free:
                    env[i] = None
        outs = []
        given = {id(a) for a in arrays}
        for s, o in zip(self.output_slots, self.graph.outputs):
            v = env[s]
            fresh = isinstance(v, np.ndarray) and v.flags.owndata and v.flags.writeable
            outs.append(v if fresh and id(v) not in given else np.array(v, dtype=o.dtype))
        return outs


class BatchedInterpreter:
    """The reference batch semantics: the graph run once per sample, results stacked."""

    def __init__(self, graph: Graph, interpreter: Interpreter, batch):
        self.interpreter = interpreter
        self.batched = [p.attrs["name"] in batch for p in graph.inputs]
        self.outputs = graph.outputs

    def __call__(self, arrays):
        size = next(a.shape[0] for a, b in zip(arrays, self.batched) if b)
        results = [np.empty((size,) + o.shape, dtype=o.dtype) for o in self.outputs]
        for k in range(size):
            sample = [a[k] if b else a for a, b in zip(arrays, self.batched)]
            for res, value in zip(results, self.interpreter(sample)):
                res[k] = value
        return results


class NumpyBackend:
    """Registered as ``numpy``: the reference every other backend is tested against."""

    name = "numpy"
    lowering = LOWERING

    def compile(self, graph: Graph, batch=(), **options):
        if options:
            raise BackendError(f"the numpy backend takes no options, got {sorted(options)}")
        interpreter = Interpreter(graph, self.lowering)
        if batch:
            return BatchedInterpreter(graph, interpreter, batch)
        return interpreter
