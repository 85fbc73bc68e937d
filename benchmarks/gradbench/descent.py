"""The gradient-descent solver that GradBench's ``particle`` and ``saddle`` share, as a graphc
``while_loop`` (the suite's ``multivariate_argmin``, cpp/gradbench/gd.hpp: its step size, its
doubling and halving, its stopping rules; the suite asks that it be no cleverer than that).

The solver is built on graph nodes, so the loop is one node of the caller's graph: a derivative
of that graph differentiates through the descent (saddle's argmin of an argmax), and its body
calls a derivative graph (``value_and_grad``), so the descent nests AD inside a loop.

A point is a tuple of 0-d nodes, not a vector: the evals' points have one or two coordinates,
and scalar carries keep the numba kernel free of small-array allocations in its loops."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import graphc as gc

Point = tuple[gc.Node, ...]
ValueAndGrad = Callable[[Point], tuple[gc.Node, Point]]

TOLERANCE = 1e-5  # gd.hpp: a gradient or a step of at most this length stops the descent
FIRST_STEP = 1e-5  # gd.hpp's initial eta
DOUBLING_AFTER = 10  # gd.hpp: after this many accepted steps in a row, eta doubles


def _length(vector: Sequence[gc.Node]) -> gc.Node:
    return gc.sqrt(sum((v * v for v in vector[1:]), vector[0] * vector[0]))


def argmin(value_and_grad: ValueAndGrad, start: Point, max_steps: int, name: str = "argmin") -> Point:
    """The point gd.hpp's descent reaches from ``start``; ``value_and_grad(point)`` gives f and
    its gradient there, as nodes built from a derivative graph (a graphc pass), so the loop's body
    holds AD and a derivative of the caller's graph nests AD through the loop.

    gd.hpp's loop spends a whole iteration on doubling eta; here the doubling happens in the step
    that follows it, which then moves with the doubled eta, exactly as gd.hpp's next iteration
    does (its gradient test sees the same gradient), so the path and the result are gd.hpp's.
    Every step evaluates f and the gradient at the trial point: a dataflow graph has no branch to
    skip them in when the step is refused or the descent stops. ``max_steps`` bounds the loop
    (its reverse-mode derivative stores that many steps)."""
    value, gradient = value_and_grad(start)
    carry = (tuple(start), value, tuple(gradient), gc.constant(FIRST_STEP), gc.constant(0),
             gc.constant(True))

    def step(state):
        x, fx, gx, eta, accepted, _ = state
        doubling = accepted == DOUBLING_AFTER
        eta = gc.where(doubling, 2.0 * eta, eta)
        accepted = gc.where(doubling, 0, accepted)
        trial = tuple(xi - eta * gi for xi, gi in zip(x, gx))
        moved = _length([xi - t for xi, t in zip(x, trial)])
        stop = gc.where(_length(gx) <= TOLERANCE, True, moved <= TOLERANCE)
        f_trial, g_trial = value_and_grad(trial)
        better = f_trial < fx
        accept = gc.where(stop, False, better)
        refuse = gc.where(stop, False, gc.where(better, False, True))
        return (tuple(gc.where(accept, t, xi) for t, xi in zip(trial, x)),
                gc.where(accept, f_trial, fx),
                tuple(gc.where(accept, t, gi) for t, gi in zip(g_trial, gx)),
                gc.where(refuse, 0.5 * eta, eta),
                gc.where(accept, accepted + 1, gc.where(refuse, 0, accepted)),
                gc.where(stop, False, True))

    final = gc.while_loop(lambda state: state[5], step, carry, max_steps=max_steps, name=name)
    return final[0]


def argmax(value_and_grad: ValueAndGrad, start: Point, max_steps: int, name: str = "argmax") -> Point:
    """gd.hpp's ``multivariate_argmax``: the argmin of −f, whose gradient is −∇f."""

    def negated(point: Point) -> tuple[gc.Node, Point]:
        value, gradient = value_and_grad(point)
        return -value, tuple(-g for g in gradient)

    return argmin(negated, start, max_steps, name)
