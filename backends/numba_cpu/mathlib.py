"""Vectorizable float32 approximations of exp, tanh and erf for generated kernels, and the f16
conversions f16 kernels load and store through (Numba has no float16 on the CPU).

LLVM cannot vectorize loops that call libm, so generated f32 kernels call these instead
(branch-free arithmetic; the backend option ``exact_math=True`` keeps libm). Accuracy is
tested against NumPy over the whole float32 range, including ±inf, NaN and the clamp points
(``tests/test_mathlib.py``): a few ulp relative error for normal results.

* ``exp_f32``: Cephes' range reduction x = k·ln2 + r, |r| <= ln2/2, a degree-6 polynomial for
  e^r, and 2^k built directly from exponent bits (as two factors, to reach k = 128).
* ``tanh_f32``: the 13/6-degree rational approximation used by Eigen and XLA:CPU, clamped at
  ±7.9053111 where float32 tanh rounds to ±1.
* ``erf_f32``: the 13/8-degree rational approximation of Eigen and XLA:CPU on [-4, 4] (erf is
  ±1 in float32 beyond), odd numerator over even denominator.
* ``h2f`` / ``f2h``: IEEE binary16 bits (kept in uint16 arrays) to float32 and back, rounding
  to nearest even as NumPy's float16 casts do (tested on all 65536 patterns and random f32).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_F = np.float32


@intrinsic
def _bits_to_f32(typingctx, bits):
    """Reinterpret an int32 as a float32 (a bitcast: no conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _f32_to_bits(typingctx, x):
    """Reinterpret a float32 as an int32."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@njit(inline="always", cache=True)
def h2f(h):
    """The float32 value of half-precision bits `h` (exact: every f16 is an f32)."""
    bits = np.int64(h)
    sign = (bits & 0x8000) << 16
    e = (bits >> 10) & 0x1F
    m = bits & 0x3FF
    if e == 0:  # zero or subnormal: m * 2^-24
        v = _F(m) * _F(5.9604644775390625e-08)
        return -v if sign else v
    wide = sign | (0x7F800000 | (m << 13) if e == 31 else ((e + 112) << 23) | (m << 13))
    return _bits_to_f32(np.int32(wide - (1 << 32) if wide >= (1 << 31) else wide))


@njit(inline="always", cache=True)
def f2h(x):
    """Half-precision bits (uint16) of float32 `x`, rounded to nearest even."""
    bits = np.int64(_f32_to_bits(_F(x))) & 0xFFFFFFFF
    sign = (bits >> 16) & 0x8000
    a = bits & 0x7FFFFFFF
    if a > 0x7F800000:  # NaN: a quiet NaN of the same sign
        return np.uint16(sign | 0x7E00)
    if a >= 0x477FF000:  # 65520 and up (inf too) round to inf
        return np.uint16(sign | 0x7C00)
    if a < 0x38800000:  # below 2^-14: a subnormal half, m * 2^-24 (the scaling is exact)
        return np.uint16(sign | np.int64(np.rint(abs(_F(x)) * _F(16777216.0))))
    a -= 0x38000000  # exponent bias 127 -> 15
    return np.uint16(sign | ((a + 0xFFF + ((a >> 13) & 1)) >> 13))


@njit(inline="always", cache=True)
def exp_f32(x):
    hi = _F(88.72283)  # above: overflow to inf
    lo = _F(-87.33654)  # below: the result would be subnormal; flush to 0
    xc = min(max(x, lo), hi)
    k = np.floor(xc * _F(1.44269504088896341) + _F(0.5))
    r = xc - k * _F(0.693359375) - k * _F(-2.12194440e-4)
    p = _F(1.9875691500e-4)
    p = p * r + _F(1.3981999507e-3)
    p = p * r + _F(8.3334519073e-3)
    p = p * r + _F(4.1665795894e-2)
    p = p * r + _F(1.6666665459e-1)
    p = p * r + _F(5.0000001201e-1)
    y = p * r * r + r + _F(1.0)
    # 2^k as two factors: k reaches 128 just below the overflow point, which has no float32
    # encoding, while each half (at most 2^64) does
    ki = np.int32(k)
    half = ki >> np.int32(1)
    result = (y * _bits_to_f32((half + np.int32(127)) << np.int32(23))) * \
        _bits_to_f32((ki - half + np.int32(127)) << np.int32(23))
    result = np.float32(np.inf) if x > hi else result
    result = _F(0.0) if x < lo else result
    return x if x != x else result


@njit(inline="always", cache=True)
def tanh_f32(x):
    clamp = _F(7.90531110763549805)
    xc = min(max(x, -clamp), clamp)
    x2 = xc * xc
    p = x2 * _F(-2.76076847742355e-16) + _F(2.00018790482477e-13)
    p = x2 * p + _F(-8.60467152213735e-11)
    p = x2 * p + _F(5.12229709037114e-08)
    p = x2 * p + _F(1.48572235717979e-05)
    p = x2 * p + _F(6.37261928875436e-04)
    p = x2 * p + _F(4.89352455891786e-03)
    p = xc * p
    q = x2 * _F(1.19825839466702e-06) + _F(1.18534705686654e-04)
    q = x2 * q + _F(2.26843463243900e-03)
    q = x2 * q + _F(4.89352518554385e-03)
    result = p / q
    result = x if abs(x) < _F(0.0004) else result  # tanh(x) = x in float32 there
    return x if x != x else result


@njit(inline="always", cache=True)
def erf_f32(x):
    xc = min(max(x, _F(-4.0)), _F(4.0))  # erf rounds to ±1 in float32 beyond
    x2 = xc * xc
    p = x2 * _F(-2.72614225801306e-10) + _F(2.77068142495902e-08)
    p = x2 * p + _F(-2.10102402082508e-06)
    p = x2 * p + _F(-5.69250639462346e-05)
    p = x2 * p + _F(-7.34990630326855e-04)
    p = x2 * p + _F(-2.95459980854025e-03)
    p = x2 * p + _F(-1.60960333262415e-02)
    p = xc * p
    q = x2 * _F(-1.45660718464996e-05) + _F(-2.13374055278905e-04)
    q = x2 * q + _F(-1.68282697438203e-03)
    q = x2 * q + _F(-7.37332916720468e-03)
    q = x2 * q + _F(-1.42647390514189e-02)
    result = p / q
    # near 0, erf(x) = 2/sqrt(pi) x (the x^3 term is below float32 precision), and p above
    # would be subnormal and lose digits
    result = x * _F(1.12837916709551257) if abs(x) < _F(1e-4) else result
    return x if x != x else result
