"""Fitting with SciPy's optimizers: a graph's parameters as the one flat vector SciPy works on.

``scipy.optimize.minimize`` wants ``fun(theta)``, ``jac(theta)`` and ``hessp(theta, p)`` of one
float64 vector; ``least_squares`` wants the residual vector and its Jacobian. A model has several
parameter arrays (an MLP's W1, b1, W2, b2) and data inputs that stay the same over a fit.
:class:`Objective` and :class:`Residuals` bind the data once, pack the parameters into one vector
and back (in the order given, each raveled row-major), and compute everything with graphc's own
passes (``grad``, ``hvp``, ``jacobian``) compiled once on the chosen backend::

    obj = gc.Objective(graph, params={"w": w0, "b": 0.0}, data={"X": X, "y": y})
    fit = scipy.optimize.minimize(obj.fun, obj.x0, jac=obj.jac, hessp=obj.hessp, method="trust-ncg")
    obj.unpack(fit.x)  # {"w": ..., "b": ...}

``fun`` and ``jac`` at the same point share one evaluation of the value-and-gradient graph (SciPy
asks for both at every iterate).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .adjoint import grad
from .errors import GraphError, GraphTypeError, InputError
from .hvp import hvp, jacobian
from .ir import Graph, require_graph


def _compile(graph: Graph, backend: str):
    from .compile import compile as compile_graph

    return compile_graph(graph, backend=backend)


class _Packing:
    """The parameters of ``graph`` named by ``params`` as one vector, and the data bound once."""

    def __init__(self, graph: Graph, params, data: Mapping | None, output, what: str):
        require_graph(graph, what)
        if isinstance(params, Mapping):
            names, start = list(params), dict(params)
        elif isinstance(params, (list, tuple)) and all(isinstance(p, str) for p in params):
            names, start = list(params), None
        else:
            raise GraphTypeError(f"{what}: params must be a dict {{input name: initial value}} or a list of "
                                 f"input names, got {params!r}")
        if not names:
            raise GraphError(f"{what}: no parameters to fit")
        data = dict(data or {})
        inputs = {p.attrs["name"]: p for p in graph.inputs}
        for name in names:
            if name not in inputs:
                raise GraphError(f"{what}: parameter {name!r} is not an input of the graph; inputs are "
                                 f"{list(inputs)}")
            if inputs[name].dtype.kind != "f":
                raise GraphError(f"{what}: parameter {name!r} is {inputs[name].type_string}, not a float "
                                 "input")
            if name in data:
                raise GraphError(f"{what}: {name!r} is both a parameter and data")
        unknown = sorted(set(data) - set(inputs))
        missing = [n for n in inputs if n not in data and n not in names]
        if unknown:
            raise InputError(f"{what}: data for {unknown}, which the graph does not have as inputs")
        if missing:
            raise InputError(f"{what}: no data for the inputs {missing} (every input that is not a "
                             "parameter is data, bound once)")
        self.graph = Graph(graph.inputs, {"value": graph.outputs[graph.output_index(output)]})
        self.names = names
        self.shapes = [inputs[n].shape for n in names]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.size = sum(self.sizes)
        self.data = {}
        for name, value in data.items():
            node = inputs[name]
            array = np.asarray(value)
            if array.shape != node.shape:
                raise InputError(f"{what}: data {name!r} has shape {array.shape}, the input "
                                 f"{node.type_string}")
            self.data[name] = array.astype(node.dtype, copy=False)
        self.what = what
        self.x0 = self.pack(start) if start is not None else None

    def pack(self, values: Mapping) -> np.ndarray:
        """One float64 vector of the parameters ``values`` (a dict by name), in ``names``' order."""
        missing = [n for n in self.names if n not in values]
        if missing:
            raise InputError(f"{self.what}: no value for the parameters {missing}")
        parts = []
        for name, shape in zip(self.names, self.shapes):
            array = np.asarray(values[name], dtype=np.float64)
            if array.shape != shape:
                raise InputError(f"{self.what}: parameter {name!r} has shape {array.shape}, expected {shape}")
            parts.append(array.ravel())
        return np.concatenate(parts)

    def unpack(self, theta) -> dict[str, np.ndarray]:
        """The parameter arrays (by name) that the vector ``theta`` holds."""
        theta = np.asarray(theta)
        if theta.shape != (self.size,):
            raise InputError(f"{self.what}: the parameter vector has shape {theta.shape}, expected "
                             f"({self.size},) for {dict(zip(self.names, self.shapes))}")
        out, at = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = theta[at:at + size].reshape(shape)
            at += size
        return out

    def _inputs(self, theta) -> dict:
        return {**self.data, **self.unpack(theta)}

    def _flat(self, result, prefix: str) -> np.ndarray:
        return np.concatenate([np.ravel(result[f"{prefix}{n}"]) for n in self.names]).astype(np.float64)


