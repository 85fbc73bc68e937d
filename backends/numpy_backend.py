"""The reference backend: a small interpreter that runs each node with numpy.

It walks the graph in topological order over an environment of values, like JAX's jaxpr
interpreter, and drops every intermediate after its last use so peak memory stays near the
largest set of live values. Each node runs its op's own numpy implementation (the ``impl`` of its
declaration, :func:`graphc.ops.core.evaluate`): this backend has no table of its own. Floating-
point exceptions give numpy's inf/nan, never an error.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from graphc.context import where
from graphc.errors import BackendError, GraphError, IndexRangeError, InputError
from graphc.ir import Graph
from graphc.ops.core import PRIMITIVES, evaluate
from graphc.ops.indexing import index_error_message
from graphc.transform import inline_calls


def _runner(node):
    """What computes ``node`` from its operands' values: a built-in op's implementation with the
    node's attributes bound (trusted to give numpy's dtype, as numpy does), or for a user's op
    :func:`evaluate`, which checks the result's shape and dtype."""
    prim = PRIMITIVES[node.op]
    if not prim.builtin:
        return lambda *values: evaluate(node, values)
    return partial(prim.impl, **node.attrs) if node.attrs else prim.impl


class Interpreter:
    """A graph turned into a flat list of steps, each with the values to free after it."""

    def __init__(self, graph: Graph):
        missing = sorted({n.op for n in graph.nodes if n.inputs and PRIMITIVES[n.op].impl is None})
        if missing:
            raise BackendError(f"the numpy backend cannot run op(s) {missing}: their declarations give no "
                               "numpy implementation (impl=)")
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
            (slot[n.serial], _runner(n), n, tuple(slot[i.serial] for i in n.inputs),
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
            for s, run, node, operands, free in self.steps:
                try:
                    env[s] = run(*[env[i] for i in operands])
                except IndexRangeError as exc:  # the message names the node, as evaluate's does
                    raise InputError(index_error_message(node, exc.value, exc.size, exc.axis)) from None
                except (BackendError, InputError):  # one already named (by evaluate, in a loop's body)
                    raise
                except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                    label = node.meta.name or node.op
                    raise GraphError(
                        f"evaluating {label} ({node.op} -> {node.type_string}){where(node.meta)} "
                        f"failed: {exc}"
                    ) from None
                except Exception as exc:
                    if PRIMITIVES[node.op].builtin:
                        raise
                    raise BackendError(f"the numpy implementation of op {node.op!r} failed"
                                       f"{where(node.meta)}: {type(exc).__name__}: {exc}") from None
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

    def compile(self, graph: Graph, batch=(), **options):
        if options:
            raise BackendError(f"the numpy backend takes no options, got {sorted(options)}")
        from graphc.compile import check_array_sizes

        graph = inline_calls(graph)
        check_array_sizes(graph.nodes)  # the interpreter holds every node's value
        interpreter = Interpreter(graph)
        if batch:
            return BatchedInterpreter(graph, interpreter, batch)
        return interpreter
