"""The rewrite passes: one listing per rule, the safety of each rule on inf and NaN, constant
folding and its bound, CSE, DCE, metadata, and property tests over random graphs (outputs agree
with the unoptimized graph on the numpy backend, and ``verify`` passes after every pass)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from graphgen import random_graphs
from hypothesis import given, settings

import graphc as gc
from graphc import examples
from graphc.rewrite import DEFAULT_PASSES, cse, dce, fold, optimize, simplify, verify
from graphc.rewrite.driver import Pass
from graphc.rewrite.rules import simplify_fast


def listing(text: str) -> str:
    return textwrap.dedent(text).strip()


def run(graph, inputs, optimize=False):
    out = gc.compile(graph, optimize=optimize)(**inputs)
    return list(out.values()) if isinstance(out, dict) else list(out)


x = gc.placeholder("x", (3,))
s = gc.placeholder("s")
A = gc.placeholder("A", (3, 3))
b = gc.placeholder("b", (3,), "bool")


# ----------------------------------------------------------------------------------------------
# One rule at a time, as listings


def test_multiplying_by_one_and_adding_zero_disappear():
    g = gc.Graph([x], {"y": x * 1.0 - 0.0})
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3]) {
          return y=%x
        }""")
    # x + 0.0 is +0.0 at x = -0.0: only the fast mode drops it
    g = gc.Graph([x], {"y": x * 1.0 + 0.0})
    assert [n.op for n in simplify(g).nodes] == ["placeholder", "constant", "add"]
    assert str(simplify_fast(g)) == listing("""
        graph(%x: f64[3]) {
          return y=%x
        }""")


def test_times_zero_folds_only_where_the_operand_is_known_finite():
    # x may hold inf or NaN (inf * 0 is NaN): kept; a cast from bool is finite: folded to zeros
    g = gc.Graph([x, b], [x * 0.0, gc.cast(b, "float64") * 0.0])
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3], %b: bool[3]) {
          %2 = const 0. : f64[]
          %3 = mul(%x, %2) : f64[3]
          %4 = broadcast_to(%2) {shape=(3,)} : f64[3]
          return %3, %4
        }""")
    out = run(simplify(g), {"x": [np.inf, np.nan, 1.0], "b": [True, False, True]})
    assert np.isnan(out[0][:2]).all() and out[0][2] == 0.0
    assert out[1].tolist() == [0.0, 0.0, 0.0]


def test_double_negation_double_transpose_and_reshape_chains():
    g = gc.Graph([x, A], [gc.negative(-x), A.T.T, gc.reshape(gc.reshape(A, (9,)), (1, 9))])
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3], %A: f64[3,3]) {
          %2 = reshape(%A) {shape=(1,9)} : f64[1,9]
          return %x, %A, %2
        }""")


