"""The IR: immutable nodes, metadata, graphs, structural hashing and the listing."""

import numpy as np
import pytest

import graphc as gc


def _model():
    x = gc.placeholder("x", (3,))
    A = gc.placeholder("A", (3, 3))
    with gc.scope("layer1"):
        h = gc.tanh(A @ x, name="h")
    return gc.Graph([x, A], {"f": gc.sum(h * h)}), h


def test_nodes_are_immutable():
    x = gc.placeholder("x", (2,))
    with pytest.raises(AttributeError, match="immutable"):
        x.shape = (3,)
    with pytest.raises(TypeError):
        x.attrs["name"] = "y"


def test_structural_hash_equal_for_equal_graphs_and_different_otherwise():
    g1, _ = _model()
    g2, _ = _model()
    assert g1 == g2 and hash(g1) == hash(g2) and g1.digest == g2.digest
    x = gc.placeholder("x", (3,))
    A = gc.placeholder("A", (3, 3))
    g3 = gc.Graph([x, A], {"f": gc.sum(gc.sin(A @ x))})
    assert g3 != g1 and g3.digest != g1.digest
    # constants are part of the structure, bit for bit
    assert gc.Graph([x], [x * 2.0]).digest != gc.Graph([x], [x * 2.0000000001]).digest


def test_metadata_name_scope_and_location_are_not_identity():
    graph, h = _model()
    assert h.meta.name == "h" and h.meta.scope == ("layer1",)
    assert h.meta.location.file == __file__ and h.meta.location.line > 0
    x = graph.inputs[0]
    assert x.meta.name == "x"
    other = gc.tanh(graph.inputs[1] @ x)  # same structure, no name, no scope
    assert other.digest == h.digest and other.meta.name is None


def test_nested_scopes():
    x = gc.placeholder("x")
    with gc.scope("net"), gc.scope("layer2"):
        y = gc.exp(x)
    assert y.meta.scope == ("net", "layer2")


def test_nodes_are_in_topological_order_and_include_unused_inputs():
    x = gc.placeholder("x", (3,))
    unused = gc.placeholder("u", (2,))
    y = gc.exp(x)
    z = gc.sum(y * x)
    graph = gc.Graph([x, unused], [z])
    order = graph.nodes
    assert len(graph) == len(order) == 5  # x, u, exp, mul, sum
    position = {n.serial: i for i, n in enumerate(order)}
    for n in order:
        assert all(position[i.serial] < position[n.serial] for i in n.inputs)
    assert any(n is unused for n in order)  # `in` would call ==, which builds a node


def test_listing_marks_inputs_outputs_and_types():
    x = gc.placeholder("x", (3,))
    A = gc.placeholder("A", (3, 3))
    graph = gc.Graph([x, A], [A @ x])
    text = str(graph)
    assert text.splitlines()[0] == "graph(%x: f64[3], %A: f64[3,3]) {"
    assert "  %2 = matmul(%A, %x) : f64[3]" in text.splitlines()
    assert text.splitlines()[-2] == "  return %2"


def test_numpy_arrays_on_the_left_build_nodes():
    x = gc.placeholder("x", (3,))
    y = np.ones(3) + x
    z = np.eye(3) @ x
    assert isinstance(y, gc.Node) and isinstance(z, gc.Node)
    assert y.shape == (3,) and z.shape == (3,)


@pytest.mark.parametrize(
    "dtype, other, expected",
    [
        ("float32", 2.0, "float32"),  # Python scalars are weak
        ("float32", 2, "float32"),
        ("int32", 2, "int32"),
        ("int64", 2.5, "float64"),
        ("float32", np.float64(2.0), "float64"),  # numpy scalars are strong
        ("float32", np.ones(3), "float64"),
        ("int64", np.ones(3, np.float32), "float64"),
        ("bool", True, "bool"),
    ],
)
def test_dtype_promotion_follows_numpy(dtype, other, expected):
    x = gc.placeholder("x", (3,), dtype)
    assert (x + other).dtype == np.dtype(expected)
    assert np.result_type(np.ones(3, dtype), other) == np.dtype(expected)


def test_true_division_and_transcendental_functions_of_integers_are_float64():
    n = gc.placeholder("n", (3,), "int32")
    assert (n / 2).dtype == np.float64
    assert gc.exp(n).dtype == np.float64
    assert gc.sum(n).dtype == np.int64  # numpy sums int32 in the platform integer
    assert gc.mean(n).dtype == np.float64


def test_properties_shape_dtype_T_ndim():
    x = gc.placeholder("x", (2, 3), "float32")
    assert x.shape == (2, 3) and x.dtype == np.float32 and x.ndim == 2 and x.size == 6
    assert x.T.shape == (3, 2)
    assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,)
    assert x.sum(axis=0).shape == (3,) and x.mean().shape == ()
    assert len(x) == 2 and [r.shape for r in x] == [(3,), (3,)]


def test_comparisons_build_boolean_nodes():
    x = gc.placeholder("x", (3,))
    for node in (x < 0, x <= 0, x > 0, x >= 0, x == 0, x != 0):
        assert node.dtype == np.bool_ and node.shape == (3,)


def test_graph_with_dict_outputs_returns_a_dict():
    x = gc.placeholder("x", (2,))
    fn = gc.compile(gc.Graph([x], {"double": x * 2, "total": gc.sum(x)}))
    out = fn(x=np.array([1.0, 2.0]))
    assert list(out) == ["double", "total"]
    np.testing.assert_array_equal(out["double"], [2.0, 4.0])


def test_interpreter_frees_intermediates_after_their_last_use():
    from graphc.backends.numpy_backend import Interpreter

    x = gc.placeholder("x", (1000,))
    y = x
    for _ in range(10):
        y = gc.exp(y) * 0.5
    graph = gc.Graph([x], [y])
    interp = Interpreter(graph)
    freed = {slot for *_, free in interp.steps for slot in free}
    produced = [step[0] for step in interp.steps]
    # every produced value except the output is freed somewhere
    assert set(produced) - freed == set(interp.output_slots)


def test_list_backends_names_numpy():
    assert "numpy" in gc.list_backends()
