"""``render_pipeline``: one picture per stage of compilation, and a page showing them in order.

The stages come from :func:`graphc.pipeline.trace_pipeline`: the forward graph, its adjoint,
optionally the Hessian-vector product, the graph after each optimization pass, and the numba
backend's fusion groups (drawn as clusters). In each picture the nodes the stage added (by content:
a node a pass merely rebuilt is not new) have a purple border.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from graphc.backend_registry import list_backends
from graphc.ir import Graph
from graphc.pipeline import trace_pipeline

from .dot import MAX_NODES, TIMEOUT, prepare, run_dot, scene_to_dot
from .html import clear_stale, pipeline_page


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "stage"


def _stage_values(graph: Graph, values: dict | None) -> dict | None:
    """The values, when they cover the stage's inputs (an HVP stage also needs its direction)."""
    if not values:
        return None
    names = {k if isinstance(k, str) else k.attrs["name"] for k in values}
    if not set(graph.input_names) <= names:
        return None
    return {k: v for k, v in values.items()
            if (k if isinstance(k, str) else k.attrs["name"]) in graph.input_names}


def render_pipeline(graph: Graph, outdir, wrt=None, hvp: bool = False, *, values: dict | None = None,
                    output=0, backend: str | None = "numba", optimize: bool = True, rankdir: str = "LR",
                    max_nodes: int = MAX_NODES, timeout: float = TIMEOUT, png: bool = False) -> Path:
    """Write ``NN-<stage>.svg`` per stage and a self-contained ``index.html`` into ``outdir``;
    returns the page's path. ``wrt``/``hvp``/``output``/``optimize`` go to ``trace_pipeline``;
    ``backend`` names the backend whose fusion groups form the last stage (skipped when that
    backend is not installed); ``values`` puts numbers on every stage whose inputs they cover;
    ``png=True`` also writes each picture as PNG."""
    usable = backend if backend is None or backend in list_backends() else None
    stages = trace_pipeline(graph, wrt=wrt, output=output, hvp=hvp, optimize=optimize, backend=usable)
    outdir = Path(os.fspath(outdir))
    outdir.mkdir(parents=True, exist_ok=True)
    clear_stale(outdir, r"\d{2}-[a-z0-9-]+\.(svg|png)")
    pages, before = [], None
    for k, stage in enumerate(stages):
        g = stage.graph
        digests = {n.digest for n in g.nodes}
        new = [n for n in g.nodes if before is not None and n.digest not in before]
        removed = len(before - digests) if before is not None else 0
        view = "primal" if stage.kind == "forward" else None
        title = [f"stage {k + 1}: {stage.name} ({stage.kind}) — {g.name or 'graph'}",
                 f"{len(g)} nodes" + (f", {len(new)} added, {removed} gone" if k else "")]
        scene = prepare(g, view=view, values=_stage_values(g, values), title=title,
                        marks={n.serial: "new" for n in new}, groups=stage.groups, max_nodes=max_nodes)
        source = scene_to_dot(scene, rankdir=rankdir).source
        svg = run_dot(source, "svg", timeout).decode("utf-8")
        (outdir / f"{k:02d}-{_slug(stage.name)}.svg").write_text(svg, encoding="utf-8")
        if png:
            (outdir / f"{k:02d}-{_slug(stage.name)}.png").write_bytes(run_dot(source, "png", timeout))
        summary = title[1] + (f", {len(stage.groups)} fused kernels" if stage.groups is not None else "")
        pages.append({"name": stage.name, "kind": stage.kind, "svg": svg, "listing": str(stage),
                      "summary": summary})
        before = digests
    if backend is not None and usable is None:
        pages[-1]["summary"] += f" (backend {backend!r} is not installed: no fusion stage)"
    index = outdir / "index.html"
    index.write_text(pipeline_page(f"compiling {graph.name or 'a graph'}, stage by stage", pages),
                     encoding="utf-8")
    return index
