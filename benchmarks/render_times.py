"""How long graphc.viz takes to draw graphs of 100, 1,000 and 5,000 nodes.

For each size it times, as medians of ``--repeat`` runs:

* ``scene``: building the picture (anatomy, names, formulas, DOT text) in Python;
* ``dot``: graphviz laying it out and writing SVG;
* ``baseline``: dot on the same layout with bare boxes (the same nodes, clusters, ranks and arrows,
  but one short word per box, no edge labels, no legend), measured in the same run, so the ratio
  shows what the teaching labels cost;
* the same for the forward+adjoint picture (``view="both"``) of a model of about the same total
  size, and for the picture with scopes folded (``collapse=True``).

Run: ``uv run python benchmarks/render_times.py [--sizes 100 1000 5000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import graphc as gc
from graphc.viz import to_dot
from graphc.viz.dot import prepare, run_dot, scene_to_dot

BLOCK = 40  # nodes per scope


def chain_model(n_nodes: int, seed: int = 0) -> gc.Graph:
    """A random elementwise model on a 3-vector, grouped in scopes of BLOCK nodes, with n_nodes nodes."""
    rng = np.random.default_rng(seed)
    x = gc.placeholder("x", (3,))
    values = [x]
    k = 0
    while len(values) + 1 < n_nodes:
        with gc.scope(f"block{k // BLOCK}"):
            a = values[-1]  # so every node reaches the output
            b = values[rng.integers(max(0, len(values) - 8), len(values))]
            values.append([gc.tanh(a), a * b, a + b, gc.sin(a)][int(rng.integers(4))])
        k += 1
    return gc.Graph([x], {"f": gc.sum(values[-1])}, name=f"chain{n_nodes}")


def sized_gradient(total: int) -> gc.Graph:
    """A gradient graph of about ``total`` nodes (forward and adjoint together)."""
    low, high = 4, total
    while low < high:  # the adjoint graph grows monotonically with the forward one
        mid = (low + high + 1) // 2
        if len(gc.grad(chain_model(mid))) <= total:
            low = mid
        else:
            high = mid - 1
    return gc.grad(chain_model(low))


def bare_dot(graph: gc.Graph, **options) -> str:
    scene = prepare(graph, max_nodes=10**6, **options)
    for item in scene.items:
        item.title, item.lines = item.id, []
    for link in scene.links:
        link.label = ""
    return scene_to_dot(scene, legend=False).source


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(label: str, graph: gc.Graph, repeat: int, **options) -> list[str]:
    scene_s, source = median_time(lambda: to_dot(graph, max_nodes=10**6, **options).source, repeat)
    dot_s, _ = median_time(lambda: run_dot(source, "svg", timeout=3600), repeat)
    base_s, _ = median_time(lambda: run_dot(bare_dot(graph, **options), "svg", timeout=3600), repeat)
    boxes = source.count(" [id=\"n") + source.count(" [id=\"g")
    total = scene_s + dot_s
    return [label, str(len(graph)), str(boxes), f"{scene_s:.2f}", f"{dot_s:.2f}", f"{total:.2f}",
            f"{base_s:.2f}", f"{total / base_s:.1f}x"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    headers = ["picture", "nodes", "boxes", "scene s", "dot s", "total s", "bare dot s", "vs bare"]
    rows = []
    for size in args.sizes:
        forward = chain_model(size)
        rows.append(measure("forward", forward, args.repeat))
        rows.append(measure("forward+adjoint", sized_gradient(size), args.repeat, view="both"))
        rows.append(measure("forward, scopes folded", forward, args.repeat, collapse=True))
        print("  ".join(rows[-1]), flush=True)
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    print("\n| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()
