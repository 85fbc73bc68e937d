"""What ``gc.optimize`` does to gradient and HVP graphs: node counts, run time, and its own cost.

Three tables:

1. node counts of the adjoint (``gc.grad``) and HVP (``gc.hvp``, forward-over-reverse) graphs of the
   notes' examples and of an MLP loss mean((tanh(X W1 + b1) W2 + b2 - Y)²), before and after
   optimization, next to a gradient graph written by hand with the gc API (forward and gradient
   outputs, as ``gc.grad`` returns them); each hand-written gradient is checked against ``gc.grad``;
2. the median time of one call of the compiled graph, ``optimize=False`` vs ``optimize=True``,
   on the numpy backend and on numba when it is registered (compile time excluded; one BLAS
   thread);
3. the time ``gc.optimize`` takes on gradient graphs of about 100,000 nodes (wall and CPU seconds).

    uv run python benchmarks/optimize_sizes.py [--runs 5] [--calls 200] [--big 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# one BLAS thread: on a shared machine a multithreaded matmul's time is mostly waiting for cores
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402 - after the thread settings

import graphc as gc  # noqa: E402
from graphc import examples  # noqa: E402

# ----------------------------------------------------------------------------------------------
# Hand-written gradients: what a careful person writes, reusing every node they can


def hand_quadratic(ex):
    x, A, b, c = ex.graph.inputs
    half = gc.constant(0.5)
    Ax = A @ x
    f = half * (x @ Ax) - b @ x + c
    return gc.Graph([x, A, b, c], {"f": f, "grad_x": half * (Ax + x @ A) - b})  # (A+Aᵀ)/2 x - b


def hand_log_quadratic(ex):
    x, A = ex.graph.inputs
    Ax = A @ x
    q = x @ Ax
    return gc.Graph([x, A], {"f": gc.log(q), "grad_x": (Ax + x @ A) / q})


def hand_frobenius(ex):
    X, A, B = ex.graph.inputs
    R = A @ X - B
    norm = gc.sqrt(gc.sum(R * R))
    return gc.Graph([X, A, B], {"f": norm, "grad_X": A.T @ (R / norm)})


def hand_logistic(ex):
    x, a = ex.graph.inputs
    e = gc.exp(a @ x)
    one_plus = 1.0 + e
    return gc.Graph([x, a], {"f": gc.log(one_plus), "grad_x": a * (e / one_plus)})


def hand_logistic_least_squares(ex):
    w, b, x, t = ex.graph.inputs
    lam, half = gc.constant(ex.extra["lambda"]), gc.constant(0.5)
    y = gc.sigmoid(w * x + b)
    r = y - t
    loss = half * (r * r) + lam * (half * (w * w))
    return gc.Graph([w, b, x, t], {"loss": loss, "grad_w": r * (y * (1.0 - y)) * x + lam * w})


def mlp(n=8, d=3, h=5, k=2):
    X, Y = gc.placeholder("X", (n, d)), gc.placeholder("Y", (n, k))
    W1, b1 = gc.placeholder("W1", (d, h)), gc.placeholder("b1", (h,))
    W2, b2 = gc.placeholder("W2", (h, k)), gc.placeholder("b2", (k,))
    loss = gc.mean((gc.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)
    graph = gc.Graph([X, Y, W1, b1, W2, b2], {"loss": loss}, name="mlp")

    def inputs(rng):
        return {"X": rng.normal(size=(n, d)), "Y": rng.normal(size=(n, k)),
                "W1": rng.normal(size=(d, h)) / np.sqrt(d), "b1": rng.normal(size=h),
                "W2": rng.normal(size=(h, k)) / np.sqrt(h), "b2": rng.normal(size=k)}

    return graph, inputs


def hand_mlp(graph):
    X, Y, W1, b1, W2, b2 = graph.inputs
    H = gc.tanh(X @ W1 + b1)
    R = H @ W2 + b2 - Y
    loss = gc.mean(R * R)
    dR = R * (2.0 / R.size)
    dZ = (dR @ W2.T) * (1.0 - H * H)
    return gc.Graph(graph.inputs, {"loss": loss, "grad_W1": X.T @ dZ, "grad_b1": gc.sum(dZ, 0),
                                   "grad_W2": H.T @ dR, "grad_b2": gc.sum(dR, 0)})


HAND = {"quadratic": hand_quadratic, "log_quadratic": hand_log_quadratic,
        "frobenius_residual": hand_frobenius, "logistic": hand_logistic,
        "logistic_least_squares": hand_logistic_least_squares}


def cases():
    """(name, forward graph, wrt for grad, wrt for hvp, input sampler, hand-written gradient)."""
    for ex in examples.all_examples():
        yield ex.name, ex.graph, ex.wrt, ex.wrt, ex.inputs, HAND[ex.name](ex)
    graph, inputs = mlp()
    yield "mlp (8x3 -> 5 -> 2)", graph, ["W1", "b1", "W2", "b2"], "W1", inputs, hand_mlp(graph)
    graph, inputs = mlp(256, 64, 128, 10)
    yield "mlp (256x64 -> 128 -> 10)", graph, ["W1", "b1", "W2", "b2"], "W1", inputs, hand_mlp(graph)


def _values(result):
    return list(result.values()) if isinstance(result, dict) else list(result)


def check_hand(grad_graph, hand, inputs) -> float:
    """Largest relative difference between the hand-written gradient and gc.grad's."""
    want = _values(gc.compile(grad_graph, optimize=False)(**inputs))
    got = _values(gc.compile(hand, optimize=False)(**inputs))
    return max(float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))) for a, b in zip(got, want))


