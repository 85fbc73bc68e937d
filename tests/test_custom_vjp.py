"""gc.custom_vjp: functions with derivatives of their own, through every pass, both backends,
files and pictures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.checks import numeric_gradient
from graphc.rewrite import verify

ROOT = Path(__file__).resolve().parents[1]


def clip(g):
    return gc.minimum(gc.maximum(g, -1.0), 1.0)


clip_gradient = gc.custom_vjp(lambda x: x, vjp=lambda g, out, x: clip(g), name="clip_gradient")


def newton_sqrt(a):
    y = a
    for _ in range(12):
        y = 0.5 * (y + a / y)
    return y


implicit_sqrt = gc.custom_vjp(newton_sqrt, vjp=lambda g, out, a: g / (2.0 * out))


def run(graph, backend="numpy", **inputs):
    result = gc.compile(graph, backend=backend)(**inputs)
    return list(result.values()) if isinstance(result, dict) else list(result)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_clipped_gradient(backend):
    x, w = gc.placeholder("x", (3,)), gc.placeholder("w", (3,))
    f = gc.Graph([x, w], [gc.sum(clip_gradient(x) * w)])
    value, gx = run(gc.grad(f, "x"), backend, x=np.array([1.0, 2.0, 3.0]), w=np.array([0.5, -4.0, 2.0]))
    assert value == pytest.approx(0.5 - 8.0 + 6.0)
    np.testing.assert_array_equal(gx, [0.5, -1.0, 1.0])  # w, clipped; the function is the identity


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_iteration_differentiated_implicitly_and_its_second_derivative(backend):
    a = gc.placeholder("a", (3,))
    f = gc.Graph([a], [gc.sum(implicit_sqrt(a))])
    point = np.array([0.5, 2.0, 9.0])
    value, grad = run(gc.grad(f), backend, a=point)
    assert value == pytest.approx(np.sum(np.sqrt(point)), rel=1e-14)
    np.testing.assert_allclose(grad, 0.5 / np.sqrt(point), rtol=1e-14)
    g = gc.grad(f)
    assert sum(n.op == "div" for n in g.nodes) < 15, "the gradient must not differentiate the 12 steps"
    v = np.array([1.0, -1.0, 2.0])
    for mode in ("fwd-rev", "rev-rev"):  # the rule differentiated again: -1/(4 a^1.5)
        (hv,) = run(gc.hvp(f, mode=mode), backend, a=point, direction=v)
        np.testing.assert_allclose(hv, -0.25 * point**-1.5 * v, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_closed_over_nodes_are_operands_differentiated_through_the_function(backend):
    x, w = gc.placeholder("x", (2,)), gc.placeholder("w", (2,))
    scaled = gc.custom_vjp(lambda u: gc.tanh(u * w), vjp=lambda g, out, u: g * (1.0 - out * out) * w)
    node = scaled(x)
    assert node.op == "custom" and [i.attrs["name"] for i in node.inputs] == ["x", "w"]
    f = gc.Graph([x, w], [gc.sum(node * node)])
    inputs = {"x": np.array([0.3, -0.8]), "w": np.array([1.5, 0.7])}
    _, gx, gw = run(gc.grad(f, ["x", "w"]), backend, **inputs)
    np.testing.assert_allclose(gx, numeric_gradient(f, inputs, "x"), rtol=1e-8)
    np.testing.assert_allclose(gw, numeric_gradient(f, inputs, "w"), rtol=1e-8)


def test_a_jvp_rule_is_what_forward_mode_uses():
    marked = gc.custom_vjp(lambda x: x * 1.0, jvp=lambda ts, out, x: ts[0] * 3.0)  # a deliberate lie
    x = gc.placeholder("x", (2,))
    _, tangent = run(gc.jvp(gc.Graph([x], [marked(x)])), x=np.ones(2), x_dot=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(tangent, [3.0, 6.0])
    _, gx = run(gc.grad(gc.Graph([x], [gc.sum(marked(x))])), x=np.ones(2))  # reverse: from the function
    np.testing.assert_array_equal(gx, [1.0, 1.0])


def test_the_listing_shows_the_graphs_a_custom_node_carries():
    a = gc.placeholder("a", (2,))
    text = str(gc.Graph([a], [implicit_sqrt(a)]))
    assert "custom(%a) {name='newton_sqrt', fn=<graph newton_sqrt: " in text
    assert "    fn = graph newton_sqrt(%arg0: f64[2]) {" in text
    assert "    vjp = graph vjp(newton_sqrt)(" in text


def test_a_graph_with_custom_nodes_round_trips_through_a_file(tmp_path):
    a, w = gc.placeholder("a", (2,)), gc.placeholder("w", (2,))
    f = gc.Graph([a, w], {"f": gc.sum(implicit_sqrt(a) * clip_gradient(w))})
    g = gc.grad(f, ["a", "w"])
    gc.save(g, tmp_path / "g.json")
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["version"] == 2
    loaded = gc.load(tmp_path / "g.json")
    assert loaded.digest == g.digest
    verify(loaded)
    code = (f"import graphc as gc, numpy as np; g = gc.load({str(tmp_path / 'g.json')!r}); "
            "print(gc.compile(g, backend='numba')(a=np.array([4.0, 9.0]), w=np.array([3.0, 0.5]))"
            "['grad_w'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[1.", "1.]"]  # w̄ = √a = [2, 3], clipped on its way back


def test_nested_graphs_in_files_are_checked_and_capped(monkeypatch):
    from graphc import serialize

    a = gc.placeholder("a", (2,))
    text = gc.Graph([a], [implicit_sqrt(a)]).to_json()
    doc = json.loads(text)
    fn = doc["nodes"][1]["attrs"]["fn"]["graph"]
    fn["nodes"][1]["op"] = "frob"
    with pytest.raises(gc.SerializationError,
                       match=r"^\$\.nodes\[1\]\.attrs\.fn\.graph\.nodes\[1\]\.op: unknown op"):
        gc.Graph.from_json(json.dumps(doc))
    monkeypatch.setattr(serialize, "MAX_GRAPH_DEPTH", 0)
    with pytest.raises(gc.SerializationError, match=r"attrs\.fn\.graph: graphs nested more than 0 levels"):
        gc.Graph.from_json(text)


def test_a_custom_function_is_drawn_as_a_box_of_its_name():
    from graphc.viz import to_dot

    a = gc.placeholder("a", ())
    dot = to_dot(gc.grad(gc.Graph([a], [implicit_sqrt(a, name="r") * a]), "a"), view="both").source
    assert "r = newton_sqrt(a)" in dot


def test_bad_custom_functions_say_what_is_wrong():
    x = gc.placeholder("x", (2,))
    with pytest.raises(gc.GraphTypeError, match="must return one graph node, got tuple"):
        gc.custom_vjp(lambda u: (u, u))(x)
    with pytest.raises(gc.DeclarationError, match="returned 2 cotangent"):
        gc.custom_vjp(lambda u: u * 2.0, vjp=lambda g, out, u: (g, g))(x)
    with pytest.raises(gc.DeclarationError, match=r"vjp rule of 'twice' built f64\[\] for f64\[2\]"):
        gc.custom_vjp(lambda u: u * 2.0, vjp=lambda g, out, u: gc.sum(g), name="twice")(x)
