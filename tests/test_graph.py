"""xlalite.graph: TF1-style graphs, sessions, feeds and fetches, assign/group, optimizers."""

import re

import numpy as np
import pytest

import xlalite as xl
import xlalite.graph as xg
from xlalite.nn import functional as F

BACKENDS = ["interpreter", "numba-cpu"]


def mlp_graph():
    g = xg.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        x = xg.placeholder(xl.float32, (None, 4), name="x")
        y = xg.placeholder(xl.float32, (None, 2), name="y")
        w = xg.Variable(rng.randn(4, 2).astype(np.float32), name="w")
        b = xg.Variable(np.zeros(2, np.float32), name="b")
        loss = xl.mean((F.relu(x @ w + b) - y) ** 2)
    return g, x, y, w, b, loss


def data(n=16):
    rng = np.random.RandomState(1)
    return rng.randn(n, 4).astype(np.float32), rng.randn(n, 2).astype(np.float32)


def np_loss(X, Y, W, B):
    return np.mean((np.maximum(X @ W + B, 0) - Y) ** 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_matches_numpy_and_specialises_per_batch_size(backend):
    g, x, y, w, b, loss = mlp_graph()
    assert x.shape == (None, 4) and loss.shape == () and (x @ w).shape == (None, 2)
    with xg.Session(g, backend=backend) as sess:
        sess.run(xg.global_variables_initializer(g))
        W, B = sess.run([w, b])
        for n in (16, 5, 16):
            X, Y = data(n)
            np.testing.assert_allclose(sess.run(loss, {x: X, y: Y}), np_loss(X, Y, W, B), rtol=1e-5)
        (plan,) = [p for p in sess._plans.values() if p.tensors and p.tensors[0] is loss]
        assert plan.step.cache_info()["misses"] == 2  # one per feed signature, then cached


def test_fetch_structures_and_operations():
    g, x, y, w, b, loss = mlp_graph()
    sess = xg.Session(g)
    init = xg.global_variables_initializer(g)
    assert sess.run(init) is None
    X, Y = data()
    out = sess.run({"l": loss, "p": [w, (b, init)]}, {x: X, y: Y})
    assert set(out) == {"l", "p"} and out["p"][1][1] is None
    np.testing.assert_allclose(out["l"], np_loss(X, Y, out["p"][0], out["p"][1][0]), rtol=1e-6)


def test_gradients_match_xl_grad():
    g, x, y, w, b, loss = mlp_graph()
    gw, gb = xg.gradients(loss, [w, b])
    with g.as_default():
        unrelated = xg.Variable(np.ones(3, np.float32), name="u")
    assert xg.gradients(loss, [unrelated, w])[0] is None
    sess = xg.Session(g)
    sess.run(xg.global_variables_initializer(g))
    X, Y = data()
    W, B, GW, GB = sess.run([w, b, gw, gb], {x: X, y: Y})
    ref = xl.grad(lambda W, B: xl.mean((F.relu(X @ W + B) - Y) ** 2), argnums=(0, 1))(W, B)
    np.testing.assert_allclose(GW, ref[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(GB, ref[1], rtol=1e-5, atol=1e-7)
    # second order: the gradient of a gradient's norm, against finite differences
    g2, = xg.gradients(xl.sum(gw * gw), [w])
    G2 = sess.run(g2, {x: X, y: Y})
    eps, k = 1e-2, (1, 0)

    def norm(Wv):
        return np.sum(np.asarray(xl.grad(lambda W: xl.mean((F.relu(X @ W + B) - Y) ** 2))(Wv)) ** 2)

    d = np.zeros_like(W)
    d[k] = eps
    fd = (norm((W + d).astype(np.float32)) - norm((W - d).astype(np.float32))) / (2 * eps)
    assert abs(G2[k] - fd) < 1e-2 * (1 + abs(fd))


def test_assign_runs_only_when_fetched_or_grouped():
    g = xg.Graph()
    with g.as_default():
        v = xg.Variable(np.float32(1.0), name="v")
        inc = xg.assign(v, v + 1.0)  # built, but running it is up to the fetches
        double = v.assign(v * 2.0, name="double")
        both = xg.group(inc)
    sess = xg.Session(g)
    sess.run(xg.global_variables_initializer(g))
    assert sess.run(v) == 1.0  # nothing fetched inc: the pitfall of the notes
    assert sess.run(inc) == 2.0 and sess.run(v) == 2.0
    assert sess.run(both) is None and sess.run(v) == 3.0
    # every read in a run sees the value from before the run
    assert sess.run([v, double, v]) == [3.0, 6.0, 3.0]
    assert sess.run(v) == 6.0
    with pytest.raises(xg.GraphError, match="assigns variable 'v' twice"):
        sess.run([inc, double])


def test_variables_live_in_the_session():
    g = xg.Graph()
    with g.as_default():
        v = xg.Variable(np.zeros(3, np.float32), name="v")
        inc = v.assign_add(1.0)
        step = xg.group(inc)
        init = xg.global_variables_initializer()
    a, b = xg.Session(g), xg.Session(g)
    a.run(init), b.run(init)
    for _ in range(3):
        a.run(inc)
    np.testing.assert_array_equal(a.run(v), 3.0)
    np.testing.assert_array_equal(b.run(v), 0.0)
    state = a.state[v]
    buffer = state.array
    a.run(step)
    a.run(step)
    assert a.state[v].array is buffer  # donated: updated in place (nothing else holds it)
    np.testing.assert_array_equal(buffer, 5.0)


def _count_launches(executable):
    """Wrap the kernels a numba-cpu executable's driver calls; returns the running count."""
    namespace = executable._driver.__globals__
    count = [0]
    for name in [k for k in namespace if re.fullmatch(r"k\d+", k)]:
        kernel = namespace[name]

        def counted(*args, _kernel=kernel):
            count[0] += 1
            return _kernel(*args)

        namespace[name] = counted
    return count


def test_only_what_the_fetches_need_runs():
    g = xg.Graph()
    with g.as_default():
        x = xg.placeholder(xl.float32, (64,), name="x")
        cheap = xl.sum(x * 2.0)
        big = xg.Variable(np.ones((256, 256), np.float32), name="big")
        expensive = xl.sum(xl.tanh(big @ big) @ big)  # needs no feed, and is never fetched here
        both = cheap + expensive
    sess = xg.Session(g, backend="numba-cpu")
    sess.run(xg.global_variables_initializer(g))
    X = np.arange(64, dtype=np.float32)
    assert sess.run(cheap, {x: X}) == X.sum() * 2
    runs = {}
    for name, fetch in (("cheap", cheap), ("both", both)):
        sess.run(fetch, {x: X})
        plan = [p for p in sess._plans.values() if p.tensors and p.tensors[0] is fetch][0]
        (executable, lowered), = plan.step._cache.values()
        count = _count_launches(executable)
        sess.run(fetch, {x: X})
        runs[name] = (count[0], lowered.as_text())
    assert "dot_general" not in runs["cheap"][1] and "big" not in runs["cheap"][1]
    assert "dot_general" in runs["both"][1]
    assert 0 < runs["cheap"][0] < runs["both"][0]
    # no feed of x is needed to fetch the expensive part alone
    np.testing.assert_allclose(sess.run(expensive), np.float32(256 * 256 * 256 * np.tanh(256.0)),
                               rtol=1e-5)


def test_errors_name_the_placeholder_the_fetch_and_both_types():
    g, x, y, w, b, loss = mlp_graph()
    sess = xg.Session(g)
    X, Y = data()
    with pytest.raises(xg.GraphError, match="reads variable 'w', which is not initialised"):
        sess.run(loss, {x: X, y: Y})
    sess.run(xg.global_variables_initializer(g))
    with pytest.raises(xg.GraphError, match=r"fetching 'mean:0' needs placeholder 'y' \(f32\[\?x2\]\)"):
        sess.run(loss, {x: X})
    with pytest.raises(xg.GraphError, match=r"'x:0' is f32\[\?x4\] but was fed f64\[16x4\]"):
        sess.run(loss, {x: X.astype(np.float64), y: Y})
    with pytest.raises(xg.GraphError, match=r"'y:0' is f32\[\?x2\] but was fed f32\[16x3\]"):
        sess.run(loss, {x: X, y: np.zeros((16, 3), np.float32)})
    np.testing.assert_allclose(sess.run(loss, {x: X.tolist(), y: Y.tolist()}),
                               sess.run(loss, {x: X, y: Y}))  # lists take the placeholder's dtype
    with pytest.raises(xg.GraphError, match=r"test_graph.py:\d+: matmul: .* does not match"):
        with g.as_default():
            x @ xg.constant(np.ones((3, 3), np.float32))
    with pytest.raises(xg.GraphError, match="no default graph"):
        xg.placeholder(xl.float32, (1,))
    with pytest.raises(TypeError, match="no value while the graph is built"):
        bool(loss > 0)


def test_feeding_an_intermediate_tensor_cuts_the_graph():
    g, x, y, w, b, loss = mlp_graph()
    sess = xg.Session(g)
    sess.run(xg.global_variables_initializer(g))
    h = loss.op.inputs[0]  # (relu - y) ** 2, fed directly: x, w, b are not needed
    assert sess.run(loss, {h: np.full((3, 2), 4.0, np.float32)}) == 4.0


@pytest.mark.parametrize("opt, ref", [
    (lambda: xg.train.GradientDescentOptimizer(0.1), "sgd"),
    (lambda: xg.train.MomentumOptimizer(0.1, 0.9), "momentum"),
    (lambda: xg.train.AdamOptimizer(0.05), "adam"),
])
def test_optimizers_follow_tf1_update_rules(opt, ref):
    g, x, y, w, b, loss = mlp_graph()
    train = opt().minimize(loss)
    sess = xg.Session(g, backend="numba-cpu")
    sess.run(xg.global_variables_initializer(g))
    X, Y = data()
    W, B = sess.run([w, b])
    params, slots = [W.astype(np.float64), B.astype(np.float64)], [[0.0, 0.0], [0.0, 0.0]]
    losses = []
    for t in range(1, 6):
        losses.append(sess.run([train, loss], {x: X, y: Y})[1])
        grads = xl.grad(lambda W, B: xl.mean((F.relu(X @ W + B) - Y) ** 2), argnums=(0, 1))(
            *[p.astype(np.float32) for p in params])
        for i, gr in enumerate(grads):
            gr = np.asarray(gr, np.float64)
            if ref == "sgd":
                params[i] = params[i] - 0.1 * gr
            elif ref == "momentum":
                slots[0][i] = 0.9 * slots[0][i] + gr
                params[i] = params[i] - 0.1 * slots[0][i]
            else:
                slots[0][i] = 0.9 * slots[0][i] + 0.1 * gr
                slots[1][i] = 0.999 * slots[1][i] + 0.001 * gr * gr
                lr_t = 0.05 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
                params[i] = params[i] - lr_t * slots[0][i] / (np.sqrt(slots[1][i]) + 1e-8)
    W, B = sess.run([w, b])
    np.testing.assert_allclose(W, params[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(B, params[1], rtol=1e-4, atol=1e-5)
    assert losses[-1] < losses[0]


def test_control_flow_and_functional_ops_on_graph_tensors():
    g = xg.Graph()
    with g.as_default():
        x = xg.placeholder(xl.float32, (None, 1, 6, 6), name="x")
        k = xg.Variable(np.ones((2, 1, 3, 3), np.float32), name="k")
        y = F.max_pool2d(F.conv2d(x, k, padding=1), 2)
        z = xl.cond(xl.sum(y) > 0, lambda a: a * 2.0, lambda a: -a, y)
        init = xg.global_variables_initializer()
    assert y.shape == (None, 2, 3, 3)
    sess = xg.Session(g, backend="numba-cpu")
    sess.run(init)
    X = np.random.RandomState(0).randn(2, 1, 6, 6).astype(np.float32)
    ref = F.max_pool2d(F.conv2d(X, np.ones((2, 1, 3, 3), np.float32), padding=1), 2).numpy()
    np.testing.assert_allclose(sess.run(z, {x: X}), ref * 2 if ref.sum() > 0 else -ref, rtol=1e-5)


def test_graph_def_round_trip():
    g, x, y, w, b, loss = mlp_graph()
    step = xg.train.GradientDescentOptimizer(0.1).minimize(loss)
    with pytest.raises(xg.GraphError, match="placeholder 'x' is f32"):
        g.as_graph_def()
    text = g.as_graph_def({x: (16, 4), y: (16, 2)})
    assert text.startswith("func @graph(%x: f32[16,4], %y: f32[16,2], %w: f32[4,2], %b: f32[2])")
    g2 = xg.Graph()
    with g2.as_default():
        found = xg.import_graph_def(text)
    X, Y = data()
    a, b2 = xg.Session(g), xg.Session(g2)
    a.run(xg.global_variables_initializer(g))
    b2.run(xg.global_variables_initializer(g2))
    for _ in range(3):
        a.run(step, {x: X, y: Y})
        b2.run([found["w/Assign_1:0"], found["b/Assign_1:0"]], {found["x"]: X, found["y"]: Y})
    np.testing.assert_allclose(a.run(w), b2.run(found["w"]), rtol=1e-6)
    with pytest.raises(Exception, match=r":1:16: error: expected .:."):
        xg.import_graph_def("func @graph(%x f32[1]) {", graph=g2)
    with pytest.raises(xg.GraphError, match="not a graph def"):
        xg.import_graph_def("func @main() -> () {\n  return\n}\n", graph=g2)


def test_graph_mode_example_agrees_with_eager_and_jit():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    import graph_mode

    rows = graph_mode.main(steps=4)
    assert rows["graph, assign not grouped"]["last"] == rows["graph, assign not grouped"]["first"]
    last = rows["jit (value_and_grad)"]["last"]
    assert last < rows["jit (value_and_grad)"]["first"] / 2
    for name, r in rows.items():
        if name != "graph, assign not grouped":
            assert abs(r["last"] - last) <= 1e-3 * last, (name, r)
