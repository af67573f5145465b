"""Accuracy of the f32 exp/tanh/erf approximations over the whole float32 range, and the f16
conversions against NumPy's on every half and on float32 values around every half."""

import math

import numpy as np
from numba import njit

from xlalite.backends.numba_cpu.mathlib import erf_f32, exp_f32, f2h, h2f, tanh_f32

SPECIALS = np.array([np.inf, -np.inf, np.nan, 88.72283, -87.33654, 88.38, 0.0, -0.0, 1e-30,
                     -1e-30, 7.9053111, -7.9053111, 0.0004, 3.4e38, -3.4e38], np.float32)


@njit
def _apply_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_f32(x[i])


@njit
def _apply_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = tanh_f32(x[i])


@njit
def _apply_erf(x, out):
    for i in range(x.shape[0]):
        out[i] = erf_f32(x[i])


def _grid() -> np.ndarray:
    dense = np.linspace(-110, 110, 1_000_001, dtype=np.float32)
    logs = np.geomspace(1e-38, 3e38, 20_001, dtype=np.float32)  # every magnitude
    return np.concatenate([dense, logs, -logs, SPECIALS])


def test_exp_f32_is_within_two_ulp_and_handles_specials():
    x = _grid()
    got = np.empty_like(x)
    _apply_exp(x, got)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64))
    normal = (want > np.finfo(np.float32).tiny) & (want < np.finfo(np.float32).max)
    rel = np.abs(got[normal] - want[normal]) / want[normal]
    assert rel.max() < 2 * np.finfo(np.float32).eps  # < 2 ulp
    assert np.all(got[want >= np.finfo(np.float32).max] == np.inf)  # overflow to inf
    assert np.all(got[x < -87.33654] == 0.0)  # subnormal results flush to zero
    assert np.isnan(got[np.isnan(x)]).all()


def test_tanh_f32_is_accurate_everywhere():
    x = _grid()
    got = np.empty_like(x)
    _apply_tanh(x, got)
    want = np.tanh(x.astype(np.float64))
    finite = ~np.isnan(x)
    err = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1e-38)
    assert err.max() < 8 * np.finfo(np.float32).eps
    assert np.isnan(got[np.isnan(x)]).all()
    assert got[x == np.inf][0] == 1.0 and got[x == -np.inf][0] == -1.0


def test_erf_f32_is_accurate_everywhere():
    x = np.concatenate([np.linspace(-6, 6, 400_001, dtype=np.float32),
                        np.geomspace(1e-38, 3e38, 20_001, dtype=np.float32), SPECIALS])
    got = np.empty_like(x)
    _apply_erf(x, got)
    finite = ~np.isnan(x)
    want = np.array([math.erf(float(v)) for v in x[finite]])
    err = np.abs(got[finite] - want) / np.maximum(np.abs(want), 1e-38)
    assert err.max() < 8 * np.finfo(np.float32).eps  # measured: 7.5 ulp at worst
    assert np.isnan(got[np.isnan(x)]).all()
    assert got[x == np.inf][0] == 1.0 and got[x == -np.inf][0] == -1.0


def test_exact_math_option_uses_libm():
    from xlalite.backends.numba_cpu import NumbaCPUBackend
    from xlalite.ir import parse_module

    m = parse_module('func @f(%x: f32[4]) -> f32[4] {\n  %0 = "xl.exp"(%x) : (f32[4]) -> f32[4]\n'
                     '  return %0\n}\n')
    assert "mm.exp_f32" in NumbaCPUBackend().emit_source(m)
    assert "np.exp(" in NumbaCPUBackend(exact_math=True).emit_source(m)


@njit
def _apply_h2f(h, out):
    for i in range(h.shape[0]):
        out[i] = h2f(h[i])


@njit
def _apply_f2h(x, out):
    for i in range(x.shape[0]):
        out[i] = f2h(x[i])


def test_h2f_is_exact_on_every_half():
    bits = np.arange(1 << 16, dtype=np.uint16)
    got = np.empty(bits.size, np.float32)
    _apply_h2f(bits, got)
    want = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got.view(np.uint32)[~nan], want.view(np.uint32)[~nan])


def test_f2h_rounds_to_nearest_even_as_numpy():
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    halves = halves[np.isfinite(halves)]
    up, down = np.nextafter(halves, np.float32(np.inf)), np.nextafter(halves, np.float32(-np.inf))
    mids = (halves[:-1].astype(np.float64) + halves[1:]) / 2  # ties, exactly in f32
    rng = np.random.default_rng(0)
    spread = np.concatenate([rng.standard_normal(20_000).astype(np.float32) * np.float32(s)
                             for s in (1e-7, 1e-5, 1e-2, 1.0, 1e3, 6e4, 1e6)])
    x = np.concatenate([halves, up, down, mids.astype(np.float32), spread, SPECIALS])
    got = np.empty(x.size, np.uint16)
    _apply_f2h(x, got)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    assert np.isnan(got[nan].view(np.float16)).all()
    bad = np.flatnonzero(got[~nan] != want[~nan])
    assert bad.size == 0, (x[~nan][bad[:5]], got[~nan][bad[:5]], want[~nan][bad[:5]])
