"""graphc.viz pictures: rendered to real SVG with graphviz's dot, then parsed.

What a picture must say is checked against the notes (the backward table of the logistic
least-squares model, the chain-rule terms of matmul and of x·x), against the numpy backend (the
numbers), and against finite differences (the check overlay).
"""

import numpy as np
import pytest
import vizsvg

import graphc as gc
from graphc import examples
from graphc.viz import GraphTooLargeError, RenderError, RenderTimeoutError, render, style, to_dot
from graphc.viz.dot import run_dot

NOTES_POINT = {"w": 1.0, "b": 0.0, "x": 2.0, "t": 1.0}


def draw(tmp_path, graph, name="picture", **options) -> vizsvg.Picture:
    return vizsvg.read(render(graph, tmp_path / f"{name}.svg", **options))


@pytest.fixture(scope="module")
def logistic():
    return examples.logistic_least_squares(lam=0.1)


@pytest.fixture(scope="module")
def logistic_grad(logistic):
    return gc.grad(logistic.graph, "w")


# --- names, formulas, node count --------------------------------------------------------------


def test_gradient_of_the_notes_model_names_every_adjoint_and_term(tmp_path, logistic_grad):
    pic = draw(tmp_path, logistic_grad)
    titles = pic.titles()
    # the notes' backward pass, as the adjoint pass builds it
    for title in ["𝓛̄ = 1", "R̄ = 𝓛̄·0.1", "v̄₈ = 𝓛̄·0.5", "ȳ = Σ", "z̄ = ȳ·y(1 − y)", "w̄ = Σ",
                  "w̄ += z̄·x", "z = v₄ + b", "y = σ(z)", "L = 0.5·v₈", "𝓛 = L + v₁₅"]:
        assert title in titles
    # x·x reused as both operands: two chain-rule terms and two edges
    assert titles.count("v̄₇ += v̄₈·v₇") == 2
    square = pic.by_title("v₈ = v₇²")
    assert sum(1 for t, h, _, _ in pic.edges if h == square.id and t == pic.by_title("v₇ = y − t").id) == 2
    # one box per node, except the partial sum folded into the Σ of w̄'s three terms
    partial = 1
    assert len(pic.graph_nodes()) == len(logistic_grad) - partial
    assert "Σ of 3 terms · f64[]" in pic.by_title("w̄ = Σ").texts
    # adjoints that a rule passed through unchanged are named too
    assert "also L̄, v̄₁₅" in pic.by_title("𝓛̄ = 1").texts
    assert "also v̄₇" in pic.by_title("ȳ = Σ").texts


def test_matmul_terms_read_like_the_notes(tmp_path):
    W = gc.placeholder("W", (2, 3))
    x = gc.placeholder("x", (3,))
    y = gc.matmul(W, x, name="y")
    f = gc.sum(gc.tanh(y), name="f")
    pic = draw(tmp_path, gc.grad(gc.Graph([W, x], [f]), ["W", "x"]))
    assert "W̄ = ȳ xᵀ" in pic.titles()
    assert "x̄ = Wᵀ ȳ" in pic.titles()
    # the transpose the rule builds is a box of its own, and edges carry shapes
    assert "Wᵀ" in pic.titles()
    labels = {label for _, _, label, _ in pic.edges}
    assert {"[2×3]", "[3×2]", "[3]", "[2]"} <= labels


def test_unbroadcast_sum_is_an_explicit_node(tmp_path):
    x = gc.placeholder("x", (4,))
    b = gc.placeholder("b")
    f = gc.sum(gc.multiply(x, b, name="y"))
    pic = draw(tmp_path, gc.grad(gc.Graph([x, b], [f]), ["b"]))
    term = pic.by_title("b̄ = Σ (ȳ·x)")  # the rule's result: unbroadcast sums over every axis
    assert "%8 sum · f64[]" in term.texts
    assert "ȳ·x" in pic.titles()  # the product before the sum is a box of its own


def test_primal_graph_is_drawn_as_is_and_differentiated_on_request(tmp_path, logistic):
    primal = draw(tmp_path, logistic.graph, "primal")
    assert len(primal.graph_nodes()) == len(logistic.graph)
    assert all(b.fills[0] == style.ROLES["primal"].fill for b in primal.graph_nodes().values())
    both = draw(tmp_path, logistic.graph, "both", view="both")
    assert "w̄ = Σ" in both.titles() and "b̄ = z̄" not in both.titles()
    assert "also b̄, v̄₄" in both.by_title("z̄ = ȳ·y(1 − y)").texts  # wrt every input
    with pytest.raises(RenderError, match="view must be one of"):
        to_dot(logistic.graph, view="forward")


