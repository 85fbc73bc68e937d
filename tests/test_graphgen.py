"""The property-test graph generator itself: it produces every primitive of the registry, so the
random-graph properties (backends agree, optimize and files keep results, gradients match finite
differences) reach every op."""

from __future__ import annotations

from collections import Counter

from graphgen import random_graphs
from hypothesis import HealthCheck, given, settings

from graphc.ops import PRIMITIVES


def ops_of(graph) -> set[str]:
    found, stack = set(), [graph]
    while stack:
        g = stack.pop()
        for node in g.nodes:
            found.add(node.op)
            body = node.attrs.get("body")
            if body is not None and hasattr(body, "nodes"):
                stack.append(body)
    return found


def test_the_generator_produces_every_primitive():
    counts: Counter = Counter()

    @settings(max_examples=2000, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(random_graphs())
    def draw(case):
        counts.update(ops_of(case[0]))

    draw()
    builtin = {name for name, prim in PRIMITIVES.items() if prim.builtin}
    assert builtin - set(counts) == set(), f"never produced in 2000 graphs: {sorted(builtin - set(counts))}"
    rarest = min(builtin, key=counts.__getitem__)
    assert counts[rarest] >= 3, (rarest, counts[rarest])  # a margin: not produced by luck
