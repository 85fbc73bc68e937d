"""Properties of the adjoint pass itself: fan-out, unused inputs, grad of grad, vjp, structure."""

import numpy as np
import pytest

import graphc as gc
from graphc.checks import numeric_gradient


def test_fan_out_accumulates_by_addition_in_one_sum_node():
    x = gc.placeholder("x", (3,))
    f = gc.sum(gc.exp(x) + gc.sin(x) + x * 2.0)
    g = gc.grad(gc.Graph([x], [f]))
    gx = g.outputs[1]
    assert gx.op == "add" and gx.meta.rule == "adjoint sum" and gx.meta.adjoint_of is x
    _, got = gc.compile(g)(x=np.array([0.1, 0.2, 0.3]))
    xs = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(got, np.exp(xs) + np.cos(xs) + 2.0)


def test_nodes_off_the_path_get_no_adjoint():
    x = gc.placeholder("x", (3,))
    a = gc.placeholder("a", (3,))
    off_path = gc.exp(a)  # depends on a only
    f = gc.sum(x * off_path)
    g = gc.grad(gc.Graph([x, a], [f]), wrt="x")
    adjoint_of = {n.meta.adjoint_of.serial for n in g.nodes if n.meta.adjoint_of is not None}
    assert off_path.serial not in adjoint_of and a.serial not in adjoint_of


def test_input_not_reaching_the_output_gets_zeros():
    x = gc.placeholder("x", (2,))
    unused = gc.placeholder("u", (2, 2))
    g = gc.grad(gc.Graph([x, unused], [gc.sum(x)]))
    _, gx, gu = gc.compile(g)(x=np.ones(2), u=np.ones((2, 2)))
    np.testing.assert_array_equal(gu, np.zeros((2, 2)))
    np.testing.assert_array_equal(gx, np.ones(2))


def test_grad_of_grad_gives_second_derivatives():
    x = gc.placeholder("x")
    f = gc.sin(x) * x**3
    g1 = gc.grad(gc.Graph([x], [f]))
    g2 = gc.grad(gc.Graph(g1.inputs, [g1.outputs[1]]))
    x0 = 0.7
    _, d2 = gc.compile(g2)(x=x0)
    expected = -np.sin(x0) * x0**3 + 6 * np.cos(x0) * x0**2 + 6 * np.sin(x0) * x0
    np.testing.assert_allclose(d2, expected, rtol=1e-13)


def test_vjp_of_a_vector_output_matches_the_jacobian():
    x = gc.placeholder("x", (3,))
    A = gc.constant(np.arange(6.0).reshape(2, 3))
    y = gc.tanh(A @ x)
    graph = gc.Graph([x], [y])
    v = gc.vjp(graph, "x")
    assert v.input_names == ("x", "out0_bar")
    x0 = np.array([0.1, -0.2, 0.3])
    u = np.array([1.0, -2.0])
    _, got = gc.compile(v)(x=x0, out0_bar=u)
    jac = numeric_gradient(graph, {"x": x0}, "x")
    np.testing.assert_allclose(got, u @ jac, rtol=1e-7)


def test_grad_keeps_inputs_and_appends_gradients_in_wrt_order():
    a = gc.placeholder("a", (2,))
    b = gc.placeholder("b", (2,))
    graph = gc.Graph([a, b], {"f": gc.sum(a * b)})
    g = gc.grad(graph, wrt=["b", "a"])
    assert g.inputs == graph.inputs
    assert g.output_names == ("f", "grad_b", "grad_a")
    out = gc.compile(g)(a=np.array([1.0, 2.0]), b=np.array([3.0, 4.0]))
    np.testing.assert_array_equal(out["grad_b"], [1.0, 2.0])
    np.testing.assert_array_equal(out["grad_a"], [3.0, 4.0])


def test_adjoint_nodes_carry_provenance():
    x = gc.placeholder("x", (3,))
    y = gc.exp(x, name="y")
    g = gc.grad(gc.Graph([x], [gc.sum(y)]))
    made = [n for n in g.nodes if n.meta.role == "adjoint"]
    assert made and all(n.meta.pass_name == "adjoint" for n in made)
    exp_rule = [n for n in made if n.meta.rule == "vjp exp[0]"]
    assert exp_rule and exp_rule[0].meta.derived_from == (y,)
    assert exp_rule[0].meta.location == y.meta.location
    assert y.meta.location.file == __file__


@pytest.mark.parametrize("n", [100_000])
def test_a_long_chain_differentiates_without_recursion(n):
    x = gc.placeholder("x")
    y = x
    for _ in range(n):
        y = gc.sin(y)
    graph = gc.Graph([x], [y])
    assert len(graph) > n
    g = gc.grad(graph)
    value, gx = gc.compile(g, optimize=False)(x=0.3)  # the optimizer's own scale test: test_optimize
    assert np.isfinite(value) and np.isfinite(gx)
    assert len(g) > len(graph)
