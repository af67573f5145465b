"""nn layers against NumPy references, their gradients against finite differences, and
optimizers against the textbook update formulas, eagerly and inside a compiled step."""

import numpy as np
import pytest
import scipy.special

import xlalite as xl
from tests.test_references import naive_conv
from xlalite import nn, optim

RNG = np.random.default_rng(0)


def x64(*shape):
    return RNG.standard_normal(shape)


def to64(module):
    for p in [*module.parameters(), *(b for _, b in module.named_buffers())]:
        if p.dtype == np.float32:
            p.array = p.array.astype(np.float64)
            p.type = p.type.with_dtype(xl.float64)
    return module


def check_param_grads(module, x, eps=1e-6):
    """d sum(module(x) * R) / d param: eager backward() vs central differences."""
    r = x64(*module(xl.tensor(x)).shape)
    for p in module.parameters():
        p.grad = None
    (module(xl.tensor(x)) * r).sum().backward()
    for p in module.parameters():
        fd = np.zeros(p.shape)
        for i in np.ndindex(*p.shape):
            old = p.array[i]
            p.array[i] = old + eps
            up = float((module(xl.tensor(x)) * r).sum())
            p.array[i] = old - eps
            down = float((module(xl.tensor(x)) * r).sum())
            p.array[i] = old
            fd[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(p.grad.numpy(), fd, rtol=1e-5, atol=1e-7)


def test_linear_and_activations():
    lin = to64(nn.Linear(5, 3))
    x = x64(4, 5)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    np.testing.assert_allclose(lin(xl.tensor(x)).numpy(), x @ w.T + b)
    np.testing.assert_allclose(nn.ReLU()(xl.tensor(x)).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(nn.GELU()(xl.tensor(x)).numpy(),
                               0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2))), rtol=1e-12)
    np.testing.assert_allclose(nn.Sigmoid()(xl.tensor(x)).numpy(), scipy.special.expit(x))
    check_param_grads(lin, x)


def test_conv_pool_flatten():
    conv = to64(nn.Conv2d(2, 3, 3, stride=2, padding=1))
    x = x64(2, 2, 7, 6)
    want = naive_conv(x, conv.weight.numpy(), (2, 2), ((1, 1), (1, 1)), (1, 1), 1)
    want += conv.bias.numpy()[None, :, None, None]
    np.testing.assert_allclose(conv(xl.tensor(x)).numpy(), want, rtol=1e-10)
    check_param_grads(conv, x)
    pooled = nn.MaxPool2d(2)(xl.tensor(x)).numpy()
    np.testing.assert_allclose(pooled, x[:, :, :6, :6].reshape(2, 2, 3, 2, 3, 2).max((3, 5)))
    avg = nn.AvgPool2d(2)(xl.tensor(x)).numpy()
    np.testing.assert_allclose(avg, x[:, :, :6, :6].reshape(2, 2, 3, 2, 3, 2).mean((3, 5)))
    assert nn.Flatten()(xl.tensor(x)).shape == (2, 84)


