"""New kernels are compiled on two cores: a helper process fills the cache meanwhile."""

import numpy as np
import pytest

import xlalite as xl
from xlalite.backends.numba_common import workers


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XLALITE_CACHE_DIR", str(tmp_path / "cache"))


def _program(scale: float):
    """Several distinct new kernels (`scale` makes their text new for every test)."""
    def f(x, w):
        h = xl.tanh(x @ w) * scale
        return (xl.exp(h).sum(axis=1) + scale, xl.maximum(h, 0.0).max(axis=0), (h * h).mean())
    return f


def _sources():
    return [k["source"] for k in xl.cache_info()["last_compile"]["kernels"]]


def _check(f, scale):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((6, 5), np.float32), rng.standard_normal((5, 4), np.float32)
    got = f(x, w)
    h = np.tanh(x @ w) * np.float32(scale)
    want = (np.exp(h).sum(axis=1) + scale, np.maximum(h, 0).max(axis=0), (h * h).mean())
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=2e-5)


@pytest.mark.skipif(not workers.enabled(), reason="one core, or XLALITE_COMPILE_WORKERS=0")
def test_the_helper_compiles_a_share_of_new_kernels_into_the_cache(tmp_path):
    f = xl.jit(_program(1.25))
    _check(f, 1.25)
    sources = _sources()
    assert "numba cache" in sources  # the helper's share, loaded from the disk cache
    assert "compiled" in sources  # and this process's
    assert list((tmp_path / "cache" / "kernels").glob("*.manifest"))  # in this test's cache


def test_without_the_helper_every_kernel_compiles_here(monkeypatch):
    monkeypatch.setenv("XLALITE_COMPILE_WORKERS", "0")
    f = xl.jit(_program(2.5))
    _check(f, 2.5)
    assert "numba cache" not in _sources() and "compiled" in _sources()


def test_a_failing_helper_means_this_process_compiles_its_kernels(monkeypatch):
    monkeypatch.setattr(workers, "enabled", lambda: True)
    monkeypatch.setattr(workers._Helper, "receive", lambda self: "RuntimeError: boom")
    f = xl.jit(_program(3.75))
    with pytest.warns(UserWarning, match="compile helper failed.*boom"):
        _check(f, 3.75)
    assert "compiled" in _sources()
    if workers._HELPER is not None:
        workers._HELPER.close()
