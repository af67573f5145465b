"""Hand-written Numba kernels for ops that are not loop nests of scalar expressions.

Generated kernels reshape their arrays to the fixed ranks used here and call these (``lib.*``).
All are compiled with ``cache=True``, so each dtype combination is compiled once per machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def rng(key, out, normal, mant):
    """Counter-based random numbers, bit-identical to the reference in xlalite/ops/random.py
    (`mant`: 24 for f32, 53 for f64 mantissa bits of a uniform draw)."""
    base = _mix64(np.uint64(key))
    n = out.shape[0]
    scale = 2.0 ** -mant
    for k in range(n):
        if normal:
            b1 = _mix64(base + np.uint64(2 * k + 1) * _GOLDEN)
            b2 = _mix64(base + np.uint64(2 * k + 2) * _GOLDEN)
            u1 = 1.0 - float(b1 >> np.uint64(11)) * 2.0 ** -53
            u2 = float(b2 >> np.uint64(11)) * 2.0 ** -53
            out[k] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        else:
            bits = _mix64(base + np.uint64(k + 1) * _GOLDEN)
            out[k] = float(bits >> np.uint64(64 - mant)) * scale


@njit(cache=True)
def gather4(x, idx, out):
    """out[b, a, i, r] = x[b, a, clip(idx[b, i]), r]."""
    n = x.shape[2]
    for b in range(out.shape[0]):
        for a in range(out.shape[1]):
            for i in range(out.shape[2]):
                j = min(max(idx[b, i], 0), n - 1)
                for r in range(out.shape[3]):
                    out[b, a, i, r] = x[b, a, j, r]


@njit(cache=True)
def scatter_add4(out, idx, upd):
    """out[b, a, clip(idx[b, i]), r] += upd[b, a, i, r] (out already holds the operand)."""
    n = out.shape[2]
    for b in range(upd.shape[0]):
        for a in range(upd.shape[1]):
            for i in range(upd.shape[2]):
                j = min(max(idx[b, i], 0), n - 1)
                for r in range(upd.shape[3]):
                    out[b, a, j, r] += upd[b, a, i, r]


@njit(cache=True)
def argmax3(x, out):
    """out[p, q] = index of the first maximum of x[p, :, q] (first NaN wins, as NumPy)."""
    for p in range(x.shape[0]):
        for q in range(x.shape[2]):
            best = x[p, 0, q]
            at = 0
            if best == best:
                for k in range(1, x.shape[1]):
                    v = x[p, k, q]
                    if v != v:
                        at = k
                        break
                    if v > best:
                        best = v
                        at = k
            out[p, q] = at


#: rank of copy_strided's index box: a tensor of lower rank is padded with leading 1s
COPY_RANK = 6


@njit(cache=True)
def copy_flat(src, dst):
    """dst[i] = src[i] for flat arrays of one size. Array assignment (``dst[...] = src``) would
    do the same but costs seconds of compile on first use: Numba builds its shape-mismatch
    error message with compiled string formatting."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(cache=True)
def copy_strided(src, s, src_strides, dst, d, dst_strides, shape):
    """dst[d + i·dst_strides] = src[s + i·src_strides] for every index i of the
    COPY_RANK-d box `shape`: transposes, slices, concatenation and padding as one compiled
    function (offsets and strides in elements of the flat `src` and `dst`)."""
    a0, a1, a2, a3, a4, a5 = src_strides
    b0, b1, b2, b3, b4, b5 = dst_strides
    for i0 in range(shape[0]):
        for i1 in range(shape[1]):
            for i2 in range(shape[2]):
                for i3 in range(shape[3]):
                    for i4 in range(shape[4]):
                        p = s + i0 * a0 + i1 * a1 + i2 * a2 + i3 * a3 + i4 * a4
                        q = d + i0 * b0 + i1 * b1 + i2 * b2 + i3 * b3 + i4 * b4
                        for i5 in range(shape[5]):
                            dst[q + i5 * b5] = src[p + i5 * a5]
