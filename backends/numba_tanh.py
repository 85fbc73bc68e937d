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
  degree 13 (truncation error below 1e-17), and 2ⁿ from selects (|x| is capped at 20, where
  tanh is 1 in float64, so n <= 58);
* one division for both branches (numerator and denominator are selected first).
"""

SOURCE = '''
@numba.njit({flags})
def tanh(x):
    # vectorizable tanh (graphc.backends.numba_tanh): both branches computed, then selected
    a = abs(x)
    z = a * a
    p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    y = 2.0 * min(a, 20.0)
    n = math.floor(y * 1.4426950408889634 + 0.5)
    r = (y - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10
    e = 1.0 / 6227020800.0
    e = e * r + 1.0 / 479001600.0
    e = e * r + 1.0 / 39916800.0
    e = e * r + 1.0 / 3628800.0
    e = e * r + 1.0 / 362880.0
    e = e * r + 1.0 / 40320.0
    e = e * r + 1.0 / 5040.0
    e = e * r + 1.0 / 720.0
    e = e * r + 1.0 / 120.0
    e = e * r + 1.0 / 24.0
    e = e * r + 1.0 / 6.0
    e = e * r + 0.5
    e = e * r + 1.0
    e = e * r + 1.0
    scale = 4294967296.0 if n >= 32.0 else 1.0  # 2**n, one bit of n at a time
    n = n - 32.0 if n >= 32.0 else n
    scale = scale * 65536.0 if n >= 16.0 else scale
    n = n - 16.0 if n >= 16.0 else n
    scale = scale * 256.0 if n >= 8.0 else scale
    n = n - 8.0 if n >= 8.0 else n
    scale = scale * 16.0 if n >= 4.0 else scale
    n = n - 4.0 if n >= 4.0 else n
    scale = scale * 4.0 if n >= 2.0 else scale
    n = n - 2.0 if n >= 2.0 else n
    e = e * (scale * 2.0 if n >= 1.0 else scale)
    small = a < 0.625
    numerator = a * z * p if small else -2.0
    denominator = q if small else e + 1.0
    return math.copysign((a if small else 1.0) + numerator / denominator, x)
'''
