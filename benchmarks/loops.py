"""Loops: graphc's scan on the numba backend against ``jax.jit`` of ``lax.scan`` and against the
unrolled graphc graph; compile time against the step count; the gradient's memory with and
without checkpointing.

Problems: GradBench's ``ode`` (RK4 over s steps; the gradient is that of the last element of the
solution, as GradBench asks) at n = 1000 and 10000, s = 10 and 100, and an LSTM loss over 1000
steps (models.lstm). Times are medians of bursts of calls, graphc and JAX alternating within each
round (JAX timed with ``block_until_ready``); the ratio is taken per round, its median reported.
Compile times are cold (numba's disk cache off; for JAX a new ``jax.jit`` each time), first call
included. Memory: the numba kernel's workspace (where stored carries live) and the numpy
backend's peak traced allocation, for checkpoint = 0 (every carry stored) and checkpoint ≈ √s.

    uv sync --group bench
    uv run python benchmarks/loops.py [--rounds 7] [--burst 5] [--unrolled-max 100]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import tracemalloc

from timing import as_on_a_users_machine, median_seconds

as_on_a_users_machine()

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402
from graphc import models  # noqa: E402

PAUSE = 0.02  # seconds between graphc and JAX in a round: XLA's thread pool parks by then


# --------------------------------------------------------------------------------------------
# The problems, three ways: graphc loop, graphc unrolled, JAX lax.scan


def ode_step(x, h):
    def f(y):
        return gc.concatenate([x[:1], x[1:] * y[:-1]])

    def step(y):
        k1 = f(y)
        k2 = f(y + (0.5 * h) * k1)
        k3 = f(y + (0.5 * h) * k2)
        k4 = f(y + h * k3)
        return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return step


def ode_graphs(n: int, s: int, unrolled: bool, checkpoint: int = 0) -> tuple[gc.Graph, gc.Graph]:
    """(value graph, gradient graph of y[n-1] with the value) for GradBench's ode."""
    if unrolled:
        x = gc.placeholder("x", (n,))
        step, y = ode_step(x, 2.0 / s), gc.zeros_like(x)
        for _ in range(s):
            y = step(y)
        value = gc.Graph([x], {"y": y})
    else:
        value = models.rk4_ode(n, s, checkpoint=checkpoint)
    last = gc.Graph(value.inputs, {"last": value.outputs[0][n - 1]})
    return value, gc.grad(last, wrt="x")


def ode_inputs(n: int) -> dict:
    return {"x": np.random.default_rng(0).uniform(0.0, 1.0, n)}


def jax_ode(n: int, s: int):
    import jax
    import jax.numpy as jnp

    h = 2.0 / s

    def solve(x):
        def f(y):
            return jnp.concatenate([x[:1], x[1:] * y[:-1]])

        def step(y, _):
            k1 = f(y)
            k2 = f(y + (0.5 * h) * k1)
            k3 = f(y + (0.5 * h) * k2)
            k4 = f(y + h * k3)
            return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

        return jax.lax.scan(step, jnp.zeros_like(x), None, length=s)[0]

    return solve, lambda x: solve(x)[-1], (0,)


LSTM = dict(steps=1000, n_in=16, n_h=64)


def lstm_inputs(steps: int, n_in: int, n_h: int) -> dict:
    rng = np.random.default_rng(1)
    return {"W": rng.normal(0, 0.3, (4 * n_h, n_in + n_h)), "b": rng.normal(0, 0.1, 4 * n_h),
            "V": rng.normal(0, 0.3, (n_in, n_h)), "xs": rng.normal(size=(steps, n_in)),
            "ys": rng.normal(size=(steps, n_in))}


def lstm_graphs(steps: int, n_in: int, n_h: int, checkpoint: int = 0) -> tuple[gc.Graph, gc.Graph]:
    value = models.lstm(steps, n_in, n_h, checkpoint=checkpoint)
    return value, gc.grad(value, wrt=["W", "b", "V"])


def jax_lstm(steps: int, n_in: int, n_h: int):
    import jax
    import jax.numpy as jnp

    def loss(W, b, V, xs, ys):
        def step(state, xy):
            h, c = state
            x, y = xy
            z = W @ jnp.concatenate([x, h]) + b
            i, f, o = (jax.nn.sigmoid(z[k * n_h:(k + 1) * n_h]) for k in range(3))
            g = jnp.tanh(z[3 * n_h:])
            c = f * c + i * g
            h = o * jnp.tanh(c)
            err = V @ h - y
            return (h, c), jnp.sum(err * err)

        zero = jnp.zeros(n_h)
        return jnp.sum(jax.lax.scan(step, (zero, zero), (xs, ys))[1])

    return loss, loss, (0, 1, 2)


