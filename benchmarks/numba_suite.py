"""The numba backend against the numpy backend, hand-written numpy and JAX, on problems P1..P7.

For each problem: forward, value+gradient and Hessian-vector product, as median wall time per
call through ``gc.compile(...)`` (the user-facing call, input checks included). Columns: the numpy
backend, the numba backend, numpy written by hand with hand-derived gradient and HVP, and JAX
``jit`` and PyTensor (default mode: C backend) when installed (``uv sync --group bench``); ratios
are against hand-written numpy, measured in the same run. Then the numba compile times (cold:
compiled now; warm: loaded from the kernel cache by a new process) and the per-call overhead of a
~10-node scalar graph.

    uv run python benchmarks/numba_suite.py [--problems P1 P6] [--runs 7] [--no-warm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial

import numpy as np
from pytensor_functions import check_against, pytensor_functions

import graphc as gc

# --------------------------------------------------------------------------------------------
# The problems: graph builder, inputs, and hand-written numpy (f, value+grad, hvp)


def p1(n=1000):
    x, A, b = gc.placeholder("x", (n,)), gc.placeholder("A", (n, n)), gc.placeholder("b", (n,))
    graph = gc.Graph([x, A, b], [0.5 * (x @ (A @ x)) - b @ x])
    rng = np.random.default_rng(1)
    inputs = {"x": rng.normal(size=n), "A": rng.normal(size=(n, n)), "b": rng.normal(size=n)}

    def f(x, A, b):
        return 0.5 * x @ (A @ x) - b @ x

    def vg(x, A, b):
        Ax = A @ x
        return 0.5 * x @ Ax - b @ x, 0.5 * (Ax + A.T @ x) - b

    def hvp(x, A, b, v):
        return 0.5 * (A @ v + A.T @ v)

    return graph, "x", inputs, (f, vg, hvp)


def _spd(rng, n):
    m = rng.normal(size=(n, n))
    return m @ m.T / n + np.eye(n)


def p2(n=1000, symmetric=False):
    """ln(xᵀAx); with ``symmetric`` the graph declares what the hand-written gradient 2Ax/q
    assumes, that A is symmetric (gc.symmetrize: A's lower triangle defines the matrix)."""
    x, A = gc.placeholder("x", (n,)), gc.placeholder("A", (n, n))
    S = gc.symmetrize(A) if symmetric else A
    graph = gc.Graph([x, A], [gc.log(x @ (S @ x))])
    rng = np.random.default_rng(2)
    inputs = {"x": rng.normal(size=n), "A": _spd(rng, n)}

    def vg(x, A):
        Ax = A @ x
        q = x @ Ax
        return np.log(q), 2 * Ax / q

    def hvp(x, A, v):
        Ax = A @ x
        q = x @ Ax
        return 2 * (A @ v) / q - 4 * Ax * (Ax @ v) / q**2

    return graph, "x", inputs, (lambda x, A: np.log(x @ (A @ x)), vg, hvp)


def p3(n=300):
    X, A, B = (gc.placeholder(k, (n, n)) for k in "XAB")
    R = A @ X - B
    graph = gc.Graph([X, A, B], [gc.sqrt(gc.sum(R * R))])
    rng = np.random.default_rng(3)
    inputs = {k: rng.normal(size=(n, n)) for k in "XAB"}

    def vg(X, A, B):
        R = A @ X - B
        f = np.sqrt(np.sum(R * R))
        return f, A.T @ R / f

    def hvp(X, A, B, v):
        R = A @ X - B
        f = np.sqrt(np.sum(R * R))
        AV = A @ v
        return A.T @ AV / f - A.T @ R * (np.sum(R * AV) / f**3)

    return graph, "X", inputs, (lambda X, A, B: np.linalg.norm(A @ X - B), vg, hvp)


def p4(n=200):
    X, S = gc.placeholder("X", (n, n)), gc.placeholder("S", (n, n))
    graph = gc.Graph([X, S], [gc.sum(S * X) - gc.slogdet(X)[1]])
    rng = np.random.default_rng(4)
    inputs = {"X": _spd(rng, n), "S": rng.normal(size=(n, n))}

    def f(X, S):
        return np.sum(S * X) - np.linalg.slogdet(X)[1]

    def vg(X, S):
        return f(X, S), S - np.linalg.inv(X).T

    def hvp(X, S, v):
        Xi = np.linalg.inv(X)
        return (Xi @ v @ Xi).T

    return graph, "X", inputs, (f, vg, hvp)


def p5(m=10000, n=100, lam=0.1):
    w, A = gc.placeholder("w", (n,)), gc.placeholder("A", (m, n))
    graph = gc.Graph([w, A], [gc.sum(gc.softplus(A @ w)) + 0.5 * lam * (w @ w)])
    rng = np.random.default_rng(5)
    inputs = {"w": rng.normal(size=n) * 0.1, "A": rng.normal(size=(m, n))}

    def f(w, A):
        return np.sum(np.logaddexp(0.0, A @ w)) + 0.5 * lam * (w @ w)

    def vg(w, A):
        z = A @ w
        sigma = 0.5 + 0.5 * np.tanh(0.5 * z)
        return np.sum(np.logaddexp(0.0, z)) + 0.5 * lam * (w @ w), A.T @ sigma + lam * w

    def hvp(w, A, v):
        s = 0.5 + 0.5 * np.tanh(0.5 * (A @ w))
        return A.T @ (s * (1 - s) * (A @ v)) + lam * v

    return graph, "w", inputs, (f, vg, hvp)


def mlp(batch):
    def build(N=batch, d=64, h=256, k=10):
        X, Y = gc.placeholder("X", (N, d)), gc.placeholder("Y", (N, k))
        W1, b1 = gc.placeholder("W1", (d, h)), gc.placeholder("b1", (h,))
        W2, b2 = gc.placeholder("W2", (h, k)), gc.placeholder("b2", (k,))
        loss = gc.mean((gc.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)
        graph = gc.Graph([W1, b1, W2, b2, X, Y], [loss])
        rng = np.random.default_rng(6)
        inputs = {"W1": rng.normal(size=(d, h)) / 8, "b1": rng.normal(size=h) * 0.1,
                  "W2": rng.normal(size=(h, k)) / 16, "b2": rng.normal(size=k) * 0.1,
                  "X": rng.normal(size=(N, d)), "Y": rng.normal(size=(N, k))}

        def forward(W1, b1, W2, b2, X, Y):
            H = np.tanh(X @ W1 + b1)
            D = H @ W2 + b2 - Y
            return H, D, np.mean(D * D)

        def f(W1, b1, W2, b2, X, Y):
            return forward(W1, b1, W2, b2, X, Y)[2]

        def vg(W1, b1, W2, b2, X, Y):
            H, D, L = forward(W1, b1, W2, b2, X, Y)
            dO = 2 * D / D.size
            dZ = (dO @ W2.T) * (1 - H * H)
            return L, X.T @ dZ, dZ.sum(0), H.T @ dO, dO.sum(0)

        def hvp(W1, b1, W2, b2, X, Y, v):  # forward-over-reverse by hand, direction v for W1
            H, D, _ = forward(W1, b1, W2, b2, X, Y)
            dO = 2 * D / D.size
            dH = dO @ W2.T
            G = 1 - H * H
            Ht = G * (X @ v)
            dOt = 2 * (Ht @ W2) / D.size
            dZt = (dOt @ W2.T) * G - dH * 2 * H * Ht
            return X.T @ dZt

        return graph, ["W1", "b1", "W2", "b2"], inputs, (f, vg, hvp)

    return build


PROBLEMS = {
    "P1": ("0.5 xᵀAx - bᵀx, n=1000", p1),
    "P2": ("ln(xᵀAx), A SPD, n=1000", p2),
    "P2s": ("ln(xᵀAx), A SPD declared symmetric (gc.symmetrize(A)), n=1000", partial(p2, symmetric=True)),
    "P3": ("||AX - B||_F, 300x300", p3),
    "P4": ("<S,X> - log det X, 200x200", p4),
    "P5": ("Σ ln(1+exp(Aw)) + λ/2 ||w||², A 10000x100", p5),
    "P6": ("MLP loss, X 4096x64", mlp(4096)),
    "P7": ("MLP loss, X 8x64", mlp(8)),
}

# --------------------------------------------------------------------------------------------
# JAX versions (when installed)


def jax_functions(key):
    key = "P2" if key == "P2s" else key  # JAX cannot be told A is symmetric: the same function
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    if key == "P1":
        def f(x, A, b):
            return 0.5 * x @ (A @ x) - b @ x
    elif key == "P2":
        def f(x, A):
            return jnp.log(x @ (A @ x))
    elif key == "P3":
        def f(X, A, B):
            R = A @ X - B
            return jnp.sqrt(jnp.sum(R * R))
    elif key == "P4":
        def f(X, S):
            return jnp.sum(S * X) - jnp.linalg.slogdet(X)[1]
    elif key == "P5":
        def f(w, A):
            return jnp.sum(jax.nn.softplus(A @ w)) + 0.05 * (w @ w)
    else:
        def f(W1, b1, W2, b2, X, Y):
            return jnp.mean((jnp.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)
    argnums = (0, 1, 2, 3) if key in ("P6", "P7") else 0

    def hvp(*args):
        *primals, v = args
        g = jax.grad(f, argnums=0)
        return jax.jvp(lambda w: g(w, *primals[1:]), (primals[0],), (v,))[1]

    return jax.jit(f), jax.jit(jax.value_and_grad(f, argnums=argnums)), jax.jit(hvp)


# --------------------------------------------------------------------------------------------
# Timing


def _repetitions(fn) -> int:
    """How many calls of ``fn`` make a sample of ~20 ms (after a warm-up call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(10000, int(0.02 / once)))


def _sample(fn, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def median_time(fn, runs: int) -> float:
    """Median seconds per call; each sample repeats the call enough to last ~20 ms."""
    reps = _repetitions(fn)
    return statistics.median(_sample(fn, reps) for _ in range(runs))


def interleaved_median_times(fns: dict, runs: int) -> dict:
    """median_time of each function, their samples taken in turn (one of each per round): the
    host's speed drifts by 20-30% between minutes on the reference VM, and columns measured one
    after the other could come from different phases; taken in turn, their ratios do not."""
    reps = {name: _repetitions(fn) for name, fn in fns.items()}
    samples: dict = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            samples[name].append(_sample(fn, reps[name]))
    return {name: statistics.median(values) for name, values in samples.items()}


def graphs_of(key):
    graph, wrt, inputs, hand = PROBLEMS[key][1]()
    first = wrt[0] if isinstance(wrt, list) else wrt
    return {"forward": graph, "value+grad": gc.grad(graph, wrt),
            "hvp": gc.hvp(graph, first)}, first, inputs, hand


def fmt(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def run_problems(keys, runs):
    """Times of every column, and numba's cold compile times. graphc's and numpy's columns are
    measured first for all problems, in turn (interleaved_median_times), JAX and PyTensor
    afterwards: XLA's thread pool keeps spinning for a while after a call, and on two cores that
    slowed the next measurements (and compiles) of the other columns by up to 2x
    (benchmarks/paired_jax.py compares numba with JAX in alternation, pausing between them)."""
    rows, compile_rows = [], []
    cases = []
    for key in keys:
        graphs, wrt, inputs, hand = graphs_of(key)
        v = np.random.default_rng(9).normal(size=np.shape(inputs[wrt]))
        for j, (kind, graph) in enumerate(graphs.items()):
            args = {**inputs, "direction": v} if kind == "hvp" else inputs
            t0 = time.perf_counter()
            numba_fn = gc.compile(graph, backend="numba", cache=False)
            cold = time.perf_counter() - t0
            numpy_fn = gc.compile(graph, backend="numpy")
            hand_args = list(inputs.values()) + ([v] if kind == "hvp" else [])
            times = interleaved_median_times({
                "numpy backend": partial(numpy_fn, **args),
                "numba backend": partial(numba_fn, **args),
                "hand numpy": partial(hand[j], *hand_args),
            }, runs)
            rows.append((key, kind, times))
            compile_rows.append((key, kind, cold))
            cases.append((key, j, kind, hand[j], hand_args, times))
            print(f"  measured {key} {kind}", file=sys.stderr, flush=True)
    for key in keys:
        jx, ptf = jax_functions(key), pytensor_functions(key)
        for case_key, j, kind, reference, hand_args, times in cases:
            if case_key != key:
                continue
            if jx is not None:
                jargs = [np.asarray(a) for a in hand_args]
                times["jax jit"] = median_time(partial(_block_call, jx[j], jargs), runs)
            if ptf is not None:
                check_against(ptf[j], reference, hand_args, f"{key} {kind}")
                times["pytensor C"] = median_time(partial(ptf[j], *hand_args), runs)
            print(f"  measured {key} {kind} (JAX, PyTensor)", file=sys.stderr, flush=True)
    return rows, compile_rows


def _block_call(fn, args):
    import jax

    return jax.block_until_ready(fn(*args))


WARM_SCRIPT = """
import json, sys, time
sys.path.insert(0, {here!r})
import numba_suite as s
import graphc as gc
out = [("numba start-up", "", s.numba_startup(), 0.0, False)]
for key in {keys!r}:
    graphs = s.graphs_of(key)[0]
    for kind, graph in graphs.items():
        t0 = time.perf_counter()
        c = gc.compile(graph, backend="numba")
        out.append((key, kind, time.perf_counter() - t0, c.kernel.compile_seconds, c.kernel.cache_hit))
print(json.dumps(out))
"""


def warm_starts(keys):
    """Compile everything once into a fresh cache, then time a second process loading it."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "GRAPHC_CACHE_DIR": cache}
        script = WARM_SCRIPT.format(here=os.path.dirname(os.path.abspath(__file__)), keys=keys)
        results = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"the warm-start process failed:\n{out.stderr}")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        return results[1]


def overhead(runs):
    """Per-call cost of a ~10-node scalar graph: the whole gc.compile call, the kernel alone,
    and a hand-written @njit function doing the same arithmetic."""
    import numba

    x, y = gc.placeholder("x"), gc.placeholder("y")
    f = gc.log1p(gc.exp(x * y - 1.0)) + gc.sin(x) * y / (1.0 + x * x)
    graph = gc.Graph([x, y], [f])
    compiled = gc.compile(graph, backend="numba")
    arrays = [np.asarray(0.5), np.asarray(1.5)]

    @numba.njit
    def raw(x, y):
        return np.log1p(np.exp(x * y - 1.0)) + np.sin(x) * y / (1.0 + x * x)

    return {
        "nodes": len(graph),
        "compiled(0.5, 1.5)": median_time(lambda: compiled(0.5, 1.5), runs),
        "compiled(x=0.5, y=1.5)": median_time(lambda: compiled(x=0.5, y=1.5), runs),
        "compiled(x=0-d array, ...)": median_time(lambda: compiled(x=arrays[0], y=arrays[1]), runs),
        "kernel(list of arrays)": median_time(lambda: compiled.kernel(arrays), runs),
        "hand-written @njit": median_time(lambda: raw(0.5, 1.5), runs),
    }


def numba_startup() -> float:
    """Seconds numba takes to compile its first (trivial) function in this process: its own
    initialisation, which the first kernel of a process pays whatever the graph, reported apart."""
    import numba

    t0 = time.perf_counter()
    numba.njit(lambda v: v + 1.0)(1.0)
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-start subprocesses")
    args = parser.parse_args(argv)
    startup = numba_startup()
    rows, compile_rows = run_problems(args.problems, args.runs)
    columns = list(rows[0][2])
    print("median time per call (ratio to hand-written numpy)")
    header = f"{'problem':<8}{'what':<12}" + "".join(f"{c:>22}" for c in columns)
    print(header)
    print("-" * len(header))
    for key, kind, times in rows:
        base = times["hand numpy"]
        cells = "".join(f"{fmt(t) + f' ({t / base:.2f}x)':>22}" for t in times.values())
        print(f"{key:<8}{kind:<12}{cells}")
    print()
    for key, (title, _) in PROBLEMS.items():
        if key in args.problems:
            print(f"  {key}: {title}")
    print()
    warm = {} if args.no_warm else {(k, w): (total, inner, hit) for k, w, total, inner, hit in
                                     warm_starts(args.problems)}
    print("numba compile: cold (this process, no cache) and warm (new process, kernel cache)")
    warm_startup = warm.get(("numba start-up", ""), (float("nan"),))[0]
    print(f"(numba's own start-up, paid once per process before its first compile, cold or warm, is "
          f"not included: {fmt(startup)} here, {fmt(warm_startup)} in the warm-start process)")
    print(f"{'problem':<8}{'what':<12}{'cold':>10}{'warm':>10}{'cache hit':>10}")
    for key, kind, cold in compile_rows:
        total, _, hit = warm.get((key, kind), (float("nan"), 0, False))
        print(f"{key:<8}{kind:<12}{fmt(cold):>10}{fmt(total):>10}{str(hit):>10}")
    print()
    print("per-call overhead, ~10-node scalar graph")
    for name, value in overhead(args.runs).items():
        print(f"  {name:<28}{value if name == 'nodes' else fmt(value)}")


if __name__ == "__main__":
    main()
