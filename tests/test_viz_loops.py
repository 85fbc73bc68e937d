"""Loops in pictures: each loop a cluster holding its body once, the carries looping back, its
operands flowing into the body's inputs and its results out of the body's outputs; a gradient's
reverse loop drawn as an adjoint cluster. Rendered to SVG with dot and read back."""

import pytest
import vizsvg

import graphc as gc
from graphc import models
from graphc.viz import render, render_pipeline, style

PENDULUM_POINT = {"theta0": 0.7, "omega0": -0.2, "k": 9.0, "c": 0.3}


def draw(tmp_path, graph, name="picture", **options) -> vizsvg.Picture:
    return vizsvg.read(render(graph, tmp_path / f"{name}.svg", **options))


def loop_clusters(pic):
    return {label: box for label, box in pic.clusters.items() if label.startswith("loop %")}


def edges_between(pic, tail, head):
    return [e for e in pic.edges if e[0] == tail.id and e[1] == head.id]


@pytest.fixture(scope="module")
def pendulum():
    return models.damped_pendulum(5)


def test_a_loop_is_a_cluster_holding_its_body_once(tmp_path, pendulum):
    pic = draw(tmp_path, pendulum)
    clusters = loop_clusters(pic)
    assert list(clusters) == ["loop %4 euler: body × 5 steps"]
    cluster = clusters["loop %4 euler: body × 5 steps"]
    body = pendulum.nodes[4].attrs["body"]
    inside = [b for b in pic.graph_nodes().values() if vizsvg.inside(b, cluster)]
    assert len(inside) == len(body)  # once, not once per step
    # the body's values have names of their own (u), apart from the outer graph's (v)
    assert "u₅ = sin(carry[0])" in pic.titles()
    assert not any(t.startswith("u") for t in pic.titles() if not any(b.title == t for b in inside))
    # each carry out feeds the carry in of the next step
    for k in range(2):
        carry_in = pic.by_title(f"carry[{k}]")
        assert "carry in: the initial value at step 0, then the previous step's" in carry_in.texts
        back = [e for e in pic.edges if e[1] == carry_in.id and e[2] == "next step"]
        assert len(back) == 1
        carry_out = pic.nodes[back[0][0]]
        assert "carry out → next step; after the last: final" in carry_out.texts
        assert vizsvg.inside(carry_out, cluster)
        assert back[0][3]["stroke"] == style.LOOP_EDGE and "stroke-dasharray" in back[0][3]
    # outer operands flow into the body's inputs, results come out of its outputs
    assert [e[2] for e in edges_between(pic, pic.by_title("theta0"), pic.by_title("carry[0]"))] == ["initial"]
    assert "loop constant" in pic.by_title("const0").texts
    assert len(edges_between(pic, pic.by_title("k"), pic.by_title("const0"))) == 1
    final = [e for e in pic.edges if e[1] == pic.by_title("v₅ = euler[0]").id]
    assert [e[2] for e in final] == ["final"] and vizsvg.inside(pic.nodes[final[0][0]], cluster)
    assert "carry to the next step; a loop's body is drawn once" in pic.nodes["legend"].texts


def test_the_gradient_draws_its_reverse_loop_as_an_adjoint_cluster(tmp_path, pendulum):
    grad = gc.grad(pendulum, wrt=["theta0", "k"])
    pic = draw(tmp_path, grad)
    clusters = loop_clusters(pic)
    reverse = [label for label in clusters if "vjp(euler)" in label]
    assert reverse == [next(iter(reverse))] and reverse[0].endswith("body × 5 steps (reverse)")
    assert clusters[reverse[0]].fills[0] == style.ROLES["adjoint"].cluster_fill
    # in its body the adjoints of the carries are summed and fed back to the previous step
    for k in range(2):
        carry_bar = pic.by_title(f"c̅a̅r̅r̅y̅[̅{k}̅]̅ = Σ")
        assert vizsvg.inside(carry_bar, clusters[reverse[0]])
        assert [e[2] for e in pic.edges if e[0] == carry_bar.id and e[2] == "next step"] == ["next step"]

    optimized = draw(tmp_path, gc.optimize(grad), "optimized")
    labels = list(loop_clusters(optimized))
    # one forward loop (the primal's and the stored carries' merged) and the reverse loop
    assert len(labels) == 2 and sum("(reverse)" in label for label in labels) == 1
    forward = next(label for label in labels if "(reverse)" not in label)
    assert loop_clusters(optimized)[forward].fills[0] == style.ROLES["primal"].cluster_fill


def test_a_loop_inside_a_loop_is_a_cluster_inside_a_cluster(tmp_path):
    x = gc.placeholder("x", (3,))

    def outer(c, _):
        inner, _ = gc.scan(lambda d, _: (gc.sin(d) * c, None), c, length=4, name="inner")
        return inner + 1.0, None

    y, _ = gc.scan(outer, x, length=3, name="outer")
    pic = draw(tmp_path, gc.Graph([x], {"y": gc.sum(y)}))
    clusters = loop_clusters(pic)
    assert len(clusters) == 2
    outer_box = next(b for label, b in clusters.items() if "outer" in label)
    inner_box = next(b for label, b in clusters.items() if "inner" in label)
    assert vizsvg.inside(inner_box, outer_box)
    inner_names = [b.title for b in pic.graph_nodes().values() if vizsvg.inside(b, inner_box)]
    assert any(t.startswith("w") for t in inner_names), inner_names  # a third letter, two loops deep


def test_values_on_a_loop_picture_match_the_backend_and_finite_differences(tmp_path, pendulum):
    grad = gc.grad(pendulum, wrt=["theta0", "k"])
    pic = draw(tmp_path, grad, values=PENDULUM_POINT, check=True)
    expected = gc.compile(grad, backend="numpy")(**PENDULUM_POINT)
    for name, title in [("grad_theta0", "t̅h̅e̅t̅a̅0̅ = %31[0]"), ("grad_k", "k̄ = Σ")]:
        assert pic.by_title(title).value() == pytest.approx(float(expected[name]), rel=1e-4)  # 5 digits shown
    assert any(t.startswith("finite differences agree with all") for t in pic.title)
    assert not any(style.BAD_FILL in b.fills for b in pic.graph_nodes().values())


def test_pipeline_pages_show_the_bodies_after_each_pass(tmp_path, pendulum):
    index = render_pipeline(pendulum, tmp_path, wrt="theta0", backend="numpy")
    pages = sorted(p for p in tmp_path.glob("*.svg"))
    assert index.exists() and len(pages) >= 3
    for page in pages:
        assert loop_clusters(vizsvg.read(page)), page.name
    stages = [list(loop_clusters(vizsvg.read(p))) for p in pages]
    assert sum(any("(reverse)" in label for label in c) for c in stages) == len(pages) - 1  # not the primal
