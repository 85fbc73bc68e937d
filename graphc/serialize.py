"""Graphs as files: the versioned JSON format of ``docs/graph-format.md``, written and validated.

``to_json`` / ``from_json`` turn a graph into text and back; ``save`` / ``load`` write and read a
file, putting constants of more than ``NPZ_THRESHOLD`` elements in an ``.npz`` beside it. A round
trip gives an equal graph (same ``graph.digest``) with the same metadata.

Loading trusts nothing. Every field is type-checked, every node is rebuilt through
:func:`graphc.ops.core.bind` so that its op's own shape rule validates it, and every problem raises
:class:`SerializationError` naming the JSON path of the problem (``$.nodes[4].inputs[1]``). Loading
never executes code: no pickle, no eval, no imports named by the file; array files are read with
``np.load(..., allow_pickle=False)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import secrets
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .context import Location
from .dtypes import SUPPORTED
from .errors import DTypeError, GraphError, GraphTypeError, SerializationError, ShapeError
from .ir import Graph, Meta, Node, require_graph
from .ops.core import bind, find, how_to_declare

FORMAT = "graphc-graph"
VERSION = 2  # 2: attributes may hold graphs (a custom function's); version 1 files load as before
READS = (1, 2)

NPZ_THRESHOLD = 1024  # constants with more elements go to the .npz beside the file (``save`` only)

# Caps on what a file may ask for: a file that exceeds one is refused before anything is allocated.
MAX_FILE_BYTES = 2**31  # size of the JSON text
MAX_NODES = 2_000_000
MAX_NDIM = 32  # numpy's own limit in numpy 1.x
MAX_NODE_ELEMENTS = 2**32  # elements of any one node (32 GiB of float64)
MAX_CONSTANT_ELEMENTS = 2**28  # elements of all constants together (2 GiB of float64)
MAX_ATTR_DEPTH = 4  # lists nested inside one attribute value
MAX_EXTRA_DEPTH = 8  # containers nested inside ``meta.extra``
MAX_GRAPH_DEPTH = 8  # graphs nested inside attributes of nodes of graphs
MAX_RESULTS = 4096  # results of one node of several (a loop's carries and stacked outputs)
_NESTED_KEYS = ("name", "inputs", "outputs", "nodes")
_MAX_INT = 2**63 - 1

_DTYPES = {str(d): d for d in SUPPORTED}
_DTYPE_NAMES = {d: name for name, d in _DTYPES.items()}
_TOP_KEYS = ("format", "version", "name", "inputs", "outputs", "arrays", "nodes")
_NODE_KEYS = ("op", "inputs", "attrs", "shape", "dtype", "types", "value", "meta")
_META_KEYS = ("name", "scope", "location", "role", "pass_name", "rule", "derived_from", "adjoint_of",
              "tangent_of", "contributes_to", "extra")
_META_REFS = ("adjoint_of", "tangent_of", "contributes_to")
# Attributes the builder writes, by name, and the JSON they must be; other names take plain data.
_ATTR_KINDS = {"name": "name", "dtype": "dtype", "shape": "shape", "axes": "axes", "axis": "int or null",
               "keepdims": "bool", "starts": "ints", "steps": "ints", "lengths": "shape", "offset": "int",
               "subscripts": "str"}

# what reading a damaged .npz raises: a bad archive or header, corrupted deflate data (zlib.error),
# an encrypted entry (RuntimeError), an unknown compression method (NotImplementedError)
NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError,
              NotImplementedError)


# ----------------------------------------------------------------------------------------------
# Writing


def to_json(graph: Graph, *, ensure_ascii: bool = False) -> str:
    """The graph as JSON text, one node per line; every constant is stored inline."""
    return _dump(graph, None, None, ensure_ascii)


def save(graph: Graph, path, *, npz_threshold: int = NPZ_THRESHOLD) -> None:
    """Write ``graph`` to ``path`` (UTF-8 JSON). Constants of more than ``npz_threshold`` elements go
    to ``<path>.npz`` beside it. Files are written to a temporary name and then renamed, so an
    interrupted save never leaves a half-written graph behind."""
    require_graph(graph, "save")
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    npz_path = path.with_name(path.name + ".npz")
    try:
        text = _dump(graph, arrays, (npz_path.name, npz_threshold), False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates in a label: escape them, as JSON allows
        text = _dump(graph, arrays, (npz_path.name, npz_threshold), True).encode("ascii")
    if arrays:
        _write_atomic(npz_path, lambda f: np.savez(f, **arrays))
    _write_atomic(path, lambda f: f.write(text))


def _regular_file(path: Path, what: str) -> Path:
    """``path`` itself, or the file an existing symlink names, when it is a regular file or does
    not exist yet; a device, a FIFO or a directory is refused (renaming over one replaced it, and
    reading /dev/zero or a FIFO never ends)."""
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise SerializationError(f"{what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise SerializationError(f"{what} {path}: not a regular file (a device, FIFO or directory)")
    return target


def _write_atomic(path: Path, write) -> None:
    path = _regular_file(path, "cannot write")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")  # "x": never an existing file
    try:
        with open(tmp, "xb") as f:  # the usual permissions (mkstemp's would be private)
            write(f)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only or full folder, a missing directory
        raise SerializationError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _dump(graph: Graph, arrays: dict | None, npz: tuple[str, int] | None, ensure_ascii: bool) -> str:
    require_graph(graph, "to_json")
    constants = sum(n.value.size for n in _all_nodes(graph) if n.op == "constant")
    if constants > MAX_CONSTANT_ELEMENTS:
        raise SerializationError(f"cannot save: the constants hold {constants} elements, and files hold at "
                                 f"most {MAX_CONSTANT_ELEMENTS}")
    doc = _graph_doc(graph, arrays, npz)
    head: dict = {"format": FORMAT, "version": VERSION}
    head.update({k: v for k, v in doc.items() if k != "nodes"})
    if arrays:
        head["arrays"] = npz[0]

    encode = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=False, separators=(", ", ": ")).encode

    def dumps(value, where):
        try:
            return encode(value)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"{where}: cannot be written as JSON: {exc}") from None

    lines = ["{"] + [f"  {json.dumps(k)}: {dumps(v, '$.' + k)}," for k, v in head.items()]
    entries = doc["nodes"]
    body = ",\n".join(f"    {dumps(e, f'$.nodes[{i}]')}" for i, e in enumerate(entries))
    lines.append(f'  "nodes": [\n{body}\n  ]' if entries else '  "nodes": []')
    return "\n".join(lines) + "\n}\n"


def _all_nodes(graph: Graph):
    """The nodes of ``graph`` and of the bodies of its loops, at every depth."""
    stack = [graph]
    while stack:
        for n in stack.pop().nodes:
            yield n
            stack.extend(v for v in n.attrs.values() if isinstance(v, Graph))


def _graph_doc(graph: Graph, arrays: dict | None, npz) -> dict:
    """A graph's name, inputs, outputs and nodes as JSON data (a nested graph keeps its constants
    inline: ``arrays`` is None for it)."""
    nodes = graph.nodes
    index = {n.serial: i for i, n in enumerate(nodes)}
    doc: dict = {"name": graph.name, "inputs": [index[p.serial] for p in graph.inputs]}
    if graph.output_names is not None:
        doc["outputs"] = {k: index[o.serial] for k, o in zip(graph.output_names, graph.outputs)}
    else:
        doc["outputs"] = [index[o.serial] for o in graph.outputs]
    doc["nodes"] = [_node_to_json(i, n, index, arrays, npz) for i, n in enumerate(nodes)]
    return doc


def _savable(shape: tuple[int, ...], i: int, node: Node) -> list[int]:
    """``shape`` as JSON, refused here when :func:`load` would refuse it: a file graphc writes is
    a file graphc reads."""
    where = f"cannot save node %{i} ({node.op}"
    if len(shape) > MAX_NDIM:
        raise SerializationError(f"{where}, {len(shape)} dimensions): files hold at most {MAX_NDIM} "
                                 "dimensions, as numpy 1.x arrays do")
    if math.prod(shape) > MAX_NODE_ELEMENTS or any(d > MAX_NODE_ELEMENTS for d in shape):
        raise SerializationError(f"{where}, shape {list(shape)}): files hold at most {MAX_NODE_ELEMENTS} "
                                 "elements per node")
    return list(shape)


def _node_to_json(i: int, node: Node, index: dict, arrays: dict | None, npz) -> dict:
    entry: dict = {"op": node.op, "inputs": [index[x.serial] for x in node.inputs]}
    if node.attrs:
        entry["attrs"] = {k: _attr_to_json(v) for k, v in node.attrs.items()}
    if node.types is not None:
        entry["types"] = [[_savable(shape, i, node), _DTYPE_NAMES[dtype]] for shape, dtype in node.types]
    else:
        entry["shape"] = _savable(node.shape, i, node)
        entry["dtype"] = _DTYPE_NAMES[node.dtype]
    if node.op == "constant":
        little = np.ascontiguousarray(node.value, dtype=node.dtype.newbyteorder("<"))
        if arrays is not None and node.value.size > npz[1]:
            key = f"c{i}"
            arrays[key] = little
            entry["value"] = {"npz": key, "sha256": hashlib.sha256(little.tobytes()).hexdigest()}
        else:
            entry["value"] = {"base64": base64.b64encode(little.tobytes()).decode("ascii")}
    meta = _meta_to_json(node.meta, index)
    if meta:
        entry["meta"] = meta
    return entry


def _attr_to_json(value):
    if isinstance(value, tuple):
        return [_attr_to_json(v) for v in value]
    if isinstance(value, Graph):
        return {"graph": _graph_doc(value, None, None)}
    return value


def _meta_to_json(meta: Meta, index: dict) -> dict:
    """The metadata that differs from the defaults; references to nodes become node indices
    (references to nodes outside the graph, e.g. of the graph a pass started from, are dropped)."""
    out: dict = {}
    if meta.name is not None:
        out["name"] = meta.name
    if meta.scope:
        out["scope"] = list(meta.scope)
    if meta.location is not None:
        out["location"] = {"file": str(meta.location.file), "line": int(meta.location.line)}
    if meta.role != "primal":
        out["role"] = meta.role
    if meta.pass_name is not None:
        out["pass_name"] = meta.pass_name
    if meta.rule is not None:
        out["rule"] = meta.rule
    refs = [index[n.serial] for n in meta.derived_from if isinstance(n, Node) and n.serial in index]
    if refs:
        out["derived_from"] = refs
    for key in _META_REFS:
        ref = getattr(meta, key)
        if isinstance(ref, Node) and ref.serial in index:
            out[key] = index[ref.serial]
    if meta.extra:
        out["extra"] = dict(meta.extra)
    return out


# ----------------------------------------------------------------------------------------------
# Reading


def from_json(text: str | bytes) -> Graph:
    """The graph stored in ``text``; :class:`SerializationError` naming the JSON path of the first
    problem found. Constants kept in an ``.npz`` need :func:`load`, which knows where the file is."""
    return _Loader(_parse(text), None).graph()


def load(path) -> Graph:
    """Read a graph written by :func:`save` (and the ``.npz`` beside it, when it has one).

    A file that cannot be opened raises the usual ``OSError``; a file whose content is wrong raises
    :class:`SerializationError`.
    """
    path = Path(path)
    if path.exists():
        _regular_file(path, "cannot read")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SerializationError(f"$: the file has {size} bytes, more than the limit of {MAX_FILE_BYTES}")
    doc = _parse(path.read_bytes())
    return _Loader(doc, path.parent).graph()


def _fail(path: str, message: str):
    raise SerializationError(f"{path}: {message}")


def _parse(text) -> object:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            _fail("$", f"the file is not UTF-8 text ({exc})")
    if not isinstance(text, str):
        raise GraphTypeError(f"from_json takes a str or bytes, got {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES:
        _fail("$", f"the text has {len(text)} characters, more than the limit of {MAX_FILE_BYTES}")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except SerializationError:
        raise
    except RecursionError:
        _fail("$", "the JSON is nested too deeply to read")
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4300 digits
        _fail("$", f"not valid JSON: {exc}")


def _unique_keys(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        _fail("$", f"duplicate key {key!r} in a JSON object")
    return out


def _no_constant(name):
    _fail("$", f"{name} is not JSON (non-finite numbers are not allowed)")


def _describe(value) -> str:
    if value is None:
        return "null"
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)
    if isinstance(value, (list, dict)):
        return f"{kind} of {len(value)} items"
    text = repr(value)
    return f"{kind} {text[:40] + '...' if len(text) > 40 else text}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(value, path: str, keys, required=()) -> dict:
    if not isinstance(value, dict):
        _fail(path, f"expected an object, got {_describe(value)}")
    for key in value:
        if key not in keys:
            _fail(f"{path}.{key}", f"unknown field; expected one of {', '.join(keys)}")
    for key in required:
        if key not in value:
            _fail(path, f"missing field {key!r}")
    return value


def _string(value, path: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        _fail(path, f"expected a string{' or null' if optional else ''}, got {_describe(value)}")
    return value


def _index(value, path: str, count: int) -> int:
    if not _is_int(value):
        _fail(path, f"expected a node index, got {_describe(value)}")
    if not 0 <= value < count:
        _fail(path, f"node {value} does not exist (the file has {count} nodes)")
    return value


def _indices(value, path: str, count: int) -> list[int]:
    if not isinstance(value, list):
        _fail(path, f"expected a list of node indices, got {_describe(value)}")
    for v in value:
        if type(v) is not int or not 0 <= v < count:  # noqa: E721 - bool is not an index
            return [_index(v, f"{path}[{j}]", count) for j, v in enumerate(value)]  # names the culprit
    return value


def _shape(value, path: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        _fail(path, f"expected a shape (a list of integers), got {_describe(value)}")
    if len(value) > MAX_NDIM:
        _fail(path, f"{len(value)} dimensions exceed the limit of {MAX_NDIM}")
    size = 1
    for j, d in enumerate(value):
        if not _is_int(d) or d < 0:
            _fail(f"{path}[{j}]", f"expected a non-negative integer, got {_describe(d)}")
        size *= d
        if d > MAX_NODE_ELEMENTS or size > MAX_NODE_ELEMENTS:
            _fail(path, f"shape {value} has more than {MAX_NODE_ELEMENTS} elements (the limit)")
    return tuple(value)


def _dtype(value, path: str) -> np.dtype:
    if not isinstance(value, str) or value not in _DTYPES:
        _fail(path, f"expected one of the dtypes {', '.join(_DTYPES)}, got {_describe(value)}")
    return _DTYPES[value]


def _plain(value, path: str, depth: int, limit: int, objects: bool):
    """JSON data allowed in attributes (lists become tuples) or meta.extra (objects too)."""
    if depth > limit:
        _fail(path, f"nested more than {limit} levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if _is_int(value):
        if abs(value) > _MAX_INT:
            _fail(path, f"integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            _fail(path, f"non-finite number {value}")
        return value
    if isinstance(value, list):
        items = [_plain(v, f"{path}[{j}]", depth + 1, limit, objects) for j, v in enumerate(value)]
        return items if objects else tuple(items)
    if objects and isinstance(value, dict):
        return {k: _plain(v, f"{path}.{k}", depth + 1, limit, objects) for k, v in value.items()}
    _fail(path, f"expected plain data, got {_describe(value)}")


def _attr(name: str, value, path: str):
    kind = _ATTR_KINDS.get(name)
    if kind is None:
        return _plain(value, path, 0, MAX_ATTR_DEPTH, objects=False)
    if kind == "name":
        if not isinstance(value, str) or not value:
            _fail(path, f"expected a non-empty string, got {_describe(value)}")
        return value
    if kind == "str":
        return _string(value, path)
    if kind == "dtype":
        return str(_dtype(value, path))
    if kind == "shape":
        return _shape(value, path)
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(path, f"expected true or false, got {_describe(value)}")
        return value
    if kind == "int or null" and value is None:  # argmax's axis=None: the flattened array
        return None
    if kind in ("int", "int or null"):
        if not _is_int(value) or abs(value) > MAX_NODE_ELEMENTS:
            _fail(path, f"expected an integer, got {_describe(value)}")
        return value
    if not isinstance(value, list) or len(value) > MAX_NDIM:
        _fail(path, f"expected a list of at most {MAX_NDIM} integers, got {_describe(value)}")
    for j, v in enumerate(value):
        if not _is_int(v) or abs(v) > MAX_NODE_ELEMENTS:
            _fail(f"{path}[{j}]", f"expected an integer, got {_describe(v)}")
    if kind == "axes" and len(set(value)) != len(value):
        _fail(path, f"duplicate axis in {value}")
    return tuple(value)


class _Loader:
    """One pass over a parsed document: fields, then references and cycles, then nodes. A graph
    nested in a node's attribute is read by a loader of its own (``parent``), which shares the
    document's caps (total nodes, constant elements) and is refused past MAX_GRAPH_DEPTH."""

    def __init__(self, doc, directory: Path | None, parent: _Loader | None = None, at: str = "$"):
        self.at = at
        self.parent = parent
        self.root = parent.root if parent is not None else self
        self.depth = parent.depth + 1 if parent is not None else 0
        if parent is None:
            known = doc.get("version", VERSION) in READS if isinstance(doc, dict) else True
            if isinstance(doc, dict) and doc.get("format") == FORMAT and not known:
                version = doc["version"]
                shown = repr(version)[:40] if isinstance(version, (int, float, str)) else _describe(version)
                _fail("$.version", f"unknown format version {shown}; this graphc reads versions "
                                   f"{', '.join(map(str, READS))}")
            self.doc = _object(doc, "$", _TOP_KEYS,
                               required=("format", "version", "inputs", "outputs", "nodes"))
        else:
            if self.depth > MAX_GRAPH_DEPTH:
                _fail(at, f"graphs nested more than {MAX_GRAPH_DEPTH} levels deep")
            self.doc = _object(doc, at, _NESTED_KEYS, required=("inputs", "outputs", "nodes"))
        self.directory = directory
        self.npz = None
        self.constant_elements = 0
        self.node_count = 0
        self.metas: dict = {}

    def graph(self) -> Graph:
        doc, at = self.doc, self.at
        if self.parent is None:
            if doc["format"] != FORMAT:
                _fail("$.format", f"expected {FORMAT!r}, got {_describe(doc['format'])}")
            if not _is_int(doc["version"]):
                _fail("$.version", f"expected an integer, got {_describe(doc['version'])}")
        name = _string(doc.get("name"), f"{at}.name", optional=True)
        entries = doc["nodes"]
        if not isinstance(entries, list):
            _fail(f"{at}.nodes", f"expected a list of nodes, got {_describe(entries)}")
        self.root.node_count += len(entries)
        if self.root.node_count > MAX_NODES:
            _fail(f"{at}.nodes", f"the file holds more than {MAX_NODES} nodes (the limit), nested graphs "
                                 "included")
        try:
            fields = [self._fields(i, e, len(entries)) for i, e in enumerate(entries)]
            _check_order([f[1] for f in fields], at)
            nodes = self._build(fields)
            return self._assemble(nodes, name)
        finally:
            if self.npz is not None:
                self.npz.close()

    def _attr(self, key: str, value, path: str):
        """An attribute's value: a nested graph (``{"graph": {...}}``), or plain data."""
        if isinstance(value, dict):
            _object(value, path, ("graph",), required=("graph",))
            return _Loader(value["graph"], None, self, f"{path}.graph").graph()
        return _attr(key, value, path)

    def _fields(self, i: int, entry, count: int):
        path = f"{self.at}.nodes[{i}]"
        _object(entry, path, _NODE_KEYS, required=("op", "inputs"))
        op = _string(entry["op"], f"{path}.op")
        prim = find(op) if len(op) <= 200 else None
        if prim is None:
            _fail(f"{path}.op", how_to_declare(op[:80]))
        inputs = _indices(entry["inputs"], f"{path}.inputs", count)
        if prim.arity is not None and len(inputs) != prim.arity:
            _fail(f"{path}.inputs", f"{op} takes {prim.arity} operand(s), got {len(inputs)}")
        if prim.arity is None and not inputs:
            _fail(f"{path}.inputs", f"{op} needs at least one operand")
        attrs = _object(entry.get("attrs", {}), f"{path}.attrs", _AnyKey())
        attrs = {k: self._attr(k, v, f"{path}.attrs.{k}") for k, v in attrs.items()}
        if prim.multiple_results:  # a node of several results: "types", one [shape, dtype] each
            if "shape" in entry or "dtype" in entry or "types" not in entry:
                _fail(path, f"a {op} node has several results: it gives \"types\", not \"shape\" and "
                            "\"dtype\"")
            types = entry["types"]
            if not isinstance(types, list) or len(types) > MAX_RESULTS:
                _fail(f"{path}.types", f"expected a list of at most {MAX_RESULTS} [shape, dtype] pairs, got "
                                       f"{_describe(types)}")
            for j, t in enumerate(types):
                if not isinstance(t, list) or len(t) != 2:
                    _fail(f"{path}.types[{j}]", f"expected [shape, dtype], got {_describe(t)}")
            shape = tuple((_shape(t[0], f"{path}.types[{j}][0]"), _dtype(t[1], f"{path}.types[{j}][1]"))
                          for j, t in enumerate(types))
            dtype = None
        else:
            if "types" in entry:
                _fail(f"{path}.types", f"a {op} node has one result: it gives \"shape\" and \"dtype\"")
            for key in ("shape", "dtype"):
                if key not in entry:
                    _fail(path, f"missing field {key!r}")
            shape = _shape(entry["shape"], f"{path}.shape")
            dtype = _dtype(entry["dtype"], f"{path}.dtype")
        if (op == "constant") != ("value" in entry):
            _fail(path, "a constant needs a value" if op == "constant" else f"a {op} node has no value")
        meta, refs = _meta(entry.get("meta", {}), f"{path}.meta", count, self.metas)
        return op, inputs, attrs, shape, dtype, entry.get("value"), meta, refs

    def _build(self, fields) -> list[Node]:
        nodes: list[Node] = []
        for i, (op, inputs, attrs, shape, dtype, value, meta, _) in enumerate(fields):
            path = f"{self.at}.nodes[{i}]"
            if op == "constant":
                value = self._constant(value, shape, dtype, f"{path}.value")
            try:
                node = bind(op, [nodes[k] for k in inputs], attrs, meta=meta, value=value)
            except (ShapeError, DTypeError) as exc:
                _fail(path, f"the rule of {op} refuses its operands: {exc}")
            except Exception as exc:  # noqa: BLE001 - whatever an op's rule raises on odd attributes
                _fail(f"{path}.attrs", f"{op} refuses its attributes {_short(attrs)}: {exc}")
            if dtype is None:  # several results: ``shape`` holds the declared types
                if node.types != shape:
                    _fail(f"{path}.types",
                          f"declared {_types_text(shape)}, but {op} gives {node.type_string}")
            else:
                if node.shape != shape:
                    _fail(f"{path}.shape", f"declared {list(shape)}, but {op} gives {list(node.shape)}")
                if node.dtype != dtype:
                    _fail(f"{path}.dtype", f"declared {dtype}, but {op} gives {node.dtype}")
            nodes.append(node)
        for node, (*_, refs) in zip(nodes, fields):
            if refs:
                changes = {k: nodes[v] for k, v in refs.items() if k != "derived_from"}
                if "derived_from" in refs:
                    changes["derived_from"] = tuple(nodes[k] for k in refs["derived_from"])
                node._annotate(**changes)
        return nodes

    def _constant(self, spec, shape, dtype, path) -> np.ndarray:
        count = math.prod(shape)
        self.root.constant_elements += count
        if self.root.constant_elements > MAX_CONSTANT_ELEMENTS:
            _fail(path, f"the constants hold more than {MAX_CONSTANT_ELEMENTS} elements (the limit)")
        little = dtype.newbyteorder("<")
        if isinstance(spec, dict) and "npz" in spec:
            if self.parent is not None:
                _fail(path, "a nested graph keeps its constants inline (base64), not in the .npz file")
            _object(spec, path, ("npz", "sha256"), required=("npz", "sha256"))
            arr = self._npz_array(spec, shape, dtype, path)
        else:
            _object(spec, path, ("base64",), required=("base64",))
            data = _string(spec["base64"], f"{path}.base64")
            nbytes = count * dtype.itemsize
            if len(data) != 4 * ((nbytes + 2) // 3):
                _fail(f"{path}.base64", f"{len(data)} characters cannot hold {count} {dtype} values "
                                        f"({nbytes} bytes)")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                _fail(f"{path}.base64", f"not base64: {exc}")
            if len(raw) != nbytes:
                _fail(f"{path}.base64", f"holds {len(raw)} bytes, {count} {dtype} values need {nbytes}")
            arr = np.frombuffer(raw, dtype=little)
        if dtype.kind == "b" and arr.view(np.uint8).max(initial=0) > 1:
            _fail(path, "a boolean constant holds bytes other than 0 and 1")
        value = np.array(arr.reshape(shape), dtype=dtype, order="C")
        value.setflags(write=False)
        return value

    def _npz_array(self, spec, shape, dtype, path) -> np.ndarray:
        key = _string(spec["npz"], f"{path}.npz")
        if self.npz is None:
            self.npz = self._open_npz()
        info = None
        try:
            info = self.npz.zip.getinfo(key + ".npy")
        except KeyError:
            _fail(f"{path}.npz", f"no array {key!r} in {self.doc['arrays']!r}")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size > nbytes + 65536:  # header included: never inflate more than declared
            _fail(f"{path}.npz", f"array {key!r} is larger than the declared {list(shape)} {dtype}")
        try:
            arr = self.npz[key]
        except NPZ_ERRORS as exc:
            _fail(f"{path}.npz", f"cannot read array {key!r}: {exc}")
        if arr.shape != shape or arr.dtype.kind != dtype.kind or arr.dtype.itemsize != dtype.itemsize:
            _fail(f"{path}.npz", f"array {key!r} is {arr.dtype}{list(arr.shape)}, the node declares "
                                 f"{dtype}{list(shape)}")
        little = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<"))
        if hashlib.sha256(little.tobytes()).hexdigest() != spec["sha256"]:
            _fail(f"{path}.sha256", f"array {key!r} does not match its checksum: the .npz file was "
                                    "changed or belongs to another graph")
        return little

    def _open_npz(self):
        name = self.doc.get("arrays")
        if self.directory is None:
            _fail("$.arrays", "the graph keeps constants in an .npz file beside it: read it with "
                              "gc.load(path), not from_json")
        _string(name, "$.arrays")
        if not name or name in (".", "..") or any(c in name for c in "/\\\0:"):
            _fail("$.arrays", f"expected a file name in the same directory, got {name!r}")
        if (self.directory / name).exists():
            _regular_file(self.directory / name, "cannot read")
        if not zipfile.is_zipfile(self.directory / name):
            _fail("$.arrays", f"{name!r} is missing or not an .npz file")
        try:
            npz = np.load(self.directory / name, allow_pickle=False)
        except NPZ_ERRORS as exc:
            _fail("$.arrays", f"cannot read {name!r}: {exc}")
        if not isinstance(npz, np.lib.npyio.NpzFile):
            _fail("$.arrays", f"{name!r} is not an .npz file")
        return npz

    def _assemble(self, nodes: list[Node], name) -> Graph:
        doc, at = self.doc, self.at
        inputs, names = [], {}
        for k, i in enumerate(_indices(doc["inputs"], f"{at}.inputs", len(nodes))):
            node = nodes[i]
            if node.op != "placeholder":
                _fail(f"{at}.inputs[{k}]", f"node {i} is a {node.op} node, not a placeholder")
            pname = node.attrs["name"]
            if pname in names:
                _fail(f"{at}.inputs[{k}]",
                      f"duplicate input name {pname!r} (also {at}.inputs[{names[pname]}])")
            names[pname] = k
            inputs.append(node)
        for i, node in enumerate(nodes):
            if node.op == "placeholder" and node.attrs["name"] not in names:
                _fail(f"{at}.nodes[{i}]", f"placeholder {node.attrs['name']!r} is not listed in {at}.inputs")
            if node.op == "placeholder" and inputs[names[node.attrs["name"]]] is not node:
                _fail(f"{at}.nodes[{i}]", f"a second placeholder named {node.attrs['name']!r}")
        outs = doc["outputs"]
        if isinstance(outs, dict):
            outputs = {k: nodes[_index(v, f"{at}.outputs[{json.dumps(k)}]", len(nodes))]
                       for k, v in outs.items()}
        elif isinstance(outs, list):
            outputs = [nodes[i] for i in _indices(outs, f"{at}.outputs", len(nodes))]
        else:
            _fail(f"{at}.outputs", f"expected a list of node indices or an object name -> index, got "
                                   f"{_describe(outs)}")
        try:
            graph = Graph(inputs, outputs, name=name)
        except GraphError as exc:
            _fail(at, str(exc))
        if len(graph) != len(nodes):
            used = {n.serial for n in graph.nodes}
            dead = next(i for i, n in enumerate(nodes) if n.serial not in used)
            _fail(f"{at}.nodes[{dead}]", "the node is used by no output (a file holds only live nodes)")
        return graph


class _AnyKey:
    """Accepts every field name (attribute names are checked by the op's rule)."""

    def __contains__(self, key) -> bool:
        return True


def _types_text(types) -> str:
    return "(" + ", ".join(f"{dtype}{list(shape)}" for shape, dtype in types) + ")"


def _short(attrs: dict) -> str:
    text = repr(attrs)
    return text if len(text) <= 120 else text[:117] + "..."


def _meta(value, path: str, count: int, cache: dict) -> tuple[Meta, dict]:
    """The Meta of a node (without its references to other nodes) and those references. Nodes
    built by one line of code share their Meta (it is immutable), which keeps big graphs small."""
    _object(value, path, _META_KEYS)
    if not value:
        return _DEFAULT_META, {}
    fields: dict = {}
    for key in ("name", "pass_name", "rule"):
        if key in value:
            fields[key] = _string(value[key], f"{path}.{key}", optional=True)
    if "role" in value:
        fields["role"] = _string(value["role"], f"{path}.role")
    if "scope" in value:
        scope = value["scope"]
        if not isinstance(scope, list) or len(scope) > 256:
            _fail(f"{path}.scope", f"expected a list of at most 256 strings, got {_describe(scope)}")
        fields["scope"] = tuple(_string(s, f"{path}.scope[{j}]") for j, s in enumerate(scope))
    if value.get("location") is not None:
        loc = _object(value["location"], f"{path}.location", ("file", "line"), required=("file", "line"))
        line = loc["line"]
        if not _is_int(line) or not 0 <= line <= _MAX_INT:
            _fail(f"{path}.location.line", f"expected a line number, got {_describe(line)}")
        fields["location"] = (_string(loc["file"], f"{path}.location.file"), line)
    refs: dict = {}
    if "derived_from" in value:
        refs["derived_from"] = _indices(value["derived_from"], f"{path}.derived_from", count)
    for key in _META_REFS:
        if value.get(key) is not None:
            refs[key] = _index(value[key], f"{path}.{key}", count)
    if "extra" in value:
        extra = _plain(value["extra"], f"{path}.extra", 0, MAX_EXTRA_DEPTH, objects=True)
        if not isinstance(extra, dict):
            _fail(f"{path}.extra", f"expected an object, got {_describe(extra)}")
        if "location" in fields:
            fields["location"] = Location(*fields["location"])
        return Meta(**fields, extra=extra), refs
    key = tuple(fields.items())
    meta = cache.get(key)
    if meta is None:
        if "location" in fields:
            fields["location"] = Location(*fields["location"])
        meta = cache[key] = Meta(**fields)
    return meta, refs


_DEFAULT_META = Meta()


def _check_order(inputs: list[list[int]], at: str = "$") -> None:
    """Operands must come before their users. Only a reference to a later node can close a cycle,
    so networkx is asked for the cycle only when such a reference exists."""
    import networkx as nx  # imported on first use: it is a third of graphc's import time

    late = next(((i, j, k) for i, ks in enumerate(inputs) for j, k in enumerate(ks) if k >= i), None)
    if late is None:
        return
    dag = nx.DiGraph((k, i) for i, ks in enumerate(inputs) for k in ks)
    try:
        cycle = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        i, j, k = late
        _fail(f"{at}.nodes[{i}].inputs[{j}]", f"forward reference to node {k}: nodes must be listed in "
                                            "topological order (operands before their users)")
    k, i = next((u, v) for u, v in cycle if u >= v)  # every cycle has a reference to a later node
    path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
    _fail(f"{at}.nodes[{i}].inputs[{inputs[i].index(k)}]", f"cycle through nodes {path}")
