"""``render_target``: what ``graphc render FILE_OR_EXAMPLE -o OUT`` does.

The target is the name of one of the notes' examples (:mod:`graphc.examples`) or a graph file
(:func:`graphc.serialize.load`). OUT with a picture suffix (.svg, .png, .pdf, .dot) gets one
picture, forward and adjoint together; any other OUT is a folder that gets the pipeline pages
(``index.html``) and, for an example, the backpropagation playback (``backprop.html``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graphc import examples
from graphc.ir import Graph

from .backprop import render_backprop
from .dot import FORMATS, render
from .errors import RenderError
from .pipeline import render_pipeline


def example_names() -> list[str]:
    return [ex.name for ex in examples.all_examples()]


def load_target(name_or_path) -> tuple[Graph, examples.Example | None]:
    """The graph a command-line target names, and its example when it is one."""
    text = os.fspath(name_or_path)
    for ex in examples.all_examples():
        if ex.name == text:
            return ex.graph, ex
    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        if not path.is_file():
            raise RenderError(f"graph file {text!r} does not exist")
        from graphc.serialize import load

        return load(path), None
    raise RenderError(f"{text!r} is neither an example ({', '.join(example_names())}) "
                      f"nor a graph file (.json)")


def render_target(name_or_path, out, **options) -> Path:
    """Render an example or a graph file into ``out`` (a picture, or a folder of pages); returns
    what was written: the picture, or the folder's ``index.html``. For an example the picture
    shows its gradient with respect to the notes' variable, with numbers at a fixed random point,
    unless ``options`` say otherwise (they are :func:`graphc.viz.to_dot`'s)."""
    graph, ex = load_target(name_or_path)
    out = Path(os.fspath(out))
    if ex is not None:
        options.setdefault("wrt", ex.wrt)
        options.setdefault("values", ex.inputs(np.random.default_rng(0)))
    if out.suffix.lower() in FORMATS:
        if ex is not None:
            options.setdefault("view", "both")
        return render(graph, out, **options)
    if out.suffix:
        raise RenderError(f"cannot write {str(out)!r}: give a picture ({', '.join(sorted(FORMATS))}) "
                          f"or a folder for the pipeline pages")
    allowed = {"wrt", "values", "hvp", "output", "backend", "optimize", "rankdir", "max_nodes", "timeout"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise RenderError(f"options {unknown} do not apply to pipeline pages; they take {sorted(allowed)}")
    index = render_pipeline(graph, out, **options)
    if ex is not None:
        # every input's adjoint, like the notes' backward table (w̄, b̄ and x̄)
        render_backprop(graph, out, values=options["values"], output=options.get("output", 0),
                        rankdir=options.get("rankdir", "LR"))
    return index


def write_example_pages(folder="graphc-demo") -> Path:
    """The pipeline pages of every notes example, the backpropagation playback of the logistic
    least-squares model at the notes' point, and an ``index.html`` linking them (``graphc demo``)."""
    from .html import examples_page

    folder = Path(os.fspath(folder))
    rng = np.random.default_rng(0)
    links = []
    for ex in examples.all_examples():
        render_pipeline(ex.graph, folder / ex.name, wrt=ex.wrt, values=ex.inputs(rng))
        links.append((f"{ex.name}/index.html",
                      f"{ex.name}: {ex.title}, every stage of compiling d/d{ex.wrt}"))
    ex = examples.logistic_least_squares()
    render_backprop(ex.graph, folder / ex.name, values={"w": 1.0, "b": 0.0, "x": 2.0, "t": 1.0})
    links.append((f"{ex.name}/backprop.html", f"{ex.name}: the backward pass played back step by step"))
    index = folder / "index.html"
    index.write_text(examples_page("graphc: the notes' examples, drawn", links), encoding="utf-8")
    return index
