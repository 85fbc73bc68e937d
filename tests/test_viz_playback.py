"""The backpropagation playback, the pipeline pages and ``render_target``: real SVG and HTML files,
parsed, with the numbers checked against the notes' backward table (computed by hand in numpy)."""

import html
import inspect
import re
import unicodedata

import numpy as np
import pytest
import vizsvg

import graphc as gc
from graphc import examples
from graphc.pipeline import trace_pipeline
from graphc.viz import RenderError, backprop_steps, render_backprop, render_pipeline, render_target, style
from graphc.viz.anatomy import analyse
from graphc.viz.values import numbers

NOTES_POINT = {"w": 0.5, "b": -1.0, "x": 3.0, "t": 0.2}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def playback(tmp_path_factory):
    ex = examples.logistic_least_squares(lam=0.1)
    out = tmp_path_factory.mktemp("backprop")
    page = render_backprop(ex.graph, out, values=NOTES_POINT)
    return ex, out, page


def table_rows(page) -> list[list[str]]:
    text = page.read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-k="\d+">(.*?)</tr>', text)
    return [[nfc(html.unescape(c)) for c in re.findall(r"<td>(.*?)</td>", row)] for row in rows]


def test_steps_reproduce_the_notes_backward_table(playback):
    ex, _, _ = playback
    by_hand = ex.extra["backward"](**NOTES_POINT)
    graph = gc.grad(ex.graph)
    an = analyse(graph)
    steps = {nfc(s.name): s for s in backprop_steps(an, numbers(an, NOTES_POINT))}
    for name, key, formula in [("𝓛̄", "𝓛", "1"), ("R̄", "R", "𝓛̄·0.1"), ("L̄", "L", "𝓛̄"),
                               ("z̄", "z", "ȳ·y(1 − y)"), ("b̄", "b", "z̄"), ("x̄", "x", "z̄·w"),
                               ("w̄", "w", "v̄₁₁·w + v̄₁₁·w + z̄·x"), ("ȳ", "y", "v̄₇")]:
        step = steps[nfc(name)]
        assert nfc(step.formula) == nfc(formula)
        np.testing.assert_allclose(step.value, by_hand[key], rtol=1e-12)
    # reverse topological order: the seed first, the inputs after everything they feed
    order = list(steps)
    assert order[0] == nfc("𝓛̄") and order.index(nfc("z̄")) < order.index(nfc("w̄"))


def test_one_frame_per_step_with_the_current_node_highlighted(playback):
    ex, out, page = playback
    rows = table_rows(page)
    frames = sorted(out.glob("frame_*.svg"))
    assert len(frames) == len(rows) == 14  # every primal node with an adjoint, constants excluded
    faded = []
    for k, (frame, row) in enumerate(zip(frames, rows)):
        pic = vizsvg.read(frame)
        current = [b for b in pic.graph_nodes().values() if style.CURRENT_BORDER in b.strokes]
        assert any(b.title.startswith(row[0]) or row[0] in " ".join(b.texts) for b in current), (k, row)
        assert pic.title[1].startswith(f"backward step {k + 1} of 14: {row[0]} = ")
        faded.append(sum(b.fills[0] == style.FADED_FILL for b in pic.graph_nodes().values()))
    assert faded[0] > 0 and faded[-1] == 0
    assert all(a >= b for a, b in zip(faded, faded[1:]))  # adjoints appear, never vanish


def test_the_last_table_matches_the_notes_by_hand(playback):
    ex, _, page = playback
    by_hand = ex.extra["backward"](**NOTES_POINT)
    shown = {row[0]: float(row[2].replace("−", "-")) for row in table_rows(page)}
    for key in ("𝓛", "R", "L", "y", "z", "w", "b", "x"):
        assert shown[nfc(key + "\u0304")] == pytest.approx(by_hand[key], rel=1e-4)


