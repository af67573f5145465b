"""Training-step workloads W3–W5 for every peer: xlalite (one compiled step), NumPy with a
hand-written backward pass, and PyTorch eager. ``make_step(peer, workload)`` returns a
zero-argument function that performs one full step (forward, backward, update)."""

from __future__ import annotations

import numpy as np

LR = 0.01
NAMES = {"W3": "W3 MLP 784-512-512-10 b256 SGD step", "W4": "W4 LeNet-5 b128 SGD step",
         "W5": "W5 LSTM T32 B64 I128 H256 fwd+bwd+SGD"}


def inputs(workload: str):
    rng = np.random.default_rng(0)
    if workload == "W3":
        return rng.standard_normal((256, 784)).astype(np.float32), rng.integers(0, 10, 256).astype(np.int32)
    if workload == "W4":
        return rng.standard_normal((128, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 128).astype(np.int32)
    return rng.standard_normal((32, 64, 128)).astype(np.float32), None  # W5: (T, B, I)


# ---------------------------------------------------------------------------- xlalite
def xlalite_step(workload: str, backend: str = "numba-cpu", scale: int = 1):
    """One compiled step on `backend`; `scale` divides the batch (the GPU bench's --quick)."""
    step, args = xlalite_program(workload, backend, scale)
    return lambda: step(*args)


def xlalite_program(workload: str, backend: str = "numba-cpu", scale: int = 1):
    """The jitted step function and its arguments (``step.lower(*args)`` gives its IR)."""
    import xlalite as xl
    from xlalite import nn, optim

    nn.manual_seed(0)
    x, y = inputs(workload)
    x, y = x[:max(1, len(x) // scale)], (None if y is None else y[:max(1, len(y) // scale)])
    if workload == "W3":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
    elif workload == "W4":
        model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                              nn.Linear(84, 10))
    else:
        model = nn.LSTM(128, 256)
    opt = optim.SGD(model.parameters(), lr=LR)

    @xl.jit(backend=backend)
    def step(x, y=None):
        if workload == "W5":
            out, _ = model(x)
            loss = (out ** 2.0).mean()
        else:
            loss = nn.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step, ((x,) if workload == "W5" else (x, y))


# ---------------------------------------------------------------------------- PyTorch
def torch_step(workload: str):
    import torch

    torch.manual_seed(0)
    x, y = inputs(workload)
    tx = torch.from_numpy(x)
    ty = torch.from_numpy(y).long() if y is not None else None
    F = torch.nn
    if workload == "W3":
        model = F.Sequential(F.Linear(784, 512), F.ReLU(), F.Linear(512, 512), F.ReLU(),
                             F.Linear(512, 10))
    elif workload == "W4":
        model = F.Sequential(F.Conv2d(1, 6, 5, padding=2), F.ReLU(), F.MaxPool2d(2),
                             F.Conv2d(6, 16, 5), F.ReLU(), F.MaxPool2d(2), F.Flatten(),
                             F.Linear(400, 120), F.ReLU(), F.Linear(120, 84), F.ReLU(),
                             F.Linear(84, 10))
    else:
        model = F.LSTM(128, 256)
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        if workload == "W5":
            loss = (model(tx)[0] ** 2).mean()
        else:
            loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()
    return step


# ---------------------------------------------------------------------------- jax.jit
def jax_step(workload: str):
    """W3 or W4 as one jax.jit-compiled SGD step (jax.grad of the same loss); the first call
    traces and compiles. (W5's jax peer, on lax.scan, is in lstm.py.)"""
    import jax
    import jax.numpy as jnp

    x, y = inputs(workload)
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 8))

    def dense(i: int, o: int):
        return jax.random.normal(next(keys), (i, o)) / np.sqrt(i), jnp.zeros(o)

    def conv(c: int, o: int):
        return jax.random.normal(next(keys), (o, c, 5, 5)) / np.sqrt(25 * c), jnp.zeros(o)

    if workload == "W3":
        params = {"conv": [], "dense": [dense(784, 512), dense(512, 512), dense(512, 10)]}
        pads: list[int] = []
    elif workload == "W4":
        params = {"conv": [conv(1, 6), conv(6, 16)],
                  "dense": [dense(400, 120), dense(120, 84), dense(84, 10)]}
        pads = [2, 0]
    else:
        raise ValueError("jax_step covers W3 and W4 (W5: bench/lstm.py)")

    def forward(p, h):
        for (w, b), pad in zip(p["conv"], pads):
            h = jax.lax.conv_general_dilated(h, w, (1, 1), [(pad, pad), (pad, pad)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
            h = jax.nn.relu(h + b[None, :, None, None])
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = h.reshape(h.shape[0], -1)
        for w, b in p["dense"][:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = p["dense"][-1]
        return h @ w + b

    def loss(p, h, labels):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, h)), labels[:, None], 1))

    @jax.jit
    def update(p, h, labels):
        return jax.tree_util.tree_map(lambda a, g: a - LR * g, p, jax.grad(loss)(p, h, labels))

    state = [params]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def step():
        state[0] = jax.block_until_ready(update(state[0], jx, jy))
    return step


# ---------------------------------------------------------------------------- NumPy
def _softmax_ce_grad(logits, y):
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p / len(y)


