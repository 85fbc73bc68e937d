"""Cost of gradients and Hessian-vector products relative to the forward pass.

For problems P1, P2, P3 and P6 of ``numba_suite.py`` (notes examples at sizes where the
arithmetic dominates, and the MLP loss: gradient in all parameters, HVP in W1), times on the numpy
backend: forward, value+gradient, HVP in both modes, each against the forward time measured in the
same run, next to hand-written numpy with a hand-derived gradient and HVP. Theory: a gradient
costs at most ~4x the forward pass, an HVP a small constant times it.

    uv run python benchmarks/hvp_cost.py [--repeat 7]
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
from numba_suite import PROBLEMS
from timing import median_seconds

import graphc as gc

# the problems of the numba suite whose HVPs have hand-derived counterparts there
KEYS = {"P1": "quadratic n=1000", "P2": "ln(xᵀAx) n=1000", "P3": "||AX-B||_F 300²",
        "P6": "MLP loss 4096x64"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for key, name in KEYS.items():
        graph, wrt, inputs, (fwd_np, grad_np, hvp_np) = PROBLEMS[key][1]()
        first = wrt[0] if isinstance(wrt, list) else wrt
        hand_args = list(inputs.values())
        v = rng.normal(size=np.shape(inputs[first]))
        forward = gc.compile(graph)
        gradient = gc.compile(gc.grad(graph, wrt))
        hvps = {mode: gc.compile(gc.hvp(graph, first, mode=mode)) for mode in ("fwd-rev", "rev-rev")}
        # the derived results must equal the hand-written ones before anything is timed
        for got, expected in zip(gradient(**inputs), grad_np(*hand_args)):
            np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12)
        for h in hvps.values():
            np.testing.assert_allclose(h(**inputs, direction=v)[f"hvp_{first}"], hvp_np(*hand_args, v),
                                       rtol=1e-7, atol=1e-12)
        t = {
            "fwd": median_seconds(partial(forward, **inputs), args.repeat),
            "grad": median_seconds(partial(gradient, **inputs), args.repeat),
            "fwd-rev": median_seconds(partial(hvps["fwd-rev"], **inputs, direction=v), args.repeat),
            "rev-rev": median_seconds(partial(hvps["rev-rev"], **inputs, direction=v), args.repeat),
        }
        hand = {
            "fwd": median_seconds(partial(fwd_np, *hand_args), args.repeat),
            "grad": median_seconds(partial(grad_np, *hand_args), args.repeat),
            "hvp": median_seconds(partial(hvp_np, *hand_args, v), args.repeat),
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
