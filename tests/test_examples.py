"""The notes' worked examples against their closed forms (written by hand in numpy) and finite
differences."""

import numpy as np
import pytest

import graphc as gc
from graphc import examples
from graphc.checks import numeric_gradient

EXAMPLES = examples.all_examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_closed_form_and_finite_differences(example, seed):
    inputs = example.inputs(np.random.default_rng(seed))
    g = gc.grad(example.graph, example.wrt)
    result = gc.compile(g)(**inputs)
    got = result[f"grad_{example.wrt}"]
    np.testing.assert_allclose(got, example.gradient(**inputs), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(
        got, numeric_gradient(example.graph, inputs, example.wrt), rtol=1e-6, atol=1e-8
    )


def test_quadratic_gradient_needs_the_symmetric_part_of_a_nonsymmetric_A():
    ex = examples.quadratic()
    inputs = ex.inputs(np.random.default_rng(3))
    A, x, b = inputs["A"], inputs["x"], inputs["b"]
    assert not np.allclose(A, A.T)
    got = gc.compile(gc.grad(ex.graph, "x"))(**inputs)["grad_x"]
    np.testing.assert_allclose(got, (A + A.T) / 2 @ x - b, rtol=1e-12)
    # the notes' Taylor section claims A x - b: wrong for this A
    assert not np.allclose(got, A @ x - b)


def test_logistic_least_squares_backward_pass_matches_the_notes_table():
    ex = examples.logistic_least_squares(lam=0.1)
    rng = np.random.default_rng(7)
    for _ in range(5):
        inputs = ex.inputs(rng)
        got = gc.compile(gc.adjoints(ex.graph))(**inputs)
        table = ex.extra["backward"](**inputs)
        for name in ["𝓛", "R", "L", "y", "z", "w", "b", "x"]:
            np.testing.assert_allclose(got[f"{name}_bar"], table[name], rtol=1e-13, err_msg=name)


def test_logistic_least_squares_by_hand_at_a_fixed_point():
    """w=1, b=0, x=2, t=1, λ=0.1: z=2, y=σ(2); every adjoint by the chain rule on paper."""
    ex = examples.logistic_least_squares(lam=0.1)
    got = gc.compile(gc.adjoints(ex.graph))(w=1.0, b=0.0, x=2.0, t=1.0)
    y = 1 / (1 + np.exp(-2.0))
    y_bar = y - 1.0
    z_bar = y_bar * y * (1 - y)
    np.testing.assert_allclose(got["y_bar"], y_bar)
    np.testing.assert_allclose(got["z_bar"], z_bar)
    np.testing.assert_allclose(got["w_bar"], z_bar * 2.0 + 0.1 * 1.0)
    np.testing.assert_allclose(got["b_bar"], z_bar)
    np.testing.assert_allclose(got["x_bar"], z_bar * 1.0)


def test_gradient_of_x_squared_plus_y_squared_is_2x_2y():
    x = gc.placeholder("x")
    y = gc.placeholder("y")
    g = gc.grad(gc.Graph([x, y], [x**2 + y**2]))
    _, gx, gy = gc.compile(g)(x=1.5, y=-2.0)
    assert (float(gx), float(gy)) == (3.0, -4.0)
