"""The numba backend against JAX ``jit``, measured in alternation: the target "no slower than JAX"
on P6 and P7, with the noise of a shared VM taken out of the comparison.

``numba_suite.py`` measures every graphc column first and JAX afterwards (XLA's spinning thread
pool slows whatever runs next), so the two columns can come from different phases of a host
whose speed drifts by 20-30% between minutes. Here each round times graphc then JAX (medians of
a burst of calls each, a pause between them for XLA's threads to park), and the ratio is taken
within the round: its median and range over the rounds, and the number of rounds graphc wins.

    uv sync --group bench
    uv run python benchmarks/paired_jax.py [--problems P6 P7] [--rounds 15] [--burst 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from numba_suite import fmt, graphs_of, jax_functions
from timing import median_seconds

import graphc as gc

PAUSE = 0.02  # seconds between the two halves of a round: XLA's pool stops spinning by then


def paired(key: str, kind: str, rounds: int, calls: int):
    import jax

    graphs, wrt, inputs, _ = graphs_of(key)
    j = list(graphs).index(kind)
    v = np.random.default_rng(9).normal(size=np.shape(inputs[wrt]))
    args = {**inputs, "direction": v} if kind == "hvp" else inputs
    ours = gc.compile(graphs[kind], backend="numba")
    jitted = jax_functions(key)[j]
    jargs = [jax.numpy.asarray(a) for a in list(inputs.values()) + ([v] if kind == "hvp" else [])]
    expected = ours(**args)
    got = jax.block_until_ready(jitted(*jargs))
    first_ours = np.asarray(next(iter(expected.values())) if isinstance(expected, dict) else expected[0])
    first_jax = np.asarray(got[0] if isinstance(got, tuple) else got)
    np.testing.assert_allclose(first_ours, first_jax, rtol=1e-8, atol=1e-10)  # the same function

    def run_jax():
        return jax.block_until_ready(jitted(*jargs))

    ours_times, jax_times = [], []
    for _ in range(rounds):
        time.sleep(PAUSE)
        ours_times.append(median_seconds(lambda: ours(**args), calls))
        time.sleep(PAUSE)
        jax_times.append(median_seconds(run_jax, calls))
    ratios = [a / b for a, b in zip(ours_times, jax_times)]
    return statistics.median(ours_times), statistics.median(jax_times), ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["P6", "P7"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args(argv)
    if jax_functions("P6") is None:
        sys.exit("JAX is not installed: uv sync --group bench")
    print(f"graphc (numba backend) against JAX jit, alternating: {args.rounds} rounds of "
          f"{args.burst} calls each")
    header = (f"{'problem':<8}{'what':<12}{'numba':>10}{'jax jit':>10}{'ratio':>8}{'range':>13}"
              f"{'numba wins':>12}")
    print(header)
    print("-" * len(header))
    for key in args.problems:
        for kind in ("value+grad", "hvp"):
            ours, theirs, ratios = paired(key, kind, args.rounds, args.burst)
            wins = sum(r < 1 for r in ratios)
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            print(f"{key:<8}{kind:<12}{fmt(ours):>10}{fmt(theirs):>10}{statistics.median(ratios):>7.2f}x"
                  f"{spread:>13}{f'{wins}/{len(ratios)}':>12}", flush=True)
    print("\nratio: numba time / JAX time within a round, median over the rounds")


if __name__ == "__main__":
    main()
