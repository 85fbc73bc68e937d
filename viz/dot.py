"""``to_dot`` and ``render``: a graph drawn with graphviz.

The DOT source is written here statement by statement (user text goes through
:mod:`viz.labels`' escapes, never through string concatenation of raw names) and wrapped in a
``graphviz.Digraph``. ``dot`` itself runs in a subprocess with a time limit, and graphs over a node
limit are folded by scope or refused with a :class:`GraphTooLargeError`, so rendering never hangs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import graphviz

from graphc.errors import GraphTypeError
from graphc.ir import Graph

from .anatomy import Anatomy, analyse
from .errors import GraphTooLargeError, RenderError, RenderTimeoutError
from .labels import dot_string, html
from .scene import Item, Scene, build_scene, default_title
from .style import (
    BAD_BORDER,
    BAD_FILL,
    CURRENT_BORDER,
    FADED_FILL,
    FADED_TEXT,
    FONT,
    LOOP_EDGE,
    META_TEXT,
    NEW_BORDER,
    PAIR_EDGE,
    READ_EDGE,
    ROLES,
    SHAPES,
    legend_html,
    role_style,
)
from .values import numbers

MAX_NODES = 1500  # boxes dot lays out in well under a minute (see benchmarks/README.md)
TIMEOUT = 120.0  # seconds
XLABEL_ABOVE = 150  # boxes; bigger pictures put edge shapes in xlabels (6x faster layout at 1,000)
VIEWS = ("primal", "adjoint", "both")
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
_LINE_STYLE = {  # point size, colour (None: the role's text colour), bold
    "meta": (9, META_TEXT, False),
    "alias": (9, None, False),
    "output": (9, "#1b2631", True),
    "value": (11, "#000000", True),
    "adjoint value": (10, ROLES["adjoint"].text, True),
    "check ok": (9, "#1e8449", False),
    "check bad": (10, BAD_BORDER, True),
}


# ----------------------------------------------------------------------------------------------
# Options to scene


def derive_if_needed(graph: Graph, view: str | None, wrt=None, output=0) -> tuple[Graph, str]:
    """The graph to draw and the view: a primal graph asked for its adjoint gets ``gc.grad``."""
    if not isinstance(graph, Graph):
        raise GraphTypeError(f"expected a graphc Graph, got {type(graph).__name__}")
    derived = any(n.meta.role != "primal" for n in graph.nodes)
    if view is None:
        view = "both" if derived else "primal"
    if view not in VIEWS:
        raise RenderError(f"view must be one of {', '.join(map(repr, VIEWS))}, got {view!r}")
    if view != "primal" and not derived:
        from graphc.adjoint import grad

        graph = grad(graph, wrt=wrt, output=output)
    return graph, view


def prepare(graph: Graph, *, view=None, values=None, check=False, collapse=None, max_nodes=MAX_NODES,
            wrt=None, output=0, title=None, edge_labels=True, marks=None,
            anatomy: Anatomy | None = None, nums=None, groups=None) -> Scene:
    """Everything ``to_dot`` decides before writing DOT (shared by the pipeline and playback)."""
    graph, view = derive_if_needed(graph, view, wrt, output)
    if check and values is None:
        raise RenderError("check=True needs values= (the inputs at which to compare with finite differences)")
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise RenderError(f"max_nodes must be a positive integer, got {max_nodes!r}")
    has_scopes = any(n.meta.scope for n in graph.nodes)
    if len(graph) > 4 * max_nodes and not (collapse is None and has_scopes) and collapse in (None, False):
        _refuse(len(graph), max_nodes, has_scopes)
    an = anatomy if anatomy is not None else analyse(graph)
    if nums is None and values is not None:
        nums = numbers(an, values, check=check)
    lines = [title] if isinstance(title, str) else list(title or default_title(an, nums, values))
    build = dict(view=view, nums=nums, marks=marks, title=lines, edge_labels=edge_labels, groups=groups)
    boxes = sum(1 for n in graph.nodes if n.serial not in an.partial_of
                and (view == "both" or (n.meta.role == "primal") == (view == "primal")))
    folded_note = f"(scopes folded: {len(graph)} nodes are more than max_nodes={max_nodes})"
    if boxes > max_nodes and collapse is None and has_scopes:  # fold at once, without a full scene
        collapse = True
        lines.append(folded_note)
    scene = build_scene(an, collapse=collapse, **build)
    if len(scene.items) > max_nodes and collapse is None and has_scopes:  # faded copies tipped it
        lines.append(folded_note)
        scene = build_scene(an, collapse=True, **build)
    if len(scene.items) > max_nodes:
        _refuse(len(scene.items), max_nodes, has_scopes)
    return scene


def _refuse(count: int, max_nodes: int, has_scopes: bool) -> None:
    hint = ("fold scopes with collapse=True (or a depth, or scope names)" if has_scopes
            else "group the model with gc.scope(...) so it can be folded")
    raise GraphTooLargeError(
        f"the picture would have {count} boxes, more than max_nodes={max_nodes}: graphviz would take "
        f"too long to lay it out. {hint[0].upper() + hint[1:]}, draw view='primal', or raise max_nodes"
    )


# ----------------------------------------------------------------------------------------------
# Scene to DOT


def _label(item: Item) -> str:
    style = role_style(item.role)
    faded = item.mark == "faded" or item.kind == "ghost"
    title_color = FADED_TEXT if faded else style.text
    size = 12 if item.kind != "ghost" else 10
    parts = [f'<FONT POINT-SIZE="{size}" COLOR="{title_color}"><B>{html(item.title)}</B></FONT>']
    for text, kind in item.lines:
        point, color, bold = _LINE_STYLE.get(kind, (9, META_TEXT, False))
        color = FADED_TEXT if faded else (color or style.text)
        body = f"<B>{html(text)}</B>" if bold else html(text)
        parts.append(f'<FONT POINT-SIZE="{point}" COLOR="{color}">{body}</FONT>')
    rows = "".join(f"<TR><TD>{part}</TD></TR>" for part in parts)  # a table sizes mixed fonts right
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def _node_statement(item: Item) -> str:
    style = role_style(item.role)
    shape, node_style = SHAPES[item.kind]
    fill, border, width = style.fill, style.border, 1.2
    if item.kind == "ghost" or item.mark == "faded":
        fill, border = FADED_FILL, FADED_TEXT
    if item.bad:
        fill, border, width = BAD_FILL, BAD_BORDER, 2.0
    if item.mark == "new":
        border, width = NEW_BORDER, 3.0
    elif item.mark == "current":
        border, width = CURRENT_BORDER, 4.0
    elif item.mark == "term":
        border, width = CURRENT_BORDER, 2.5
        node_style += ",dashed"
    attrs = [f"id={dot_string(item.id)}", f"label={_label(item)}", f"shape={shape}",
             f"style={dot_string(node_style)}", f"fillcolor={dot_string(fill)}",
             f"color={dot_string(border)}", f"penwidth={width}", f"tooltip={dot_string(item.tooltip)}"]
    if item.output:
        attrs.append("peripheries=2")
    if item.kind == "sum":
        attrs.append('margin="0.02,0.02"')  # an oval around a table grows fast
    return f"{item.id} [{', '.join(attrs)}]"


def _edge_statement(k: int, link, scene: Scene, faded: set[str]) -> str:
    attrs = [f'id="e{k}_{link.tail}_{link.head}"']  # the direction of flow, also when drawn reversed
    tail, head = link.tail, link.head
    if link.kind in ("adjoint", "tangent", "read") and (tail in faded or head in faded):
        attrs += [f'color="{FADED_TEXT}"', f'fontcolor="{FADED_TEXT}"', "style=dashed"]
        if link.kind == "adjoint" and scene.view == "both":
            tail, head = head, tail
            attrs.append("dir=back")
        return f"{tail} -> {head} [{', '.join(attrs)}]"
    if link.kind == "loop":  # drawn backwards without pulling the layout: the loop closes
        attrs += ["style=dashed", f'color="{LOOP_EDGE}"', f'fontcolor="{LOOP_EDGE}"', "constraint=false",
                  "penwidth=1.4"]
        if link.label:
            attrs.append(f'label=<<FONT POINT-SIZE="8">{html(link.label)}</FONT>>')
        return f"{tail} -> {head} [{', '.join(attrs)}]"
    if link.kind == "pair":
        attrs += ["style=dotted", f'color="{PAIR_EDGE}"', "arrowhead=none", "constraint=false",
                  "penwidth=1.2"]
        return f"{tail} -> {head} [{', '.join(attrs)}]"
    if link.kind == "adjoint":
        s = ROLES["adjoint"]
        attrs += [f'color="{s.edge}"', f"penwidth={s.edge_width}", f'fontcolor="{s.edge}"']
        if scene.view == "both":  # drawn against the data flow, so x̄ sits beside x
            tail, head = head, tail
            attrs.append("dir=back")
    elif link.kind == "tangent":
        s = ROLES["tangent"]
        attrs += [f'color="{s.edge}"', f"penwidth={s.edge_width}", f'fontcolor="{s.edge}"']
    elif link.kind == "read":
        attrs += [f'color="{READ_EDGE}"', "style=dashed", "penwidth=0.9", f'fontcolor="{META_TEXT}"']
    else:
        attrs += [f'color="{ROLES["primal"].edge}"', f'fontcolor="{META_TEXT}"']
    if link.label:
        # a label is laid out as a node of its own (well placed, slow); an xlabel is placed after
        # layout (cheap): teaching-size pictures get labels, big ones xlabels
        kind = "xlabel" if len(scene.items) > XLABEL_ABOVE else "label"
        attrs.append(f'{kind}=<<FONT POINT-SIZE="8">{html(link.label)}</FONT>>')
    return f"{tail} -> {head} [{', '.join(attrs)}]"


def _clusters(scene: Scene) -> tuple[dict, dict]:
    """Cluster tree: key (role, path) -> child keys and item ids, in first-seen order."""
    children: dict[tuple, list] = {(): []}
    members: dict[tuple, list[str]] = {(): []}
    for item in scene.items:
        parent: tuple = ()
        for depth in range(1, len(item.cluster) + 1):
            key = (item.cluster_role or item.role, item.cluster[:depth])
            if key not in children:
                children[key], members[key] = [], []
                children[parent].append(key)
            parent = key
        members[parent].append(item.id)
    return children, members


def scene_to_dot(scene: Scene, rankdir: str = "LR", legend: bool = True) -> graphviz.Digraph:
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise RenderError(f"rankdir must be one of 'LR', 'RL', 'TB', 'BT', got {rankdir!r}")
    dot = graphviz.Digraph("graphc")
    left = '<BR ALIGN="LEFT"/>'
    title = "".join(
        [f'<FONT POINT-SIZE="16"><B>{html(scene.title[0], left)}</B></FONT>{left}'] +
        [f'<FONT POINT-SIZE="11">{html(t, left)}</FONT>{left}' for t in scene.title[1:]]
    ) if scene.title else ""
    dot.body.append(
        f"\tgraph [rankdir={rankdir}, newrank=true, fontname={dot_string(FONT)}, labelloc=t, "
        f"labeljust=l, label=<{title}>, nodesep=0.3, ranksep=0.45, pad=0.3, bgcolor=white, "
        f'charset="UTF-8", outputorder=edgesfirst]\n')
    dot.body.append(f"\tnode [fontname={dot_string(FONT)}, margin=\"0.12,0.05\"]\n")
    dot.body.append(f"\tedge [fontname={dot_string(FONT)}, arrowsize=0.7]\n")
    by_id = {item.id: item for item in scene.items}
    children, members = _clusters(scene)
    counter = iter(range(len(children)))
    stack: list = [((), 1, False)]
    while stack:  # clusters opened and closed with an explicit stack (no recursion)
        key, depth, closing = stack.pop()
        pad = "\t" * depth
        if closing:
            dot.body.append(pad[:-1] + "}\n")
            continue
        if key:
            role, path = key
            s = role_style(role)
            cid = f"cluster_{next(counter)}"
            dot.body.append(f"{pad[:-1]}subgraph {cid} {{\n")
            dot.body.append(
                f'{pad}graph [id="{cid}", label=<<B>{html(path[-1])}</B>>, style="rounded,filled", '
                f'fillcolor="{s.cluster_fill}", color="{s.cluster_border}", fontcolor="{s.text}", '
                f"fontsize=12, labeljust=l, tooltip={dot_string(' / '.join(path))}]\n")
            stack.append((key, depth, True))
        for iid in members[key]:
            dot.body.append(f"{pad}{_node_statement(by_id[iid])}\n")
        for child in reversed(children[key]):
            stack.append((child, depth + 1, False))
    faded = {item.id for item in scene.items if item.mark == "faded"}
    for k, link in enumerate(scene.links):
        dot.body.append(f"\t{_edge_statement(k, link, scene, faded)}\n")
        if link.align:
            dot.body.append(f"\t{{rank=same; {link.tail}; {link.head}}}\n")
    if legend:
        flags = dict(
            bad=any(i.bad for i in scene.items), new=any(i.mark == "new" for i in scene.items),
            playback=any(i.mark in ("current", "faded") for i in scene.items),
            sums=any(i.kind == "sum" for i in scene.items),
            reads=any(link.kind == "read" for link in scene.links),
            pairs=any(link.kind == "pair" for link in scene.links),
            kernels=any(i.cluster_role == "kernel" for i in scene.items), loops=bool(scene.loops))
        table = legend_html(scene.roles, **flags)
        dot.body.append(f'\tlegend [id="legend", shape=plaintext, label={table}]\n')
    return dot


# ----------------------------------------------------------------------------------------------
# Running dot


def dot_available() -> bool:
    return shutil.which("dot") is not None


def run_dot(source: str, fmt: str = "svg", timeout: float = TIMEOUT) -> bytes:
    """``dot -T<fmt>`` on the source, stopped after ``timeout`` seconds."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError("graphviz's `dot` program was not found on PATH; install graphviz "
                          "(e.g. `apt-get install graphviz` or `brew install graphviz`)")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"dot did not finish laying out the picture within {timeout:g} s and was stopped; "
            f"fold scopes (collapse=True), draw fewer nodes, or pass a larger timeout="
        ) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"dot failed (exit code {done.returncode}): {message[:2000]}")
    return done.stdout


