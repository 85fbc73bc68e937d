"""Cost of gradients and Hessian-vector products relative to the forward pass.

For the notes' examples (at sizes where the arithmetic dominates) and an MLP loss, times on the
numpy backend: forward, value+gradient, HVP in both modes, each against the forward time measured
in the same run, next to hand-written numpy with a hand-derived gradient and HVP. Theory: a
gradient costs at most ~4x the forward pass, an HVP a small constant times it.

    uv run python benchmarks/hvp_cost.py [--repeat 7]
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
from timing import median_seconds

import graphc as gc


def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


def problems(rng):
    """(name, graph, wrt, inputs, hand-written forward, gradient, hvp)."""
    n = 1000
    out = []

    x = gc.placeholder("x", (n,))
    A = gc.placeholder("A", (n, n))
    b = gc.placeholder("b", (n,))
    f = 0.5 * (x @ (A @ x)) - b @ x
    inputs = {"x": rng.normal(size=n), "A": rng.normal(size=(n, n)), "b": rng.normal(size=n)}
    out.append((
        "quadratic n=1000", gc.Graph([x, A, b], [f]), "x", inputs,
        lambda x, A, b: 0.5 * x @ (A @ x) - b @ x,
        lambda x, A, b: (0.5 * x @ (A @ x) - b @ x, 0.5 * (A @ x + A.T @ x) - b),
        lambda x, A, b, v: 0.5 * (A @ v + A.T @ v),
    ))

    x = gc.placeholder("x", (n,))
    A = gc.placeholder("A", (n, n))
    f = gc.log(x @ (A @ x))
    M = rng.normal(size=(n, n))
    inputs = {"x": rng.normal(size=n), "A": M @ M.T / n + np.eye(n)}

    def lq_grad(x, A):
        ax = A @ x
        q = x @ ax
        return np.log(q), 2 * ax / q

    def lq_hvp(x, A, v):
        ax = A @ x
        q = x @ ax
        return 2 * (A @ v) / q - 4 * ax * (ax @ v) / q**2

    out.append(("ln(xᵀAx) n=1000", gc.Graph([x, A], [f]), "x", inputs,
                lambda x, A: np.log(x @ (A @ x)), lq_grad, lq_hvp))

    m = 300
    X = gc.placeholder("X", (m, m))
    A = gc.placeholder("A", (m, m))
    B = gc.placeholder("B", (m, m))
    R = A @ X - B
    f = gc.sqrt(gc.sum(R * R))
    inputs = {"X": rng.normal(size=(m, m)), "A": rng.normal(size=(m, m)), "B": rng.normal(size=(m, m))}

    def fr_grad(X, A, B):
        R = A @ X - B
        nr = np.linalg.norm(R)
        return nr, A.T @ R / nr

    def fr_hvp(X, A, B, v):
        R = A @ X - B
        nr = np.linalg.norm(R)
        AV = A @ v
        return A.T @ AV / nr - A.T @ R * np.sum(R * AV) / nr**3

    out.append(("||AX-B||_F 300²", gc.Graph([X, A, B], [f]), "X", inputs,
                lambda X, A, B: np.linalg.norm(A @ X - B), fr_grad, fr_hvp))

    N, D, H, K = 4096, 64, 256, 10
    Xd = gc.placeholder("X", (N, D))
    W1 = gc.placeholder("W1", (D, H))
    b1 = gc.placeholder("b1", (H,))
    W2 = gc.placeholder("W2", (H, K))
    b2 = gc.placeholder("b2", (K,))
    Y = gc.placeholder("Y", (N, K))
    loss = gc.mean((gc.tanh(Xd @ W1 + b1) @ W2 + b2 - Y) ** 2)
    inputs = {"X": rng.normal(size=(N, D)), "W1": rng.normal(size=(D, H)) / 8, "b1": np.zeros(H),
              "W2": rng.normal(size=(H, K)) / 16, "b2": np.zeros(K), "Y": rng.normal(size=(N, K))}

    def mlp_forward(X, W1, b1, W2, b2, Y):
        return np.mean((np.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)

    def mlp_grad(X, W1, b1, W2, b2, Y):
        Hh = np.tanh(X @ W1 + b1)
        E = Hh @ W2 + b2 - Y
        dP = 2 * E / E.size
        dZ = (dP @ W2.T) * (1 - Hh * Hh)
        return np.mean(E * E), X.T @ dZ

    def mlp_hvp(X, W1, b1, W2, b2, Y, v):
        Hh = np.tanh(X @ W1 + b1)
        E = Hh @ W2 + b2 - Y
        dP = 2 * E / E.size
        dH = dP @ W2.T
        dZf = X @ v
        dHf = (1 - Hh * Hh) * dZf
        ddP = 2 * (dHf @ W2) / E.size
        ddZ = (ddP @ W2.T) * (1 - Hh * Hh) - 2 * Hh * dHf * dH
        return X.T @ ddZ

    out.append(("MLP loss, wrt W1", gc.Graph([Xd, W1, b1, W2, b2, Y], [loss]), "W1", inputs,
                mlp_forward, mlp_grad, mlp_hvp))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for name, graph, wrt, inputs, fwd_np, grad_np, hvp_np in problems(rng):
        v = rng.normal(size=inputs[wrt].shape)
        forward = gc.compile(graph)
        gradient = gc.compile(gc.grad(graph, wrt))
        hvps = {mode: gc.compile(gc.hvp(graph, wrt, mode=mode)) for mode in ("fwd-rev", "rev-rev")}
        # the derived results must equal the hand-written ones before anything is timed
        np.testing.assert_allclose(gradient(**inputs)[-1], grad_np(**inputs)[1], rtol=1e-8)
        for h in hvps.values():
            np.testing.assert_allclose(h(**inputs, direction=v)["hvp_" + wrt], hvp_np(**inputs, v=v),
                                       rtol=1e-7, atol=1e-12)
        t = {
            "fwd": median_seconds(partial(forward, **inputs), args.repeat),
            "grad": median_seconds(partial(gradient, **inputs), args.repeat),
            "fwd-rev": median_seconds(partial(hvps["fwd-rev"], **inputs, direction=v), args.repeat),
            "rev-rev": median_seconds(partial(hvps["rev-rev"], **inputs, direction=v), args.repeat),
        }
        hand = {
            "fwd": median_seconds(partial(fwd_np, **inputs), args.repeat),
            "grad": median_seconds(partial(grad_np, **inputs), args.repeat),
            "hvp": median_seconds(partial(hvp_np, **inputs, v=v), args.repeat),
        }
        rows.append((name, t, hand))
    header = (f"{'problem':<20} {'fwd ms':>8} {'grad/fwd':>8} {'hvp fwd-rev/fwd':>15} "
              f"{'hvp rev-rev/fwd':>15} {'hand fwd ms':>11} {'hand grad/fwd':>13} {'hand hvp/fwd':>12} "
              f"{'grad vs hand':>12} {'hvp vs hand':>11}")
    print(header)
    print("-" * len(header))
    for name, t, hand in rows:
        best_hvp = min(t["fwd-rev"], t["rev-rev"])
        print(f"{name:<20} {t['fwd'] * 1e3:>8.2f} {t['grad'] / t['fwd']:>8.2f} "
              f"{t['fwd-rev'] / t['fwd']:>15.2f} {t['rev-rev'] / t['fwd']:>15.2f} "
              f"{hand['fwd'] * 1e3:>11.2f} {hand['grad'] / hand['fwd']:>13.2f} "
              f"{hand['hvp'] / hand['fwd']:>12.2f} {t['grad'] / hand['grad']:>12.2f} "
              f"{best_hvp / hand['hvp']:>11.2f}")
    print("\nratios x/fwd are within one implementation; 'vs hand' is graphc time / hand-written time")


if __name__ == "__main__":
    main()