# --------------------------------------------------------------------------------------------
# Timing


def jitted(fn, scalar_fn, argnums):
    import jax

    return jax.jit(fn), jax.jit(jax.value_and_grad(scalar_fn, argnums=argnums))


def alternate(ours, theirs, rounds: int, burst: int):
    """Medians of graphc's and JAX's burst medians over the rounds, and the median per-round ratio."""
    a, b = [], []
    for _ in range(rounds):
        time.sleep(PAUSE)
        a.append(median_seconds(ours, burst))
        time.sleep(PAUSE)
        b.append(median_seconds(theirs, burst))
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b))


def run_times(args) -> list[list[str]]:
    import jax

    rows = []
    problems = [(f"ode n={n} s={s}", n, s) for n in (1000, 10000) for s in (10, 100)]
    problems.append(("lstm 1000 steps", 0, 0))
    for label, n, s in problems:
        if n:
            value, grad = ode_graphs(n, s, unrolled=False)
            inputs = ode_inputs(n)
            jf, jg = jitted(*jax_ode(n, s))
            unrolled = ode_graphs(n, s, unrolled=True) if s <= args.unrolled_max else None
        else:
            value, grad = lstm_graphs(**LSTM)
            inputs = lstm_inputs(**LSTM)
            jf, jg = jitted(*jax_lstm(**LSTM))
            unrolled = None  # 1000 LSTM steps unrolled: a 100,000-node gradient, minutes to compile
        jargs = [jax.numpy.asarray(v) for v in inputs.values()]
        fv, fg = gc.compile(value, backend="numba"), gc.compile(grad, backend="numba")
        # the same numbers first: the value and every gradient entry
        ours_v, ours_g = fv(**inputs), fg(**inputs)
        jax_v = jax.block_until_ready(jf(*jargs))
        jax_val, jax_grads = jax.block_until_ready(jg(*jargs))
        first = next(iter(ours_v.values()))
        np.testing.assert_allclose(np.asarray(first), np.asarray(jax_v), rtol=1e-10, atol=1e-12)
        ours_grads = [v for k, v in ours_g.items() if k.startswith("grad")]
        for o, j in zip(ours_grads, jax_grads if isinstance(jax_grads, tuple) else (jax_grads,)):
            np.testing.assert_allclose(o, np.asarray(j), rtol=1e-9, atol=1e-11)
        def calls(ours, theirs, inputs=inputs, jargs=jargs):
            return (lambda: ours(**inputs)), (lambda: jax.block_until_ready(theirs(*jargs)))

        v_ours, v_jax, v_ratio = alternate(*calls(fv, jf), args.rounds, args.burst)
        g_ours, g_jax, g_ratio = alternate(*calls(fg, jg), args.rounds, args.burst)
        row = [label, f"{v_ours * 1e3:.3f}", f"{v_jax * 1e3:.3f}", f"{v_ratio:.2f}",
               f"{g_ours * 1e3:.3f}", f"{g_jax * 1e3:.3f}", f"{g_ratio:.2f}"]
        if unrolled is not None:
            uv, ug = (gc.compile(g, backend="numba") for g in unrolled)
            np.testing.assert_allclose(next(iter(uv(**inputs).values())), first, rtol=1e-12)
            u_ours, _, u_ratio = alternate(lambda ug=ug, inputs=inputs: ug(**inputs),
                                           lambda fg=fg, inputs=inputs: fg(**inputs), args.rounds, args.burst)
            row += [f"{u_ours * 1e3:.3f}", f"{1 / u_ratio:.2f}"]
        else:
            row += ["—", "—"]
        rows.append(row)
        print("  ", "  ".join(row), flush=True)
    return rows


