"""Benchmark workloads: each gives inputs and the same computation for every peer."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

import xlalite as xl

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


def w1_numba_factory(x, a, b):
    out = np.empty_like(x)  # hand-written kernels reuse their output, as in PERF_NOTES
    return lambda x, a, b: _w1_numba(x, a, b, out) or out


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


def w2_numba_factory(x):
    out = np.empty_like(x)
    return lambda x: _w2_numba(x, out) or out


def w2_torch(torch):
    return lambda x: torch.softmax(x, dim=1)
