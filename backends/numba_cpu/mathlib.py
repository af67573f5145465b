"""Vectorizable float32 approximations of exp and tanh for generated kernels.

LLVM cannot vectorize loops that call libm, so generated f32 kernels call these instead
(branch-free arithmetic; the backend option ``exact_math=True`` keeps libm). Accuracy is
tested against NumPy over the whole float32 range, including ±inf, NaN and the clamp points
(``tests/test_mathlib.py``): a few ulp relative error for normal results.

* ``exp_f32``: Cephes' range reduction x = k·ln2 + r, |r| <= ln2/2, a degree-6 polynomial for
  e^r, and 2^k built directly from exponent bits (as two factors, to reach k = 128).
* ``tanh_f32``: the 13/6-degree rational approximation used by Eigen and XLA:CPU, clamped at
  ±7.9053111 where float32 tanh rounds to ±1.
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
