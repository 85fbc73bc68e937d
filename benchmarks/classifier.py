"""A softmax cross-entropy MLP classifier with integer labels: the loss's value+gradient and its
Hessian-vector product over all four parameter arrays (W1, b1, W2, b2), graphc's numba backend
against ``jax.jit`` (timed with ``block_until_ready``) and hand-written NumPy, in the same run.

The model: Z = tanh(X W1 + b1) W2 + b2, loss = mean(logsumexp(Z) − Z[i, labels[i]]), the labels
an int64 input read by ``take_along_axis``. graphc differentiates with ``gc.grad(g, params)`` and
``gc.hvp(g, params)`` (one direction input per parameter); JAX with ``value_and_grad`` and
``jvp`` of ``grad``; the NumPy version is the backward pass and its R-operator (Pearlmutter)
written out. Every contender is checked against graphc's numpy backend first. Rounds alternate
the contenders, 0.2 s apart (see PAUSE); medians of bursts, the ratio taken per round, its
median reported.

    uv sync --group bench
    uv run python benchmarks/classifier.py [--rounds 7] [--burst 5]
"""

from __future__ import annotations

import argparse

from timing import alternating, as_on_a_users_machine, ratio

as_on_a_users_machine()

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402

PARAMS = ("W1", "b1", "W2", "b2")
# Seconds between contenders. NumPy and SciPy each load an OpenBLAS of their own (numpy's for the
# hand-written version, SciPy's for graphc's kernels), and an OpenBLAS pool spins for about 0.1 s
# after a call: a product of the other library started in that time shares the two cores with
# the spinning threads and took 8-30 ms instead of 0.15 (measured alternating with 0.02 s pauses).
PAUSE = 0.2
SIZES = [(512, 32, 64, 10), (4096, 64, 256, 10)]  # samples, features, hidden units, classes


def shapes(d, h, c):
    return {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}


def data(n, d, h, c, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) / np.sqrt(s[0] if len(s) == 2 else 1) * (1 if len(s) == 2 else 0.1)
              for k, s in shapes(d, h, c).items()}
    directions = {k: rng.normal(size=s) for k, s in shapes(d, h, c).items()}
    return params, directions, rng.normal(size=(n, d)), rng.integers(0, c, size=n)


def graphc_loss(n, d, h, c) -> gc.Graph:
    params = {k: gc.placeholder(k, s) for k, s in shapes(d, h, c).items()}
    x, labels = gc.placeholder("X", (n, d)), gc.placeholder("labels", (n,), "int64")
    z = gc.tanh(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    picked = gc.take_along_axis(z, gc.expand_dims(labels, 1), axis=1)[:, 0]
    loss = gc.mean(gc.logsumexp(z, axis=1) - picked)
    return gc.Graph([*params.values(), x, labels], {"loss": loss})


def jax_functions():
    import jax
    import jax.numpy as jnp

    def loss(w1, b1, w2, b2, x, labels):
        z = jnp.tanh(x @ w1 + b1) @ w2 + b2
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, labels[:, None], axis=1)[:, 0])

    grad = jax.grad(loss, argnums=(0, 1, 2, 3))

    def hvp(w1, b1, w2, b2, x, labels, v1, c1, v2, c2):
        return jax.jvp(lambda *p: grad(*p, x, labels), (w1, b1, w2, b2), (v1, c1, v2, c2))[1]

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3))), jax.jit(hvp)


def numpy_forward(p, x, labels):
    h = np.tanh(x @ p["W1"] + p["b1"])
    z = h @ p["W2"] + p["b2"]
    z_max = z.max(axis=1, keepdims=True)
    e = np.exp(z - z_max)
    s = e.sum(axis=1, keepdims=True)
    prob = e / s
    rows = np.arange(x.shape[0])
    loss = np.mean(np.log(s[:, 0]) + z_max[:, 0] - z[rows, labels])
    dz = prob.copy()
    dz[rows, labels] -= 1.0
    return h, prob, loss, dz / x.shape[0]


def numpy_value_and_grad(p, x, labels):
    h, _, loss, dz = numpy_forward(p, x, labels)
    da = (dz @ p["W2"].T) * (1.0 - h * h)
    return loss, (x.T @ da, da.sum(axis=0), h.T @ dz, dz.sum(axis=0))


