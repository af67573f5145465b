"""Control flow: xl.cond / xl.switch / xl.while_loop / xl.fori_loop / xl.scan, from the front end
through the passes to both compiled backends, against plain Python loops over NumPy."""

import re

import numpy as np
import pytest

import xlalite as xl
from xlalite.frontend.state import Parameter
from xlalite.passes.manager import run_pipeline

BACKENDS = ["interpreter", "numba-cpu", "numba-cuda"]  # numba-cuda: the simulator in CI
RNG = np.random.default_rng(0)
W = (RNG.standard_normal((4, 4)) * 0.5).astype(np.float32)


def rnn(h0, xs, reverse=False):
    def step(h, x):
        h = xl.tanh(h @ W + x)
        return h, h.sum()
    return xl.scan(step, h0, xs, reverse=reverse)


def rnn_numpy(h0, xs, reverse=False):
    h, ys = h0, np.empty(len(xs), np.float32)
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        h = np.tanh(h @ W + xs[t])
        ys[t] = h.sum()
    return h, ys


def close(got, want, tol=1e-5):
    got = got.numpy() if isinstance(got, xl.DeviceArray) else got
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("steps", [0, 1, 7])
def test_scan_matches_a_python_loop(backend, reverse, steps):
    h0 = RNG.standard_normal(4).astype(np.float32)
    xs = RNG.standard_normal((steps, 4)).astype(np.float32)
    h, ys = xl.jit(lambda a, b: rnn(a, b, reverse), backend=backend)(h0, xs)
    want_h, want_ys = rnn_numpy(h0, xs, reverse)
    close(h, want_h)
    close(ys, want_ys)
    assert np.asarray(ys).shape == (steps,)