class Objective(_Packing):
    """A scalar output of ``graph`` as SciPy's ``minimize`` takes it: ``fun``, ``jac``, ``hessp``.

    ``params``: the parameter inputs, a dict {name: initial value} (then ``x0`` is their packed
    vector) or a list of names; ``data``: every other input, bound once; ``output``: the scalar
    output (name or index); ``backend``: "numpy" or "numba" (any registered backend).
    """

    def __init__(self, graph: Graph, params, data: Mapping | None = None, output=0, backend: str = "numpy"):
        super().__init__(graph, params, data, output, "Objective")
        value = self.graph.outputs[0]
        if value.shape != () or value.dtype.kind != "f":
            raise GraphError(f"Objective needs a scalar float output, got {value.type_string}")
        self._value_and_grad = _compile(grad(self.graph, self.names), backend)
        directions = [f"__p_{i}__" for i in range(len(self.names))]
        self._directions = directions
        self._hvp = _compile(hvp(self.graph, self.names, direction=directions), backend)
        self._last = None  # (theta bytes, value, gradient)

    def _evaluate(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        key = theta.tobytes()
        if self._last is None or self._last[0] != key:
            result = self._value_and_grad(**self._inputs(theta))
            self._last = (key, float(result["value"]), self._flat(result, "grad_"))
        return self._last

    def fun(self, theta) -> float:
        return self._evaluate(theta)[1]

    def jac(self, theta) -> np.ndarray:
        return self._evaluate(theta)[2].copy()

    def fun_and_jac(self, theta) -> tuple[float, np.ndarray]:
        """(value, gradient): for ``minimize(obj.fun_and_jac, x0, jac=True)``."""
        _, value, gradient = self._evaluate(theta)
        return value, gradient.copy()

    def hessp(self, theta, p) -> np.ndarray:
        """H(theta) p, by one Hessian-vector product (the Hessian is never formed)."""
        p = self.unpack(np.asarray(p, dtype=np.float64))
        result = self._hvp(**self._inputs(theta), **{d: p[n] for d, n in zip(self._directions, self.names)})
        return self._flat(result, "hvp_")


class Residuals(_Packing):
    """An output of ``graph`` as SciPy's ``least_squares`` takes it: ``fun`` (the output raveled)
    and ``jac`` (its dense Jacobian, one row per residual, by graphc's ``jacobian``)."""

    def __init__(self, graph: Graph, params, data: Mapping | None = None, output=0, backend: str = "numpy"):
        super().__init__(graph, params, data, output, "Residuals")
        value = self.graph.outputs[0]
        if value.dtype.kind != "f":
            raise GraphError(f"Residuals needs a float output, got {value.type_string}")
        self.n_residuals = value.size
        self._value = _compile(self.graph, backend)
        self._jacobian = _compile(jacobian(self.graph, self.names), backend)

    def fun(self, theta) -> np.ndarray:
        return np.ravel(self._value(**self._inputs(theta))["value"]).astype(np.float64)

    def jac(self, theta) -> np.ndarray:
        result = self._jacobian(**self._inputs(theta))
        return np.concatenate([np.reshape(result[f"jacobian_{n}"], (self.n_residuals, size))
                               for n, size in zip(self.names, self.sizes)], axis=1).astype(np.float64)
