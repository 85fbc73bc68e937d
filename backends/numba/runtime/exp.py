"""``exp`` and ``sigmoid`` for generated loops: branch-free arithmetic that LLVM vectorizes.

Without Intel's SVML (numba's pip wheels do not ship it) ``math.exp`` is a scalar libm call per
element, and a loop calling it runs one lane at a time: the LSTM's gates (three sigmoids of 64
each per step) cost more than its matrix product. These statements are :mod:`.tanh`'s exp, which
that module documents, over the whole float64 range:

* y = x clamped to [-745.2, 709.8] by conditional expressions (a NaN compares false and passes
  through, so it reaches the result); below -745.2 exp rounds to 0 and above 709.79 it is inf,
  which the clamped y still gives;
* exp(y) = 2ⁿ exp(r), n = round(y / ln 2), |r| <= ln(2) / 2, exp(r) by the Taylor polynomial of
  degree 13 by Estrin's scheme with fused multiply-adds;
* 2ⁿ as two factors 2^h 2^(n-h), h = round(n / 2), each within the exponent field's range
  (n runs from -1075 to 1024): the first product is exact, the second rounds once (also into
  the subnormals).

Accuracy: within 1 ulp of numpy's ``exp`` over [-745, 709.78] (tests/test_numba_backend.py).
``sigmoid`` is e / (1 + e) for x < 0 and 1 / (1 + e) for x >= 0 with e = exp(-|x|): e never
overflows, and the negative side keeps its full relative precision (scipy's ``expit``).
"""

from __future__ import annotations

# exp(y) for a float64 y within [-745.2, 709.8] (or NaN), into {e}; temporaries {t}*
CORE = """\
{t}n = tanh_fma({y}, 1.4426950408889634, 6755399441055744.0) - 6755399441055744.0
{t}r = tanh_fma(-{t}n, 1.90821492927058770002e-10, tanh_fma(-{t}n, 6.93147180369123816490e-01, {y}))
{t}r2 = {t}r * {t}r
{t}r4 = {t}r2 * {t}r2
{t}e0 = tanh_fma(tanh_fma({t}r, 1.0 / 6.0, 0.5), {t}r2, {t}r + 1.0)
{t}e1 = tanh_fma(tanh_fma({t}r, 1.0 / 5040.0, 1.0 / 720.0), {t}r2, tanh_fma({t}r, 1.0 / 120.0, 1.0 / 24.0))
{t}e2 = tanh_fma({t}r, 1.0 / 362880.0, 1.0 / 40320.0)
{t}e2 = tanh_fma(tanh_fma({t}r, 1.0 / 39916800.0, 1.0 / 3628800.0), {t}r2, {t}e2)
{t}e3 = tanh_fma({t}r, 1.0 / 6227020800.0, 1.0 / 479001600.0)
{t}ep = tanh_fma(tanh_fma({t}e3, {t}r4, {t}e2), {t}r4 * {t}r4, tanh_fma({t}e1, {t}r4, {t}e0))"""

_EXP = """\
{t}y = -745.2 if {x} < -745.2 else {x}
{t}y = 709.8 if {t}y > 709.8 else {t}y
{core}
{t}h = tanh_fma({t}n, 0.5, 6755399441055744.0) - 6755399441055744.0
{out} = {t}ep * tanh_pow2({t}h) * tanh_pow2({t}n - {t}h)"""

_SIGMOID = """\
{t}y = -abs({x})
{t}y = -745.2 if {t}y < -745.2 else {t}y
{core}
{t}h = tanh_fma({t}n, 0.5, 6755399441055744.0) - 6755399441055744.0
{t}e = {t}ep * tanh_pow2({t}h) * tanh_pow2({t}n - {t}h)
{t}num = 1.0 if {x} >= 0.0 else {t}e
{out} = {t}num / (1.0 + {t}e)"""


def core(y: str, prefix: str) -> str:
    """The lines putting exp(y) (y within range) into ``prefix + "ep"`` times 2 ** ``prefix + "n"``."""
    return CORE.format(y=y, t=prefix)


def exp_statements(x: str, out: str, prefix: str) -> list[str]:
    """Lines computing ``out = exp(x)`` for a float64 ``x``."""
    return _EXP.format(x=x, out=out, t=prefix, core=core(f"{prefix}y", prefix)).splitlines()


def sigmoid_statements(x: str, out: str, prefix: str) -> list[str]:
    """Lines computing ``out = 1 / (1 + exp(-x))`` for a float64 ``x``."""
    return _SIGMOID.format(x=x, out=out, t=prefix, core=core(f"{prefix}y", prefix)).splitlines()