def test_adjoint_view_shows_primal_operands_faded(tmp_path, logistic_grad):
    pic = draw(tmp_path, logistic_grad, view="adjoint")
    ghosts = [b for b in pic.graph_nodes().values() if b.fills[0] == style.FADED_FILL]
    assert {b.title for b in ghosts} >= {"w", "x", "y", "v₇"}
    assert "z = v₄ + b" not in pic.titles()  # read by no rule
    assert len(pic.graph_nodes()) == len([n for n in logistic_grad.nodes if n.meta.role != "primal"]) - 1 \
        + len(ghosts)


# --- styles, legend, title, clusters ----------------------------------------------------------


def test_three_roles_have_three_styles_and_a_legend(tmp_path):
    ex = examples.logistic()
    h = gc.hvp(ex.graph, "x")
    pic = draw(tmp_path, h)
    fills = {b.fills[0] for b in pic.graph_nodes().values()}
    assert {style.ROLES[r].fill for r in ("primal", "adjoint", "tangent")} <= fills
    legend = " ".join(pic.nodes["legend"].texts)
    for words in ("primal (forward) value", "adjoint (cotangent)", "tangent (forward mode)",
                  "adjoint flow", "tangent flow"):
        assert words in legend
    assert pic.title[0] == "hvp[fwd-rev](logistic) — adjoint pass (reverse mode), JVP pass (forward mode)"
    assert "ẋ" in pic.titles()  # the direction is x's tangent input
    adjoint_edges = [a for _, _, _, a in pic.edges if a.get("stroke") == style.ROLES["adjoint"].edge]
    tangent_edges = [a for _, _, _, a in pic.edges if a.get("stroke") == style.ROLES["tangent"].edge]
    assert adjoint_edges and tangent_edges


def test_primal_only_legend_leaves_out_other_roles(tmp_path, logistic):
    legend = " ".join(draw(tmp_path, logistic.graph).nodes["legend"].texts)
    assert "primal (forward) value" in legend and "adjoint" not in legend and "tangent" not in legend


def test_scopes_are_clusters_mirrored_on_the_adjoint_side(tmp_path, logistic_grad):
    pic = draw(tmp_path, logistic_grad)
    assert set(pic.clusters) == {"model", "loss", "∇ model", "∇ loss"}
    assert vizsvg.inside(pic.by_title("z = v₄ + b"), pic.clusters["model"])
    assert vizsvg.inside(pic.by_title("z̄ = ȳ·y(1 − y)"), pic.clusters["∇ model"])
    assert vizsvg.inside(pic.by_title("R̄ = 𝓛̄·0.1"), pic.clusters["∇ loss"])
    assert not vizsvg.inside(pic.by_title("z̄ = ȳ·y(1 − y)"), pic.clusters["model"])


def test_each_adjoint_is_linked_to_its_primal_on_the_same_rank(tmp_path, logistic_grad):
    pic = draw(tmp_path, logistic_grad)
    w, w_bar = pic.by_title("w"), pic.by_title("w̄ = Σ")
    pairs = [a for t, h, _, a in pic.edges if (t, h) == (w.id, w_bar.id)]
    assert len(pairs) == 1 and pairs[0]["stroke"] == style.PAIR_EDGE and pairs[0]["stroke-dasharray"]
    assert abs(w.centre[0] - w_bar.centre[0]) < 1.0  # rankdir LR: a rank is a column


def test_collapse_folds_each_scope_into_one_box(tmp_path, logistic_grad):
    pic = draw(tmp_path, logistic_grad, collapse=True)
    folded = {b.title: b for b in pic.graph_nodes().values() if b.id.startswith("g")}
    assert set(folded) == {"model", "loss", "∇ model", "∇ loss"}
    assert "3 nodes folded" in folded["model"].texts
    loose = [n for n in logistic_grad.nodes if not n.meta.scope]
    assert len(pic.graph_nodes()) == 4 + len(loose) - 1  # minus the partial sum of w̄
    only = draw(tmp_path, logistic_grad, "model-only", collapse=["model"])
    assert "model" in only.titles() and "loss" not in only.titles()


def test_rankdir(logistic):
    assert "rankdir=TB" in to_dot(logistic.graph, rankdir="TB").source
    with pytest.raises(RenderError, match="rankdir must be one of"):
        to_dot(logistic.graph, rankdir="sideways")


