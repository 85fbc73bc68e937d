"""The graph IR: immutable nodes, their metadata, and ``Graph``.

A :class:`Node` is identified by (op, inputs, attrs, shape, dtype) and, for constants, its value; that
identity is summarised in ``node.digest`` (a content hash computed once, from the inputs' digests, so
it never recurses). Everything else about a node (user name, scope, source line, which pass or rule
made it, which primal node it was derived from) lives in :class:`Meta`, which passes carry along but
which never changes what the node computes.

Node equality (``==``) builds a comparison node, as in numpy; nodes hash by identity and graphs by
content (``hash(graph)``, ``graph.digest``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from .context import Location, where
from .dtypes import type_string
from .errors import GraphError, GraphTypeError

_serial_counter = itertools.count()


def next_serial() -> int:
    """A serial number no node has yet: every node created after this call has a higher one (a
    rewrite driver uses it to tell the nodes a rule made from the ones that existed)."""
    return next(_serial_counter)


@dataclass(frozen=True)
class Meta:
    """What a node is *about*, as opposed to what it computes.

    ``role`` is "primal", "adjoint" (cotangent) or "tangent" (forward mode); ``pass_name`` and
    ``rule`` say which pass and which rule created the node; ``derived_from`` names the nodes of the
    source graph it was derived from; ``adjoint_of`` / ``tangent_of`` name the primal node whose
    adjoint or tangent this node is (the first one, when one node serves several: with
    ``y = x + b`` the node ȳ is also x̄).
    """

    name: str | None = None
    scope: tuple[str, ...] = ()
    location: Location | None = None
    role: str = "primal"
    pass_name: str | None = None
    rule: str | None = None
    derived_from: tuple = ()
    adjoint_of: Node | None = None
    tangent_of: Node | None = None
    contributes_to: object = None
    extra: Mapping = field(default_factory=dict)

    def replace(self, **changes) -> Meta:
        return replace(self, **changes)


# ----------------------------------------------------------------------------------------------
# Nodes


def _freeze_attr(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_attr(v) for v in value)
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str, Graph)):
        return value
    raise GraphTypeError(f"node attribute values must be plain data or graphs, got {type(value).__name__}")


def _attr_text(value) -> str:
    """An attribute value as text for a node's digest: a graph by its content, not its identity."""
    if isinstance(value, tuple):
        return "(" + ",".join(_attr_text(v) for v in value) + ")"
    if isinstance(value, Graph):
        return f"graph:{value.digest}"
    return repr(value)


_NO_ATTRS = MappingProxyType({})


class Node:
    """One value of a graph: ``op(*inputs, **attrs)`` with a static shape and dtype.

    A node of an op with several results (a loop's carries and stacked outputs) is a *tuple
    node*: ``types`` holds one (shape, dtype) per result, ``shape`` and ``dtype`` are None, and
    ``item`` nodes pick its results apart; only ``item`` nodes read it, and it is never a graph
    output. Build nodes through the ``gc`` functions and operators, not with this constructor.
    """

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "types", "value", "meta", "serial", "digest")

    # numpy must not turn a node into an object array: until the builder installs its own
    # ``__array_ufunc__`` (numpy's ufuncs build nodes), numpy defers to the reflected operators.
    __array_ufunc__ = None

    def __init__(self, op, inputs, attrs, shape, dtype, meta, value=None, types=None):
        setattr_ = object.__setattr__
        frozen = {k: _freeze_attr(v) for k, v in attrs.items()} if attrs else {}
        if types is not None:
            types = tuple((tuple(int(d) for d in s), np.dtype(t)) for s, t in types)
            shape, dtype, type_text = None, None, ";".join(f"{s}{t.str}" for s, t in types)
        else:
            dtype = np.dtype(dtype)
            shape = tuple(shape)
            type_text = f"{shape}|{dtype.str}"
        setattr_(self, "op", op)
        setattr_(self, "inputs", tuple(inputs))
        setattr_(self, "attrs", MappingProxyType(frozen) if frozen else _NO_ATTRS)
        setattr_(self, "shape", shape)
        setattr_(self, "dtype", dtype)
        setattr_(self, "types", types)
        setattr_(self, "value", value)
        setattr_(self, "meta", meta)
        setattr_(self, "serial", next(_serial_counter))
        attrs_text = ",".join(f"{k}={_attr_text(v)}" for k, v in sorted(frozen.items())) if frozen else ""
        h = hashlib.sha256(f"{op}|{attrs_text}|{type_text}".encode())
        for inp in self.inputs:
            h.update(inp.digest)
        if value is not None:
            h.update(np.ascontiguousarray(value).tobytes())
        setattr_(self, "digest", h.digest())

    def __setattr__(self, name, value):
        raise AttributeError(f"graph nodes are immutable (tried to set {name!r})")

    __hash__ = object.__hash__

    def _annotate(self, **changes) -> None:
        """Update metadata (never identity); used by the pass that creates the node."""
        object.__setattr__(self, "meta", self.meta.replace(**changes))

    @property
    def is_tuple(self) -> bool:
        return self.types is not None

    @property
    def ndim(self) -> int:
        if self.types is not None:
            raise self._several()
        return len(self.shape)

    @property
    def size(self) -> int:
        if self.types is not None:
            raise self._several()
        return math.prod(self.shape)  # Python integers: never wraps around

    def _several(self) -> GraphTypeError:
        return GraphTypeError(f"a {self.op} node has several results {self.type_string}; pick one with "
                              f"node[i]{where(self.meta)}")

    @property
    def name(self) -> str | None:
        return self.meta.name

    @property
    def type_string(self) -> str:
        if self.types is not None:
            return "(" + ", ".join(type_string(s, t) for s, t in self.types) + ")"
        return type_string(self.shape, self.dtype)

    def __repr__(self) -> str:
        label = self.meta.name or f"#{self.serial}"
        return f"<Node {label} = {self.op} : {self.type_string}>"

    def __bool__(self):
        raise GraphError(
            "a graph node has no truth value: it is symbolic. Use gc.where(...) for a choice "
            "made per element, or evaluate the graph first"
        )

    def __len__(self):
        if self.types is not None:
            return len(self.types)
        if not self.shape:
            raise GraphTypeError(f"len() of a 0-d node{where(self.meta)}")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]  # a tuple node's item i, an array's row i


