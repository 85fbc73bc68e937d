"""Graph files: exact round trips (structure, constants bit for bit, metadata), the .npz of large
constants, and the loader's refusals, each naming the JSON path of the problem."""

import json
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc import examples, serialize
from graphc.serialize import from_json, to_json

META_FIELDS = ("name", "scope", "location", "role", "pass_name", "rule", "extra")
META_REFS = ("adjoint_of", "tangent_of", "contributes_to")


def _meta_view(graph: gc.Graph) -> list[dict]:
    """Each node's metadata, with references to nodes of the graph replaced by node positions."""
    index = {n.serial: i for i, n in enumerate(graph.nodes)}
    view = []
    for n in graph.nodes:
        m = n.meta
        entry = {f: getattr(m, f) for f in META_FIELDS}
        entry["derived_from"] = [index[d.serial] for d in m.derived_from if d.serial in index]
        for f in META_REFS:
            ref = getattr(m, f)
            entry[f] = index.get(ref.serial) if isinstance(ref, gc.Node) else None
        view.append(entry)
    return view


def _assert_same(graph, loaded):
    assert loaded.digest == graph.digest and loaded == graph
    assert [n.op for n in loaded.nodes] == [n.op for n in graph.nodes]
    assert loaded.input_names == graph.input_names
    assert loaded.output_names == graph.output_names
    assert loaded.name == graph.name
    assert _meta_view(loaded) == _meta_view(graph)


def _derived_graphs():
    for ex in examples.all_examples():
        yield ex.name, ex.graph
        yield f"grad {ex.name}", gc.grad(ex.graph, ex.wrt)
    q = examples.quadratic().graph
    yield "hvp quadratic", gc.hvp(q, "x")
    yield "jvp quadratic", gc.jvp(q, "x")


