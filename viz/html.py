"""Self-contained HTML pages: the pipeline (one picture per stage, in order, with its listing) and
the backpropagation playback (one frame per step, with a slider and the notes' backward table).

Pictures are inlined as SVG (no external files, scripts or fonts), so a page can be mailed or put
on a course website as it is. Hovering a node shows its provenance (the tooltip graphviz wrote
into the SVG) in a side panel.
"""

from __future__ import annotations

import re

from .labels import page

_STYLE = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 0; color: #17202a; }
header { padding: 10px 18px; background: #f4f6f7; border-bottom: 1px solid #d5d8dc; }
header h1 { font-size: 20px; margin: 4px 0; }
nav button { margin: 2px; padding: 4px 9px; border: 1px solid #aab7b8; background: white;
  border-radius: 4px; cursor: pointer; font-size: 13px; }
nav button.on { background: #2c3e50; color: white; }
main { display: flex; gap: 12px; padding: 12px 18px; align-items: flex-start; }
.picture { flex: 1 1 auto; overflow: auto; border: 1px solid #e5e8e8; max-height: 80vh; }
.picture svg { max-width: 100%; height: auto; }
aside { flex: 0 0 360px; }
aside pre, .listing { font-family: 'DejaVu Sans Mono', monospace; font-size: 12px; white-space: pre-wrap;
  background: #fbfcfc; border: 1px solid #e5e8e8; padding: 8px; margin: 0 0 10px 0; }
.stage, .frame { display: none; }
.stage.on, .frame.on { display: block; }
table.steps { border-collapse: collapse; font-size: 13px; margin-top: 6px; }
table.steps td, table.steps th { border: 1px solid #d5d8dc; padding: 3px 8px; text-align: left; }
table.steps tr.done { background: #fdebd0; }
table.steps tr.now { background: #aed6f1; }
.caption { font-size: 15px; margin: 6px 0; }
"""

_HOVER = """
function provenance(root, panel) {
  root.querySelectorAll('g.node').forEach(function (g) {
    g.addEventListener('mouseenter', function () {
      var a = g.querySelector('a');
      var text = a ? (a.getAttributeNS('http://www.w3.org/1999/xlink', 'title') ||
                      a.getAttribute('xlink:title') || a.getAttribute('title') || '') : '';
      panel.textContent = text || '(no provenance recorded)';
    });
  });
}
"""


def clear_stale(folder, pattern: str) -> None:
    """Remove pictures an earlier run wrote under names this run may not reuse (fewer stages)."""
    for path in folder.iterdir():
        if path.is_file() and re.fullmatch(pattern, path.name):
            path.unlink()


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG document made embeddable: no XML prolog or doctype, ids prefixed to stay unique."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return re.sub(r'\bid="', f'id="{prefix}', svg).strip()


def _document(title: str, body: str, script: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{page(title)}</title><style>{_STYLE}</style></head><body>\n{body}\n"
            f"<script>{_HOVER}{script}</script></body></html>\n")


def pipeline_page(title: str, stages: list[dict]) -> str:
    """``stages``: dicts with name, kind, svg, listing, summary (new nodes etc.)."""
    buttons = "".join(
        f'<button data-k="{k}" title="{page(s["kind"])}">{k + 1}. {page(s["name"])}</button>'
        for k, s in enumerate(stages))
    blocks = []
    for k, s in enumerate(stages):
        blocks.append(
            f'<section class="stage" id="stage{k}"><div class="caption"><b>stage {k + 1} of '
            f'{len(stages)}: {page(s["name"])}</b> ({page(s["kind"])}) — {page(s["summary"])}</div>'
            f'<main><div class="picture">{inline_svg(s["svg"], f"s{k}_")}</div>'
            f'<aside><b>provenance</b> (hover a node)<pre class="hover">hover a node to see which pass '
            f'and rule made it, the node it came from and the source line</pre>'
            f'<b>listing</b><div class="listing">{page(s["listing"])}</div></aside></main></section>')
    body = (f"<header><h1>{page(title)}</h1><nav>{buttons}</nav>"
            f"<div>← / → step through the stages; nodes a stage added have a purple border.</div>"
            f"</header>{''.join(blocks)}")
    script = """
var k = 0, n = document.querySelectorAll('.stage').length;
function show(i) {
  k = Math.max(0, Math.min(n - 1, i));
  document.querySelectorAll('.stage').forEach(function (s, j) { s.classList.toggle('on', j === k); });
  document.querySelectorAll('nav button').forEach(function (b, j) { b.classList.toggle('on', j === k); });
}
document.querySelectorAll('nav button').forEach(function (b) {
  b.addEventListener('click', function () { show(parseInt(b.dataset.k)); });
});
document.addEventListener('keydown', function (e) {
  if (e.key === 'ArrowRight') show(k + 1);
  if (e.key === 'ArrowLeft') show(k - 1);
});
document.querySelectorAll('.stage').forEach(function (s) { provenance(s, s.querySelector('.hover')); });
show(0);
"""
    return _document(title, body, script)


def backprop_page(title: str, frames: list[dict], table: list[list[str]], headers: list[str]) -> str:
    """``frames``: dicts with svg and caption; ``table``: one row per step (the backward table)."""
    blocks = "".join(
        f'<section class="frame" id="frame{k}"><div class="caption">{page(f["caption"])}</div>'
        f'<div class="picture">{inline_svg(f["svg"], f"f{k}_")}</div></section>'
        for k, f in enumerate(frames))
    head = "".join(f"<th>{page(h)}</th>" for h in headers)
    rows = "".join(
        f'<tr data-k="{k}">' + "".join(f"<td>{page(c)}</td>" for c in row) + "</tr>"
        for k, row in enumerate(table))
    body = (f"<header><h1>{page(title)}</h1>"
            f'<button id="prev">◀</button> <input type="range" id="slider" min="0" '
            f'max="{len(frames) - 1}" value="0" style="width: 50%"> <button id="next">▶</button> '
            f'<span id="where"></span> · ← / → keys step; hover a node for its provenance</header>'
            f'<main><div style="flex: 1 1 auto">{blocks}</div><aside><b>backward pass</b>'
            f'<table class="steps"><tr>{head}</tr>{rows}</table><br><b>provenance</b>'
            f'<pre class="hover">hover a node</pre></aside></main>')
    script = """
var slider = document.getElementById('slider'), n = parseInt(slider.max) + 1;
function show(i) {
  i = Math.max(0, Math.min(n - 1, i)); slider.value = i;
  document.querySelectorAll('.frame').forEach(function (f, j) { f.classList.toggle('on', j === i); });
  document.querySelectorAll('table.steps tr[data-k]').forEach(function (r) {
    var j = parseInt(r.dataset.k);
    r.className = j < i ? 'done' : (j === i ? 'now' : '');
  });
  document.getElementById('where').textContent = 'step ' + (i + 1) + ' of ' + n;
}
slider.addEventListener('input', function () { show(parseInt(slider.value)); });
document.getElementById('prev').onclick = function () { show(parseInt(slider.value) - 1); };
document.getElementById('next').onclick = function () { show(parseInt(slider.value) + 1); };
document.addEventListener('keydown', function (e) {
  if (e.key === 'ArrowRight') show(parseInt(slider.value) + 1);
  if (e.key === 'ArrowLeft') show(parseInt(slider.value) - 1);
});
var panel = document.querySelector('.hover');
document.querySelectorAll('.frame').forEach(function (f) { provenance(f, panel); });
show(0);
"""
    return _document(title, body, script)


def examples_page(title: str, links: list[tuple[str, str]]) -> str:
    """A page of links (relative paths) to the pages of several graphs."""
    items = "".join(f'<li><a href="{page(href)}">{page(text)}</a></li>' for href, text in links)
    return _document(title, f"<header><h1>{page(title)}</h1></header><main><ul>{items}</ul></main>", "")
