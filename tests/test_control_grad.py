"""Reverse-mode derivatives through control flow, against central finite differences in
float64: cond, switch, scan (reverse, nested, zero-length, with consts), fori_loop as a scan,
and second derivatives through scan and cond."""

import numpy as np
import pytest

import xlalite as xl
from tests.gradcheck import check_python
from xlalite.frontend.tracing import trace
from xlalite.passes.autodiff import vjp_function
from xlalite.passes.manager import run_pipeline

RNG = np.random.default_rng(1)


def f64(*shape):
    return RNG.uniform(-1.0, 1.0, shape)


def test_cond_gradients_follow_the_taken_branch():
    def f(x, y):
        return xl.cond(x.sum() > 0, lambda a, b: xl.sin(a) * b, lambda a, b: a * a + b, x, y)

    y = f64(3)
    check_python(f, [np.abs(f64(3)) + 0.1, y])
    check_python(f, [-np.abs(f64(3)) - 0.1, y])


def test_switch_gradients():
    def f(k, x):
        return xl.switch(k, [lambda a: a * 3.0, lambda a: xl.exp(a), lambda a: a * a * a], x)

    for k in (-1, 1, 2, 7):
        check_python(lambda x, k=k: f(np.int32(k), x), [f64(2, 2)])


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("steps", [0, 1, 5])
def test_scan_gradients_wrt_init_consts_and_xs(reverse, steps):
    def f(w, h0, xs):
        def step(h, x):
            h = xl.tanh(h @ w + x)
            return h, h * x
        return xl.scan(step, h0, xs, reverse=reverse)

    check_python(f, [f64(3, 3), f64(3), f64(steps, 3)])


def test_nested_scan_and_fori_loop_gradients():
    def f(w, xs):
        def outer(c, row):
            inner = xl.fori_loop(0, 3, lambda i, v: xl.sin(v * w + row), c)
            return inner, (inner * inner).sum()
        return xl.scan(outer, xs[0], xs)

    check_python(f, [f64(4), f64(3, 4)])


def test_scan_with_integer_carries_and_a_cond_inside():
    def f(x, xs):
        def step(c, t):
            i, v = c
            v = xl.cond(i < 2, lambda a: a * t, lambda a: a + t, v)
            return (i + 1, v), v.sum()
        return xl.scan(step, (np.int32(0), x), xs)

    check_python(f, [f64(3), f64(4, 3)])


def test_second_derivatives_through_scan_and_cond():
    def f(x):
        h, _ = xl.scan(lambda c, t: (xl.sin(c) * t, None), x, np.array([1.5, 0.5, 2.0]))
        return xl.cond(h > 0, lambda a: a * a * a, lambda a: -a, h)

    x0 = 0.7
    g = xl.grad(xl.grad(f))(np.float64(x0))
    eps = 1e-4
    d1 = xl.grad(f)
    fd = (float(d1(np.float64(x0 + eps))) - float(d1(np.float64(x0 - eps)))) / (2 * eps)
    assert abs(float(g) - fd) < 1e-6 * (1 + abs(fd))


def test_gradients_are_the_same_after_every_pass():
    def f(w, h0, xs):
        h, ys = xl.scan(lambda h, x: (xl.tanh(h @ w.T + x * 2.0), h.sum()), h0, xs)
        return h.sum() + (ys * ys).sum()

    args = [f64(3, 3), f64(3), f64(6, 3)]
    func = trace(f, tuple(args)).function
    from xlalite.backends.interpreter import run_function
    from xlalite.ir import Module

    grad = Module([vjp_function(func, [0, 1, 2])])
    want = run_function(grad.main, args)
    for spec in ("canonicalize", "licm", "cse", "dce", "simplify,fuse", "simplify,fuse,plan-memory"):
        m = grad.clone()
        run_pipeline(m, spec)
        for a, b in zip(run_function(m.main, args), want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=spec)
    compiled = xl.jit(xl.grad(f, argnums=(0, 1, 2)))(*args)
    for a, b in zip(compiled, want[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_remat_stacks_only_the_carries_and_gives_the_same_gradients():
    def f(w, h0, xs, remat):
        def step(h, x):
            a = xl.tanh(h @ w + x)
            return a * xl.sin(a) + h, (a * a).sum()
        h, ys = xl.scan(step, h0, xs, remat=remat)
        return h.sum() + ys.sum()

    args = [f64(3, 3), f64(3), f64(6, 3)]
    plain = xl.grad(lambda *a: f(*a, False), argnums=(0, 1, 2))(*args)
    remat = xl.grad(lambda *a: f(*a, True), argnums=(0, 1, 2))(*args)
    for a, b in zip(plain, remat):
        np.testing.assert_allclose(a, b, rtol=1e-12)

    def stacked(remat):
        func = trace(lambda *a: f(*a, remat), tuple(args)).function
        grad = vjp_function(func, [0, 1, 2])
        scans = [op for op in grad.body.ops if op.name == "xl.scan"]
        forward = next(op for op in scans if not op.attributes["reverse"])
        return len(forward.results) - 2  # beyond the carry and the per-step output

    assert stacked(True) == 1 < stacked(False)  # remat keeps only the carry h of each step
    check_python(lambda w, h0, xs: f(w, h0, xs, True), args)
