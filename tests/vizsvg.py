"""Reading the SVG that graphviz wrote, for the rendering tests: nodes, edges, clusters, texts."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


@dataclass
class Box:
    id: str
    texts: list[str]
    fills: list[str]
    strokes: list[str]
    tooltip: str
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def centre(self) -> tuple[float, float]:
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2

    def value(self) -> float:
        """The number on the node's value line (``= −0.012516``)."""
        for t in self.texts:
            if t.startswith("= "):
                return float(t[2:].replace("−", "-"))
        head, _, number = self.title.rpartition(" = ")
        if head and re.fullmatch(r"−?[0-9.e]+", number):  # a scalar constant: the title is its value
            return float(number.replace("−", "-"))
        raise AssertionError(f"node {self.id} ({self.title}) shows no value: {self.texts}")


@dataclass
class Picture:
    nodes: dict[str, Box]
    edges: list[tuple[str, str, str, dict]]  # tail, head, label, attributes of the drawn path
    clusters: dict[str, Box]  # by label
    title: list[str]

    def by_title(self, title: str) -> Box:
        found = [b for b in self.nodes.values() if b.title == nfc(title)]
        assert len(found) == 1, f"{len(found)} nodes titled {title!r}; titles: {self.titles()}"
        return found[0]

    def titles(self) -> list[str]:
        return sorted(b.title for b in self.nodes.values())

    def graph_nodes(self) -> dict[str, Box]:
        """The boxes standing for graph nodes (not the legend)."""
        return {k: v for k, v in self.nodes.items() if k != "legend"}


def _points(group) -> list[tuple[float, float]]:
    pts = []
    for el in group.iter():
        if el.tag == SVG + "polygon":
            for pair in el.get("points", "").split():
                x, y = pair.split(",")
                pts.append((float(x), float(y)))
        if el.tag == SVG + "path":
            numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", el.get("d", ""))]
            pts += list(zip(numbers[::2], numbers[1::2]))
        if el.tag == SVG + "ellipse":
            cx, cy, rx, ry = (float(el.get(k)) for k in ("cx", "cy", "rx", "ry"))
            pts += [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        if el.tag == SVG + "text":
            pts.append((float(el.get("x")), float(el.get("y"))))
    return pts


def nfc(text: str) -> str:
    """One spelling per character (ȳ can be one code point or y + a combining macron)."""
    return unicodedata.normalize("NFC", text)


def _box(group) -> Box:
    texts = [nfc("".join(t.itertext())) for t in group.iter(SVG + "text")]
    shapes = [el for el in group.iter() if el.tag in (SVG + "polygon", SVG + "path", SVG + "ellipse")]
    anchor = next((a for a in group.iter(SVG + "a")), None)
    tooltip = anchor.get(XLINK + "title", "") if anchor is not None else ""
    return Box(group.get("id"), [t for t in texts if t.strip()], [s.get("fill") for s in shapes],
               [s.get("stroke") for s in shapes], nfc(tooltip), _points(group))


def read(path) -> Picture:
    root = ET.parse(path).getroot()
    nodes, edges, clusters = {}, [], {}
    graph = root.find(SVG + "g")
    title = [nfc(t) for t in ("".join(x.itertext()) for x in graph.findall(SVG + "text")) if t.strip()]
    for g in root.iter(SVG + "g"):
        cls = g.get("class")
        if cls == "node":
            nodes[g.get("id")] = _box(g)
        elif cls == "edge":  # ids are e<k>_<tail>_<head>, in the direction values flow
            _, tail, head = g.get("id").split("_")
            path = g.find(f".//{SVG}path")
            label = "".join("".join(t.itertext()) for t in g.iter(SVG + "text"))
            edges.append((tail, head, label, dict(path.attrib)))
        elif cls == "cluster":
            box = _box(g)
            clusters[box.title] = box
    return Picture(nodes, edges, clusters, title)


def inside(inner: Box, outer: Box) -> bool:
    """Every point of ``inner`` lies within the bounding box of ``outer``."""
    xs = [p[0] for p in outer.points]
    ys = [p[1] for p in outer.points]
    return all(min(xs) <= x <= max(xs) and min(ys) <= y <= max(ys) for x, y in inner.points)