def _im2col(x, k, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    s = xp.strides
    cols = np.lib.stride_tricks.as_strided(xp, (n, c, k, k, oh, ow), s[:2] + s[2:] + s[2:])
    return cols.transpose(1, 2, 3, 0, 4, 5).reshape(c * k * k, n * oh * ow), (oh, ow)


def _col2im(cols, shape, k, pad):
    n, c, h, w = shape
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    cols = cols.reshape(c, k, k, n, oh, ow)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + oh, j:j + ow] += cols[:, i, j].transpose(1, 0, 2, 3)
    return xp[:, :, pad:pad + h, pad:pad + w]


def numpy_step(workload: str):
    rng = np.random.default_rng(0)
    x, y = inputs(workload)

    def init(*shape):
        return (rng.uniform(-1, 1, shape) / np.sqrt(shape[-1])).astype(np.float32)

    if workload == "W3":
        ws = [init(784, 512), init(512, 512), init(512, 10)]
        bs = [np.zeros(n, np.float32) for n in (512, 512, 10)]

        def step():
            acts = [x]
            for i, (w, b) in enumerate(zip(ws, bs)):
                z = acts[-1] @ w + b
                acts.append(np.maximum(z, 0) if i < 2 else z)
            g = _softmax_ce_grad(acts[-1], y)
            for i in (2, 1, 0):
                gw, gb = acts[i].T @ g, g.sum(0)
                if i:
                    g = (g @ ws[i].T) * (acts[i] > 0)
                ws[i] -= LR * gw
                bs[i] -= LR * gb
        return step

    if workload == "W4":
        k1, k2 = init(6, 25), init(16, 150)
        fc = [init(400, 120), init(120, 84), init(84, 10)]

        def conv(a, k, pad, cout):
            cols, (oh, ow) = _im2col(a, 5, pad)
            out = (k @ cols).reshape(cout, a.shape[0], oh, ow).transpose(1, 0, 2, 3)
            return out, cols

        def pool(a):
            n, c, h, w = a.shape
            r = a.reshape(n, c, h // 2, 2, w // 2, 2)
            m = r.max((3, 5))
            mask = r == m[:, :, :, None, :, None]
            return m, mask

        def unpool(g, mask):
            return (mask * g[:, :, :, None, :, None]).reshape(mask.shape[0], mask.shape[1],
                                                               mask.shape[2] * 2, -1)

        def step():
            c1, cols1 = conv(x, k1, 2, 6)
            r1 = np.maximum(c1, 0)
            p1, m1 = pool(r1)
            c2, cols2 = conv(p1, k2, 0, 16)
            r2 = np.maximum(c2, 0)
            p2, m2 = pool(r2)
            acts = [p2.reshape(len(x), -1)]
            for i, w in enumerate(fc):
                z = acts[-1] @ w
                acts.append(np.maximum(z, 0) if i < 2 else z)
            g = _softmax_ce_grad(acts[-1], y)
            for i in (2, 1, 0):
                gw = acts[i].T @ g
                g = (g @ fc[i].T) * (acts[i] > 0) if i else g @ fc[i].T
                fc[i] -= LR * gw
            g = unpool(g.reshape(p2.shape), m2) * (c2 > 0)
            g2 = g.transpose(1, 0, 2, 3).reshape(16, -1)
            gk2 = g2 @ cols2.T
            gp1 = _col2im(k2.T @ g2, p1.shape, 5, 0)
            g = unpool(gp1, m1) * (c1 > 0)
            gk1 = g.transpose(1, 0, 2, 3).reshape(6, -1) @ cols1.T
            k2[...] -= LR * gk2
            k1[...] -= LR * gk1
        return step

    hidden = 256
    wi, wh, b = init(128, 4 * hidden), init(hidden, 4 * hidden), np.zeros(4 * hidden, np.float32)

    def sig(v):
        return 1 / (1 + np.exp(-v))

    def step():
        steps, batch, _ = x.shape
        h, c = np.zeros((batch, hidden), np.float32), np.zeros((batch, hidden), np.float32)
        xw = x @ wi + b
        cache, hs = [], []
        for t in range(steps):
            gates = xw[t] + h @ wh
            i, f, gg, o = (sig(gates[:, :hidden]), sig(gates[:, hidden:2 * hidden]),
                           np.tanh(gates[:, 2 * hidden:3 * hidden]), sig(gates[:, 3 * hidden:]))
            c_prev, h_prev = c, h
            c = f * c + i * gg
            tc = np.tanh(c)
            h = o * tc
            cache.append((i, f, gg, o, c_prev, h_prev, tc))
            hs.append(h)
        n = steps * batch * hidden
        dh_next, dc_next = np.zeros_like(h), np.zeros_like(c)
        dwi, dwh, db = np.zeros_like(wi), np.zeros_like(wh), np.zeros_like(b)
        for t in reversed(range(steps)):
            i, f, gg, o, c_prev, h_prev, tc = cache[t]
            dh = 2 * hs[t] / n + dh_next
            do = dh * tc
            dc = dh * o * (1 - tc * tc) + dc_next
            di, df, dg = dc * gg, dc * c_prev, dc * i
            dgates = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - gg * gg),
                                     do * o * (1 - o)], axis=1)
            dwi += x[t].T @ dgates
            dwh += h_prev.T @ dgates
            db += dgates.sum(0)
            dh_next, dc_next = dgates @ wh.T, dc * f
        wi[...] -= LR * dwi
        wh[...] -= LR * dwh
        b[...] -= LR * db
    return step


PEERS = {"xlalite": xlalite_step, "numpy (hand-written backward)": numpy_step,
         "pytorch eager": torch_step}