def numpy_hvp(p, v, x, labels):
    """The R-operator of the backward pass: its directional derivative along v."""
    h, prob, _, dz = numpy_forward(p, x, labels)
    n = x.shape[0]
    slope = 1.0 - h * h
    r_h = slope * (x @ v["W1"] + v["b1"])
    r_z = r_h @ p["W2"] + h @ v["W2"] + v["b2"]
    r_dz = prob * (r_z - np.sum(prob * r_z, axis=1, keepdims=True)) / n
    dh = dz @ p["W2"].T
    r_da = (r_dz @ p["W2"].T + dz @ v["W2"].T) * slope - 2.0 * h * r_h * dh
    return x.T @ r_da, r_da.sum(axis=0), r_h.T @ dz + h.T @ r_dz, r_dz.sum(axis=0)


def _one_size(jax_vg, jax_hvp, n, d, h, c, rounds: int, burst: int) -> list[str]:
    import jax

    p, v, x, labels = data(n, d, h, c)
    graph = graphc_loss(n, d, h, c)
    grad, hvp = gc.grad(graph, list(PARAMS)), gc.hvp(graph, list(PARAMS))
    inputs = {**p, "X": x, "labels": labels}
    directions = {f"direction_{k}": a for k, a in v.items()}
    reference_g = gc.compile(grad, backend="numpy")(**inputs)
    reference_h = gc.compile(hvp, backend="numpy")(**inputs, **directions)
    fg, fh = gc.compile(grad, backend="numba"), gc.compile(hvp, backend="numba")
    jargs = [jax.numpy.asarray(a) for a in (*p.values(), x, labels)]
    jdirs = [jax.numpy.asarray(a) for a in v.values()]
    got_g, got_h = fg(**inputs), fh(**inputs, **directions)
    jv, jg = jax.block_until_ready(jax_vg(*jargs))
    jh = jax.block_until_ready(jax_hvp(*jargs, *jdirs))
    nv, ng = numpy_value_and_grad(p, x, labels)
    nh = numpy_hvp(p, v, x, labels)
    for value in (got_g["loss"], float(jv), nv):
        np.testing.assert_allclose(value, reference_g["loss"], rtol=1e-12)
    for i, k in enumerate(PARAMS):
        for g in (got_g[f"grad_{k}"], np.asarray(jg[i]), ng[i]):
            np.testing.assert_allclose(g, reference_g[f"grad_{k}"], rtol=1e-9, atol=1e-12)
        for hv in (got_h[f"hvp_{k}"], np.asarray(jh[i]), nh[i]):
            np.testing.assert_allclose(hv, reference_h[f"hvp_{k}"], rtol=1e-9, atol=1e-12)
    fns = {"graphc v+g": lambda: fg(**inputs), "jax v+g": lambda: jax.block_until_ready(jax_vg(*jargs)),
           "numpy v+g": lambda: numpy_value_and_grad(p, x, labels),
           "graphc hvp": lambda: fh(**inputs, **directions),
           "jax hvp": lambda: jax.block_until_ready(jax_hvp(*jargs, *jdirs)),
           "numpy hvp": lambda: numpy_hvp(p, v, x, labels)}
    s = alternating(fns, rounds, burst, pause=PAUSE)
    ms = {k: f"{1e3 * float(np.median(t)):.3f}" for k, t in s.items()}
    row = [f"N={n} d={d} h={h} c={c}", ms["graphc v+g"], ms["jax v+g"], ms["numpy v+g"],
           f"{ratio(s, 'graphc v+g', 'jax v+g'):.2f}", f"{ratio(s, 'graphc v+g', 'numpy v+g'):.2f}",
           ms["graphc hvp"], ms["jax hvp"], ms["numpy hvp"],
           f"{ratio(s, 'graphc hvp', 'jax hvp'):.2f}", f"{ratio(s, 'graphc hvp', 'numpy hvp'):.2f}"]
    print("  ", "  ".join(row), flush=True)
    return row


def measure(rounds: int, burst: int) -> list[list[str]]:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax_vg, jax_hvp = jax_functions()
    return [_one_size(jax_vg, jax_hvp, *size, rounds, burst) for size in SIZES]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--burst", type=int, default=5)
    args = parser.parse_args(argv)
    rows = measure(args.rounds, args.burst)
    header = ["problem", "graphc v+g ms", "jax ms", "numpy ms", "vs jax", "vs numpy",
              "graphc hvp ms", "jax ms", "numpy ms", "vs jax", "vs numpy"]
    lines = [header, *rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
           for r in lines]
    out.insert(1, "-" * len(out[0]))
    print("\n" + "\n".join(out))


if __name__ == "__main__":
    main()
