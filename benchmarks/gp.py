"""A Gaussian process's negative log marginal likelihood and its gradient in the three kernel
hyperparameters (RBF: length scale, signal and noise variance, all as logarithms), n = 500 and
2000 points, value+gradient per call.

Contenders, timed in the same run (alternating rounds, medians of bursts; the ratio is taken per
round and its median reported):

* graphc, numba backend, written two ways: ``solve`` + ``slogdet`` of K (the ``factorizations``
  pass factors K once, LU), and ``assume_a="pos"`` (one Cholesky factor for the solve, the
  log-determinant and the gradient's K⁻¹);
* ``jax.jit(jax.value_and_grad(...))`` of the same two formulations (``jnp.linalg.solve`` +
  ``slogdet``; ``cholesky`` + ``jax.scipy.linalg.cho_solve``), timed with ``block_until_ready``;
* hand-written SciPy: ``cho_factor``, ``cho_solve`` for α, and the gradient
  ½ tr((K⁻¹ − ααᵀ) ∂K/∂θ) with K⁻¹ from LAPACK's ?potri (``scipy.linalg.lapack.dpotri``), what a
  careful user writes.

Every contender's value and gradient are checked against the hand-written one first. Each thread
setting runs in a process of its own: one thread (numba, OpenBLAS and XLA's CPU client held at
one) and the machine's default.

    uv sync --group bench
    uv run python benchmarks/gp.py [--sizes 500 2000] [--rounds 7] [--burst 5] [--threads both]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from timing import alternating, as_on_a_users_machine, ratio, single_threaded_env

as_on_a_users_machine()

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402

PARAMS = ("log_ell", "log_sf", "log_sn")
START = {"log_ell": np.log(0.7), "log_sf": np.log(1.3), "log_sn": np.log(0.2)}


def problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances of n sorted points in [-5, 5] (2-d) and noisy targets."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, size=(n, 2))
    d = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return d, np.sin(x[:, 0]) * np.cos(x[:, 1]) + 0.2 * rng.normal(size=n)


def graphc_nll(n: int, assume_a: str) -> gc.Graph:
    ell, sf, sn = (gc.placeholder(p) for p in PARAMS)
    d, y = gc.placeholder("D", (n, n)), gc.placeholder("y", (n,))
    k = gc.exp(2.0 * sf) * gc.exp(-0.5 * d * gc.exp(-2.0 * ell)) + gc.exp(2.0 * sn) * gc.constant(np.eye(n))
    alpha = gc.linalg.solve(k, y, assume_a=assume_a)
    logdet = gc.linalg.logdet(k, assume_a="pos") if assume_a == "pos" else gc.linalg.slogdet(k)[1]
    nll = 0.5 * gc.sum(y * alpha) + 0.5 * logdet + 0.5 * n * np.log(2 * np.pi)
    return gc.grad(gc.Graph([ell, sf, sn, d, y], {"nll": nll}), list(PARAMS))


def jax_nll(n: int, formulation: str):
    import jax
    import jax.numpy as jnp
    from jax.scipy.linalg import cho_solve

    eye = jnp.eye(n)

    def nll(ell, sf, sn, d, y):
        k = jnp.exp(2 * sf) * jnp.exp(-0.5 * d * jnp.exp(-2 * ell)) + jnp.exp(2 * sn) * eye
        if formulation == "solve":
            alpha = jnp.linalg.solve(k, y)
            logdet = jnp.linalg.slogdet(k)[1]
        else:
            lower = jnp.linalg.cholesky(k)
            alpha = cho_solve((lower, True), y)
            logdet = 2 * jnp.sum(jnp.log(jnp.diag(lower)))
        return 0.5 * y @ alpha + 0.5 * logdet + 0.5 * n * jnp.log(2 * jnp.pi)

    return jax.jit(jax.value_and_grad(nll, argnums=(0, 1, 2)))


def scipy_nll(log_ell, log_sf, log_sn, D, y):
    """By hand: value and gradient from one Cholesky factor; K⁻¹ by ?potri."""
    from scipy.linalg import cho_factor, cho_solve
    from scipy.linalg.lapack import dpotri

    n = y.shape[0]
    ell2, sf2, sn2 = np.exp(2 * log_ell), np.exp(2 * log_sf), np.exp(2 * log_sn)
    kf = sf2 * np.exp(-0.5 * D / ell2)
    k = kf.copy()
    k[np.diag_indices(n)] += sn2
    c, lower = cho_factor(k, lower=True, check_finite=False)
    alpha = cho_solve((c, lower), y, check_finite=False)
    value = 0.5 * y @ alpha + np.sum(np.log(np.diag(c))) + 0.5 * n * np.log(2 * np.pi)
    inverse, _ = dpotri(c, lower=True)
    inverse = np.tril(inverse) + np.tril(inverse, -1).T
    w = inverse - np.outer(alpha, alpha)
    wk = w * kf
    return value, (0.5 * np.sum(wk * D) / ell2, np.sum(wk), sn2 * np.trace(w))


def _one_size(n: int, rounds: int, burst: int) -> dict:
    import jax

    d, y = problem(n)
    inputs = {**START, "D": d, "y": y}
    jargs = [jax.numpy.asarray(v) for v in (*START.values(), d, y)]
    expected_value, expected_grad = scipy_nll(*START.values(), d, y)
    fns = {}
    for label, assume in (("graphc solve", "gen"), ("graphc pos", "pos")):
        f = gc.compile(graphc_nll(n, assume), backend="numba")
        got = f(**inputs)
        np.testing.assert_allclose(got["nll"], expected_value, rtol=1e-9)
        np.testing.assert_allclose([got[f"grad_{p}"] for p in PARAMS], expected_grad, rtol=1e-7)
        fns[label] = lambda f=f: f(**inputs)
    for label, formulation in (("jax solve", "solve"), ("jax cho", "cho")):
        j = jax_nll(n, formulation)
        value, grads = jax.block_until_ready(j(*jargs))
        np.testing.assert_allclose(float(value), expected_value, rtol=1e-9)
        np.testing.assert_allclose(np.array(grads), expected_grad, rtol=1e-7)
        fns[label] = lambda j=j: jax.block_until_ready(j(*jargs))
    fns["scipy cho"] = lambda: scipy_nll(*START.values(), d, y)
    samples = alternating(fns, rounds, burst, pause=0.2)  # OpenBLAS pools park (classifier.PAUSE)
    best_jax = min(("jax solve", "jax cho"), key=lambda k: np.median(samples[k]))
    row = {"n": n, "ms": {k: 1e3 * float(np.median(v)) for k, v in samples.items()},
           "vs best jax": {k: ratio(samples, k, best_jax) for k in ("graphc solve", "graphc pos")},
           "vs scipy": {k: ratio(samples, k, "scipy cho") for k in ("graphc solve", "graphc pos")},
           "best jax": best_jax}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def measure(sizes, rounds: int, burst: int) -> list[dict]:
    import jax

    jax.config.update("jax_enable_x64", True)
    return [_one_size(n, rounds, burst) for n in sizes]


def table(rows_by_threads: dict[str, list[dict]]) -> str:
    names = ["graphc solve", "graphc pos", "jax solve", "jax cho", "scipy cho"]
    header = ["threads", "n", *[f"{k} ms" for k in names], "pos vs best jax", "pos vs scipy",
              "solve vs best jax"]
    lines = [header]
    for threads, rows in rows_by_threads.items():
        for r in rows:
            lines.append([threads, str(r["n"]), *[f"{r['ms'][k]:.2f}" for k in names],
                          f"{r['vs best jax']['graphc pos']:.2f}", f"{r['vs scipy']['graphc pos']:.2f}",
                          f"{r['vs best jax']['graphc solve']:.2f}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--threads", choices=["1", "default", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (one setting)")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(measure(args.sizes, args.rounds, args.burst)))
        return
    settings = ["1", "default"] if args.threads == "both" else [args.threads]
    results = {}
    for threads in settings:
        env = dict(os.environ, **(single_threaded_env() if threads == "1" else {}))
        command = [sys.executable, __file__, "--json", "--sizes", *map(str, args.sizes),
                   "--rounds", str(args.rounds), "--burst", str(args.burst)]
        done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)
        results["1" if threads == "1" else "default"] = json.loads(done.stdout.strip().splitlines()[-1])
    print(table(results))


if __name__ == "__main__":
    main()
