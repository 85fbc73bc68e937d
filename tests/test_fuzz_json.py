"""A fuzzer over the graph file format: arbitrary JSON, arbitrary graph-shaped documents, and
mutations of valid files (dropped fields, wrong types, huge numbers, deep nesting, cycles, broken
text). Every case must either load to a valid graph or raise gc.SerializationError; nothing else may
escape, and no case may take long (hypothesis' deadline bounds each one)."""

import json
from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc import examples
from graphc.ops.core import PRIMITIVES
from graphc.serialize import FORMAT, VERSION, from_json, to_json

FUZZ = settings(max_examples=150, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_case(text) -> None:
    """Load; a graph that loads must be valid: it re-serializes to itself and it runs."""
    try:
        graph = from_json(text)
    except gc.SerializationError:
        return
    again = from_json(to_json(graph))
    assert again.digest == graph.digest and to_json(again) == to_json(graph)
    if all(n.types is not None or n.size <= 10_000 for n in graph.nodes):
        inputs = {p.attrs["name"]: np.ones(p.shape, p.dtype) for p in graph.inputs}
        results = gc.compile(graph)(**inputs)
        values = results.values() if isinstance(results, dict) else results
        for value, node in zip(values, graph.outputs):
            assert value.shape == node.shape and value.dtype == node.dtype


# ----------------------------------------------------------------------------------------------
# Strategies

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
           | st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30, 1e308, "", "float64", "x", "placeholder"]))
json_values = st.recursive(
    scalars,
    lambda children: (st.lists(children, max_size=5)
                      | st.dictionaries(st.text(max_size=6), children, max_size=5)),
    max_leaves=25,
)


@st.composite
def graph_documents(draw):
    """Documents shaped like graph files: operands before users with the op's arity, shapes and
    dtypes mostly copied from the first operand, and now and then a wrong value. Many load."""
    count = draw(st.integers(1, 7))
    small_shape = st.lists(st.integers(0, 3), max_size=3)
    dtypes = st.sampled_from(["float64", "float32", "int64", "bool", "int32", "float16"])
    nodes = []
    for i in range(count):
        op = "placeholder" if i == 0 else draw(st.sampled_from(sorted(PRIMITIVES) + ["nope"]))
        prim = PRIMITIVES.get(op)
        arity = prim.arity if prim is not None and prim.arity is not None else draw(st.integers(1, 3))
        inputs = [draw(st.integers(0, i - 1)) for _ in range(arity)] if i else []
        first = nodes[inputs[0]] if inputs else None
        shape = first["shape"] if first and draw(st.integers(0, 3)) else draw(small_shape)
        dtype = first["dtype"] if first and draw(st.integers(0, 3)) else draw(dtypes)
        node = {"op": op, "inputs": inputs, "shape": shape, "dtype": dtype}
        if op == "placeholder":
            node["attrs"] = {"name": f"p{i}", "shape": shape, "dtype": dtype}
        elif op == "constant":
            node["attrs"] = {"shape": shape, "dtype": dtype}
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            node["value"] = {"base64": _b64(draw(st.binary(min_size=nbytes, max_size=nbytes)))}
        elif draw(st.booleans()):
            node["attrs"] = draw(st.dictionaries(
                st.sampled_from(["axes", "keepdims", "shape", "axis", "dtype", "starts", "steps", "lengths"]),
                st.lists(st.integers(-1, 3), max_size=3) | st.booleans() | st.integers(-1, 3) | dtypes,
                max_size=3))
        if draw(st.integers(0, 4)) == 0:
            node["meta"] = draw(st.fixed_dictionaries({}, optional={
                "name": st.text(max_size=5), "derived_from": st.lists(st.integers(-1, count), max_size=2),
                "adjoint_of": st.integers(-1, count), "role": st.sampled_from(["primal", "adjoint"])}))
        nodes.append(node)
    placeholders = [i for i, n in enumerate(nodes) if n["op"] == "placeholder"]
    used = {k for n in nodes for k in n["inputs"]}
    sinks = [i for i in range(count) if i not in used and nodes[i]["op"] != "placeholder"]
    return {"format": FORMAT, "version": VERSION, "inputs": placeholders, "outputs": sinks, "nodes": nodes}


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def _valid_documents():
    docs = []
    for ex in examples.all_examples():
        docs.append(json.loads(to_json(gc.grad(ex.graph, ex.wrt))))
    x = gc.placeholder("x", (2, 3), "float32")
    k = gc.placeholder("k", (3,), "int64")
    y = gc.sum(gc.exp(x) * gc.cast(k, "float32") + np.float32(0.5), axis=1, keepdims=True)
    z = gc.concatenate([x[:, 1:], gc.transpose(x)[0:2, None, 0]], axis=1)
    docs.append(json.loads(to_json(gc.Graph([x, k], {"y": y, "z": z, "b": gc.greater(k, 1)}))))
    # nested graphs and nodes of several results: a loop's gradient, a custom function's
    h, xs = gc.placeholder("h", (2,)), gc.placeholder("xs", (3, 2))
    final, ys = gc.scan(lambda c, v: (gc.tanh(c * v), gc.sum(c)), h, xs=xs)
    docs.append(json.loads(to_json(gc.grad(gc.Graph([h, xs], [gc.sum(final) + gc.sum(ys)]), ["h", "xs"]))))
    clipped = gc.custom_vjp(lambda u: u * 2.0, vjp=lambda g, out, u: gc.minimum(g, 1.0))
    docs.append(json.loads(to_json(gc.grad(gc.Graph([h], [gc.sum(clipped(h))])))))
    return docs


