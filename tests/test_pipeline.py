"""``gc.trace_pipeline``: the stages of compilation as data, and their listings."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import examples
from graphc.rewrite import optimize, verify


def test_gradient_pipeline_stages_in_order():
    ex = examples.logistic()
    stages = gc.trace_pipeline(ex.graph, wrt="x")
    assert [(s.name, s.kind) for s in stages] == [
        ("forward", "forward"), ("adjoint", "adjoint"),
        ("cse", "pass"), ("fold", "pass"), ("simplify", "pass"), ("dce", "pass"),
    ]
    assert stages[0].graph is ex.graph
    assert stages[1].graph == gc.grad(ex.graph, "x")
    assert stages[-1].graph == optimize(gc.grad(ex.graph, "x"))
    assert len(stages[-1].graph) < len(stages[1].graph)
    assert all(s.groups is None for s in stages)


def test_every_stage_computes_the_same_gradient():
    ex = examples.frobenius_residual()
    inputs = ex.inputs(np.random.default_rng(0))
    want = ex.gradient(**inputs)
    for stage in gc.trace_pipeline(ex.graph, wrt="X")[1:]:
        verify(stage.graph)
        got = gc.compile(stage.graph, optimize=False)(**inputs)["grad_X"]
        np.testing.assert_allclose(got, want, rtol=1e-10, err_msg=stage.name)


def test_hvp_stage_is_optimized_and_matches_the_closed_form_hessian():
    ex = examples.log_quadratic()
    stages = gc.trace_pipeline(ex.graph, wrt="x", hvp=True)
    assert [s.kind for s in stages[:3]] == ["forward", "adjoint", "hvp"]
    hvp, last = stages[2].graph, stages[-1].graph
    assert "direction" in hvp.input_names and last.input_names == hvp.input_names
    assert len(last) < len(hvp)
    inputs = ex.inputs(np.random.default_rng(3))
    v = np.array([1.0, -2.0, 0.5, 3.0])
    got = gc.compile(last, optimize=False)(**inputs, direction=v)["hvp_x"]
    np.testing.assert_allclose(got, ex.hessian(**inputs) @ v, rtol=1e-10)


def test_without_optimization_or_differentiation():
    ex = examples.quadratic()
    assert [s.name for s in gc.trace_pipeline(ex.graph, wrt="x", optimize=False)] == ["forward", "adjoint"]
    forward_only = gc.trace_pipeline(ex.graph, wrt=False)
    assert [s.kind for s in forward_only] == ["forward", "pass", "pass", "pass", "pass"]
    assert forward_only[-1].graph.output_names == ("f",)


class GroupingBackend:
    """A backend double with the lowering hook the numba backend provides: one group per node
    that is not a source (what a backend without fusion would run)."""

    name = "grouping"

    def fusion_groups(self, graph):
        return [[n] for n in graph.nodes if n.inputs]


def test_a_backend_with_fusion_groups_adds_a_lowered_stage_listing_them():
    ex = examples.logistic()
    stages = gc.trace_pipeline(ex.graph, wrt="x", backend=GroupingBackend())
    lowered = stages[-1]
    assert (lowered.name, lowered.kind) == ("lowered (grouping)", "lowered")
    assert lowered.graph is stages[-2].graph
    assert len(lowered.groups) == sum(1 for n in lowered.graph.nodes if n.inputs)
    text = str(lowered)
    assert f"# {len(lowered.groups)} fusion groups" in text
    assert "  group 0: %2" in text.splitlines()


def test_a_backend_without_fusion_groups_adds_no_stage():
    ex = examples.logistic()
    stages = gc.trace_pipeline(ex.graph, wrt="x", backend="numpy")
    assert stages[-1].kind == "pass"


def test_a_stage_prints_as_a_headed_listing():
    ex = examples.logistic()
    stage = gc.trace_pipeline(ex.graph, wrt="x")[1]
    text = str(stage)
    assert text.splitlines()[0] == f"# stage adjoint (adjoint): {len(stage.graph)} nodes"
    assert text.split("\n", 1)[1] == str(stage.graph)
    assert isinstance(stage, gc.Stage)


def test_bad_arguments():
    with pytest.raises(gc.GraphTypeError, match="trace_pipeline takes a Graph, got list"):
        gc.trace_pipeline([1, 2])
    with pytest.raises(gc.BackendError, match="unknown backend 'nope'"):
        gc.trace_pipeline(examples.logistic().graph, backend="nope")


def test_the_numba_backend_lowers_the_optimized_gradient_into_fusion_groups():
    ex = examples.frobenius_residual()
    stages = gc.trace_pipeline(ex.graph, wrt="X", backend="numba")
    lowered = stages[-1]
    assert lowered.kind == "lowered" and lowered.graph is stages[-2].graph
    in_graph = {n.serial for n in lowered.graph.nodes}
    grouped = [n for group in lowered.groups for n in group]
    assert grouped and all(n.serial in in_graph for n in grouped)
    assert len({n.serial for n in grouped}) == len(grouped)  # a node is computed in one loop only
    assert f"# {len(lowered.groups)} fusion groups" in str(lowered)