def test_a_negated_transpose_of_a_negation_and_a_slice_of_its_own_unslice_disappear():
    from graphc.ops.structural import unslice_op

    placed = unslice_op(x, (5,), (1,), (1,))
    g = gc.Graph([x, A], [gc.negative(gc.negative(A).T), placed[1:4], placed[0:3]])
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3], %A: f64[3,3]) {
          %2 = unslice(%x) {shape=(5,), starts=(1,), steps=(1,)} : f64[5]
          %3 = slice(%2) {starts=(0,), steps=(1,), lengths=(3,)} : f64[3]
          %4 = transpose(%A) {axes=(1,0)} : f64[3,3]
          return %4, %x, %3
        }""")


def test_the_hvp_of_log_det_is_the_closed_form_with_one_inverse():
    """Forward over reverse, -log det X has HVP (X⁻¹ V X⁻¹)ᵀ (the notes): one inverse shared by
    two products, no solves."""
    X = gc.placeholder("X", (4, 4))
    hvp = gc.optimize(gc.hvp(gc.Graph([X], [-gc.slogdet(X)[1]]), "X"))
    ops = sorted(n.op for n in hvp.nodes if n.op not in ("placeholder",))
    assert ops == ["inv", "matmul", "matmul", "transpose"], ops
    rng = np.random.default_rng(2)
    Xv, V = rng.normal(size=(4, 4)) + 4 * np.eye(4), rng.normal(size=(4, 4))
    Xi = np.linalg.inv(Xv)
    np.testing.assert_allclose(run(hvp, {"X": Xv, "direction": V})[0], (Xi @ V @ Xi).T, rtol=1e-12)


def test_sum_of_a_broadcast_becomes_a_multiplication():
    g = gc.Graph([s], [gc.sum(gc.broadcast_to(s, (4, 2)))])
    assert str(simplify(g)) == listing("""
        graph(%s: f64[]) {
          %1 = const 8. : f64[]
          %2 = mul(%s, %1) : f64[]
          return %2
        }""")


def test_sum_of_a_broadcast_over_some_axes_sums_the_varying_ones_first():
    v = gc.placeholder("v", (3, 1))
    g = gc.Graph([v], [gc.sum(gc.broadcast_to(v, (2, 3, 4)), axis=(0, 1))])
    h = simplify(g)
    assert str(h) == listing("""
        graph(%v: f64[3,1]) {
          %1 = const 2. : f64[]
          %2 = sum(%v) {axes=(0,), keepdims=False} : f64[1]
          %3 = mul(%2, %1) : f64[1]
          %4 = broadcast_to(%3) {shape=(4,)} : f64[4]
          return %4
        }""")
    value = np.array([[1.0], [2.0], [4.0]])
    assert run(h, {"v": value})[0].tolist() == [14.0] * 4  # 2 copies of 1+2+4 in each column


def test_log_of_exp_always_and_exp_of_log_only_for_non_negative_values():
    g = gc.Graph([x], [gc.log(gc.exp(x)), gc.exp(gc.log(x)), gc.exp(gc.log(gc.exp(x)))])
    assert simplify(g).outputs[0].op == "log"  # exp overflows above 709: only the fast mode drops it
    assert str(simplify_fast(g)) == listing("""
        graph(%x: f64[3]) {
          %1 = exp(%x) : f64[3]
          %2 = log(%x) : f64[3]
          %3 = exp(%2) : f64[3]
          return %x, %3, %1
        }""")
    assert np.isnan(run(simplify_fast(g), {"x": [-1.0, 1.0, 2.0]})[1][0])  # exp(log(-1)) stays NaN


def test_transposes_fold_into_matrix_vector_products():
    g = gc.Graph([x, A], [gc.matmul(A.T, x), gc.matmul(x, A.T)])
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3], %A: f64[3,3]) {
          %2 = matmul(%x, %A) : f64[3]
          %3 = matmul(%A, %x) : f64[3]
          return %2, %3
        }""")


def test_two_transposed_matrices_make_one_transposed_product():
    B = gc.placeholder("B", (3, 2))
    C = gc.placeholder("C", (4, 3))
    g = gc.Graph([B, C], [gc.matmul(B.T, C.T)])
    h = simplify(g)
    assert [n.op for n in h.nodes if n.inputs] == ["matmul", "transpose"]
    rng = np.random.default_rng(0)
    vals = {"B": rng.normal(size=(3, 2)), "C": rng.normal(size=(4, 3))}
    np.testing.assert_allclose(run(h, vals)[0], vals["B"].T @ vals["C"].T, rtol=1e-12)