@pytest.mark.parametrize("label, graph", list(_derived_graphs()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_round_trip_keeps_structure_and_metadata(label, graph):
    text = to_json(graph)
    loaded = from_json(text)
    _assert_same(graph, loaded)
    assert to_json(loaded) == text  # the written form is canonical


def test_derived_graphs_carry_their_provenance_through_a_file():
    graph = examples.quadratic().graph
    g = from_json(to_json(gc.grad(graph, "x")))
    adjoint = [n for n in g.nodes if n.meta.role == "adjoint"]
    assert adjoint and all(n.meta.pass_name == "adjoint" for n in adjoint)
    seed = next(n for n in adjoint if n.meta.rule == "seed")
    assert seed.meta.adjoint_of is g.outputs[0] and seed.meta.derived_from == (g.outputs[0],)
    assert any(n.meta.contributes_to is not None for n in adjoint)


def test_graph_methods_and_gc_save_load(tmp_path):
    ex = examples.logistic()
    g = gc.grad(ex.graph, ex.wrt)
    assert gc.Graph.from_json(g.to_json()) == g
    gc.save(g, tmp_path / "g.json")
    loaded = gc.load(tmp_path / "g.json")
    _assert_same(g, loaded)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]  # no .npz, no temporary left
    inputs = ex.inputs(np.random.default_rng(0))
    got = gc.compile(loaded)(**inputs)[f"grad_{ex.wrt}"]
    np.testing.assert_allclose(got, ex.gradient(**inputs), rtol=1e-12)


def _bits(*values, dtype):
    return np.array(values, dtype=dtype)


SPECIAL = {
    # NaN with a payload and a negative NaN, both infinities, signed zeros, the smallest subnormal
    "float64": np.array([0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000000,
                         0xFFF0000000000000, 0x8000000000000000, 0, 1, 0x3FB999999999999A],
                        dtype=np.uint64).view(np.float64),
    "float32": np.array([0x7FC00001, 0xFFC00000, 0x7F800000, 0xFF800000, 0x80000000, 1, 0x3DCCCCCD],
                        dtype=np.uint32).view(np.float32),
    "int64": _bits(-(2**63), 2**63 - 1, 0, -1, dtype=np.int64),
    "int32": _bits(-(2**31), 2**31 - 1, 7, dtype=np.int32),
    "bool": _bits(True, False, True, dtype=bool),
}


@pytest.mark.parametrize("dtype", sorted(SPECIAL))
def test_constants_round_trip_bit_for_bit(dtype, tmp_path):
    value = SPECIAL[dtype]
    x = gc.placeholder("x", value.shape, dtype)
    c = gc.constant(value.reshape(value.shape), name="special")
    g = gc.Graph([x], [gc.where(gc.equal(x, x), c, c) if dtype != "bool" else gc.equal(x, c)])
    loaded = from_json(to_json(g))
    stored = next(n for n in loaded.nodes if n.op == "constant")
    assert stored.dtype == np.dtype(dtype)
    assert stored.value.tobytes() == value.tobytes()  # NaN payloads and -0.0 included
    assert loaded.digest == g.digest
    gc.save(g, tmp_path / "g.json", npz_threshold=2)  # the same bits through the .npz
    via_npz = gc.load(tmp_path / "g.json")
    assert next(n for n in via_npz.nodes if n.op == "constant").value.tobytes() == value.tobytes()


def test_constants_are_little_endian_base64_in_the_file():
    c = gc.constant(np.array([1.0, -2.0]))
    g = gc.Graph([], [c])
    value = json.loads(to_json(g))["nodes"][0]["value"]
    assert value == {"base64": "AAAAAAAA8D8AAAAAAAAAwA=="}  # 1.0 and -2.0, IEEE 754 little-endian


def _large_graph(n):
    x = gc.placeholder("x", (n,))
    return gc.Graph([x], {"y": x * gc.constant(np.arange(n, dtype=np.float64))})


def test_constants_above_the_threshold_go_to_an_npz_beside_the_file(tmp_path):
    small, large = _large_graph(serialize.NPZ_THRESHOLD), _large_graph(serialize.NPZ_THRESHOLD + 1)
    gc.save(small, tmp_path / "small.json")
    gc.save(large, tmp_path / "large.json")
    assert not (tmp_path / "small.json.npz").exists()
    assert (tmp_path / "large.json.npz").exists()
    doc = json.loads((tmp_path / "large.json").read_text())
    assert doc["arrays"] == "large.json.npz"
    assert set(doc["nodes"][1]["value"]) == {"npz", "sha256"}
    loaded = gc.load(tmp_path / "large.json")
    assert loaded == large
    n = serialize.NPZ_THRESHOLD + 1
    np.testing.assert_array_equal(gc.compile(loaded)(x=np.ones(n))["y"], np.arange(n))


def test_npz_problems_are_serialization_errors(tmp_path):
    graph = _large_graph(2000)
    gc.save(graph, tmp_path / "g.json")
    with pytest.raises(gc.SerializationError, match=r"^\$\.arrays: .*gc\.load\(path\)"):
        from_json((tmp_path / "g.json").read_text())
    # an .npz from another graph of the same shape: the checksum tells
    np.savez(tmp_path / "g.json.npz", c1=np.arange(2000, dtype=np.float64)[::-1].copy())
    with pytest.raises(gc.SerializationError, match=r"^\$\.nodes\[1\]\.value\.sha256: .*checksum"):
        gc.load(tmp_path / "g.json")
    np.savez(tmp_path / "g.json.npz", c1=np.zeros(3))
    with pytest.raises(gc.SerializationError,
                       match=r"^\$\.nodes\[1\]\.value\.npz: .*declares float64\[2000\]"):
        gc.load(tmp_path / "g.json")
    np.savez(tmp_path / "g.json.npz", other=np.zeros(3))
    with pytest.raises(gc.SerializationError, match=r"no array 'c1'"):
        gc.load(tmp_path / "g.json")
    (tmp_path / "g.json.npz").unlink()
    with pytest.raises(gc.SerializationError, match=r"^\$\.arrays: 'g\.json\.npz' is missing"):
        gc.load(tmp_path / "g.json")


def test_loading_never_unpickles(tmp_path):
    """An object array in the .npz would need pickle to load: it is refused, not executed."""
    graph = _large_graph(2000)
    gc.save(graph, tmp_path / "g.json")
    marker = tmp_path / "executed"
    evil = np.empty(2000, dtype=object)
    evil[0] = _Boom(str(marker))
    with zipfile.ZipFile(tmp_path / "g.json.npz", "w") as zf, zf.open("c1.npy", "w") as f:
        np.lib.format.write_array(f, evil, allow_pickle=True)
    with pytest.raises(gc.SerializationError, match=r"^\$\.nodes\[1\]\.value\.npz: "):
        gc.load(tmp_path / "g.json")
    assert not marker.exists()


class _Boom:
    """Unpickling this would create a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_arrays_file_must_sit_beside_the_json(tmp_path):
    graph = _large_graph(2000)
    gc.save(graph, tmp_path / "g.json")
    doc = json.loads((tmp_path / "g.json").read_text())
    for name in ("../g.json.npz", "/etc/passwd", "..", "sub\\x.npz"):
        doc["arrays"] = name
        (tmp_path / "h.json").write_text(json.dumps(doc))
        with pytest.raises(gc.SerializationError, match=r"^\$\.arrays: expected a file name"):
            gc.load(tmp_path / "h.json")


def test_op_names_are_looked_up_never_executed(tmp_path):
    marker = tmp_path / "executed"
    doc = json.loads(to_json(_small()))
    doc["nodes"][2]["op"] = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    with pytest.raises(gc.SerializationError, match=r"^\$\.nodes\[2\]\.op: unknown op"):
        from_json(json.dumps(doc))
    assert not marker.exists()


def test_labels_of_every_kind_survive_a_file(tmp_path):
    odd = 'q"uo\'te {br}aces <angle> new\nline \\ tab\t λ ✓ 😀'
    x = gc.placeholder(odd, (2,))
    with gc.scope(odd):
        y = gc.exp(x, name=odd)
    g = gc.Graph([x], {odd: gc.sum(y)}, name=odd)
    gc.save(g, tmp_path / "g.json")
    loaded = gc.load(tmp_path / "g.json")
    _assert_same(g, loaded)
    assert loaded.input_names == (odd,) and loaded.output_names == (odd,)
    assert loaded.nodes[1].meta.scope == (odd,) and loaded.nodes[1].meta.name == odd
    lone = gc.placeholder("surrogate \ud800", ())  # not encodable as UTF-8: written escaped
    gc.save(gc.Graph([lone], [lone * 2.0]), tmp_path / "s.json")
    assert gc.load(tmp_path / "s.json").input_names == ("surrogate \ud800",)


# ----------------------------------------------------------------------------------------------
# Refusals: each names the JSON path of the problem


def _small():
    """Nodes: 0 x f64[3], 1 A f64[3,3], 2 matmul(A, x), 3 const 2.0, 4 mul(2, 3), 5 sum(4)."""
    x = gc.placeholder("x", (3,))
    A = gc.placeholder("A", (3, 3))
    y = A @ x
    return gc.Graph([x, A], {"f": gc.sum(y * 2.0)}, name="small")


def _doc():
    doc = json.loads(to_json(_small()))
    ops = ["placeholder", "placeholder", "matmul", "constant", "mul", "sum"]
    assert [n["op"] for n in doc["nodes"]] == ops
    return doc


def _set(path, value):
    def mutate(doc):
        *head, last = path
        target = doc
        for key in head:
            target = target[key]
        target[last] = value
    return mutate


def _drop(path):
    def mutate(doc):
        *head, last = path
        target = doc
        for key in head:
            target = target[key]
        del target[last]
    return mutate


def _rename_A_to_x(doc):
    doc["nodes"][1]["attrs"]["name"] = "x"


def _x_is_4_long(doc):
    doc["nodes"][0]["attrs"]["shape"] = [4]
    doc["nodes"][0]["shape"] = [4]


REFUSALS = [
    (_set(["version"], 3), "$.version", "unknown format version 3; this graphc reads versions 1, 2"),
    (_set(["format"], "other"), "$.format", "expected 'graphc-graph'"),
    (_drop(["nodes"]), "$", "missing field 'nodes'"),
    (_set(["nodes"], {}), "$.nodes", "expected a list of nodes"),
    (_set(["nodes", 2, "op"], "frob"), "$.nodes[2].op", "unknown op 'frob'"),
    (_set(["nodes", 2, "inputs"], [1, 0, 0]), "$.nodes[2].inputs", "matmul takes 2 operand(s), got 3"),
    (_set(["nodes", 2, "inputs"], [1, 9]), "$.nodes[2].inputs[1]", "node 9 does not exist (the file has 6"),
    (_set(["nodes", 2, "inputs"], [1, "0"]), "$.nodes[2].inputs[1]", "expected a node index, got a string"),
    (_set(["nodes", 2, "inputs"], [1, 3]), "$.nodes[2].inputs[1]", "forward reference to node 3"),
    (_set(["nodes", 2, "inputs"], [1, 4]), "$.nodes[2].inputs[1]", "cycle through nodes"),
    (_set(["nodes", 4, "inputs"], [4, 3]), "$.nodes[4].inputs[0]", "cycle through nodes 4 -> 4"),
    (_set(["nodes", 5, "attrs", "keepdims"], 1), "$.nodes[5].attrs.keepdims", "expected true or false"),
    (_drop(["nodes", 5, "attrs", "axes"]), "$.nodes[5].attrs", "sum refuses its attributes"),
    (_set(["nodes", 5, "attrs", "colour"], "red"), "$.nodes[5].attrs", "sum refuses its attributes"),
    (_set(["nodes", 5, "attrs", "axes"], [0, 0]), "$.nodes[5].attrs.axes", "duplicate axis"),
    (_set(["nodes", 5, "attrs", "axes"], [3]), "$.nodes[5]", "axis 3 is out of bounds"),
    (_set(["nodes", 4, "shape"], [4]), "$.nodes[4].shape", "declared [4], but mul gives [3]"),
    (_set(["nodes", 4, "dtype"], "float32"), "$.nodes[4].dtype", "declared float32, but mul gives float64"),
    (_set(["nodes", 4, "dtype"], "complex128"), "$.nodes[4].dtype", "expected one of the dtypes"),
    (_x_is_4_long, "$.nodes[2]", "not aligned"),
    (_set(["nodes", 0, "shape"], [-1]), "$.nodes[0].shape[0]", "expected a non-negative integer"),
    (_set(["nodes", 0, "shape"], [2**20, 2**20, 2**20]), "$.nodes[0].shape", "more than 4294967296 elements"),
    (_set(["nodes", 0, "shape"], [1] * 40), "$.nodes[0].shape", "40 dimensions exceed the limit of 32"),
    (_drop(["nodes", 3, "shape"]), "$.nodes[3]", "missing field 'shape'"),
    (_set(["nodes", 3, "colour"], 1), "$.nodes[3].colour", "unknown field"),
    (_drop(["nodes", 3, "value"]), "$.nodes[3]", "a constant needs a value"),
    (_set(["nodes", 2, "value"], {"base64": ""}), "$.nodes[2]", "a matmul node has no value"),
    (_set(["nodes", 3, "value"], {"base64": "AAAAAAAAAEA"}), "$.nodes[3].value.base64",
     "cannot hold 1 float64"),
    (_set(["nodes", 3, "value"], {"base64": "AAAAAAAA!EA="}), "$.nodes[3].value.base64", "not base64"),
    (_set(["nodes", 3, "value"], [2.0]), "$.nodes[3].value", "expected an object"),
    (_rename_A_to_x, "$.inputs[1]", "duplicate input name 'x' (also $.inputs[0])"),
    (_set(["inputs"], [0]), "$.nodes[1]", "placeholder 'A' is not listed in $.inputs"),
    (_set(["inputs"], [0, 2]), "$.inputs[1]", "node 2 is a matmul node, not a placeholder"),
    (_set(["outputs"], {"f": 4}), "$.nodes[5]", "used by no output"),
    (_set(["outputs"], {"f": 6}), '$.outputs["f"]', "node 6 does not exist"),
    (_set(["outputs"], "f"), "$.outputs", "expected a list of node indices or an object"),
    (_set(["nodes", 4, "meta"], {"derived_from": [17]}), "$.nodes[4].meta.derived_from[0]", "node 17"),
    (_set(["nodes", 4, "meta"], {"location": {"file": "a.py", "line": "x"}}), "$.nodes[4].meta.location.line",
     "expected a line number"),
    (_set(["nodes", 4, "meta"], {"scope": "layer"}), "$.nodes[4].meta.scope", "expected a list"),
    (_set(["nodes", 4, "meta"], {"extra": {"a": [[[[[[[[[[1]]]]]]]]]]}}),
     "$.nodes[4].meta.extra.a" + "[0]" * 8, "nested more than 8 levels deep"),
    (_set(["nodes", 4, "meta"], {"author": "me"}), "$.nodes[4].meta.author", "unknown field"),
]


@pytest.mark.parametrize("mutate, path, words", REFUSALS, ids=[f"{p} {w[:30]}" for _, p, w in REFUSALS])
def test_refusals_name_the_json_path(mutate, path, words):
    doc = _doc()
    mutate(doc)
    with pytest.raises(gc.SerializationError) as info:
        from_json(json.dumps(doc))
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert words in message, message
    assert isinstance(info.value, gc.GraphError)


TEXT_REFUSALS = [
    ("[" * 100_000, "nested too deeply"),
    ('{"format": "graphc-graph", "format": "graphc-graph"}', "duplicate key 'format'"),
    ('{"format": NaN}', "NaN is not JSON"),
    ('{"format": Infinity}', "Infinity is not JSON"),
    ("[" + "9" * 5000 + "]", "not valid JSON"),
    ('{"format": "graphc-graph", "version": 1, "nodes": [', "not valid JSON"),
    ("[]", "expected an object, got a list"),
    (b"\xff\xfe{}", "not UTF-8"),
]


@pytest.mark.parametrize("text, words", TEXT_REFUSALS, ids=[w for _, w in TEXT_REFUSALS])
def test_malformed_text_is_refused_at_the_root(text, words):
    with pytest.raises(gc.SerializationError) as info:
        from_json(text)
    assert str(info.value).startswith("$: ") and words in str(info.value)


def test_absurd_counts_are_refused_before_work(monkeypatch):
    doc = _doc()
    monkeypatch.setattr(serialize, "MAX_NODES", 5)
    with pytest.raises(gc.SerializationError, match=r"^\$\.nodes: the file holds more than 5 nodes"):
        from_json(json.dumps(doc))
    monkeypatch.setattr(serialize, "MAX_NODES", 100)
    monkeypatch.setattr(serialize, "MAX_CONSTANT_ELEMENTS", 0)
    with pytest.raises(gc.SerializationError, match=r"^\$\.nodes\[3\]\.value: .*more than 0 elements"):
        from_json(json.dumps(doc))


def test_a_boolean_constant_holds_only_zero_and_one():
    g = gc.Graph([], [gc.constant(np.array([True, False]))])
    doc = json.loads(to_json(g))
    doc["nodes"][0]["value"]["base64"] = "AgA="  # bytes 2, 0
    with pytest.raises(gc.SerializationError, match=r"^\$\.nodes\[0\]\.value: .*other than 0 and 1"):
        from_json(json.dumps(doc))


def test_load_reports_missing_files_as_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        gc.load(tmp_path / "nothing.json")
    with pytest.raises(gc.GraphTypeError):
        from_json({"format": "graphc-graph"})


def test_save_refuses_what_load_would_refuse(tmp_path):
    # a file graphc writes is a file graphc reads: 33 dimensions, or more elements per node than
    # load's limit, are refused when saving, naming the node
    x = gc.placeholder("x", (1,) * 33)
    with pytest.raises(gc.SerializationError, match=r"cannot save node %0 \(placeholder, 33 dimensions\): "
                                                     r"files hold at most 32 dimensions"):
        gc.save(gc.Graph([x], [x * 2.0]), tmp_path / "x.json")
    y = gc.placeholder("y", (2**20, 2**13))
    with pytest.raises(gc.SerializationError, match=r"shape \[1048576, 8192\]\): files hold at most "
                                                     r"4294967296 elements per node"):
        to_json(gc.Graph([y], [y * 2.0]))
    assert not (tmp_path / "x.json").exists()
    z = gc.placeholder("z", (1,) * 32)
    gc.save(gc.Graph([z], [z * 2.0]), tmp_path / "z.json")
    assert gc.load(tmp_path / "z.json").inputs[0].shape == (1,) * 32