# --- numbers and the finite-difference check -------------------------------------------------


def test_adjoint_values_match_the_numpy_backend_and_the_notes(tmp_path, logistic):
    g = gc.adjoints(logistic.graph)
    pic = draw(tmp_path, g, values=NOTES_POINT)
    got = gc.compile(g, backend="numpy")(**NOTES_POINT)
    by_hand = logistic.extra["backward"](**NOTES_POINT)
    for title, key in [("w̄ = Σ", "w"), ("R̄ = 𝓛̄·0.1", "R"), ("z̄ = ȳ·y(1 − y)", "z"), ("ȳ = Σ", "y"),
                       ("x̄ = z̄·w", "x"), ("𝓛̄ = 1", "𝓛")]:
        shown = pic.by_title(title).value()
        assert shown == pytest.approx(float(got[f"{key}_bar"]), rel=1e-4)
        assert shown == pytest.approx(by_hand[key], rel=1e-4)
    assert pic.by_title("y = σ(z)").value() == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-4)
    assert pic.title[1] == "at w = 1, b = 0, x = 2, t = 1"


def test_primal_view_writes_adjoint_values_on_primal_nodes(tmp_path, logistic, logistic_grad):
    pic = draw(tmp_path, logistic_grad, view="primal", values=NOTES_POINT)
    w_bar = logistic.extra["backward"](**NOTES_POINT)["w"]
    texts = pic.by_title("w").texts
    assert f"w̄ = {w_bar:.5g}" in texts


def test_check_agrees_everywhere_on_a_correct_gradient(tmp_path, logistic_grad):
    pic = draw(tmp_path, logistic_grad, values=NOTES_POINT, check=True)
    assert pic.title[2].startswith("finite differences agree with all 11 adjoints")
    assert not any(b.fills[0] == style.BAD_FILL for b in pic.graph_nodes().values())
    assert "✓ finite differences agree" in pic.by_title("w̄ = Σ").texts


def test_check_fills_a_wrong_adjoint_red(tmp_path):
    # stop_gradient makes the adjoint pass see x·sg(x) as x·const: x̄ = x, but d/dx x² = 2x
    x = gc.placeholder("x")
    f = gc.multiply(x, gc.stop_gradient(x), name="f")
    pic = draw(tmp_path, gc.grad(gc.Graph([x], [f])), values={"x": 3.0}, check=True)
    x_bar = pic.by_title("x̄ = f̄·v₁")
    assert x_bar.fills[0] == style.BAD_FILL
    assert "✗ finite differences give 6" in x_bar.texts
    assert x_bar.value() == pytest.approx(3.0)
    assert "DISAGREE with 1 of 2 adjoints" in pic.title[2]


def test_nan_and_inf_values_are_red(tmp_path):
    x = gc.placeholder("x", (2,))
    f = gc.sum(gc.log(x, name="l"), name="f")
    pic = draw(tmp_path, gc.grad(gc.Graph([x], [f])), values={"x": np.array([-1.0, 0.0])})
    assert pic.by_title("l = ln(x)").fills[0] == style.BAD_FILL
    assert "= NaN, −∞" not in pic.by_title("l = ln(x)").texts  # two values: shown as a list
    assert "= [NaN, −∞]" in pic.by_title("l = ln(x)").texts
    assert pic.by_title("f = Σ l").fills[0] == style.BAD_FILL


def test_check_needs_values():
    with pytest.raises(RenderError, match="check=True needs values="):
        to_dot(examples.logistic().graph, check=True)


# --- robustness --------------------------------------------------------------------------------

WEIRD = 'a"b{c}<d>\\e\nf é]; x [label=z'


def test_names_with_dot_and_html_syntax_are_escaped(tmp_path):
    x = gc.placeholder(WEIRD, (2,))
    with gc.scope('s"c<o>{p}\\e'):
        y = gc.multiply(x, x, name="y's & \"q\" \x01")
    g = gc.Graph([x], {'out "1" <b>': gc.sum(y)}, name='n"a<m>e\\')
    pic = draw(tmp_path, gc.grad(g), values={WEIRD: np.array([1.0, 2.0])})
    assert len(pic.graph_nodes()) == len(gc.grad(g)) - 0  # nothing injected, nothing lost
    texts = [t for b in pic.nodes.values() for t in b.texts]
    assert 'a"b{c}<d>\\e' in texts and "f é]; x [label=z" in texts  # the newline breaks the line
    assert "y's & \"q\" \\x01 = a\"b{c}<d>\\e" in texts  # a control character is shown, escaped
    assert "output 'out \"1\" <b>'" in texts
    assert 's"c<o>{p}\\e' in pic.clusters and '∇ s"c<o>{p}\\e' in pic.clusters
    assert pic.title[0] == 'grad(n"a<m>e\\) — adjoint pass (reverse mode)'
    assert WEIRD in pic.by_title('a"b{c}<d>\\e').tooltip