def test_cast_chains_drop_only_lossless_middle_casts():
    g = gc.Graph([x, b], [gc.cast(gc.cast(b, "int64"), "float64"),
                          gc.cast(gc.cast(x, "float32"), "float64")])
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3], %b: bool[3]) {
          %2 = cast(%x) {dtype='float32'} : f32[3]
          %3 = cast(%2) {dtype='float64'} : f64[3]
          %4 = cast(%b) {dtype='float64'} : f64[3]
          return %4, %3
        }""")


def test_scalars_are_hoisted_and_x_plus_x_is_doubled():
    g = gc.Graph([x, s], [2.0 * x * s * 3.0, x + x])
    assert str(simplify_fast(g)) == listing("""
        graph(%x: f64[3], %s: f64[]) {
          %2 = const 2. : f64[]
          %3 = mul(%x, %2) : f64[3]
          %4 = const 6. : f64[]
          %5 = mul(%s, %4) : f64[]
          %6 = mul(%x, %5) : f64[3]
          return %6, %3
        }""")


def test_negations_become_subtractions():
    y = gc.placeholder("y", (3,))
    g = gc.Graph([x, y, s], [x + (-y), x - (-y), (-x) * y + s])
    assert str(simplify(g)) == listing("""
        graph(%x: f64[3], %y: f64[3], %s: f64[]) {
          %3 = sub(%x, %y) : f64[3]
          %4 = add(%x, %y) : f64[3]
          %5 = mul(%x, %y) : f64[3]
          %6 = sub(%s, %5) : f64[3]
          return %3, %4, %6
        }""")


def test_rewritten_nodes_keep_the_replaced_nodes_metadata_and_name_the_rule():
    with gc.scope("layer"):
        z = gc.multiply(gc.multiply(x, 0.5), 3.0, name="z")
    g = gc.Graph([x], [z])
    (new,) = simplify(g).outputs
    assert new.op == "mul" and new.inputs[0] is x and float(new.inputs[1].value) == 1.5
    assert new.meta.name == "z" and new.meta.scope == ("layer",)
    assert new.meta.location == z.meta.location and new.meta.location.line > 0
    assert new.meta.pass_name == "simplify" and new.meta.rule == "(x*c1)*c2 -> x*(c1*c2)"
    assert z.meta.pass_name is None  # the input graph is never changed


def test_adjoint_nodes_stay_adjoint_nodes_after_rewriting():
    g = gc.grad(gc.Graph([x], [gc.sum(gc.tanh(x) * 2.0)]))
    f, grad_x = optimize(g, mode="fast").outputs  # sum(t*2) -> sum(t)*2, the adjoint's scalar hoisted
    assert (f.meta.pass_name, f.meta.role, f.meta.rule) == ("simplify", "primal", "sum(x*s) -> sum(x)*s")
    assert (grad_x.meta.pass_name, grad_x.meta.role) == ("simplify", "adjoint")
    assert grad_x.meta.derived_from == g.outputs[1].meta.derived_from != ()


# ----------------------------------------------------------------------------------------------
# Folding, CSE, DCE


def test_constant_subexpressions_fold_with_the_numpy_backend():
    c = gc.constant([1.0, 4.0, 9.0])
    g = gc.Graph([x], [x + gc.sqrt(c) * 2.0])
    assert str(fold(g)) == listing("""
        graph(%x: f64[3]) {
          %1 = const [2.,4.,6.] : f64[3]
          %2 = add(%x, %1) : f64[3]
          return %2
        }""")


def test_folding_never_turns_a_broadcast_scalar_into_a_big_constant():
    g = gc.Graph([], [gc.zeros_like(gc.constant(np.zeros((1000, 1000)))) + 2.0])
    h = fold(g)
    assert str(h) == listing("""
        graph() {
          %0 = const 2. : f64[]
          %1 = broadcast_to(%0) {shape=(1000,1000)} : f64[1000,1000]
          return %1
        }""")
    assert max(n.value.size for n in h.nodes if n.op == "constant") == 1


def test_cse_merges_equal_subexpressions_and_duplicate_constants():
    g = gc.Graph([x], [gc.tanh(x) * 0.5 + gc.tanh(x) * 0.5])
    assert str(cse(g)) == listing("""
        graph(%x: f64[3]) {
          %1 = tanh(%x) : f64[3]
          %2 = const 0.5 : f64[]
          %3 = mul(%1, %2) : f64[3]
          %4 = add(%3, %3) : f64[3]
          return %4
        }""")


def test_dce_keeps_unused_inputs_so_the_signature_never_changes():
    g = gc.Graph([x, s, A], {"first": x * 1.0, "second": s})
    h = optimize(g)
    assert h.input_names == ("x", "s", "A") and h.output_names == ("first", "second")
    assert dce(h) is h
    assert str(h) == listing("""
        graph(%x: f64[3], %s: f64[], %A: f64[3,3]) {
          return first=%x, second=%s
        }""")


# ----------------------------------------------------------------------------------------------
# The notes' gradients, optimized


@pytest.mark.parametrize("ex", examples.all_examples(), ids=lambda e: e.name)
def test_optimized_gradients_are_smaller_and_still_match_the_closed_forms(ex):
    g = gc.grad(ex.graph, ex.wrt)
    h = verify(optimize(g))
    assert len(h) < len(g)
    assert h.input_names == g.input_names and h.output_names == g.output_names
    inputs = ex.inputs(np.random.default_rng(1))
    got = gc.compile(h, optimize=False)(**inputs)[f"grad_{ex.wrt}"]
    np.testing.assert_allclose(got, ex.gradient(**inputs), rtol=1e-10, atol=1e-12)


def test_the_log_quadratic_gradient_becomes_the_hand_written_one():
    # 2 A x / xᵀAx for symmetric A; the notes' general form is (Ax + Aᵀx) / xᵀAx, Aᵀx = x A
    g = optimize(gc.grad(examples.log_quadratic().graph, "x"), mode="fast")
    assert str(g) == listing("""
        graph grad(log_quadratic)(%x: f64[4], %A: f64[4,4]) {
          %2 = matmul(%A, %x) : f64[4]
          %3 = matmul(%x, %2) : f64[]
          %4 = log(%3) : f64[]
          %5 = matmul(%x, %A) : f64[4]                      # scalar out of matmul
          %6 = add(%2, %5) : f64[4]                         # x*s + y*s -> (x+y)*s
          %7 = div(%6, %3) : f64[4]                         # x*(1/y) -> x/y
          return f=%4, grad_x=%7
        }""")


def test_scalars_leave_matmuls_and_common_factors_are_taken_out():
    y = gc.placeholder("y", (3,))
    B = gc.placeholder("B", (3, 5))
    g = gc.Graph([x, y, A, B, s], [gc.matmul(A, x * s) + (y * s), gc.matmul(A * s, y), gc.matmul(x * s, B)])
    # the last product (5 numbers) is larger than its scaled operand (3): the scale stays put
    assert str(simplify_fast(g)) == listing("""
        graph(%x: f64[3], %y: f64[3], %A: f64[3,3], %B: f64[3,5], %s: f64[]) {
          %5 = mul(%x, %s) : f64[3]
          %6 = matmul(%A, %x) : f64[3]
          %7 = add(%6, %y) : f64[3]
          %8 = mul(%7, %s) : f64[3]
          %9 = matmul(%A, %y) : f64[3]
          %10 = mul(%9, %s) : f64[3]
          %11 = matmul(%5, %B) : f64[5]
          return %8, %10, %11
        }""")


def test_a_product_of_a_combination_reuses_the_products_the_graph_already_has():
    """S (a x + b d) -> a (S x) + b (S d) when S x and S d exist, and only then."""
    d, y = gc.placeholder("d", (3,)), gc.placeholder("y", (3,))
    S = gc.symmetrize(A)
    Sx, Sd = S @ x, S @ d
    g = gc.Graph([x, d, y, A, s], {"both": S @ (x * s - d * 2.0) + Sx + Sd, "new": S @ (x + y) + Sx})
    assert sum(n.op == "matmul" for n in optimize(g).nodes) == 4  # distributing is for the fast mode
    h = optimize(g, mode="fast")
    products = [n for n in h.nodes if n.op == "matmul"]
    assert len(products) == 3, str(h)  # S x, S d, S (x + y): S y is not computed, so no rewrite
    assert any(n.meta.rule == "product of a combination -> combination of existing products" for n in h.nodes)
    rng = np.random.default_rng(4)
    values = {"x": rng.normal(size=3), "d": rng.normal(size=3), "y": rng.normal(size=3),
              "A": rng.normal(size=(3, 3)), "s": 0.7}
    sym = np.tril(values["A"]) + np.tril(values["A"], -1).T
    got = gc.compile(h)(**values)
    xs, ds, ys = values["x"], values["d"], values["y"]
    np.testing.assert_allclose(got["both"], sym @ (0.7 * xs - 2 * ds) + sym @ xs + sym @ ds, rtol=1e-13)
    np.testing.assert_allclose(got["new"], sym @ (xs + ys) + sym @ xs, rtol=1e-13)


def test_the_hvp_of_a_symmetric_log_quadratic_applies_the_matrix_twice():
    """HVP of ln(xᵀSx): S x, S v, and S applied to a combination of x and v, which is the third
    product by linearity: two products, as in the hand-derived 2 S v / q - 4 S x (S x · v) / q²."""
    n = 5
    xn, An = gc.placeholder("x", (n,)), gc.placeholder("A", (n, n))
    S = gc.symmetrize(An)
    h = optimize(gc.hvp(gc.Graph([xn, An], [gc.log(xn @ (S @ xn))]), "x"), mode="fast")
    assert sum(n.op == "matmul" and n.inputs[0].op == "symmetrize" for n in h.nodes) == 2, str(h)
    rng = np.random.default_rng(5)
    a = rng.normal(size=(n, n))
    a = a @ a.T + n * np.eye(n)
    xv, v = rng.normal(size=n), rng.normal(size=n)
    q = xv @ a @ xv
    expected = 2 * a @ v / q - 4 * (a @ xv) * ((a @ xv) @ v) / q**2
    (got,) = gc.compile(h)(x=xv, A=a, direction=v).values()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_the_seed_constant_one_no_longer_multiplies_anything():
    ex = examples.logistic_least_squares()
    h = optimize(gc.grad(ex.graph, "w"))
    ones = [n for n in h.nodes if n.op == "constant" and n.value == 1.0]
    assert all(not any(c is one for one in ones for c in n.inputs) for n in h.nodes if n.op == "mul")


def test_compile_optimizes_by_default_and_not_when_told():
    ex = examples.frobenius_residual()
    g = gc.grad(ex.graph, "X")
    fast, plain = gc.compile(g), gc.compile(g, optimize=False)
    assert len(fast.graph) < len(plain.graph) == len(g)
    inputs = ex.inputs(np.random.default_rng(2))
    a, b_ = fast(**inputs), plain(**inputs)
    assert list(a) == list(b_) == ["f", "grad_X"]
    for key in a:
        np.testing.assert_allclose(a[key], b_[key], rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Robustness


def test_a_deep_chain_is_rewritten_without_recursion():
    y = x
    for _ in range(3000):  # 6000 negations: far beyond Python's recursion limit
        y = gc.negative(-(y * 1.0))
    h = optimize(gc.Graph([x], [y]))
    assert str(h) == listing("""
        graph(%x: f64[3]) {
          return %x
        }""")


def test_bad_arguments_raise_the_projects_errors():
    with pytest.raises(gc.GraphTypeError, match="optimize takes a Graph, got str"):
        optimize("graph")
    with pytest.raises(gc.GraphTypeError, match="pass 'broken' returned int, not a Graph"):
        optimize(gc.Graph([x], [x]), passes=[Pass("broken", lambda g: 3)])
    with pytest.raises(gc.GraphTypeError, match="a pass must be a callable"):
        optimize(gc.Graph([x], [x]), passes=["dce"])


def test_verify_finds_a_node_whose_recorded_type_is_wrong():
    bad = gc.Node("add", [x, x], {}, (4,), np.dtype("float64"), gc.Meta())
    with pytest.raises(gc.GraphError, match=r"recorded type f64\[4\], but the shape rule infers"):
        verify(gc.Graph([x], [bad]))
    unknown = gc.Node("frobnicate", [x], {}, (3,), np.dtype("float64"), gc.Meta())
    with pytest.raises(gc.GraphError, match="unknown op 'frobnicate'"):
        verify(gc.Graph([x], [unknown]))
    with pytest.raises(gc.GraphTypeError, match="verify takes a Graph"):
        verify([x])


# ----------------------------------------------------------------------------------------------
# Properties over random graphs


def _agree(before, after, inputs):
    want, got = run(before, inputs), run(after, inputs)
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)


@settings(max_examples=60)
@given(random_graphs(max_steps=14))
def test_every_pass_keeps_graphs_valid_and_results_unchanged(case):
    graph, sample = case
    inputs = sample(np.random.default_rng(0))
    current = verify(graph)
    for p in DEFAULT_PASSES:  # each pass alone, and the sequence
        alone = verify(p(graph))
        _agree(graph, alone, inputs)
        current = verify(p(current))
    optimized = verify(optimize(graph))
    assert optimized.input_names == graph.input_names
    assert optimized.output_names == graph.output_names
    _agree(graph, optimized, inputs)


@settings(max_examples=25)
@given(random_graphs(max_steps=8, smooth=True, scalar_output=True))
def test_optimized_gradients_of_random_graphs_agree(case):
    graph, sample = case
    g = gc.grad(graph)
    _agree(g, verify(optimize(g)), sample(np.random.default_rng(1)))


def test_the_pipeline_handles_a_100000_node_graph_without_recursion():
    x = gc.placeholder("x")
    y = x
    for i in range(50_000):
        y = gc.sin(y) * 1.0 if i % 2 else gc.sin(y)  # half the multiplications by 1 simplify away
    graph = gc.Graph([x], [y])
    assert len(graph) > 100_000
    small = gc.optimize(graph)
    assert len(small) < len(graph)
    np.testing.assert_allclose(gc.compile(small, optimize=False)(x=0.3)[0],
                               gc.compile(graph, optimize=False)(x=0.3)[0], rtol=1e-12)


@pytest.mark.parametrize("build", [
    lambda w: gc.broadcast_to(w[0, 0], (3,)),
    lambda w: gc.broadcast_to(gc.reshape(gc.sum(w, keepdims=True), (1,)), (3,)),
])
def test_a_broadcast_of_a_reshape_that_dropped_axes_keeps_its_reshape(build):
    w = gc.placeholder("w", (1, 1))
    graph = gc.Graph([w], {"y": build(w)})
    assert gc.compile(graph)(w=np.array([[2.0]]))["y"].tolist() == [2.0, 2.0, 2.0]
