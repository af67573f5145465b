"""Eager define-by-run autograd: tensor.backward() fills .grad like PyTorch."""

import numpy as np
import pytest

import xlalite as xl
from xlalite.frontend.autograd import build_function


def test_backward_matches_grad_and_accumulates():
    rng = np.random.default_rng(0)
    w_np, b_np, x_np = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((4, 3))
    w = xl.tensor(w_np, requires_grad=True)
    b = xl.tensor(b_np, requires_grad=True)
    x = xl.tensor(x_np)  # data: no gradient wanted

    def loss_fn(w, b, x):
        return (xl.tanh(x @ w + b) ** 2.0).mean()

    loss = loss_fn(w, b, x)
    loss.backward()
    gw, gb = xl.grad(loss_fn, argnums=(0, 1))(w_np, b_np, x_np)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-12)
    assert x.grad is None
    loss_fn(w, b, x).backward()  # a second pass accumulates, as in PyTorch
    np.testing.assert_allclose(w.grad.numpy(), 2 * gw, rtol=1e-12)


def test_non_scalar_backward_takes_the_output_cotangent():
    x = xl.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="needs `gradient`"):
        y.backward()
    y.backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -6.0])


def test_shared_subexpressions_and_reused_leaves_sum_their_contributions():
    x = xl.tensor(np.array(2.0), requires_grad=True)
    h = x * 3.0
    y = h * h + h + x  # x reached along three paths
    y.backward()
    assert float(x.grad.numpy()) == pytest.approx(2 * 9 * 2.0 + 3 + 1)


def test_recorded_ops_become_ordinary_ir():
    x = xl.tensor(np.ones(2), requires_grad=True)
    y = xl.exp(x).sum()
    module, leaves = build_function(y)
    text = str(module)
    assert '"xl.exp"' in text and '"xl.reduce_sum"' in text and leaves == [x]


def test_no_grad_detach_and_errors():
    x = xl.tensor(np.ones(2), requires_grad=True)
    with xl.no_grad():
        y = x * 2.0
    assert not y.requires_grad
    assert not x.detach().requires_grad
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        xl.tensor(np.ones(2)).sum().backward()
    with pytest.raises(TypeError, match="only floating-point tensors"):
        xl.tensor(np.ones(2, np.int32), requires_grad=True)
    labels = xl.tensor(np.array([1, 0], np.int32))
    z = (x * (labels == 1)).sum()  # integer/bool paths record nothing and get no gradient
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0])


def test_backward_through_custom_vjp():
    @xl.custom_vjp
    def double(x):
        return x * 2.0

    double.defvjp(lambda x: (x * 2.0, ()), lambda res, g: (g * 100.0,))
    x = xl.tensor(np.array([1.0]), requires_grad=True)
    double(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [100.0])


def test_second_backward_needs_retain_graph():
    x = xl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed: the first call kept the graph
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
