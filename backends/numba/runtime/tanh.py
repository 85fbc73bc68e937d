"""``tanh`` for generated loops: branch-free arithmetic that LLVM vectorizes.

libm's ``tanh`` (what ``math.tanh`` and ``np.tanh`` call) is a scalar call per element, ~15-20 ns
on the reference machine; through ``expm1`` it is ~14 ns. The MLP's 4096x256 tanh layer spent more
time there than in its matrix product. This version computes both of its branches with plain
arithmetic and selects, so a loop over it runs four lanes at a time (AVX2): 2.8 ns per element
on one thread (the first version, ~8 ns). Accuracy: within 2 ulp of numpy's ``tanh`` on a dense
grid over [-30, 30] and on |x| down to 1e-300 (tests/test_numba_backend.py); tanh(-0.0) is -0.0,
tanh(±inf) is ±1 and tanh(nan) is nan.

* |x| < 0.625: Cephes' rational approximation, tanh x = x + x³ P(x²) / Q(x²);
* otherwise: 1 - 2 / (exp(2|x|) + 1), with exp(y) = 2ⁿ exp(r), n = round(y / ln 2) by adding
  and subtracting 1.5·2⁵² (whose float64 spacing is 1: the sum rounds to an integer; numba's
  ``math.floor`` returns an int64, and the conversions to and from it, which AVX2 has no vector
  instruction for, made the loop 1.7x slower), |r| <= ln(2) / 2 (ln 2 split in two parts, Cody
  and Waite), exp(r) by its Taylor polynomial of
  degree 13 (truncation error below 1e-17) evaluated by Estrin's scheme (four dependent steps
  where Horner's rule takes thirteen: the loop was bound by that chain's latency) with fused
  multiply-adds (:func:`fma`), and 2ⁿ built in the exponent bits (:func:`pow2`; |x| is capped at
  20, where tanh is 1 in float64, so n <= 58). Together 1.3x faster than Horner's rule with
  separate multiplies and adds and 2ⁿ as the float of the integer 1 << n, whose conversions
  AVX2 cannot vectorize. Conditional expressions are kept to the three that choose the branch:
  each is a branch in numba's IR until LLVM turns it into a select, and inside a prange loop
  numba's parfor passes cost ~0.6 s more with the ten that computed 2ⁿ bit by bit;
* one division for both branches (numerator and denominator are selected first).

Inside a fused loop the generated code writes these statements out in the loop body
(:func:`statements`): calling a function there would stop LLVM from vectorizing the loop, and
numba's own ``inline="always"`` cost up to 2 s of compile per kernel. Outside loops (0-d values)
the kernel calls the module's ``tanh`` helper (:data:`SOURCE`), the same statements.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .exp import core

_BODY = """\
{t}a = abs({x})
{t}z = {t}a * {t}a
{t}p = tanh_fma(-9.64399179425052238628e-1, {t}z, -9.92877231001918586564e1)
{t}p = tanh_fma({t}p, {t}z, -1.61468768441708447952e3)
{t}q = tanh_fma({t}z + 1.12811678491632931402e2, {t}z, 2.23548839060100448583e3)
{t}q = tanh_fma({t}q, {t}z, 4.84406305325125486048e3)
{t}y = 2.0 * min({t}a, 20.0)
{core}
{t}e = {t}ep * tanh_pow2({t}n)
{t}small = {t}a < 0.625
{t}num = {t}a * {t}z * {t}p if {t}small else -2.0
{t}den = {t}q if {t}small else {t}e + 1.0
{out} = math.copysign(({t}a if {t}small else 1.0) + {t}num / {t}den, {x})"""


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's llvm.fma: one vector instruction with FMA3, which LLVM
    vectorizes; numba has no fma of its own)."""
    if not all(isinstance(t, (types.Float, types.Integer)) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def pow2(typingctx, n):
    """2ⁿ for an integer-valued float n in [-1022, 1023]: n + 1023 written into the exponent field
    of a float64. Adding 2⁵² + 1023 puts n + 1023 in the low bits of the mantissa (exactly, as
    |n| < 2⁵¹); shifting those 64 bits left by 52 moves them to the exponent. The float-to-int
    conversion numba would otherwise emit has no AVX2 vector instruction."""
    if not isinstance(n, (types.Float, types.Integer)):
        return None
    sig = types.float64(types.float64)

    def codegen(context, builder, signature, args):
        biased = builder.fadd(args[0], ir.Constant(ir.DoubleType(), 4503599627371519.0))  # 2^52 + 1023
        bits = builder.shl(builder.bitcast(biased, ir.IntType(64)), ir.Constant(ir.IntType(64), 52))
        return builder.bitcast(bits, ir.DoubleType())

    return sig, codegen


def statements(x: str, out: str, prefix: str) -> list[str]:
    """Lines computing ``out = tanh(x)``, their temporaries named ``prefix`` + a letter."""
    return _BODY.format(x=x, out=out, t=prefix, core=core(f"{prefix}y", prefix)).splitlines()


SOURCE = (
    "\nfrom graphc.backends.numba.runtime.tanh import fma as tanh_fma, pow2 as tanh_pow2\n"
    "\n@numba.njit({flags})\ndef tanh(x):\n    # vectorizable tanh (graphc.backends.numba.runtime.tanh)\n"
    + "".join(f"    {line}\n" for line in statements("x", "result", ""))
    + "    return result\n"
)
