"""Training state: a jitted step reads, differentiates and updates parameters in place."""

import numpy as np
import pytest

import xlalite as xl
from xlalite.frontend.state import Buffer, Parameter


def make():
    w = Parameter(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    b = Parameter(np.zeros(2, np.float32))
    return w, b


def step_fn(w, b):
    def step(x, y):
        loss = (((x @ w + b) - y) ** 2.0).mean()
        loss.backward()
        with xl.no_grad():
            for p in (w, b):
                p.assign(p - 0.1 * p.grad)
                p.grad = None
        return loss
    return step


def test_compiled_step_matches_eager_and_updates_in_place():
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32)
    w, b = make()
    we, be = make()
    compiled, eager = xl.jit(step_fn(w, b)), step_fn(we, be)
    buffers = (w.array, b.array)
    for _ in range(4):
        lc = compiled(x, y)
        le = eager(xl.tensor(x), y)
        np.testing.assert_allclose(lc, le.numpy(), rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), we.numpy(), rtol=1e-5)
    assert w.array is buffers[0] and b.array is buffers[1]  # donated: no copy per step
    assert compiled.cache_info()["traces"] == 1
    assert w.grad is None  # no tracer leaks out of the trace


def test_state_read_only_is_an_argument_not_a_constant():
    scale = Buffer(np.array(2.0, np.float32))
    f = xl.jit(lambda x: x * scale)
    np.testing.assert_allclose(f(np.ones(3, np.float32)), 2.0)
    scale.assign(5.0)  # eager in-place change is seen by the next call
    np.testing.assert_allclose(f(np.ones(3, np.float32)), 5.0)
    assert "dense<2.0>" not in f.lower(np.ones(3, np.float32)).as_text()


def test_changed_state_shape_retraces():
    w = Parameter(np.ones((2, 2), np.float32))
    f = xl.jit(lambda x: x @ w)
    f(np.ones((1, 2), np.float32))
    w.array = np.ones((2, 3), np.float32)
    from xlalite.ir import TensorType

    w.type = TensorType((2, 3), xl.DType.F32)
    assert f(np.ones((1, 2), np.float32)).shape == (1, 3)
    assert f.cache_info()["misses"] == 2


def test_grad_of_closure_over_parameters_is_refused_with_advice():
    w = Parameter(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="loss.backward"):
        xl.grad(lambda x: (x * w).sum())(np.ones(2, np.float32))