def test_scan_runs_eagerly_with_pytrees_and_without_xs():
    xs = {"a": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.ones(3, np.float32)}
    (s, n), ys = xl.scan(lambda c, x: ((c[0] + x["a"], c[1] + 1), {"d": x["a"] * x["b"]}),
                         (np.zeros(2, np.float32), np.int32(0)), xs)
    close(s, [6, 9])
    assert int(n) == 3 and isinstance(ys, dict)
    close(ys["d"], xs["a"])
    count, none = xl.scan(lambda c, _: (c * 2, None), np.float32(1), length=5)
    assert float(count) == 32 and none is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_switch_and_nested_loops(backend):
    def f(x, k):
        y = xl.cond(x.sum() > 0, lambda a: a * 2, lambda a: -a, x)
        z = xl.switch(k, [lambda a: a + 1, lambda a: a * 10, lambda a: a - 100], y)

        def outer(c, row):  # a scan whose body holds a fori_loop and a cond
            inner = xl.fori_loop(0, 3, lambda i, v: v + row * i.astype(np.float32), c)
            return xl.cond(inner.sum() > 5, lambda v: v * 0.5, lambda v: v, inner), inner.sum()
        return xl.scan(outer, z, xs)

    xs = RNG.standard_normal((4, 3)).astype(np.float32)

    def want(x, k):
        y = x * 2 if x.sum() > 0 else -x
        z = [y + 1, y * 10, y - 100][min(max(k, 0), 2)]
        sums = []
        for row in xs:
            inner = z + row * 3  # 0 + 1 + 2
            sums.append(inner.sum())
            z = inner * 0.5 if inner.sum() > 5 else inner
        return z, np.array(sums, np.float32)

    jf = xl.jit(f, backend=backend)
    for x in (np.ones(3, np.float32), -np.ones(3, np.float32)):
        for k in (-4, 1, 2, 9):
            got = jf(x, np.int32(k))
            for g, w in zip(got, want(x, k)):
                close(g, w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_and_fori_with_traced_bounds(backend):
    def halvings(x):  # how often x halves before it is at most 1
        return xl.while_loop(lambda c: c[0] > 1.0, lambda c: (c[0] * 0.5, c[1] + 1),
                             (x, np.int32(0)))[1]

    def power(x, n):
        return xl.fori_loop(0, n, lambda i, v: v * x, np.float32(1.0))

    close(xl.jit(halvings, backend=backend)(np.float32(100)), 7)
    close(xl.jit(halvings, backend=backend)(np.float32(0.5)), 0)
    close(xl.jit(power, backend=backend)(np.float32(1.5), np.int32(5)), 1.5 ** 5)
    close(xl.jit(power, backend=backend)(np.float32(1.5), np.int32(-2)), 1.0)


def test_closures_parameters_and_constants_become_operands():
    p = Parameter(np.full(3, 2.0, np.float32))
    bias = np.float32(0.5)

    @xl.jit
    def f(x, xs):
        return xl.scan(lambda c, t: (c * p + x + bias, c.sum()), x, xs)

    x = np.ones(3, np.float32)
    h, ys = f(x, np.zeros((2, 3), np.float32))
    close(h, ((x * 2 + x + 0.5) * 2 + x + 0.5))
    text = str(f.lower(x, np.zeros((2, 3), np.float32)).module)
    assert text.count('"xl.scan"') == 1 and "num_consts = 2" in text  # p and x


def test_traced_program_size_does_not_grow_with_the_trip_count():
    def ops_for(steps):
        xs = np.zeros((steps, 4), np.float32)
        module = xl.jit(rnn).lower(np.zeros(4, np.float32), xs).module
        return sum(1 for _ in module.main.walk())

    assert ops_for(8) == ops_for(512)


def test_numba_cpu_runs_the_loop_in_one_compiled_function():
    h0, xs = np.zeros(4, np.float32), np.ones((9, 4), np.float32)
    exe = xl.jit(rnn).lower(h0, xs).compile()
    source = exe.source()
    driver = source[source.index("# driver"):]
    assert len(re.findall(r"\bk\d+\(", driver)) == 1  # one call: the loop kernel
    loop = source[source.index("def kernel("):source.index("# driver")]
    assert "for step" in loop and "np.empty" not in loop.split("for step")[1]  # no per-step
    assert "concatenate" not in source
    # the trip count is an argument: a longer sequence reuses the compiled loop
    other = xl.jit(rnn).lower(h0, np.ones((40, 4), np.float32)).compile()
    assert other.program.modules() == exe.program.modules()


def test_simplify_inlines_constant_branches_and_drops_unused_outputs():
    def f(h, xs):
        def step(c, x):
            return c + x, (c.sum(), c * 3.0)  # the second output is never used
        c, (s, _) = xl.scan(step, h, xs)
        return xl.cond(True, lambda a: a + 1.0, lambda a: a - 1.0, c), s

    m = xl.jit(f).lower(np.zeros(2, np.float32), np.ones((3, 2), np.float32)).module.clone()
    run_pipeline(m, "simplify")
    text = str(m)
    assert '"xl.cond"' not in text and "f32[3,2]) -> (f32[2], f32[3])" in text


def test_licm_moves_the_invariant_projection_out_of_the_loop():
    def f(w, h, xs):
        def step(c, x):
            wt = w.T * 2.0  # invariant: depends only on w
            return xl.tanh(c @ wt + x), None
        return xl.scan(step, h, xs)[0]

    args = (W, np.zeros(4, np.float32), np.ones((5, 4), np.float32))
    m = xl.jit(f).lower(*args).module.clone()
    run_pipeline(m, "licm")
    scan = next(op for op in m.main.body.ops if op.name == "xl.scan")
    body = [op.name for op in scan.regions[0].blocks[0].ops]
    assert "xl.transpose" not in body and "xl.mul" not in body
    assert "xl.transpose" in [op.name for op in m.main.body.ops]
    close(xl.jit(f)(*args), xl.jit(f, backend="interpreter", pipeline="")(*args))


def test_eager_backward_through_scan_and_cond():
    w = xl.tensor(W.astype(np.float64), requires_grad=True)
    xs = RNG.standard_normal((3, 4))

    def loss(wt):
        h, _ = xl.scan(lambda c, x: (xl.tanh(c @ wt + x), None), np.zeros(4), xs)
        return xl.cond(h.sum() > -100, lambda a: (a * a).sum(), lambda a: a.sum(), h)

    loss(w).backward()
    ref = xl.grad(lambda wt: loss(wt))(W.astype(np.float64))
    close(w.grad.array, ref, 1e-9)


def test_jitted_training_step_with_backward_through_a_scan():
    p = Parameter(W.copy())
    xs = RNG.standard_normal((5, 4)).astype(np.float32)

    def step(x):
        h, _ = xl.scan(lambda c, t: (xl.tanh(c @ p + t), None), x, xs)
        loss = (h * h).sum()
        loss.backward()
        return loss, p.grad

    x = np.ones(4, np.float32)
    _, g_jit = xl.jit(step)(x)
    p.grad = None
    _, g_eager = step(x)
    close(g_jit, g_eager.array, 1e-5)


def test_bad_bodies_and_operands_name_the_users_line():
    here = __file__
    cases = [
        (lambda: xl.scan(lambda c, x: ((c, c), None), np.zeros(2), np.ones((3, 2))),
         r"xl.scan's f returns \(\*, \*\), but the carry init is \*"),
        (lambda: xl.scan(lambda c, x: (c.sum(), None), np.zeros(2, np.float32),
                         np.ones((3, 2))), r"f32\[\] for leaf #0.*f32\[2\]"),
        (lambda: xl.cond(np.ones(2) > 0, lambda a: a, lambda a: a, 1.0),
         r"xl.cond needs a scalar bool, got bool\[2\]"),
        (lambda: xl.cond(np.float32(1), lambda a: a, lambda a: a, 1.0),
         r"xl.cond needs a scalar bool, got f32\[\]"),
        (lambda: xl.cond(True, lambda a: a, lambda a: a.sum(), np.ones(2, np.float32)),
         r"branch #1 returns f32\[\] for leaf #0, but branch #0 returns f32\[2\]"),
        (lambda: xl.scan(lambda c, x: (c, None), 0.0, (np.ones(3), np.ones(4))),
         r"different leading lengths"),
        (lambda: xl.while_loop(lambda c: c, lambda c: c + 1, np.int32(0)),
         r"cond_fun must return a scalar bool, got i32\[\]"),
    ]
    for call, pattern in cases:
        with pytest.raises(xl.ControlFlowError, match=pattern) as info:
            call()
        assert str(info.value).startswith(here + ":"), str(info.value)


def test_reverse_mode_through_while_loop_names_fori_loop_and_the_line():
    def f(x):
        return xl.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0),
                             (np.int32(0), x))[1]

    with pytest.raises(ValueError, match="fori_loop") as info:
        xl.grad(f)(np.float32(1.0))
    assert "test_control_flow.py" in str(info.value)