def compile_times(args) -> list[list[str]]:
    """Cold compile of the gradient: graph building, gc.grad, optimize and numba, for 10, 100 and
    1000 steps of the damped pendulum (the issue's example) and the ode (n = 1000)."""
    import jax

    rows = []
    for label in ("pendulum", "ode n=1000"):
        for steps in (10, 100, 1000):
            def build(unrolled: bool, steps=steps, label=label):
                if label == "ode n=1000":
                    return ode_graphs(1000, steps, unrolled)[1]
                return gc.grad(pendulum_unrolled(steps) if unrolled else models.damped_pendulum(steps))

            cells = [label, str(steps)]
            for unrolled in (False, True):
                limit = args.unrolled_max if label.startswith("ode") else args.pendulum_unrolled_max
                if unrolled and steps > limit:
                    cells += ["—", "—"]
                    continue
                t0 = time.perf_counter()
                graph = build(unrolled)
                compiled = gc.compile(graph, backend="numba", cache=False)
                total = time.perf_counter() - t0
                cells += [f"{len(gc.optimize(graph))}", f"{total:.2f}"]
                del compiled
            if label == "ode n=1000":
                _, jg = jitted(*jax_ode(1000, steps))
                x = jax.numpy.asarray(ode_inputs(1000)["x"])
            else:
                _, jg = jitted(*jax_pendulum(steps))
                x = [jax.numpy.asarray(v) for v in (0.7, -0.2, 9.0, 0.3)]
            t0 = time.perf_counter()
            jax.block_until_ready(jg(x) if label != "pendulum" else jg(*x))
            cells.append(f"{time.perf_counter() - t0:.2f}")
            rows.append(cells)
            print("  ", "  ".join(cells), flush=True)
    return rows


def pendulum_unrolled(steps: int, dt: float = 0.01) -> gc.Graph:
    theta0, omega0, k, c = (gc.placeholder(n) for n in ("theta0", "omega0", "k", "c"))
    theta, omega = theta0, omega0
    for _ in range(steps):
        theta, omega = theta + dt * omega, omega - dt * (k * gc.sin(theta) + c * omega)
    energy = 0.5 * omega * omega + k * (1.0 - gc.cos(theta))
    return gc.Graph([theta0, omega0, k, c], {"energy": energy})


def jax_pendulum(steps: int, dt: float = 0.01):
    import jax
    import jax.numpy as jnp

    def energy(theta0, omega0, k, c):
        def step(state, _):
            theta, omega = state
            return (theta + dt * omega, omega - dt * (k * jnp.sin(theta) + c * omega)), None

        (theta, omega), _ = jax.lax.scan(step, (theta0, omega0), None, length=steps)
        return 0.5 * omega * omega + k * (1.0 - jnp.cos(theta))

    return energy, energy, (0, 1, 2, 3)


def memory(args) -> list[list[str]]:
    rows = []
    cases = [("ode n=10000 s=100", lambda k: ode_graphs(10000, 100, False, k)[1], ode_inputs(10000), 100),
             ("ode n=1000 s=1000", lambda k: ode_graphs(1000, 1000, False, k)[1], ode_inputs(1000), 1000),
             ("lstm 1000 steps", lambda k: lstm_graphs(**LSTM, checkpoint=k)[1], lstm_inputs(**LSTM), 1000)]
    for label, build, inputs, steps in cases:
        k = round(math.sqrt(steps))
        cells = [label]
        results = []
        for checkpoint in (0, k):
            graph = build(checkpoint)
            fast = gc.compile(graph, backend="numba")
            slow = gc.compile(graph, backend="numpy")
            results.append(fast(**inputs))
            tracemalloc.start()
            slow(**inputs)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            t = median_seconds(lambda fast=fast, inputs=inputs: fast(**inputs), args.burst)
            cells += [f"{fast.kernel.workspace_bytes / 2**20:.2f}", f"{peak / 2**20:.2f}", f"{t * 1e3:.2f}"]
        for name in results[0]:
            np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-11, atol=1e-13)
        cells.insert(4, str(k))
        rows.append(cells)
        print("  ", "  ".join(cells), flush=True)
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--unrolled-max", type=int, default=10,
                        help="longest ode also built unrolled (s=100: numba needs > 20 GiB to compile it)")
    parser.add_argument("--pendulum-unrolled-max", type=int, default=100,
                        help="longest pendulum also compiled unrolled (1000 steps take 45 s)")
    parser.add_argument("--only", nargs="*", choices=["times", "compile", "memory"],
                        default=["times", "compile", "memory"])
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    out = []
    if "times" in args.only:
        rows = run_times(args)
        out.append(table(["problem", "value ms", "jax ms", "vs jax", "value+grad ms", "jax ms", "vs jax",
                          "unrolled v+g ms", "loop vs unrolled"], rows))
    if "compile" in args.only:
        rows = compile_times(args)
        out.append(table(["gradient of", "steps", "loop nodes", "loop s", "unrolled nodes", "unrolled s",
                          "jax jit s"], rows))
    if "memory" in args.only:
        rows = memory(args)
        out.append(table(["gradient of", "workspace MiB", "numpy peak MiB", "ms", "k", "workspace MiB",
                          "numpy peak MiB", "ms"], rows)
                   + "\n\nleft three: every carry stored (checkpoint=0); right: checkpoint=k ≈ √steps")
    print()
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
