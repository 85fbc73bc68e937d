"""gc.optimize's IEEE contract (graphc/rewrite/rules.py): in the default mode a rewritten graph has
its NaNs, infinities and signed zeros where the original has them and finite values equal up to
rounding, at every input, inf, NaN, ±0, subnormals and 1e308 included; mode="fast" applies the
rewrites that hold only in real arithmetic."""

import numpy as np
import pytest
from graphgen import random_graphs
from hypothesis import given, settings
from ieee import assert_same_ieee_results, with_special_values

import graphc as gc


def _evaluate(graph, inputs, optimize):
    with np.errstate(all="ignore"):
        out = gc.compile(graph, optimize=optimize)(**inputs)
    return [np.asarray(v) for v in (out.values() if isinstance(out, dict) else out)]


x = gc.placeholder("x", (2,))
y = gc.placeholder("y", (2,))
s, t = gc.placeholder("s"), gc.placeholder("t")
B = gc.placeholder("B", (2, 2))
i = gc.placeholder("i", (2,), "int64")

# each expression and inputs where a rewrite of real arithmetic changes the IEEE result
CASES = {
    "sum(x*s) -> sum(x)*s overflows": (gc.sum(x * s), {"x": [1e308, 1e308], "s": 0.5}),
    "sum(x*s) with s = inf": (gc.sum(x * s), {"x": [1.0, 0.0], "s": np.inf}),
    "(x*2)*0.5 -> x": ((x * 2.0) * 0.5, {"x": [1e308, -1e308]}),
    "1/(0-x): the sign of zero": (1.0 / (0.0 - x), {"x": [0.0, -0.0]}),
    "1/(x+0)": (1.0 / (x + 0.0), {"x": [-0.0, 0.0]}),
    "1/(cast(i)*0)": (1.0 / (gc.cast(i, "float64") * 0.0), {"i": [-3, 2]}),
    "(1e300/y)*1e10: inf/inf": ((1e300 / y) * 1e10, {"y": [np.inf, 0.0]}),
    "x*(1/y) at a subnormal y": (x * (1.0 / y), {"x": [1e-10, 1.0], "y": [1e-310, 2.0]}),
    "(x*s) @ B": ((x * s) @ B, {"x": [1e308, 1.0], "s": 0.5, "B": [[2.0, 0.0], [0.0, 1.0]]}),
    "log(exp(x))": (gc.log(gc.exp(x)), {"x": [800.0, -800.0]}),
    "(x*s)*t for scalars": ((x * s) * t, {"x": [1e308, 2.0], "s": 4.0, "t": 0.25}),
    "x*s + y*s": (x * s + y * s, {"x": [1e308, 1.0], "y": [1e308, 1.0], "s": 0.5}),
}


def _full(graph_inputs, given):
    return {p.attrs["name"]: np.asarray(given.get(p.attrs["name"], np.ones(p.shape)), p.dtype)
            for p in graph_inputs}


@pytest.mark.parametrize("name", list(CASES))
def test_the_default_mode_keeps_ieee_results_where_real_arithmetic_rewrites_change_them(name):
    expr, given = CASES[name]
    graph = gc.Graph([x, y, s, t, B, i], [expr])
    inputs = _full(graph.inputs, given)
    exact = _evaluate(graph, inputs, optimize=False)
    assert_same_ieee_results(exact, _evaluate(graph, inputs, optimize=True))
    # the fast mode does rewrite it, and changes the IEEE result (the reason it is opt-in)
    assert str(gc.optimize(graph, mode="fast")) != str(gc.optimize(graph))
    with pytest.raises(AssertionError):
        assert_same_ieee_results(exact, _evaluate(graph, inputs, optimize="fast"))


def test_exact_rewrites_still_apply_in_the_default_mode():
    exact = {"x*1": (x * 1.0, "mul"), "x-0.0": (x - 0.0, "sub"), "x + -0.0": (x + (-0.0), "add"),
             "-0.0 - x": (-0.0 - x, "sub"), "(x*0.5)*4": ((x * 0.5) * 4.0, "mul"),
             "(x/4)*2": ((x / 4.0) * 2.0, "div"), "(2/y)*8": ((2.0 / y) * 8.0, "mul"),
             "-(-x)": (gc.negative(-x), "neg"), "cast(bool)*0.0": (gc.cast(i > 0, "float64") * 0.0, "mul"),
             "i+0": (i + 0, "add"), "i*0": (i * 0, "mul"), "(i*3)*5 on integers": ((i * 3) * 5, "mul")}
    for name, (expr, op) in exact.items():
        graph = gc.Graph([x, y, i], [expr])
        optimized = gc.optimize(graph)
        count = lambda g: sum(n.op == op for n in g.nodes)  # noqa: E731, B023
        assert count(optimized) < count(graph), name
        inputs = _full(graph.inputs, {"x": [-0.0, 1e308], "y": [5e-324, -0.0], "i": [-3, 7]})
        assert_same_ieee_results(_evaluate(graph, inputs, False), _evaluate(optimized, inputs, False))


def test_mode_names_are_checked():
    graph = gc.Graph([x], [x * 1.0])
    with pytest.raises(gc.GraphTypeError, match="optimize's mode must be one of 'ieee', 'fast', got 'quick'"):
        gc.optimize(graph, mode="quick")
    with pytest.raises(gc.GraphTypeError, match="optimize must be True, False, 'ieee' or 'fast', got 'yes'"):
        gc.compile(graph, optimize="yes")


@settings(max_examples=150, deadline=None)
@given(random_graphs(max_steps=12))
def test_random_graphs_keep_their_ieee_results_at_special_values(case):
    graph, sample = case
    rng = np.random.default_rng(7)
    for _ in range(3):
        inputs = with_special_values(rng, sample(rng))
        try:
            exact = _evaluate(graph, inputs, optimize=False)
        except gc.GraphError:
            continue  # e.g. an svd of a matrix holding an inf: refused unoptimized too
        assert_same_ieee_results(exact, _evaluate(graph, inputs, optimize=True))
