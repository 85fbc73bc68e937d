"""``tanh`` for generated loops: branch-free arithmetic that LLVM vectorizes.

libm's ``tanh`` (what ``math.tanh`` and ``np.tanh`` call) is a scalar call per element, ~15-20 ns
on the reference machine; through ``expm1`` it is ~14 ns. The MLP's 4096x256 tanh layer spent more
time there than in its matrix product. This version computes both of its branches with plain
arithmetic and selects, so a loop over it runs four lanes at a time (AVX2): ~7 ns per element on
one thread (benchmarks/README.md, numba). Accuracy: within 2 ulp of numpy's ``tanh`` on a dense
grid over [-30, 30] and on |x| down to 1e-300 (tests/test_numba_backend.py); tanh(-0.0) is -0.0,
tanh(±inf) is ±1 and tanh(nan) is nan.

* |x| < 0.625: Cephes' rational approximation, tanh x = x + x³ P(x²) / Q(x²);
* otherwise: 1 - 2 / (exp(2|x|) + 1), with exp(y) = 2ⁿ exp(r), n = round(y / ln 2),
  |r| <= ln(2) / 2 (ln 2 split in two parts, Cody and Waite), exp(r) by its Taylor polynomial of
  degree 13 (truncation error below 1e-17), and 2ⁿ as the float of the integer 1 << n (|x| is
  capped at 20, where tanh is 1 in float64, so n <= 58). Conditional expressions are kept to
  the three that choose the branch: each is a branch in numba's IR until LLVM turns it into a
  select, and inside a prange loop numba's parfor passes cost ~0.6 s more with the ten that
  computed 2ⁿ bit by bit;
* one division for both branches (numerator and denominator are selected first).

Inside a fused loop the generated code writes these statements out in the loop body
(:func:`statements`): calling a function there would stop LLVM from vectorizing the loop, and
numba's own ``inline="always"`` cost up to 2 s of compile per kernel. Outside loops (0-d values)
the kernel calls the module's ``tanh`` helper (:data:`SOURCE`), the same statements.
"""

_BODY = """\
{t}a = abs({x})
{t}z = {t}a * {t}a
{t}p = (-9.64399179425052238628e-1 * {t}z - 9.92877231001918586564e1) * {t}z - 1.61468768441708447952e3
{t}q = (({t}z + 1.12811678491632931402e2) * {t}z + 2.23548839060100448583e3) * {t}z + 4.84406305325125486048e3
{t}y = 2.0 * min({t}a, 20.0)
{t}n = math.floor({t}y * 1.4426950408889634 + 0.5)
{t}r = ({t}y - {t}n * 6.93147180369123816490e-01) - {t}n * 1.90821492927058770002e-10
{t}e = ((1.0 / 6227020800.0 * {t}r + 1.0 / 479001600.0) * {t}r + 1.0 / 39916800.0) * {t}r
{t}e = ((({t}e + 1.0 / 3628800.0) * {t}r + 1.0 / 362880.0) * {t}r + 1.0 / 40320.0) * {t}r
{t}e = ((({t}e + 1.0 / 5040.0) * {t}r + 1.0 / 720.0) * {t}r + 1.0 / 120.0) * {t}r
{t}e = (((({t}e + 1.0 / 24.0) * {t}r + 1.0 / 6.0) * {t}r + 0.5) * {t}r + 1.0) * {t}r + 1.0
{t}e = {t}e * float(np.int64(1) << np.int64({t}n))
{t}small = {t}a < 0.625
{t}num = {t}a * {t}z * {t}p if {t}small else -2.0
{t}den = {t}q if {t}small else {t}e + 1.0
{out} = math.copysign(({t}a if {t}small else 1.0) + {t}num / {t}den, {x})"""


def statements(x: str, out: str, prefix: str) -> list[str]:
    """Lines computing ``out = tanh(x)``, their temporaries named ``prefix`` + a letter."""
    return _BODY.format(x=x, out=out, t=prefix).splitlines()


SOURCE = (
    "\n@numba.njit({flags})\ndef tanh(x):\n    # vectorizable tanh (graphc.backends.numba_tanh)\n"
    + "".join(f"    {line}\n" for line in statements("x", "result", ""))
    + "    return result\n"
)
