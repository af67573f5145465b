"""Learning rates are run-time inputs of compiled steps; schedules follow torch's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xlalite as xl
from xlalite import nn, optim
from xlalite.optim import lr_scheduler as S


def _opt(lr: float = 0.1) -> optim.SGD:
    return optim.SGD([nn.Parameter(np.zeros(3, np.float32))], lr=lr)


def _run(sched: S.LRScheduler, n: int) -> list[float]:
    out = [sched.get_last_lr()[0]]
    for _ in range(n - 1):
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def test_step_exponential_and_cosine_follow_their_formulas():
    np.testing.assert_allclose(_run(S.StepLR(_opt(), step_size=3, gamma=0.5), 8),
                               [0.1 * 0.5 ** (e // 3) for e in range(8)])
    np.testing.assert_allclose(_run(S.ExponentialLR(_opt(), gamma=0.9), 6),
                               [0.1 * 0.9 ** e for e in range(6)])
    np.testing.assert_allclose(_run(S.CosineAnnealingLR(_opt(), T_max=10, eta_min=0.01), 11),
                               [0.01 + 0.09 * (1 + math.cos(math.pi * e / 10)) / 2
                                for e in range(11)])


def test_warm_up_then_cosine():
    opt = _opt()
    warm = S.LinearLR(opt, start_factor=0.25, total_iters=4)
    cos = S.CosineAnnealingLR(opt, T_max=6)
    got = _run(S.SequentialLR(opt, [warm, cos], milestones=[4]), 10)
    want = [0.1 * (0.25 + 0.75 * e / 4) for e in range(4)] + [
        0.1 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]
    np.testing.assert_allclose(got, want)


def test_one_cycle_matches_torchs_schedule():
    # torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10), its defaults
    got = _run(S.OneCycleLR(_opt(), max_lr=1.0, total_steps=10), 10)
    initial, low, up = 1.0 / 25, 1.0 / 25 / 1e4, 0.3 * 10 - 1
    want = []
    for e in range(10):
        if e <= up:
            pct, a, b = e / up, initial, 1.0
        else:
            pct, a, b = (e - up) / (9 - up), 1.0, low
        want.append(b + (a - b) / 2 * (math.cos(math.pi * pct) + 1))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx(0.04) and got[2] == pytest.approx(1.0)
    sched = S.OneCycleLR(_opt(), max_lr=1.0, total_steps=2)
    sched.step()
    with pytest.raises(ValueError, match="stepped 3 times for total_steps = 2"):
        sched.step()


def _compiled_step(model: nn.Module, opt: optim.Optimizer) -> xl.Jitted:
    """One jitted training step of a mean-square loss."""

    @xl.jit
    def step(x):
        loss = (model(x) ** 2.0).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


def test_a_schedule_runs_in_one_compiled_step_without_recompiling():
    nn.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.5)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    x = np.ones((3, 4), np.float32)
    step = _compiled_step(model, opt)

    rates, weights = [], [model.weight.numpy().copy()]
    for _ in range(4):
        grad = xl.grad(lambda w, b: ((xl.asarray(x) @ w.T + b) ** 2.0).mean(), (0, 1))(
            model.weight.numpy(), model.bias.numpy())[0]
        rates.append(opt.lr)
        step(x)
        np.testing.assert_allclose(model.weight.numpy(), weights[-1] - opt.lr * grad, rtol=1e-5)
        weights.append(model.weight.numpy().copy())
        sched.step()
    assert rates == [0.5, 0.25, 0.125, 0.0625]
    assert step.cache_info()["misses"] == 1  # one compilation for every rate


def test_lr_zero_after_the_first_compiled_step_stops_training():
    nn.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = np.ones((3, 4), np.float32)
    step = _compiled_step(model, opt)

    step(x)
    opt.param_groups[0]["lr"] = 0.0  # the torch spelling works too
    w = model.weight.numpy().copy()
    step(x)
    np.testing.assert_array_equal(model.weight.numpy(), w)
    assert opt.lr == 0.0 and step.cache_info()["misses"] == 1


def test_constant_hyperparameters_and_replaced_parameters_retrace():
    nn.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((3, 4), np.float32)

    @xl.jit
    def predict_and_train(x):
        out = model(x)
        (out ** 2.0).mean().backward()
        opt.step()
        opt.zero_grad()
        return out

    predict_and_train(x)
    opt.weight_decay = 0.5  # a constant of the compiled step: trace again
    predict_and_train(x)
    assert predict_and_train.cache_info()["misses"] == 2
    model.weight = nn.Parameter(np.zeros((2, 4), np.float32))  # a new object: trace again
    opt.params[0] = model.weight
    bias = model.bias.numpy().copy()
    out = predict_and_train(x)
    np.testing.assert_allclose(out, np.broadcast_to(bias, out.shape))  # x @ 0 + b
    assert predict_and_train.cache_info()["misses"] == 3
    infer = xl.jit(lambda x: model(x))
    infer(x)
    model.weight = nn.Parameter(np.ones((2, 4), np.float32))
    np.testing.assert_allclose(infer(x), x @ np.ones((4, 2)) + model.bias.numpy(), rtol=1e-6)
