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


@njit(cache=True)
def window4(x, out, window, strides, low, is_max):
    """Max or average over windows of a rank-4 array with padding `low` (and implied high)."""
    for a in range(out.shape[0]):
        for b in range(out.shape[1]):
            for c in range(out.shape[2]):
                for d in range(out.shape[3]):
                    acc = -np.inf if is_max else 0.0
                    for i in range(window[0]):
                        p = a * strides[0] + i - low[0]
                        if p < 0 or p >= x.shape[0]:
                            continue
                        for j in range(window[1]):
                            q = b * strides[1] + j - low[1]
                            if q < 0 or q >= x.shape[1]:
                                continue
                            for k in range(window[2]):
                                r = c * strides[2] + k - low[2]
                                if r < 0 or r >= x.shape[2]:
                                    continue
                                for m in range(window[3]):
                                    s = d * strides[3] + m - low[3]
                                    if s < 0 or s >= x.shape[3]:
                                        continue
                                    v = x[p, q, r, s]
                                    if is_max:
                                        if v > acc or v != v:
                                            acc = v
                                    else:
                                        acc += v
                    if is_max:
                        out[a, b, c, d] = acc
                    else:
                        out[a, b, c, d] = acc / (window[0] * window[1] * window[2] * window[3])


@njit(cache=True)
def conv2d(x, w, out, stride, pad_lo, dilation, groups):
    """NCHW convolution by im2col + GEMM per image and group (BLAS for floats)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = out.shape[2], out.shape[3]
    og = o // groups
    cols = np.zeros((cg * kh * kw, oh * ow), dtype=x.dtype)
    for img in range(n):
        for g in range(groups):
            for ci in range(cg):
                for i in range(kh):
                    for j in range(kw):
                        row = (ci * kh + i) * kw + j
                        for y in range(oh):
                            yy = y * stride[0] + i * dilation[0] - pad_lo[0]
                            for z in range(ow):
                                zz = z * stride[1] + j * dilation[1] - pad_lo[1]
                                inside = 0 <= yy < h and 0 <= zz < wd
                                cols[row, y * ow + z] = x[img, g * cg + ci, yy, zz] if inside else 0
            wg = np.ascontiguousarray(w[g * og:(g + 1) * og]).reshape((og, cg * kh * kw))
            res = np.dot(wg, cols)
            out[img, g * og:(g + 1) * og] = res.reshape((og, oh, ow))


@njit(cache=True)
def conv2d_int(x, w, out, stride, pad_lo, dilation, groups):
    """Direct convolution for integer dtypes (BLAS has no integer GEMM)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    for img in range(n):
        for oc in range(o):
            g = oc // og
            for y in range(out.shape[2]):
                for z in range(out.shape[3]):
                    s = 0
                    for ci in range(cg):
                        for i in range(kh):
                            yy = y * stride[0] + i * dilation[0] - pad_lo[0]
                            if yy < 0 or yy >= h:
                                continue
                            for j in range(kw):
                                zz = z * stride[1] + j * dilation[1] - pad_lo[1]
                                if 0 <= zz < wd:
                                    s += x[img, g * cg + ci, yy, zz] * w[oc, ci, i, j]
                    out[img, oc, y, z] = s
