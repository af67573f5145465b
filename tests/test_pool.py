"""The output pool never hands out memory that something still refers to."""

import gc

import numpy as np

from xlalite.runtime.pool import OutputPool


def test_buffers_are_reused_only_when_unreferenced():
    pool = OutputPool()
    a = pool.empty((1024, 512), np.float32)
    a[:] = 1.0
    keep = a[:10]  # the caller keeps a slice
    del a
    gc.collect()
    b = pool.empty((1024, 512), np.float32)
    assert not np.shares_memory(b, keep) and pool.reused == 0
    b[:] = 2.0
    np.testing.assert_array_equal(keep, 1.0)
    del b, keep
    gc.collect()
    c = pool.empty((1024, 512), np.float32)
    d = pool.empty((1024, 512), np.float32)
    assert pool.reused >= 1 and not np.shares_memory(c, d)


def test_small_arrays_bypass_the_pool():
    pool = OutputPool()
    assert pool.empty((4,), np.float64).shape == (4,) and pool.allocated == 0
