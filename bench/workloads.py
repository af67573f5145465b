"""Benchmark workloads: each gives inputs and the same computation for every peer.

The hand-written Numba peers come in the forms PERF_NOTES.md found fastest: the same f32
approximations xlalite emits (``mathlib.tanh_f32`` / ``exp_f32``, plain arithmetic LLVM can
vectorize) writing into an output reused across calls, the same kernel allocating its output
per call (as xlalite's results are owned by the caller), and the libm version (``np.tanh``,
``np.exp``: scalar calls) for reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

import xlalite as xl
from xlalite.backends.numba_cpu import mathlib as mm

C = 0.7978845608028654  # sqrt(2 / pi)


# ---- W1: gelu_tanh(x * a + b), f32[4096, 4096] ------------------------------------------
def w1_inputs(n: int = 4096):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype(np.float32)
    a = rng.uniform(0.5, 1.5, n).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    return x, a, b


def w1_xlalite(x, a, b):
    y = x * a + b
    return 0.5 * y * (1.0 + xl.tanh(C * (y + 0.044715 * y ** 3.0)))


def w1_numpy(x, a, b):
    y = x * a + b  # y * y * y: NumPy's y ** 3 is a much slower pow loop
    return np.float32(0.5) * y * (np.float32(1) + np.tanh(np.float32(C) * (y + np.float32(0.044715) * (y * y * y))))


@njit(parallel=True, fastmath=False, cache=True)
def _w1_numba(x, a, b, out):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            y = x[i, j] * a[j] + b[j]
            out[i, j] = np.float32(0.5) * y * (np.float32(1) + np.tanh(np.float32(C) * (y + np.float32(0.044715) * y * y * y)))


@njit(parallel=True, fastmath=False, cache=True)
def _w1_numba_approx(x, a, b, out):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            y = x[i, j] * a[j] + b[j]
            t = mm.tanh_f32(np.float32(C) * (y + np.float32(0.044715) * y * y * y))
            out[i, j] = np.float32(0.5) * y * (np.float32(1) + t)


def w1_numba_peers(x, a, b):
    """name -> function of (x, a, b), the three hand-written forms."""
    out, out_libm = np.empty_like(x), np.empty_like(x)
    return {"numba (same approx, reused out)": lambda x, a, b: _w1_numba_approx(x, a, b, out) or out,
            "numba (same approx, fresh out)":
                lambda x, a, b: _w1_numba_approx(x, a, b, o := np.empty_like(x)) or o,
            "numba (libm, reused out)": lambda x, a, b: _w1_numba(x, a, b, out_libm) or out_libm}


def w1_jax(jnp):
    def f(x, a, b):
        y = x * a + b
        return 0.5 * y * (1.0 + jnp.tanh(C * (y + 0.044715 * y ** 3)))
    return f


def w1_torch(torch):
    def run(x, a, b):
        y = x * a + b
        return torch.nn.functional.gelu(y, approximate="tanh")
    return run


# ---- W2: row softmax, f32[8192, 1024] -----------------------------------------------------
def w2_inputs(rows: int = 8192, cols: int = 1024):
    return (np.random.default_rng(1).standard_normal((rows, cols)).astype(np.float32),)


def w2_xlalite(x):
    e = xl.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def w2_numpy(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@njit(parallel=True, fastmath=False, cache=True)
def _w2_numba(x, out):
    for i in prange(x.shape[0]):
        m = x[i, 0]
        for j in range(x.shape[1]):
            m = max(m, x[i, j])
        s = np.float32(0)
        for j in range(x.shape[1]):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        inv = np.float32(1) / s
        for j in range(x.shape[1]):
            out[i, j] *= inv


@njit(parallel=True, fastmath=False, cache=True)
def _w2_numba_approx(x, out):
    """Row softmax, the fastest hand-written form found: exp_f32 in a loop of its own (so it
    vectorizes), max and sum in 8 independent scalar accumulators combined in a fixed order
    (vector speed without fastmath)."""
    n = x.shape[1]
    w = n - n % 8
    for i in prange(x.shape[0]):
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = x[i, 0]
        for j in range(0, w, 8):
            m0, m1 = max(m0, x[i, j]), max(m1, x[i, j + 1])
            m2, m3 = max(m2, x[i, j + 2]), max(m3, x[i, j + 3])
            m4, m5 = max(m4, x[i, j + 4]), max(m5, x[i, j + 5])
            m6, m7 = max(m6, x[i, j + 6]), max(m7, x[i, j + 7])
        m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
        for j in range(w, n):
            m = max(m, x[i, j])
        for j in range(n):
            out[i, j] = mm.exp_f32(x[i, j] - m)
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0)
        for j in range(0, w, 8):
            s0, s1, s2, s3 = s0 + out[i, j], s1 + out[i, j + 1], s2 + out[i, j + 2], s3 + out[i, j + 3]
            s4, s5, s6, s7 = s4 + out[i, j + 4], s5 + out[i, j + 5], s6 + out[i, j + 6], s7 + out[i, j + 7]
        s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        for j in range(w, n):
            s += out[i, j]
        inv = np.float32(1) / s
        for j in range(n):
            out[i, j] *= inv


def w2_numba_peers(x):
    out, out_libm = np.empty_like(x), np.empty_like(x)
    return {"numba (same approx, reused out)": lambda x: _w2_numba_approx(x, out) or out,
            "numba (same approx, fresh out)": lambda x: _w2_numba_approx(x, o := np.empty_like(x)) or o,
            "numba (libm, reused out)": lambda x: _w2_numba(x, out_libm) or out_libm}


def w2_jax(jnp):
    def f(x):
        e = jnp.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return f


def w2_torch(torch):
    return lambda x: torch.softmax(x, dim=1)
