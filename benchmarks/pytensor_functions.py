"""PyTensor versions of problems P1..P7 of ``numba_suite.py``, for its "pytensor C" column.

PyTensor is the other graph compiler in the comparison: a symbolic graph, ``pytensor.grad`` for
the gradient, ``pytensor.gradient.hessian_vector_product`` (reverse over reverse: the gradient of
``<grad f, v>``) for the HVP, and ``pytensor.function`` to compile, in PyTensor's default mode (its
graph rewrites plus the C backend, which needs a C compiler; without one PyTensor falls back to
Python code and the column would measure the interpreter). It is installed by the optional
``bench`` dependency group (``uv sync --group bench``) and is never a runtime dependency of graphc:
``pytensor_functions`` returns None when PyTensor cannot be imported.

The formulas repeat the JAX versions of ``numba_suite.jax_functions`` one for one, and the
arguments come in the same order as the hand-written numpy functions of the suite (the problem's
inputs, then the direction for the HVP), so one argument list serves every column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Number of dimensions of each argument, in the order of the problem's inputs.
NDIMS = {
    "P1": (1, 2, 1),  # x, A, b
    "P2": (1, 2),  # x, A
    "P3": (2, 2, 2),  # X, A, B
    "P4": (2, 2),  # X, S
    "P5": (1, 2),  # w, A
    "P6": (2, 1, 2, 1, 2, 2),  # W1, b1, W2, b2, X, Y
    "P7": (2, 1, 2, 1, 2, 2),
}


def _cost(key: str, args: Sequence):
    """The problem's scalar objective as a PyTensor expression of the symbolic ``args``."""
    import pytensor.tensor as pt

    if key == "P1":
        x, A, b = args
        return 0.5 * (x @ (A @ x)) - b @ x
    if key == "P2":
        x, A = args
        return pt.log(x @ (A @ x))
    if key == "P3":
        X, A, B = args
        R = A @ X - B
        return pt.sqrt(pt.sum(R * R))
    if key == "P4":
        X, S = args
        return pt.sum(S * X) - pt.linalg.slogdet(X)[1]
    if key == "P5":
        w, A = args
        return pt.sum(pt.softplus(A @ w)) + 0.05 * (w @ w)
    W1, b1, W2, b2, X, Y = args
    return pt.mean((pt.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)


def pytensor_functions(key: str) -> tuple[Callable, Callable, Callable] | None:
    """Compiled (forward, value+grad, hvp) of problem ``key``, or None without PyTensor.

    value+grad differentiates with respect to the first argument (the first four, W1 b1 W2 b2,
    for the MLP problems P6 and P7), like the hand-written column; hvp takes the direction for
    the first argument as its last argument. Compiling happens here, outside any timed loop.
    """
    key = "P2" if key == "P2s" else key  # nor PyTensor: the same function as P2
    try:
        import pytensor
        import pytensor.tensor as pt
        from pytensor.gradient import hessian_vector_product
    except ImportError:
        return None
    names = "abcdef"
    args = [pt.tensor(names[i], shape=(None,) * nd, dtype="float64") for i, nd in enumerate(NDIMS[key])]
    cost = _cost(key, args)
    wrt = args[:4] if key in ("P6", "P7") else args[:1]
    direction = args[0].type("direction")
    forward = pytensor.function(args, cost)
    value_grad = pytensor.function(args, [cost, *pytensor.grad(cost, wrt)])
    hvp = pytensor.function([*args, direction], hessian_vector_product(cost, args[0], direction))
    return forward, value_grad, hvp


def check_against(fn: Callable, reference: Callable, args: Sequence, what: str) -> None:
    """Raise RuntimeError unless ``fn(*args)`` equals the hand-written ``reference(*args)``.

    Run once per function before timing it: a fast column that computes something else is
    worse than no column.
    """
    got, want = fn(*args), reference(*args)
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    want = list(want) if isinstance(want, (list, tuple)) else [want]
    if len(got) != len(want):
        raise RuntimeError(f"pytensor {what}: {len(got)} outputs, the hand-written numpy {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-6, atol=1e-9 * max(1.0, np.abs(w).max())):
            raise RuntimeError(
                f"pytensor {what}: output {i} disagrees with the hand-written numpy "
                f"(shapes {g.shape} and {w.shape}, max abs difference "
                f"{np.abs(g - w).max() if g.shape == w.shape else 'n/a'})"
            )
