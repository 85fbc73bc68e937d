"""An independent oracle: random programs written once against a numpy-like namespace, run with
graphc (both backends, optimized and not) and with JAX; values, gradients and Hessian-vector
products must agree to 1e-8. A program is a recipe of steps, each an op and the earlier values it
reads; :func:`run` interprets it with ``gc`` (on placeholders) or with ``jax.numpy`` (on arrays).
Every step is written in a form that stays finite and smooth on any input (log(1 + x²), exp of a
tanh, a denominator 1 + x²), so the comparisons can be tight."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc

jax.config.update("jax_enable_x64", True)

SHAPE = (3, 4)


def _namespace(kind):
    if kind == "gc":
        return {"sin": gc.sin, "cos": gc.cos, "tanh": gc.tanh, "exp": gc.exp, "log": gc.log,
                "sqrt": gc.sqrt, "sum": gc.sum, "mean": gc.mean, "max": gc.max, "logsumexp": gc.logsumexp,
                "softmax": gc.softmax,
                "where": gc.where, "maximum": gc.maximum, "transpose": gc.transpose, "reshape": gc.reshape,
                "sigmoid": gc.sigmoid, "arctan": gc.arctan, "erf": gc.erf, "cumsum": gc.cumsum,
                "take": gc.take, "constant": gc.constant}
    from jax.scipy.special import erf, logsumexp
    return {"sin": jnp.sin, "cos": jnp.cos, "tanh": jnp.tanh, "exp": jnp.exp, "log": jnp.log,
            "sqrt": jnp.sqrt, "sum": jnp.sum, "mean": jnp.mean, "max": jnp.max, "logsumexp": logsumexp,
            "softmax": jax.nn.softmax, "where": jnp.where, "maximum": jnp.maximum, "transpose": jnp.transpose,
            "reshape": jnp.reshape, "sigmoid": jax.nn.sigmoid, "arctan": jnp.arctan, "erf": erf,
            "cumsum": jnp.cumsum, "take": jnp.take, "constant": jnp.asarray}


UNARY = ["sin", "cos", "tanh", "softlog", "softsqrt", "expt", "sigmoid", "arctan", "erf", "square"]
BINARY = ["add", "sub", "mul", "safe_div", "maximum", "where"]
SHAPED = ["sum0", "sum1", "mean", "logsumexp1", "softmax1", "matmul", "transpose", "reshape", "cumsum0",
          "take", "max1"]
INDEX = np.array([2, 0, 0, 1])  # a gather with a duplicate: its adjoint adds


def _unary(ns, op, x):
    if op == "softlog":
        return ns["log"](1.0 + x * x)
    if op == "softsqrt":
        return ns["sqrt"](1.0 + x * x)
    if op == "expt":
        return ns["exp"](ns["tanh"](x))
    if op == "square":
        return x * x * 0.5
    return ns[op](x)


def _binary(ns, op, x, y):
    if op == "add":
        return x + y
    if op == "sub":
        return x - y
    if op == "mul":
        return x * y
    if op == "safe_div":
        return x / (1.0 + y * y)
    if op == "maximum":
        return ns["maximum"](x, y + 0.37)  # ties have probability zero
    return ns["where"](x > y, ns["sin"](x), y * 0.5)


def _shaped(ns, op, x):
    """Ops that change the shape; None when it does not fit x's."""
    nd = len(x.shape)
    if op == "sum0" and nd >= 1:
        return ns["sum"](x, axis=0)
    if op == "sum1" and nd == 2:
        return ns["sum"](x, axis=1, keepdims=True) + x
    if op == "mean" and nd >= 1:
        return ns["mean"](x, axis=-1)
    if op == "logsumexp1" and nd >= 1:
        return ns["logsumexp"](x, axis=-1)
    if op == "softmax1" and nd >= 1:
        return ns["softmax"](x, axis=-1)
    if op == "max1" and nd >= 1:
        return ns["max"](x, axis=-1)
    if op == "matmul" and nd == 2:
        return x @ ns["transpose"](x) * 0.25
    if op == "transpose" and nd == 2:
        return ns["transpose"](x)
    if op == "reshape" and nd == 2:
        return ns["reshape"](x, (-1,))
    if op == "cumsum0" and nd >= 1:
        return ns["cumsum"](x, axis=0)
    if op == "take" and nd >= 1 and x.shape[0] == 3:
        return ns["take"](x, ns["constant"](INDEX), axis=0)
    return None


@st.composite
def recipes(draw):
    steps = []
    for _ in range(draw(st.integers(2, 7))):
        family = draw(st.sampled_from(["unary", "binary", "shaped"]))
        op = draw(st.sampled_from({"unary": UNARY, "binary": BINARY, "shaped": SHAPED}[family]))
        steps.append((family, op, draw(st.integers(0, 100)), draw(st.integers(0, 100))))
    return steps


def run(recipe, ns, x, y):
    """The recipe's scalar result from inputs x (3, 4) and y (4,), with namespace ``ns``."""
    values = [x, y]
    for family, op, i, j in recipe:
        a = values[i % len(values)]
        if family == "unary":
            values.append(_unary(ns, op, a))
        elif family == "binary":
            fits = [v for v in values if _broadcasts(a.shape, v.shape)]
            values.append(_binary(ns, op, a, fits[j % len(fits)]))
        else:
            made = _shaped(ns, op, a)
            if made is not None:
                values.append(made)
    return ns["sum"](ns["tanh"](values[-1])) + 0.1 * ns["sum"](values[-2] * values[-2])


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(tuple(a), tuple(b))
        return True
    except ValueError:
        return False


def _graph(recipe):
    x, y = gc.placeholder("x", SHAPE), gc.placeholder("y", (4,))
    return gc.Graph([x, y], {"f": run(recipe, _namespace("gc"), x, y)})


def check_against_jax(recipe, seed, backend, optimize):
    rng = np.random.default_rng(seed)
    x, y, vx, vy = rng.normal(size=SHAPE), rng.normal(size=4), rng.normal(size=SHAPE), rng.normal(size=4)
    jns = _namespace("jax")

    def f(a, b):
        return run(recipe, jns, a, b)

    value, (gx, gy) = jax.value_and_grad(f, argnums=(0, 1))(x, y)
    _, (hx, hy) = jax.jvp(lambda a, b: jax.grad(f, argnums=(0, 1))(a, b), (x, y), (vx, vy))
    graph = _graph(recipe)
    got = gc.compile(gc.grad(graph, ["x", "y"]), backend=backend, optimize=optimize)(x=x, y=y)
    np.testing.assert_allclose(got["f"], value, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got["grad_x"], gx, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got["grad_y"], gy, rtol=1e-8, atol=1e-10)
    hvp = gc.compile(gc.hvp(graph, ["x", "y"]), backend=backend, optimize=optimize)
    got = hvp(x=x, y=y, direction_x=vx, direction_y=vy)
    np.testing.assert_allclose(got["hvp_x"], hx, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(got["hvp_y"], hy, rtol=1e-8, atol=1e-9)


ORACLE = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@settings(ORACLE, max_examples=200)
@given(recipe=recipes(), seed=st.integers(0, 2**16), optimize=st.booleans())
def test_random_programs_agree_with_jax_on_the_numpy_backend(recipe, seed, optimize):
    check_against_jax(recipe, seed, "numpy", optimize)


@settings(ORACLE, max_examples=12)  # each program is two numba compiles
@given(recipe=recipes(), seed=st.integers(0, 2**16))
def test_random_programs_agree_with_jax_on_the_numba_backend(recipe, seed):
    check_against_jax(recipe, seed, "numba", True)