VALID = _valid_documents()
DEEP = "__deep__"


def _locations(value, path=()):
    """Every (path, value) pair inside a JSON value, the root included."""
    out = [(path, value)]
    stack = [(path, value)]
    while stack:
        p, v = stack.pop()
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
        for k, child in items:
            out.append((p + (k,), child))
            stack.append((p + (k,), child))
    return out


def _parent(doc, path):
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_documents(draw):
    doc = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p, _ in _locations(doc) if p]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent, key = _parent(doc, path), path[-1]
        kind = draw(st.sampled_from(["drop", "replace", "huge", "deep", "duplicate", "cycle", "swap"]))
        if kind == "drop":
            del parent[key]
        elif kind == "replace":
            parent[key] = draw(json_values)
        elif kind == "huge":
            parent[key] = draw(st.sampled_from([10**30, -(10**30), 2**64, 1e308, -1e308, 2**32, 10**4000]))
        elif kind == "deep":
            parent[key] = DEEP
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif kind == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
        elif kind == "cycle":
            nodes = doc.get("nodes")
            if isinstance(nodes, list) and nodes:
                i = draw(st.integers(0, len(nodes) - 1))
                node = nodes[i]
                if isinstance(node, dict) and isinstance(node.get("inputs"), list) and node["inputs"]:
                    j = draw(st.integers(0, len(node["inputs"]) - 1))
                    node["inputs"][j] = draw(st.integers(i, len(nodes) - 1))
    text = json.dumps(doc)
    if DEEP in text:
        depth = draw(st.sampled_from([50, 900, 5000, 200_000]))
        text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth, 1)
    edit = draw(st.sampled_from(["none", "none", "truncate", "insert", "delete"]))
    if edit != "none" and text:
        at = draw(st.integers(0, len(text) - 1))
        if edit == "truncate":
            text = text[:at]
        elif edit == "insert":
            text = text[:at] + draw(st.sampled_from(list('{}[]",:0-eE.\\ \x00é'))) + text[at:]
        else:
            text = text[:at] + text[at + 1:]
    return text


# ----------------------------------------------------------------------------------------------
# The fuzz tests


def test_the_seed_documents_are_valid():
    for doc in VALID:
        graph = from_json(json.dumps(doc))
        assert len(graph) == len(doc["nodes"])


@FUZZ
@given(json_values)
def test_arbitrary_json_loads_or_is_refused(value):
    check_case(json.dumps(value))


@FUZZ
@given(graph_documents())
def test_graph_shaped_documents_load_or_are_refused(doc):
    check_case(json.dumps(doc))


@settings(FUZZ, max_examples=400)
@given(mutated_documents())
def test_mutated_files_load_or_are_refused(text):
    check_case(text)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_load_or_are_refused(raw):
    check_case(raw)