def test_fan_in_frame_writes_the_sum_with_its_numbers(playback):
    ex, out, page = playback
    by_hand = ex.extra["backward"](**NOTES_POINT)
    rows = table_rows(page)
    k = [r[0] for r in rows].index(nfc("w̄"))
    pic = vizsvg.read(out / f"frame_{k:03d}.svg")
    caption = pic.title[1]
    assert nfc("w̄ = v̄₁₁·w + v̄₁₁·w + z̄·x = ") in caption and "running sum" in caption
    terms = re.search(r"= (−?[\d.e−]+) \+ (−?[\d.e−]+) \+ (−?[\d.e−]+) =", caption).groups()
    values = [float(t.replace("−", "-")) for t in terms]
    lam, w = ex.extra["lambda"], NOTES_POINT["w"]
    np.testing.assert_allclose(values, [lam * w / 2, lam * w / 2, by_hand["z"] * NOTES_POINT["x"]], rtol=1e-4)
    term_boxes = [b for b in pic.graph_nodes().values() if style.CURRENT_BORDER in b.strokes
                  and b.title.startswith(nfc("w̄ +="))]
    assert len(term_boxes) == 3


def test_playback_needs_values_and_an_adjoint():
    ex = examples.logistic_least_squares()
    with pytest.raises(RenderError, match="needs values="):
        render_backprop(ex.graph, "unused", values=None)
    with pytest.raises(RenderError, match="plays back the adjoint pass"):
        render_backprop(gc.jvp(ex.graph, "w"), "unused", values={**NOTES_POINT, "w_dot": 1.0})


def test_pipeline_pages_show_every_stage_in_order(tmp_path):
    ex = examples.quadratic(3)
    stages = trace_pipeline(ex.graph, wrt="x", backend="numba")
    index = render_pipeline(ex.graph, tmp_path, wrt="x", values=ex.inputs(np.random.default_rng(0)))
    files = sorted(tmp_path.glob("*.svg"))
    assert [f.name[3:-4] for f in files] == [re.sub(r"[^a-z0-9]+", "-", s.name.lower()).strip("-")
                                             for s in stages]
    text = index.read_text(encoding="utf-8")
    assert text.count('<section class="stage"') == len(stages)
    assert "<script" in text and "src=" not in text and "href=" not in text  # self-contained
    forward, adjoint = vizsvg.read(files[0]), vizsvg.read(files[1])
    assert not any(style.NEW_BORDER in b.strokes for b in forward.graph_nodes().values())
    added = [b for b in adjoint.graph_nodes().values() if style.NEW_BORDER in b.strokes]
    before = {n.digest for n in stages[0].graph.nodes}
    partial = analyse(stages[1].graph).partial_of  # folded into their fan-in's Σ box
    fresh = [n for n in stages[1].graph.nodes if n.digest not in before and n.serial not in partial]
    assert len(added) == len(fresh) > 0
    assert html.escape(str(stages[1]).splitlines()[1], quote=True).replace("&#x27;", "&#39;") in text
    lowered = vizsvg.read(files[-1])
    groups = stages[-1].groups
    assert groups, "the numba backend lowers the gradient into at least one fused kernel"
    assert {f"fused kernel {k}" for k in range(len(groups))} <= set(lowered.clusters)


def test_hovering_shows_provenance(tmp_path):
    x = gc.placeholder("x", (3,))
    f = gc.sum(gc.multiply(x, x, name="y"), name="f")  # the line the tooltip must name
    line = inspect.currentframe().f_lineno - 1
    render_pipeline(gc.Graph([x], [f]), tmp_path, wrt="x")
    adjoint = vizsvg.read(next(tmp_path.glob("01-*.svg")))
    terms = [b for b in adjoint.graph_nodes().values() if b.title == nfc("x̄ += ȳ·x")]
    assert len(terms) == 2
    tip = terms[0].tooltip
    assert "made by: adjoint pass, rule vjp mul[" in tip
    assert "derived from: y (mul)" in tip
    assert f"test_viz_playback.py:{line}" in tip


def test_render_target_takes_an_example_name_or_a_graph_file(tmp_path):
    picture = render_target("logistic_least_squares", tmp_path / "lls.svg")
    pic = vizsvg.read(picture)
    assert nfc("w̄ = Σ") in pic.titles() and pic.title[1].startswith("at w = ")
    saved = tmp_path / "graph.json"
    gc.save(examples.logistic().graph, saved)
    assert len(vizsvg.read(render_target(saved, tmp_path / "file.svg")).graph_nodes()) == 7
    index = render_target("logistic_least_squares", tmp_path / "pages")
    assert index.name == "index.html" and (tmp_path / "pages" / "backprop.html").is_file()
    with pytest.raises(RenderError, match="neither an example .*logistic_least_squares.* nor a graph file"):
        render_target("no_such_example", tmp_path / "x.svg")
    with pytest.raises(RenderError, match="give a picture"):
        render_target("logistic", tmp_path / "x.txt")
