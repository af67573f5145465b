"""Recurrent layers, ``RNN`` (tanh or relu), ``LSTM`` and ``GRU``, each a ``xl.scan`` over time.

Parameters, shapes and results follow PyTorch's ``torch.nn`` layers, so a ``state_dict``
moves between the two: per layer k (and ``_reverse`` for the backward direction) there are
``weight_ih_l{k}`` (G·H, input), ``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}`` and
``bias_hh_l{k}`` (G·H), with G = 1, 4 (i, f, g, o) or 3 (r, z, n) gates. ``forward(x, h0)``
takes x of shape (T, B, input) (or (B, T, input) with ``batch_first``, or (T, input)
unbatched) and returns ``(output, h_n)`` (for LSTM ``(output, (h_n, c_n))``): output has the
last layer's hidden state of every step, (T, B, D·H); h_n the last step's of every layer and
direction, (layers·D, B, H).

The input projection of all steps is one large matmul in front of the loop; the scan body
holds only the recurrent matmul and the gate arithmetic, so the traced program has the same
size for any sequence length and compiles once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from xlalite.frontend import numpy_api as xl
from xlalite.frontend.control import scan
from xlalite.frontend.state import Parameter
from xlalite.nn.layers import Dropout, _uniform
from xlalite.nn.module import Module

Cell = Callable[[Any, Any, Any, Any], tuple[Any, Any]]


def _rnn_cell(activation: Callable) -> Cell:
    def cell(state, xw, w_hh_t, b_hh):
        return (h := activation(xw + state @ w_hh_t)), h
    return cell


def _lstm_cell(state, xw, w_hh_t, b_hh):
    """i, f, g, o = chunks of x W_ih^T + b_ih + h W_hh^T + b_hh; c = f c + i g; h = o tanh c"""
    h, c = state
    gates = xw + h @ w_hh_t
    n = gates.shape[-1] // 4
    i, f = xl.sigmoid(gates[:, :n]), xl.sigmoid(gates[:, n:2 * n])
    g, o = xl.tanh(gates[:, 2 * n:3 * n]), xl.sigmoid(gates[:, 3 * n:])
    c = f * c + i * g
    h = o * xl.tanh(c)
    return (h, c), h


def _gru_cell(h, xw, w_hh_t, b_hh):
    """r, z from both projections; n = tanh(x W_in + b_in + r (h W_hn + b_hn));
    h = (1 - z) n + z h (b_hh stays inside: r scales its n part)"""
    hw = h @ w_hh_t + b_hh
    n = h.shape[-1]
    r = xl.sigmoid(xw[:, :n] + hw[:, :n])
    z = xl.sigmoid(xw[:, n:2 * n] + hw[:, n:2 * n])
    cand = xl.tanh(xw[:, 2 * n:] + r * hw[:, 2 * n:])
    return (h := (1.0 - z) * cand + z * h), h


class _Recurrent(Module):
    """The shared machinery; subclasses set the gate count and the cell."""

    gates = 1
    has_cell_state = False

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.directions = 2 if bidirectional else 1
        self.dropout = Dropout(dropout) if dropout and num_layers > 1 else None
        bound = 1 / math.sqrt(hidden_size)
        rows = self.gates * hidden_size
        for k in range(num_layers):
            features = input_size if k == 0 else hidden_size * self.directions
            for sfx in self._suffixes(k):
                setattr(self, f"weight_ih{sfx}", Parameter(_uniform((rows, features), bound)))
                setattr(self, f"weight_hh{sfx}", Parameter(_uniform((rows, hidden_size), bound)))
                if bias:
                    setattr(self, f"bias_ih{sfx}", Parameter(_uniform((rows,), bound)))
                    setattr(self, f"bias_hh{sfx}", Parameter(_uniform((rows,), bound)))

    def _suffixes(self, k: int) -> list[str]:
        return [f"_l{k}"] + ([f"_l{k}_reverse"] if self.bidirectional else [])

    def cell(self, state, xw, w_hh_t, b_hh):  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def _direction(self, x, state, sfx: str, reverse: bool):
        """One layer in one direction: (its outputs (T, B, H), its final state)."""
        steps, batch, features = x.shape
        w_ih, w_hh = getattr(self, f"weight_ih{sfx}"), getattr(self, f"weight_hh{sfx}")
        xw = x.reshape((steps * batch, features)) @ w_ih.T
        b_hh = getattr(self, f"bias_hh{sfx}") if self.bias else xl.zeros(w_hh.shape[:1], x.dtype)
        if self.bias:
            xw = xw + getattr(self, f"bias_ih{sfx}")
            if self.gates != 3:  # LSTM/RNN: both biases add to the gates (GRU keeps b_hh apart)
                xw = xw + b_hh
        xw = xw.reshape((steps, batch, self.gates * self.hidden_size))
        w_hh_t = w_hh.T
        final, ys = scan(lambda s, xw_t: self.cell(s, xw_t, w_hh_t, b_hh), state, xw,
                         reverse=reverse)
        return ys, final

    def forward(self, x, hx=None):
        x = xl.asarray(x)
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape((x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        batch, n = x.shape[1], self.num_layers * self.directions
        shape = (n, batch, self.hidden_size)
        if hx is None:
            zeros = xl.zeros(shape, x.dtype)
            hx = (zeros, zeros) if self.has_cell_state else zeros
        states = hx if self.has_cell_state else (hx,)
        states = tuple(xl.asarray(s).reshape(shape) for s in states)
        finals = []
        for k in range(self.num_layers):
            outs = []
            for d, sfx in enumerate(self._suffixes(k)):
                j = k * self.directions + d
                init = tuple(s[j] for s in states)
                ys, final = self._direction(x, init if self.has_cell_state else init[0], sfx,
                                            reverse=d == 1)
                outs.append(ys)
                finals.append(final if self.has_cell_state else (final,))
            x = outs[0] if len(outs) == 1 else xl.concatenate(outs, axis=2)
            if self.dropout is not None and k < self.num_layers - 1:
                x = self.dropout(x)
        h_n = tuple(xl.concatenate([f[i].reshape((1, batch, self.hidden_size)) for f in finals],
                                   axis=0) for i in range(len(states)))
        if unbatched:
            x = x.reshape((x.shape[0], x.shape[2]))
            h_n = tuple(h.reshape((n, self.hidden_size)) for h in h_n)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        return x, (h_n if self.has_cell_state else h_n[0])


class RNN(_Recurrent):
    """Elman RNN: h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity="relu"``: relu)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", **kwargs: Any):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, **kwargs)
        self.nonlinearity = nonlinearity
        act = xl.tanh if nonlinearity == "tanh" else (lambda v: xl.maximum(v, 0.0))
        object.__setattr__(self, "cell", _rnn_cell(act))


class LSTM(_Recurrent):
    """Long short-term memory; ``forward(x, (h0, c0))`` returns ``(output, (h_n, c_n))``."""

    gates = 4
    has_cell_state = True

    def cell(self, state, xw, w_hh_t, b_hh):
        return _lstm_cell(state, xw, w_hh_t, b_hh)


class GRU(_Recurrent):
    """Gated recurrent unit (PyTorch's gate order r, z, n)."""

    gates = 3

    def cell(self, state, xw, w_hh_t, b_hh):
        return _gru_cell(state, xw, w_hh_t, b_hh)