def test_layernorm_embedding_batchnorm():
    ln = to64(nn.LayerNorm(6))
    x = x64(3, 6)
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(xl.tensor(x)).numpy(), ref, rtol=1e-10)
    check_param_grads(ln, x)
    emb = to64(nn.Embedding(10, 4))
    idx = np.array([[1, 9], [0, 1]], np.int32)
    np.testing.assert_allclose(emb(idx).numpy(), emb.weight.numpy()[idx])
    bn = to64(nn.BatchNorm2d(3))
    x = x64(4, 3, 2, 2) * 3 + 1
    y = bn(xl.tensor(x)).numpy()
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    np.testing.assert_allclose(y, (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var((0, 2, 3), ddof=1), rtol=1e-10)
    bn.eval()
    np.testing.assert_allclose(bn(xl.tensor(x)).numpy(),
                               (x - bn.running_mean.numpy()[None, :, None, None])
                               / np.sqrt(bn.running_var.numpy()[None, :, None, None] + 1e-5), rtol=1e-10)


def test_dropout_is_seeded_scaled_and_off_in_eval():
    nn.manual_seed(3)
    d = nn.Dropout(0.25)
    x = np.ones((200, 50), np.float32)
    y = d(xl.tensor(x)).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert not np.array_equal(y, d(xl.tensor(x)).numpy())  # the key advances
    d.eval()
    np.testing.assert_array_equal(d(xl.tensor(x)).numpy(), x)


def test_losses():
    logits, labels = x64(5, 4), np.array([0, 3, 1, 1, 2], np.int32)
    logp = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
    want = -logp[np.arange(5), labels].mean()
    np.testing.assert_allclose(float(nn.cross_entropy(xl.tensor(logits), labels)), want)
    np.testing.assert_allclose(float(nn.mse(xl.tensor(logits), np.zeros((5, 4)))),
                               (logits ** 2).mean())


def reference_steps(name, w, grads, **kw):
    """The update rules written out in NumPy."""
    w = w.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            g = g + kw.get("weight_decay", 0) * w
            m = g if t == 1 else kw["momentum"] * m + g
            w = w - kw["lr"] * (g + kw["momentum"] * m if kw.get("nesterov") else m)
        else:
            b1, b2, lr, eps, wd = 0.9, 0.999, kw["lr"], 1e-8, kw.get("weight_decay", 0)
            if name == "adam":
                g = g + wd * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            step = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
            w = (w * (1 - lr * wd) if name == "adamw" else w) - lr * step
    return w


@pytest.mark.parametrize("name, make, kw", [
    ("sgd", optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    ("sgd", optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adam", optim.Adam, {"lr": 0.05, "weight_decay": 0.1}),
    ("adamw", optim.AdamW, {"lr": 0.05, "weight_decay": 0.1}),
])
@pytest.mark.parametrize("compiled", [False, True])
def test_optimizers_follow_their_formulas(name, make, kw, compiled):
    w0 = np.array([1.0, -2.0, 3.0])
    p = nn.Parameter(w0)
    opt = make([p], **kw)
    targets = [np.array([0.5, 0.0, 1.0]), np.array([-1.0, 2.0, 0.0]), np.array([1.0, 1.0, 1.0])]

    def step(target):
        loss = ((p - target) ** 2.0).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    run = xl.jit(step) if compiled else (lambda t: step(xl.tensor(t)))
    grads, w = [], w0.copy()
    for target in targets:
        grads.append(2 * (reference_steps(name, w0, grads, **kw) - target))
        run(target)
    w = reference_steps(name, w0, grads, **kw)
    np.testing.assert_allclose(p.numpy(), w, rtol=1e-6)


def test_train_and_eval_compile_separately_and_state_dict_round_trips():
    nn.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    f = xl.jit(lambda x: model(x))
    x = np.ones((2, 3), np.float32)
    f(x)
    model.eval()
    a = f(x)
    np.testing.assert_array_equal(a, f(x))  # eval: no dropout, deterministic
    assert f.cache_info()["misses"] == 2
    sd = model.state_dict()
    other = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2)).eval()
    other.load_state_dict(sd)
    np.testing.assert_allclose(other(xl.tensor(x)).numpy(), a, rtol=1e-6)
    with pytest.raises(KeyError, match="missing"):
        other.load_state_dict({"0.weight": sd["0.weight"]})


def test_lstm_matches_a_numpy_reference_and_has_correct_gradients():
    lstm = to64(nn.LSTM(3, 4))
    x = x64(5, 2, 3)
    out, (h, c) = lstm(xl.tensor(x))
    wi, wh, bi, bh = (t.numpy() for t in (lstm.weight_ih_l0, lstm.weight_hh_l0,
                                           lstm.bias_ih_l0, lstm.bias_hh_l0))
    hr, cr, outs = np.zeros((2, 4)), np.zeros((2, 4)), []
    for t in range(5):
        gates = x[t] @ wi.T + bi + hr @ wh.T + bh
        i, f, g, o = np.split(gates, 4, axis=1)
        cr = scipy.special.expit(f) * cr + scipy.special.expit(i) * np.tanh(g)
        hr = scipy.special.expit(o) * np.tanh(cr)
        outs.append(hr)
    np.testing.assert_allclose(out.numpy(), np.stack(outs), rtol=1e-10)
    np.testing.assert_allclose(c.numpy(), cr[None], rtol=1e-10)
    np.testing.assert_allclose(xl.jit(lambda v: lstm(v)[0])(x), np.stack(outs), rtol=1e-10)

    class Last(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, v):
            return self.lstm(v)[0]

    check_param_grads(Last(), x64(3, 2, 3))


def test_transformer_encoder_layer_matches_a_numpy_reference():
    nn.manual_seed(0)
    layer = to64(nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, batch_first=True)).eval()
    x = x64(2, 3, 4)
    a = layer.self_attn
    wi, bi = a.in_proj_weight.numpy(), a.in_proj_bias.numpy()
    q, k, v = np.split(x @ wi.T + bi, 3, axis=2)
    heads = lambda t: t.reshape(2, 3, 2, 2).transpose(0, 2, 1, 3)  # noqa: E731
    s = heads(q) @ heads(k).transpose(0, 1, 3, 2) / np.sqrt(2)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    att = (p @ heads(v)).transpose(0, 2, 1, 3).reshape(2, 3, 4)
    att = att @ a.out_proj.weight.numpy().T + a.out_proj.bias.numpy()

    def ln(t):
        return (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-5)

    h = ln(x + att)
    ff = np.maximum(h @ layer.linear1.weight.numpy().T + layer.linear1.bias.numpy(), 0)
    want = ln(h + ff @ layer.linear2.weight.numpy().T + layer.linear2.bias.numpy())
    np.testing.assert_allclose(layer(xl.tensor(x)).numpy(), want, rtol=1e-9, atol=1e-12)
    check_param_grads(layer, x)
