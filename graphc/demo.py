"""``graphc demo``: the notes' worked examples, derived, run and checked.

For every example: build the graph, derive its gradient graph, run both on the numpy backend, and
compare the gradient with the notes' closed form and with central finite differences.
"""

from __future__ import annotations

import io
import unicodedata

import numpy as np

from . import examples
from .adjoint import adjoints, grad
from .checks import numeric_gradient, relative_error
from .compile import compile as compile_graph
from .hvp import hessian, hvp


def _width(text: str) -> int:
    """Columns the text takes in a terminal: combining marks (the bar of x̄) take none."""
    return sum(1 for ch in text if not unicodedata.combining(ch))


def _table(headers, rows) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    out = io.StringIO()
    for k, row in enumerate(cells):
        out.write("  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip() + "\n")
        if k == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    return out.getvalue()


def gradient_rows(seed: int = 0):
    """One row per example: sizes and the worst relative errors of the derived gradient."""
    rng = np.random.default_rng(seed)
    rows, worst = [], 0.0
    for ex in examples.all_examples():
        inputs = ex.inputs(rng)
        g = grad(ex.graph, ex.wrt)
        got = compile_graph(g)(**inputs)[f"grad_{ex.wrt}"]
        err_closed = relative_error(got, ex.gradient(**inputs))
        err_fd = relative_error(got, numeric_gradient(ex.graph, inputs, ex.wrt))
        worst = max(worst, err_closed, err_fd / 1e4)
        rows.append([ex.name, ex.title, f"d/d{ex.wrt}", len(ex.graph), len(g),
                     f"{err_closed:.1e}", f"{err_fd:.1e}"])
    return rows, worst


def second_order_rows(seed: int = 1):
    """One row per example: HVP graph sizes (both modes) and the worst relative errors of H v and
    of the full Hessian against the closed form, and of H v against differences of the gradient."""
    rng = np.random.default_rng(seed)
    rows, worst = [], 0.0
    for ex in examples.all_examples():
        inputs = ex.inputs(rng)
        v = rng.normal(size=np.shape(inputs[ex.wrt]))
        sizes, results = [], []
        for mode in ("fwd-rev", "rev-rev"):
            h = hvp(ex.graph, ex.wrt, mode=mode)
            sizes.append(len(h))
            results.append(compile_graph(h)(**inputs, direction=v)[f"hvp_{ex.wrt}"])
        err_modes = relative_error(results[0], results[1])
        gradient = compile_graph(grad(ex.graph, ex.wrt))
        eps = 1e-6
        shifted = [gradient(**{**inputs, ex.wrt: inputs[ex.wrt] + s * eps * v})[f"grad_{ex.wrt}"]
                   for s in (1, -1)]
        err_fd = relative_error(results[0], (shifted[0] - shifted[1]) / (2 * eps))
        err_h = "-"
        if ex.hessian is not None:
            full = compile_graph(hessian(ex.graph, ex.wrt))(**inputs)[f"hessian_{ex.wrt}"]
            closed = ex.hessian(**inputs)
            e = max(relative_error(full, closed), relative_error(results[0], closed @ v))
            worst = max(worst, e)
            err_h = f"{e:.1e}"
        worst = max(worst, err_modes, err_fd / 1e4)
        rows.append([ex.name, sizes[0], sizes[1], f"{err_modes:.1e}", err_h, f"{err_fd:.1e}"])
    return rows, worst


def backprop_table(values=None) -> str:
    """The notes' forward/backward table for the logistic least-squares model, as graphc computes
    it, next to the notes' formulas evaluated by hand."""
    ex = examples.logistic_least_squares()
    values = values or {"w": 1.0, "b": 0.0, "x": 2.0, "t": 1.0}
    got = compile_graph(adjoints(ex.graph))(**values)
    by_hand = ex.extra["backward"](**values)
    formulas = {"𝓛": "1", "R": "𝓛̄ λ", "L": "𝓛̄", "y": "L̄ (y - t)", "z": "ȳ σ'(z)",
                "w": "z̄ x + R̄ w", "b": "z̄", "x": "z̄ w"}
    rows = [[f"{k}̄", formulas[k], f"{float(got[f'{k}_bar']):.6f}", f"{by_hand[k]:.6f}"]
            for k in formulas]
    given = ", ".join(f"{k}={v}" for k, v in values.items())
    return f"backward pass at {given}, λ={ex.extra['lambda']}:\n" + _table(
        ["adjoint", "notes' formula", "graphc", "by hand"], rows
    )


def optimization_rows(seed: int = 0):
    """Node counts of each example's gradient and HVP graphs before and after ``gc.optimize``, and
    the error of the optimized gradient against the closed form."""
    from .rewrite import optimize

    rng = np.random.default_rng(seed)
    rows, worst = [], 0.0
    for ex in examples.all_examples():
        inputs = ex.inputs(rng)
        g = grad(ex.graph, ex.wrt)
        small = optimize(g)
        got = compile_graph(small, optimize=False)(**inputs)[f"grad_{ex.wrt}"]
        err = relative_error(got, ex.gradient(**inputs))
        worst = max(worst, err)
        h = hvp(ex.graph, ex.wrt)
        rows.append([ex.name, len(g), len(small), len(h), len(optimize(h)), f"{err:.1e}"])
    return rows, worst


def run(out=None, pages="graphc-demo") -> int:
    """Print the demo; return a process exit code (1 if any check failed). The pictures of every
    stage of compiling each example go into the folder ``pages`` (None: no pictures)."""
    write = (out or print)
    write("graphc demo: the worked examples of the notes, differentiated by the adjoint pass\n")
    rows, worst = gradient_rows()
    write(_table(["example", "f", "wrt", "nodes", "grad nodes", "err closed form", "err fin. diff"],
                 rows))
    write("Hessian-vector products (both modes) and full Hessians:")
    rows, worst_hvp = second_order_rows()
    worst = max(worst, worst_hvp)
    write(_table(["example", "hvp nodes fwd-rev", "hvp nodes rev-rev", "err modes",
                  "err closed-form H", "err fin. diff of grad"], rows))
    write("Optimization (gc.optimize: cse, fold, simplify, dce), node counts before -> after:")
    rows, worst_opt = optimization_rows()
    worst = max(worst, worst_opt)
    write(_table(["example", "grad nodes", "optimized", "hvp nodes", "optimized",
                  "err closed form (optimized)"], rows))
    write(backprop_table())
    ex = examples.logistic_least_squares()
    write("the gradient graph of the logistic least-squares model:\n")
    write(str(grad(ex.graph, "w")) + "\n")
    from .rewrite import optimize

    write("and after gc.optimize:\n")
    write(str(optimize(grad(ex.graph, "w"))) + "\n")
    if pages is not None:
        from .errors import GraphError
        from .viz import write_example_pages

        try:
            write(f"pictures of every stage of compilation, and the backward pass played back: "
                  f"{write_example_pages(pages).resolve()}")
        except GraphError as exc:  # graphviz missing: the checks above still stand
            write(f"no pictures: {exc}")
    write("The gradients on the numba backend (one fused, jitted kernel per graph) next to numpy:")
    rows, worst_numba = numba_rows()
    worst = max(worst, worst_numba)
    write(_table(["example", "numpy µs/call", "numba µs/call", "rel. diff numba/numpy", "numba compile s"],
                 rows))
    ok = worst < 1e-9
    write("all checks passed" if ok else f"CHECK FAILED: worst relative error {worst:.2e}")
    return 0 if ok else 1


def numba_rows(seed: int = 0, calls: int = 200):
    """One row per example: the gradient graph's time per call on the numpy and numba backends,
    their relative difference, and the numba compile time (or on-disk cache load)."""
    import time

    rng = np.random.default_rng(seed)
    rows, worst = [], 0.0
    for ex in examples.all_examples():
        inputs = ex.inputs(rng)
        g = grad(ex.graph, ex.wrt)
        timings, results = [], []
        for backend in ("numpy", "numba"):
            t0 = time.perf_counter()
            run_ = compile_graph(g, backend=backend)
            compiled_in = time.perf_counter() - t0
            results.append(run_(**inputs)[f"grad_{ex.wrt}"])
            t0 = time.perf_counter()
            for _ in range(calls):
                run_(**inputs)
            timings.append((time.perf_counter() - t0) / calls * 1e6)
        err = relative_error(results[1], results[0])
        worst = max(worst, err)
        rows.append([ex.name, f"{timings[0]:.1f}", f"{timings[1]:.1f}", f"{err:.1e}", f"{compiled_in:.2f}"])
    return rows, worst