def test_same_graph_draws_the_same_picture():
    def build():
        return gc.grad(examples.logistic_least_squares().graph, "w")

    assert to_dot(build()).source == to_dot(build()).source


def test_formats_come_from_the_suffix(tmp_path, logistic):
    assert render(logistic.graph, tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render(logistic.graph, tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
    assert render(logistic.graph, tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")
    with pytest.raises(RenderError, match=r"cannot tell the format of .*g\.bmp"):
        render(logistic.graph, tmp_path / "g.bmp")


def _unscoped_chain(n: int) -> gc.Graph:
    x = gc.placeholder("x")
    v = x
    for _ in range(n):
        v = gc.sin(v)
    return gc.Graph([x], [v])


def test_too_many_nodes_without_scopes_is_refused_with_a_clear_message():
    with pytest.raises(GraphTooLargeError, match=r"121 boxes, more than max_nodes=50.*gc\.scope"):
        to_dot(_unscoped_chain(120), max_nodes=50)


def test_too_many_nodes_with_scopes_are_folded(tmp_path):
    x = gc.placeholder("x")
    v = x
    for k in range(6):
        with gc.scope(f"layer{k}"):
            for _ in range(10):
                v = gc.tanh(v)
    pic = draw(tmp_path, gc.Graph([x], [v]), max_nodes=30)
    assert len(pic.graph_nodes()) == 7  # x and six folded layers
    assert pic.title[-1] == "(scopes folded: 61 nodes are more than max_nodes=30)"
    with pytest.raises(GraphTooLargeError):
        to_dot(gc.Graph([x], [v]), max_nodes=30, collapse=False)


def test_dot_is_stopped_at_the_time_limit():
    source = to_dot(_unscoped_chain(800), max_nodes=5000).source
    with pytest.raises(RenderTimeoutError, match="within 0.01 s"):
        run_dot(source, "svg", timeout=0.01)


def test_missing_dot_is_a_render_error(monkeypatch, logistic):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RenderError, match="`dot` program was not found"):
        render(logistic.graph, "never-written.svg")


def test_bad_arguments_are_graphc_errors(logistic):
    with pytest.raises(gc.GraphTypeError, match="expected a graphc Graph, got list"):
        to_dot([1, 2])
    with pytest.raises(gc.GraphTypeError, match="values= must be a dict"):
        to_dot(logistic.graph, values=[1.0])
    with pytest.raises(gc.InputError, match="missing input"):
        to_dot(logistic.graph, values={"w": 1.0})
    with pytest.raises(RenderError, match="max_nodes must be a positive integer"):
        to_dot(logistic.graph, max_nodes=0)


# --- Jupyter -----------------------------------------------------------------------------------


def test_jupyter_shows_svg_or_falls_back_to_the_listing(monkeypatch, logistic):
    bundle = logistic.graph._repr_mimebundle_()
    assert bundle["text/plain"] == str(logistic.graph)
    assert bundle["image/svg+xml"].lstrip().startswith("<svg") or "<svg" in bundle["image/svg+xml"]
    assert logistic.graph._repr_svg_() == bundle["image/svg+xml"]
    assert "image/svg+xml" not in logistic.graph._repr_mimebundle_(include=["text/plain"])
    monkeypatch.setenv("PATH", "")
    assert logistic.graph._repr_mimebundle_() == {"text/plain": str(logistic.graph)}
    assert logistic.graph._repr_svg_() is None


def test_a_derivative_term_is_written_from_the_rule_itself(tmp_path):
    """maximum's rule splits the gradient evenly at ties: its picture says so, because the term
    is the graph the rule builds, written out (a hand-written formula once said [a > b])."""
    x, y = gc.placeholder("x", (3,)), gc.placeholder("y", (3,))
    pic = draw(tmp_path, gc.grad(gc.Graph([x, y], [gc.sum(gc.maximum(x, y, name="m"))]), ["x"]))
    assert "x̄ = m̄·where(x = y, 0.5, [m = x])" in pic.titles()