def test_python_control_on_tracers_suggests_the_structured_ops():
    with pytest.raises(xl.TracerError, match="xl.cond"):
        xl.jit(lambda x: x if x.sum() > 0 else -x)(np.ones(2, np.float32))
    with pytest.raises(xl.TracerError, match="fori_loop"):
        xl.jit(lambda x, n: sum(x for _ in range(n)))(np.ones(2, np.float32), np.int32(3))


def test_training_step_has_one_forward_and_one_backward_loop_without_weight_carries():
    """CSE lets the forward scan the VJP extends replace the plain one; merge-dot-sums turns
    the recurrent weight's per-step gradient accumulation into one product after the loop."""
    from xlalite import nn, optim

    nn.manual_seed(0)
    lstm = nn.LSTM(3, 5)
    opt = optim.SGD(lstm.parameters(), lr=0.1)

    def step(v):
        loss = (lstm(v)[0] ** 2.0).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    m = xl.jit(step).lower(x).module.clone()
    reference = m.clone()
    run_pipeline(m, "legalize,simplify,reassociate")
    scans = [op for op in m.main.walk() if op.name == "xl.scan"]
    assert len(scans) == 2
    weight = lstm.weight_hh_l0.type
    assert all(r.type != weight.with_shape(weight.shape[::-1]) and r.type != weight
               for op in scans for r in op.results)
    from xlalite.backends.interpreter import run_function

    args = [RNG.uniform(-1, 1, t.shape).astype(t.dtype.numpy) for t in m.main.arg_types]
    for a, b in zip(run_function(m.main, args), run_function(reference.main, args)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
