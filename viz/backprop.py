"""``render_backprop``: the adjoint pass played back, one frame per reverse-topological step.

Step k takes the k-th node vᵢ from the output backwards and computes its adjoint the way the notes
do, v̄ᵢ = Σⱼ v̄ⱼ ∂vⱼ/∂vᵢ over its children vⱼ: the frame highlights vᵢ and v̄ᵢ, draws the incoming
terms with a dashed blue border, fades the adjoints not computed yet, and its caption writes the
sum with its numbers and the running total. The last frame's table is the notes' backward table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from graphc.ir import Graph, Node

from .anatomy import Anatomy, analyse
from .dot import TIMEOUT, derive_if_needed, prepare, run_dot, scene_to_dot
from .errors import RenderError
from .html import backprop_page, clear_stale
from .labels import array_text, bar
from .values import Numbers, numbers


@dataclass
class Step:
    """One row of the backward table: v̄ᵢ = Σ terms = value."""

    node: Node  # vᵢ
    holder: Node  # the node holding v̄ᵢ
    name: str  # "w̄"
    formula: str  # "z̄·x + v̄₁₁·w + v̄₁₁·w"
    numbers: str  # "−0.025 + 0.05 + 0.05"
    running: list[str]  # the running sum after each term
    value: object  # the adjoint's value (numpy array)

    @property
    def caption(self) -> str:
        parts = [self.name, self.formula]
        if self.numbers and self.numbers != self.formula:
            parts.append(self.numbers)
        value = array_text(self.value)
        if value != parts[-1]:
            parts.append(value)
        return " = ".join(parts)


def backprop_steps(an: Anatomy, nums: Numbers) -> list[Step]:
    """The steps of the backward pass, from the output back to the inputs."""
    steps = []
    values = nums.values
    for node in reversed(an.graph.nodes):
        holder = an.adjoint.get(node.serial)
        if node.meta.role != "primal" or holder is None or node.op == "constant":
            continue
        name = bar(an.names[node.serial])
        terms = an.contributions.get(node.serial, [])
        if not terms:  # the seed
            text = an.titles[holder.serial].split(" = ", 1)[-1]
            steps.append(Step(node, holder, name, text, "", [], values[holder.serial]))
            continue
        formula = " + ".join(c.term for c in terms)
        shown = [array_text(values[c.node.serial], max_items=3) for c in terms]
        running, total = [], None
        for c in terms:
            v = values[c.node.serial]
            total = v if total is None else total + v
            running.append(array_text(total, max_items=3))
        steps.append(Step(node, holder, name, formula, " + ".join(shown), running, values[holder.serial]))
    return steps


def _computed_at(an: Anatomy, steps: list[Step]) -> dict[int, int]:
    """The step at which each derived node is computed (its playback frame)."""
    at: dict[int, int] = {}
    step_of = {s.node.serial: k for k, s in enumerate(steps)}
    partials: dict[int, list[int]] = {}
    for partial, final in an.partial_of.items():
        partials.setdefault(final, []).append(partial)
    for k, s in enumerate(steps):
        at[s.holder.serial] = min(at.get(s.holder.serial, k), k)
        for partial in partials.get(s.holder.serial, ()):
            at[partial] = k
    for c_serial, c in an.result_of.items():
        if c.consumer.serial in step_of:
            at.setdefault(c_serial, step_of[c.consumer.serial])
    for helper, result in an.helper_of.items():
        if result.serial in at:
            at.setdefault(helper, at[result.serial])
    return at


def render_backprop(graph: Graph, outdir, values: dict, *, wrt=None, output=0, rankdir: str = "LR",
                    timeout: float = TIMEOUT, max_nodes: int = 400, png: bool = False) -> Path:
    """Write ``frame_000.svg``, ... and ``backprop.html`` (slider, table) into ``outdir``; returns
    the page's path. A primal graph is differentiated first (``gc.grad`` with respect to ``wrt``,
    default every float input); ``values`` gives the inputs at which the numbers are computed.
    ``png=True`` also writes each frame as PNG (for slides)."""
    if values is None:
        raise RenderError("render_backprop needs values= (the inputs at which to compute the numbers)")
    graph, _ = derive_if_needed(graph, "both", wrt, output)
    if not any(n.meta.rule in ("seed", "cotangent input") for n in graph.nodes):
        raise RenderError("render_backprop plays back the adjoint pass: give a primal graph or one made "
                          "by gc.grad / gc.vjp / gc.adjoints")
    an = analyse(graph)
    nums = numbers(an, values)
    steps = backprop_steps(an, nums)
    at = _computed_at(an, steps)
    derived = [n for n in graph.nodes if n.meta.role != "primal"]
    outdir = Path(os.fspath(outdir))
    outdir.mkdir(parents=True, exist_ok=True)
    clear_stale(outdir, r"frame_\d{3}\.(svg|png)")
    frames, table = [], []
    for k, step in enumerate(steps):
        marks = {n.serial: "faded" for n in derived if at.get(n.serial, 0) > k}
        for c in an.contributions.get(step.node.serial, []):
            marks[c.node.serial] = "term"
        marks[step.node.serial] = "current"
        marks[step.holder.serial] = "current"
        caption = f"backward step {k + 1} of {len(steps)}: {step.caption}"
        if len(step.running) > 1:
            caption += "   (running sum " + " → ".join(step.running) + ")"
        scene = prepare(graph, view="both", marks=marks, title=[graph.name or "graph", caption],
                        anatomy=an, nums=nums, max_nodes=max_nodes)
        source = scene_to_dot(scene, rankdir=rankdir).source
        svg = run_dot(source, "svg", timeout).decode("utf-8")
        (outdir / f"frame_{k:03d}.svg").write_text(svg, encoding="utf-8")
        if png:
            (outdir / f"frame_{k:03d}.png").write_bytes(run_dot(source, "png", timeout))
        frames.append({"svg": svg, "caption": caption})
        table.append([step.name, step.formula, array_text(step.value)])
    html = backprop_page(f"backpropagation through {graph.name or 'the graph'}", frames, table,
                         ["adjoint", "= Σ v̄ⱼ ∂vⱼ/∂vᵢ", "value"])
    page_path = outdir / "backprop.html"
    page_path.write_text(html, encoding="utf-8")
    return page_path
