"""Wrong answers that used to be silent (issue 14): stale cache keys, literals, overflow."""

from __future__ import annotations

import numpy as np
import pytest

import xlalite as xl

A = np.ones((4, 4), np.float32)
C = np.zeros((4, 4), np.float32)


def test_static_arguments_are_keyed_by_type_and_value():
    f = xl.jit(lambda x, n: x * n, static_argnums=1)
    ints = np.ones(2, np.int32)
    assert f(ints, 2).dtype == np.int32
    assert f(ints, 2.0).dtype == np.float32  # 2.0 == 2 and hash(2.0) == hash(2): traced anew
    g = xl.jit(lambda x, flag: x + 1 if flag is True else x, static_argnums=1)
    np.testing.assert_array_equal(g(A, 1), A)
    np.testing.assert_array_equal(g(A, True), A + 1)  # True == 1, but not the same trace
    assert g.cache_info()["misses"] == 2
    h = xl.jit(lambda x, t: x * t[0], static_argnums=1)
    assert h(ints, (2,)).dtype == np.int32 and h(ints, (2.0,)).dtype == np.float32
    nan = xl.jit(lambda x, v: x + v, static_argnums=1)
    nan(A, float("nan")), nan(A, float("nan"))
    assert nan.cache_info()["hits"] == 1  # NaN keys hit the cache


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_literals_compile_everywhere(value):
    def products(c, a, b):
        return c + value * (a @ b)  # an accumulating gemm with alpha = value

    def elementwise(c, a):
        return xl.maximum(c, value) + a * value

    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(xl.jit(products)(C, A, A), C + value * (A @ A))
        np.testing.assert_array_equal(xl.jit(elementwise)(C, A), np.maximum(C, value) + A * value)


def test_python_ints_that_do_not_fit_raise_as_in_numpy():
    with pytest.raises(OverflowError, match="out of bounds for int32"):
        xl.jit(lambda x: x + 2 ** 40)(np.ones(2, np.int32))
    with pytest.raises(OverflowError, match=r"argument 'x' \(#0\): Python integer 2147483648"):
        xl.jit(lambda x: x)(2 ** 31)
    with pytest.raises(OverflowError):
        xl.tensor(2 ** 31)
    np.testing.assert_array_equal(xl.jit(lambda x: x + 2 ** 40)(np.ones(2, np.int64)),
                                  np.ones(2, np.int64) + 2 ** 40)
    assert xl.jit(lambda x: x)(2 ** 31 - 1) == 2 ** 31 - 1


@pytest.mark.parametrize("shape, axes", [((4, 6, 5, 5), (0, 2, 3)), ((70, 6), (0,)),
                                         ((3, 200), (1,)), ((500,), (0,))])
def test_reduction_epilogues_read_run_time_scalars_in_parallel_kernels(shape, axes):
    """A bias update ``b - lr * sum(g)`` with the learning rate a rank-0 input: Numba's
    parfor lowering once rejected the scalar read inside the prange body (LeNet's step)."""
    def f(x, lr, b):
        return b - lr * x.sum(axis=axes) * 2.0 + lr

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
    lr, b = np.float32(0.1), np.ones(out_shape, np.float32)
    got = xl.jit(f, backend="numba-cpu{parallel=true}")(x, lr, b)
    np.testing.assert_allclose(got, b - lr * x.sum(axis=axes) * 2 + lr, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [1, 7, 255, 256, 257, 4097, 10**6])
def test_float_sums_are_as_accurate_as_numpys_pairwise_sum(n):
    """Blocks in lanes, combined pairwise: error within 10x NumPy's at any length (a
    sequential accumulator was 100x off at 1e7 elements)."""
    x = np.random.default_rng(n).random(n, dtype=np.float32)
    exact = np.sum(x.astype(np.float64))
    got = float(xl.jit(lambda x: x.sum())(x))
    tolerance = max(10 * abs(float(np.sum(x)) - exact), 4 * np.finfo(np.float32).eps * exact)
    assert abs(got - exact) <= tolerance
    for axes, shape in (((0, 1), (3, n, 2)), ((1, 2), (2, 3, n))):  # columns; rows with a prologue
        x = np.random.default_rng(n).random(shape, dtype=np.float32)
        exact = (x.astype(np.float64) * 2).sum(axis=axes)
        numpy_error = np.abs((x * 2).sum(axis=axes) - exact)
        got = xl.jit(lambda x, axes=axes: (x * 2.0).sum(axis=axes))(x)
        assert np.all(np.abs(got - exact) <= np.maximum(10 * numpy_error, 8 * np.finfo(np.float32).eps * exact))
