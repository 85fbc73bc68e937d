"""Bad input gets the project's own errors, raised early, naming what, where, expected and got."""

import numpy as np
import pytest

import graphc as gc

HERE = __file__


def _line_of(marker: str) -> int:
    with open(HERE) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return i
    raise AssertionError(marker)


def test_all_errors_derive_from_graph_error_or_type_error():
    for cls in (gc.ShapeError, gc.DTypeError, gc.InputError, gc.SerializationError, gc.BackendError):
        assert issubclass(cls, gc.GraphError) and issubclass(cls, ValueError)
    assert issubclass(gc.GraphTypeError, TypeError)


def test_shape_error_names_op_shapes_and_the_users_line():
    A = gc.placeholder("A", (3, 4))
    x = gc.placeholder("x", (5,))
    with pytest.raises(gc.ShapeError) as info:
        A @ x  # MARK-matmul
    msg = str(info.value)
    assert "matmul" in msg and "f64[3,4]" in msg and "f64[5]" in msg
    assert f"{HERE}:{_line_of('MARK-matmul')}" in msg


def test_broadcast_error_names_both_shapes():
    a = gc.placeholder("a", (2, 3))
    b = gc.placeholder("b", (4,))
    with pytest.raises(gc.ShapeError, match=r"add: shapes f64\[2,3\] and f64\[4\] cannot be broadcast"):
        a + b


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda x: gc.sum(x, axis=2), "axis 2 is out of bounds"),
        (lambda x: gc.reshape(x, (5,)), "cannot reshape"),
        (lambda x: x[3], "index 3 is out of bounds for axis 0 with size 2"),
        (lambda x: x[0, 0, 0], "too many indices"),
        (lambda x: gc.squeeze(x, 0), "cannot select axis 0"),
        (lambda x: gc.broadcast_to(x, (3, 3)), "cannot broadcast"),
        (lambda x: gc.concatenate([x, gc.placeholder("y", (3, 4))], axis=0), "must match"),
        (lambda x: gc.transpose(x, (0, 0)), "not a permutation"),
        (lambda x: gc.max(gc.placeholder("e", (0,))), "zero-size"),
    ],
)
def test_shape_errors(build, message):
    x = gc.placeholder("x", (2, 3))
    with pytest.raises(gc.ShapeError, match=message):
        build(x)


def test_type_errors_for_non_static_indices_and_bad_values():
    x = gc.placeholder("x", (3,))
    with pytest.raises(gc.GraphTypeError, match=r"slices, None, \.\.\. and integer arrays, got 'a'"):
        x["a"]
    with pytest.raises(gc.GraphTypeError, match="indices must be integers, got float64"):
        x[np.array([0.0, 1.0])]
    with pytest.raises(gc.GraphTypeError, match="complex"):
        x + 1j
    with pytest.raises(gc.DTypeError, match="unsupported dtype"):
        gc.placeholder("z", (2,), "complex128")
    with pytest.raises(gc.GraphError, match="no truth value"):
        if x > 0:
            pass


def test_grad_of_a_non_scalar_output():
    x = gc.placeholder("x", (3,))
    with pytest.raises(gc.GraphError, match=r"grad needs a scalar output.*f64\[3\].*gc.vjp"):
        gc.grad(gc.Graph([x], [gc.exp(x)]))


def test_grad_with_respect_to_a_non_input_and_an_integer_input():
    x = gc.placeholder("x", (3,))
    n = gc.placeholder("n", (), "int64")
    hidden = gc.exp(x, name="hidden")
    graph = gc.Graph([x, n], [gc.sum(hidden) * n])
    with pytest.raises(gc.GraphError, match="'hidden'.*only graph inputs"):
        gc.grad(graph, wrt=[hidden])
    with pytest.raises(gc.GraphError, match="input 'n' of dtype int64.*only float inputs"):
        gc.grad(graph, wrt="n")
    with pytest.raises(gc.GraphError, match="no input named 'q'"):
        gc.grad(graph, wrt="q")


def test_graph_construction_errors():
    x = gc.placeholder("x", (3,))
    y = gc.placeholder("x", (3,))
    with pytest.raises(gc.GraphError, match="duplicate input name 'x'"):
        gc.Graph([x, y], [x + y])
    z = gc.placeholder("z", (3,))
    with pytest.raises(gc.GraphError, match="depend on placeholder 'z'.*not among the graph's inputs"):
        gc.Graph([x], [x + z])
    with pytest.raises(gc.GraphError, match="must be a placeholder"):
        gc.Graph([x * 2], [x])


class TestInputs:
    @pytest.fixture
    def fn(self):
        x = gc.placeholder("x", (3,))
        n = gc.placeholder("n", (), "int64")
        return gc.compile(gc.Graph([x, n], [x * n]))

    def test_missing(self, fn):
        with pytest.raises(gc.InputError, match=r"missing input\(s\) \['n'\]"):
            fn(x=np.ones(3))

    def test_unknown(self, fn):
        with pytest.raises(gc.InputError, match="unknown input 'y'.*'x', 'n'"):
            fn(x=np.ones(3), n=1, y=2)

    def test_wrong_shape(self, fn):
        with pytest.raises(gc.InputError, match=r"input 'x': expected f64\[3\], got an array f64\[4\]"):
            fn(x=np.ones(4), n=1)

    def test_lossy_dtype(self, fn):
        with pytest.raises(gc.InputError, match="input 'n': expected dtype int64.*got float64"):
            fn(x=np.ones(3), n=1.5)

    def test_not_numeric(self, fn):
        with pytest.raises(gc.InputError, match="input 'x'"):
            fn(x="abc", n=1)

    def test_too_many_positional(self, fn):
        with pytest.raises(gc.InputError, match="3 positional inputs but the graph has 2"):
            fn(np.ones(3), 1, 2)

    def test_safe_casts_and_positional_inputs_work(self, fn):
        (out,) = fn([1, 2, 3], np.int32(2))
        np.testing.assert_array_equal(out, [2.0, 4.0, 6.0])


def test_unknown_backend_lists_the_available_ones():
    x = gc.placeholder("x")
    with pytest.raises(gc.GraphError, match="unknown backend 'tpu'; available backends: .*numpy"):
        gc.compile(gc.Graph([x], [x]), backend="tpu")


def test_runtime_failures_name_the_node_and_the_users_line():
    x = gc.placeholder("x", (), "int64")
    y = gc.power(x, -1, name="inverse")  # MARK-pow
    with pytest.raises(gc.GraphError, match=f"inverse.*{_line_of('MARK-pow')}.*negative integer"):
        gc.compile(gc.Graph([x], [y]))(x=2)