def to_dot(graph: Graph, *, view: str | None = None, values: dict | None = None, check: bool = False,
           collapse=None, rankdir: str = "LR", max_nodes: int = MAX_NODES, wrt=None, output=0,
           title: str | None = None, edge_labels: bool = True, legend: bool = True,
           highlight=None) -> graphviz.Digraph:
    """The graph as a ``graphviz.Digraph``.

    ``view``: "primal", "adjoint" or "both" (default: "both" for a derived graph, else "primal"; a
    primal graph asked for its adjoint is differentiated with ``gc.grad(graph, wrt, output)``).
    ``values``: input name -> array; every node then shows its value (numpy backend) and
    ``check=True`` compares every adjoint with finite differences, filling disagreeing, NaN or
    infinite nodes red. ``collapse``: True (top-level scopes), a depth, or scope names to fold.
    ``highlight``: nodes to mark as new. Graphs over ``max_nodes`` boxes are folded by scope when
    ``collapse`` is left to None and they have scopes, else refused with GraphTooLargeError.
    """
    marks = {n.serial: "new" for n in highlight} if highlight else None
    scene = prepare(graph, view=view, values=values, check=check, collapse=collapse, max_nodes=max_nodes,
                    wrt=wrt, output=output, title=title, edge_labels=edge_labels, marks=marks)
    return scene_to_dot(scene, rankdir=rankdir, legend=legend)


def render(graph: Graph, path, *, timeout: float = TIMEOUT, **options) -> Path:
    """Draw ``graph`` into ``path``; the format comes from the suffix (.svg, .png, .pdf, .dot/.gv).
    Takes the options of :func:`to_dot`. Returns the path written."""
    path = Path(os.fspath(path))
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RenderError(f"cannot tell the format of {str(path)!r} from its suffix; use one of "
                          f"{', '.join(sorted(FORMATS))}")
    source = to_dot(graph, **options).source
    data = source.encode("utf-8") if fmt == "dot" else run_dot(source, fmt, timeout)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