# ----------------------------------------------------------------------------------------------
# Graphs


def _check_outputs(outputs):
    if isinstance(outputs, Node):
        return [outputs], None
    if isinstance(outputs, Mapping):
        names = list(outputs.keys())
        for k in names:
            if not isinstance(k, str):
                raise GraphTypeError(f"output names must be strings, got {k!r}")
        return list(outputs.values()), names
    if isinstance(outputs, Iterable) and not isinstance(outputs, (str, bytes)):
        return list(outputs), None
    raise GraphTypeError(
        f"Graph outputs must be a node, a list of nodes or a dict name -> node, got "
        f"{type(outputs).__name__}"
    )


class Graph:
    """A static computation graph: named placeholder inputs and a list (or dict) of outputs.

    ``graph.nodes`` is the topological order of every node the outputs depend on, inputs included
    (even unused ones); ``len(graph)`` counts them. ``hash(graph)`` and ``graph.digest`` depend only
    on structure, so equal graphs hash equal.
    """

    def __init__(self, inputs, outputs, name: str | None = None):
        if isinstance(inputs, Node):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise GraphTypeError(f"Graph inputs must be a list of placeholders, got {type(inputs).__name__}")
        inputs = list(inputs)
        seen: dict[str, Node] = {}
        for i, node in enumerate(inputs):
            if not isinstance(node, Node):
                raise GraphTypeError(f"Graph input {i} must be a placeholder node, got {type(node).__name__}")
            if node.op != "placeholder":
                raise GraphError(
                    f"Graph input {i} must be a placeholder, got a {node.op} node{where(node.meta)}"
                )
            pname = node.attrs["name"]
            if pname in seen:
                raise GraphError(f"duplicate input name {pname!r}: input names must be unique")
            seen[pname] = node
        outs, out_names = _check_outputs(outputs)
        for i, node in enumerate(outs):
            if not isinstance(node, Node):
                raise GraphTypeError(
                    f"Graph output {out_names[i] if out_names else i} must be a node, got "
                    f"{type(node).__name__}"
                )
            if node.types is not None:
                raise GraphError(
                    f"Graph output {out_names[i] if out_names else i} is a {node.op} node of several "
                    f"results {node.type_string}{where(node.meta)}: output its items instead")
        self.inputs: tuple[Node, ...] = tuple(inputs)
        self.outputs: tuple[Node, ...] = tuple(outs)
        self.output_names: tuple[str, ...] | None = tuple(out_names) if out_names else None
        self.name = name
        self._nodes = self._order()
        self._dag = None
        declared = set(map(id, self.inputs))
        for node in self._nodes:
            if node.op == "placeholder" and id(node) not in declared:
                raise GraphError(
                    f"the outputs depend on placeholder {node.attrs['name']!r}{where(node.meta)}, "
                    f"which is not among the graph's inputs {[p.attrs['name'] for p in self.inputs]}"
                )

    def _order(self) -> list[Node]:
        """Every node reachable from the outputs (and every input), in topological order.

        Nodes are immutable, so a node is always created after its operands: ordering by
        creation serial is a topological order (and the order the user wrote the code in).
        """
        seen: dict[int, Node] = {}
        stack = list(self.outputs) + list(self.inputs)
        while stack:
            node = stack.pop()
            if node.serial in seen:
                continue
            seen[node.serial] = node
            stack.extend(i for i in node.inputs if i.serial not in seen)
        return [seen[s] for s in sorted(seen)]

    # --- structure ---------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nx(self) -> networkx.DiGraph:  # noqa: F821 - imported lazily
        """The dependency DAG over node serial numbers (edges point from operand to consumer),
        for networkx's algorithms (reachability, paths, ...). Built on first use."""
        if self._dag is None:
            import networkx  # imported on first use: it is a third of graphc's import time

            dag = networkx.DiGraph()
            dag.add_nodes_from(n.serial for n in self._nodes)
            dag.add_edges_from((i.serial, n.serial) for n in self._nodes for i in n.inputs)
            self._dag = dag
        return self._dag

    def node_by_serial(self, serial: int) -> Node:
        return self._by_serial()[serial]

    def _by_serial(self):
        cache = getattr(self, "_serial_map", None)
        if cache is None:
            cache = {n.serial: n for n in self._nodes}
            self._serial_map = cache
        return cache

    def consumers(self) -> dict[int, list[Node]]:
        """serial -> nodes that use it as an input (each consumer once per use)."""
        users: dict[int, list[Node]] = {n.serial: [] for n in self._nodes}
        for n in self._nodes:
            for inp in n.inputs:
                users[inp.serial].append(n)
        return users

    def input(self, name: str) -> Node:
        for p in self.inputs:
            if p.attrs["name"] == name:
                return p
        raise GraphError(
            f"graph has no input named {name!r}; its inputs are {[p.attrs['name'] for p in self.inputs]}"
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(p.attrs["name"] for p in self.inputs)

    def output_index(self, output) -> int:
        """Resolve an output given by index, by name, or as a node."""
        if isinstance(output, Node):
            for i, o in enumerate(self.outputs):
                if o is output:
                    return i
            raise GraphError("the given node is not an output of the graph")
        if isinstance(output, str):
            if self.output_names is None or output not in self.output_names:
                raise GraphError(
                    f"graph has no output named {output!r}; outputs: {self._output_labels()}"
                )
            return self.output_names.index(output)
        if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
            n = len(self.outputs)
            if not -n <= output < n:
                raise GraphError(f"output index {output} out of range for a graph with {n} outputs")
            return int(output) % n
        raise GraphTypeError(f"output must be an index, a name or a node, got {output!r}")

    def _output_labels(self):
        return list(self.output_names) if self.output_names else list(range(len(self.outputs)))

    def with_outputs(self, outputs, name: str | None = None) -> Graph:
        return Graph(self.inputs, outputs, name=name or self.name)

    def outputs_as_given(self):
        """The outputs as a list, or as a dict when they were named."""
        if self.output_names is not None:
            return dict(zip(self.output_names, self.outputs))
        return list(self.outputs)

    def __call__(self, *args, **kwargs):
        """The graph inlined on nodes (:func:`graphc.transform.call`): ``grad_f(x)``."""
        from .transform import call  # transform builds on this module

        return call(self, *args, **kwargs)

    # --- identity ----------------------------------------------------------------------------

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for p in self.inputs:
            h.update(p.digest)
        h.update(b"|")
        for i, o in enumerate(self.outputs):
            h.update(repr(self.output_names[i] if self.output_names else i).encode())
            h.update(o.digest)
        return h.hexdigest()

    def __hash__(self) -> int:
        return int(self.digest[:16], 16)

    def __eq__(self, other) -> bool:
        return isinstance(other, Graph) and self.digest == other.digest

    # --- printing ----------------------------------------------------------------------------

    def __str__(self) -> str:
        from .listing import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph {self.name or ''} with {len(self)} nodes, inputs {list(self.input_names)}>"

    # --- files (graphc.serialize) ------------------------------------------------------------

    def to_json(self) -> str:
        """The graph in graphc's JSON format (docs/graph-format.md)."""
        from .serialize import to_json

        return to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> Graph:
        """The graph stored in ``text`` (SerializationError naming the JSON path when it is wrong)."""
        from .serialize import from_json

        return from_json(text)

    # --- Jupyter (graphc.viz) ----------------------------------------------------------------

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Jupyter shows the graph as a picture, or as its listing when graphviz's dot is missing."""
        from graphc.viz.jupyter import mimebundle

        return mimebundle(self, include, exclude)

    def _repr_svg_(self) -> str | None:
        from graphc.viz.jupyter import svg

        return svg(self)


def require_graph(graph, what: str) -> Graph:
    """``graph`` itself, or the GraphTypeError a pass raises for anything that is not a Graph."""
    if not isinstance(graph, Graph):
        raise GraphTypeError(f"{what} takes a Graph, got {type(graph).__name__}")
    return graph
