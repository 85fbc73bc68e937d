"""The op registry's contracts: every primitive graphc declares is whole.

Each primitive has a numpy implementation (the reference backend runs it), a numba lowering, a
row in the op test table (tests/optable.py, which checks values and derivatives), a formula for
pictures and a builder function with a docstring; an elementwise op's scalar function (what the
numba backend calls) agrees with its numpy implementation, and its flags are true of it. A
primitive that lacks something fails here with a message that names the op and what it lacks.
"""

from __future__ import annotations

import numpy as np
import pytest
from optable import OPS_BY_PRIMITIVE

import graphc as gc
from graphc.backends.numba.lowering import lowering
from graphc.ops.core import FLAGS, PRIMITIVES

BUILTIN = sorted(name for name, p in PRIMITIVES.items() if p.builtin)
COMPUTED = [name for name in BUILTIN if PRIMITIVES[name].category not in ("source", "call")]


def missing_parts(prim) -> list[str]:
    parts = []
    if prim.impl is None:
        parts.append("a numpy implementation (impl=)")
    if lowering(prim.name) is None:
        parts.append("a numba lowering (scalar= or numba=, or an entry of the numba backend's tables)")
    if prim.name not in OPS_BY_PRIMITIVE:
        parts.append("a row in tests/optable.py with op=" + repr(prim.name))
    if prim.formula is None:
        parts.append("a formula (formula=)")
    if prim.function is not None and not (prim.function.__doc__ or "").strip():
        parts.append("a docstring on its builder function")
    return parts


def test_every_primitive_has_an_implementation_a_lowering_a_test_row_and_a_formula():
    lacking = {name: missing_parts(PRIMITIVES[name]) for name in COMPUTED}
    lacking = {name: parts for name, parts in lacking.items() if parts}
    assert not lacking, "; ".join(f"op {name!r} lacks {', '.join(parts)}" for name, parts in lacking.items())


def test_the_contract_names_what_a_declaration_lacks(declare):
    op = declare("tests.incomplete_square", elementwise=True, derivative=lambda g, out, x: 2.0 * x * g,
                 impl=np.square)
    parts = missing_parts(op)
    assert parts == ["a numba lowering (scalar= or numba=, or an entry of the numba backend's tables)",
                     "a row in tests/optable.py with op='tests.incomplete_square'"]


def test_sources_have_their_builder_functions():
    assert gc.placeholder is PRIMITIVES["placeholder"].function
    assert gc.constant is PRIMITIVES["constant"].function


@pytest.mark.parametrize("name", [n for n in BUILTIN if PRIMITIVES[n].api])
def test_a_primitive_s_builder_function_is_graphc_s_public_function_of_its_name(name):
    prim = PRIMITIVES[name]
    assert getattr(gc, prim.api) is prim.function
    assert prim.function.__name__ == prim.api


ELEMENTWISE = [n for n in COMPUTED if PRIMITIVES[n].category == "elementwise" and PRIMITIVES[n].scalar]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_an_elementwise_op_s_scalar_function_agrees_with_its_numpy_implementation(name):
    prim = PRIMITIVES[name]
    rng = np.random.default_rng(0)
    spec = OPS_BY_PRIMITIVE[name]
    arity = prim.arity
    values = [spec.domain(i)(rng, (50,)) for i in range(arity)]
    if name == "where":
        values[0] = values[0] > 0
    expected = prim.impl(*values)
    got = np.array([prim.scalar(*args) for args in zip(*[v.tolist() for v in values])])
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(expected, np.float64), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", [n for n in COMPUTED if PRIMITIVES[n].flags])
def test_an_op_s_flags_hold_for_its_numpy_implementation(name):
    prim = PRIMITIVES[name]
    assert prim.flags <= set(FLAGS)
    spec = OPS_BY_PRIMITIVE[name]
    rng = np.random.default_rng(1)
    values = [spec.domain(i)(rng, (200,)) for i in range(prim.arity)]
    if "commutative" in prim.flags:
        np.testing.assert_array_equal(prim.impl(*values), prim.impl(*values[::-1]))
    if "nonnegative" in prim.flags:
        wide = [rng.normal(scale=30.0, size=200) for _ in range(prim.arity)]
        with np.errstate(all="ignore"):
            result = prim.impl(*wide)
        assert np.all((result >= 0) | np.isnan(result)), name
    if "transcendental" in prim.flags:
        assert prim.category == "elementwise"