# ----------------------------------------------------------------------------------------------
# Timing


def call_times(graph, backend, inputs, runs, calls) -> tuple[float, float]:
    """Median seconds per call of the graph compiled plain and optimized, the two timed in
    alternation so that a change in the machine's load affects both alike."""
    fns = [gc.compile(graph, backend=backend, optimize=flag) for flag in (False, True)]
    for fn in fns:
        fn(**inputs)  # warm up (and trigger any lazy compilation)
    samples: list[list[float]] = [[], []]
    for _ in range(runs):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn(**inputs)
            samples[k].append((time.perf_counter() - t0) / calls)
    return statistics.median(samples[0]), statistics.median(samples[1])


def chain_gradient(n_forward):
    """The gradient graph of x -> sin(x)*1 + 0 -> ... (what a generated model may look like)."""
    x = gc.placeholder("x", (4,))
    y = x
    for _ in range(n_forward // 3):
        y = gc.sin(y) * 1.0 + 0.0
    return gc.grad(gc.Graph([x], [gc.sum(y)]))


def layered_gradient(n_forward):
    """The gradient of a deep residual tanh network with scalar parameters per layer."""
    x = gc.placeholder("x", (8,))
    ws = []
    y = x
    for i in range(n_forward // 6):
        w = gc.placeholder(f"w{i}")
        ws.append(w)
        y = y + 0.1 * gc.tanh(w * y)
    return gc.grad(gc.Graph([x] + ws, [gc.mean(y * y)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--big", type=int, default=100_000, help="nodes of the large gradient graphs")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    all_cases = list(cases())

    print("### Node counts: gradient (adjoint) and HVP graphs, before and after gc.optimize\n")
    print("| graph | forward | grad | grad optimized | hand-written grad | hand vs grad (rel. err) "
          "| HVP | HVP optimized |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, graph, wrt, hvp_wrt, sampler, hand in all_cases:
        g = gc.grad(graph, wrt)
        h = gc.hvp(graph, hvp_wrt)
        err = check_hand(g, hand, sampler(rng))
        print(f"| {name} | {len(graph)} | {len(g)} | {len(gc.optimize(g))} | {len(hand)} | {err:.1e} "
              f"| {len(h)} | {len(gc.optimize(h))} |")

    backends = [b for b in ("numpy", "numba") if b in gc.list_backends()]
    print("\n### Run time of one call (median of runs; compile time excluded)\n")
    print("| graph | backend | plain µs | optimized µs | plain / optimized |")
    print("|---|---|---:|---:|---:|")
    for name, graph, wrt, hvp_wrt, sampler, _ in all_cases:
        inputs = sampler(rng)
        for label, derived, extra in (("grad", gc.grad(graph, wrt), {}),
                                      ("HVP", gc.hvp(graph, hvp_wrt), {"direction": inputs[hvp_wrt]})):
            for backend in backends:
                calls = args.calls if "256" not in name else max(5, args.calls // 20)
                try:
                    plain, fast = call_times(derived, backend, {**inputs, **extra}, args.runs, calls)
                except gc.GraphError as exc:  # a backend still being written: say so, keep measuring
                    print(f"| {label} {name} | {backend} | failed: {str(exc)[:60]} | | |")
                    continue
                print(f"| {label} {name} | {backend} | {plain * 1e6:.1f} | {fast * 1e6:.1f} "
                      f"| {plain / fast:.2f} |")

    print(f"\n### Cost of gc.optimize on gradient graphs of about {args.big:,} nodes\n")
    print("| graph | nodes | optimized nodes | wall s | CPU s | µs/node (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, build, n_forward in (("chain sin(x)*1+0", chain_gradient, args.big * 5 // 8),
                                   ("residual tanh layers", layered_gradient, args.big * 6 // 10)):
        g = build(n_forward)
        walls, cpus = [], []
        for _ in range(max(1, args.runs // 2)):
            t0, c0 = time.perf_counter(), time.process_time()
            small = gc.optimize(g)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        cpu = statistics.median(cpus)
        print(f"| {name} | {len(g):,} | {len(small):,} | {statistics.median(walls):.2f} | {cpu:.2f} "
              f"| {cpu / len(g) * 1e6:.1f} |")


if __name__ == "__main__":
    main()
