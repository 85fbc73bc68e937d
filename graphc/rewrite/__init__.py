"""Rewrite passes: each a pure, named ``Graph -> Graph`` function, and ``optimize`` running them.

The default pipeline, in order: ``cse`` (merge equal subexpressions), ``fold`` (evaluate constant
subexpressions with the numpy backend), ``simplify`` (the algebraic rule table of
:mod:`graphc.rewrite.rules`), ``factorizations`` (one LU factorization for every solve, inverse
and determinant of a matrix: :mod:`graphc.rewrite.factorizations`), ``loops`` (merge, prune and
hoist loops, and optimize their bodies: :mod:`graphc.rewrite.loops`) and ``dce`` (drop what the
outputs do not need). ``optimize`` repeats the sequence while a round still changes the graph.
Every pass keeps the inputs, the output order and the output names. In the default mode,
``"ieee"``, results keep their NaNs, infinities and signed zeros and change by rounding only (the
contract is written out in :mod:`graphc.rewrite.rules`); ``mode="fast"`` also applies the rules
that hold only in real arithmetic (reassociation and distribution that may overflow, identities
that lose a zero's sign), as -ffast-math does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..errors import GraphTypeError
from ..ir import Graph, require_graph
from .cse import cse
from .dce import dce
from .driver import Pass, Pat, Rule, pass_name, rewrite
from .factorizations import factorizations
from .fold import fold
from .loops import loops, loops_fast
from .rules import RULES, simplify, simplify_fast
from .verify import verify

DEFAULT_PASSES: tuple[Pass, ...] = (cse, fold, simplify, factorizations, loops, dce)
FAST_PASSES: tuple[Pass, ...] = (cse, fold, simplify_fast, factorizations, loops_fast, dce)
MODES = {"ieee": DEFAULT_PASSES, "fast": FAST_PASSES}
MAX_ROUNDS = 4  # rounds after the first only run while the previous one changed something


def _same(a: Graph, b: Graph) -> bool:
    """The two graphs are made of the very same nodes (passes return their input when idle)."""
    return a is b or (len(a) == len(b) and all(x is y for x, y in zip(a.nodes, b.nodes))
                      and all(x is y for x, y in zip(a.outputs, b.outputs)))


def passes_of(mode: str) -> tuple[Pass, ...]:
    """The default pipeline of an optimization mode: "ieee" (the default) or "fast"."""
    if not isinstance(mode, str) or mode not in MODES:
        raise GraphTypeError(f"optimize's mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    return MODES[mode]


def run_passes(graph: Graph, passes: Sequence | None = None,
               mode: str = "ieee") -> Iterator[tuple[str, Graph]]:
    """Yield ``(stage name, graph)`` after each pass: every pass of the first round (changed or
    not, so a trace always shows the whole pipeline), then those of later rounds that changed
    something. Rounds repeat while the previous one changed the graph (at most MAX_ROUNDS).

    Passes are taken to be idempotent (each runs to its own fixpoint), so a later round skips a pass
    whose last result is still the current graph."""
    require_graph(graph, "optimize")
    default = passes_of(mode)
    passes = default if passes is None else tuple(passes)
    for p in passes:
        if not callable(p):
            raise GraphTypeError(f"a pass must be a callable Graph -> Graph, got {p!r}")
    fixpoint_of: dict[int, Graph] = {}  # pass index -> a graph that pass would return unchanged
    for round_ in range(1, MAX_ROUNDS + 1):
        changed = False
        for k, p in enumerate(passes):
            if round_ > 1 and fixpoint_of.get(k) is graph:
                continue  # passes are idempotent: this one has nothing left to do here
            applies = getattr(p, "applies", None)
            if applies is not None and not applies(graph):
                continue
            new = p(graph)
            if not isinstance(new, Graph):
                raise GraphTypeError(f"pass {pass_name(p)!r} returned {type(new).__name__}, not a Graph")
            differs = not _same(new, graph)
            changed |= differs
            fixpoint_of[k] = new
            if round_ == 1 or differs:
                yield (pass_name(p) if round_ == 1 else f"{pass_name(p)} (round {round_})"), new
            graph = new
        if not changed:
            return


def optimize(graph: Graph, passes: Sequence | None = None, mode: str = "ieee") -> Graph:
    """Run ``passes`` (default: the pipeline of ``mode``, :data:`DEFAULT_PASSES` for "ieee",
    :data:`FAST_PASSES` for "fast") until a round changes nothing; the result has the same inputs,
    output order and output names as ``graph``."""
    result = graph
    for _, stage in run_passes(graph, passes, mode):
        result = stage
    return result


__all__ = ["DEFAULT_PASSES", "FAST_PASSES", "MODES", "Pass", "passes_of", "Pat", "RULES", "Rule", "cse",
           "dce", "factorizations", "fold", "loops",
           "optimize",
           "rewrite", "run_passes", "simplify", "verify"]
