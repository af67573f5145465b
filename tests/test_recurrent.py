"""Recurrent layers on xl.scan: PyTorch's parameter names and equations (a NumPy reference of
torch.nn.RNN/LSTM/GRU), layers, directions, batch_first, gradients, and a traced program
whose size does not depend on the sequence length."""

import numpy as np
import pytest
import scipy.special

import xlalite as xl
from tests.test_nn import check_param_grads, to64, x64
from xlalite import nn

sigmoid = scipy.special.expit


def reference(m, x, h0=None):
    """torch.nn's recurrences in NumPy, reading `m`'s parameters (x: (T, B, I))."""
    kind = type(m).__name__
    hidden, layers, dirs = m.hidden_size, m.num_layers, m.directions
    p = m.state_dict()
    finals_h, finals_c = [], []
    for k in range(layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            wi, wh, bi, bh = (p[f"{n}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih",
                                                       "bias_hh"))
            h = np.zeros((x.shape[1], hidden)) if h0 is None else h0[k * dirs + d]
            c = np.zeros_like(h)
            ys = [None] * len(x)
            for t in (range(len(x) - 1, -1, -1) if d else range(len(x))):
                gi, gh = x[t] @ wi.T + bi, h @ wh.T + bh
                if kind == "LSTM":
                    i, f, g, o = np.split(gi + gh, 4, axis=1)
                    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                    h = sigmoid(o) * np.tanh(c)
                elif kind == "GRU":
                    (ir, iz, i_n), (hr, hz, hn) = np.split(gi, 3, 1), np.split(gh, 3, 1)
                    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
                    h = (1 - z) * np.tanh(i_n + r * hn) + z * h
                else:
                    a = gi + gh
                    h = np.tanh(a) if m.nonlinearity == "tanh" else np.maximum(a, 0)
                ys[t] = h
            outs.append(np.stack(ys))
            finals_h.append(h)
            finals_c.append(c)
        x = np.concatenate(outs, axis=2)
    return x, np.stack(finals_h), np.stack(finals_c)


def test_parameter_names_are_pytorchs():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    names = {f"{w}_l{k}{s}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
             for k in range(2) for s in ("", "_reverse")}
    assert set(m.state_dict()) == names
    assert m.weight_ih_l1.shape == (16, 8) and m.weight_hh_l0_reverse.shape == (16, 4)
    assert set(nn.GRU(3, 4, bias=False).state_dict()) == {"weight_ih_l0", "weight_hh_l0"}


@pytest.mark.parametrize("cls, kw", [(nn.LSTM, {}), (nn.GRU, {}), (nn.RNN, {}),
                                     (nn.RNN, {"nonlinearity": "relu"})])
@pytest.mark.parametrize("layers, bidirectional, batch_first",
                         [(1, False, False), (2, True, True)])
def test_layers_match_the_torch_equations(cls, kw, layers, bidirectional, batch_first):
    m = to64(cls(3, 4, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                 **kw))
    x = x64(5, 2, 3)
    h0 = x64(layers * m.directions, 2, 4)
    state = (h0, np.zeros_like(h0)) if cls is nn.LSTM else h0
    out, h, c = reference(m, x, h0)
    got, got_h = xl.jit(lambda v, s: m(v, s))(x.transpose(1, 0, 2) if batch_first else x, state)
    np.testing.assert_allclose(got, out.transpose(1, 0, 2) if batch_first else out, rtol=1e-9)
    if cls is nn.LSTM:
        got_h, got_c = got_h
        np.testing.assert_allclose(got_c, c, rtol=1e-9)
    np.testing.assert_allclose(got_h, h, rtol=1e-9)


def test_eager_unbatched_call_matches_the_batched_one():
    m = to64(nn.GRU(3, 4))
    x = x64(6, 3)
    out, h = m(xl.tensor(x))
    ref, ref_h = m(xl.tensor(x[:, None, :]))
    np.testing.assert_allclose(out.numpy(), ref.numpy()[:, 0], rtol=1e-12)
    assert h.shape == (1, 4)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_parameter_gradients_match_finite_differences(cls):
    class Last(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = to64(cls(2, 3, num_layers=2, bidirectional=cls is nn.GRU))

        def forward(self, v):
            return self.rnn(v)[0]

    check_param_grads(Last(), x64(3, 2, 2))


def test_traced_program_size_does_not_depend_on_the_sequence_length():
    m = nn.LSTM(4, 8)

    def count(steps):
        module = xl.jit(lambda v: m(v)[0]).lower(np.zeros((steps, 2, 4), np.float32)).module
        return sum(1 for _ in module.main.walk())

    assert count(8) == count(512)


def test_a_jitted_training_step_of_an_lstm_learns():
    xl.nn.manual_seed(0)
    m = nn.LSTM(3, 5)
    opt = xl.optim.SGD(m.parameters(), lr=0.5)
    x = np.random.default_rng(0).standard_normal((6, 4, 3)).astype(np.float32)

    @xl.jit
    def step(v):
        out, _ = m(v)
        loss = ((out - 0.5) ** 2.0).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    losses = [float(step(x)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_the_lstm_digits_example_learns():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import train_digits_lstm

    assert train_digits_lstm.main(epochs=3)["test_accuracy"] > 0.8
