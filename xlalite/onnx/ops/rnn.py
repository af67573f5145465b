"""ONNX recurrent layers (RNN, GRU, LSTM) as ``xl.scan`` loops.

The input projection ``X W^T + Wb`` of every step is one matrix product before the loop; the
loop body holds only the recurrent product and the gates. Directions: forward, reverse and
bidirectional (two scans, stacked as ONNX's ``num_directions`` axis); both layouts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.control import scan
from xlalite.frontend.tensor import TensorBase
from xlalite.onnx.ops.common import binary, scalar, t
from xlalite.onnx.registry import Node, handler

Act = Callable[[TensorBase], TensorBase]


def _activation(node: Node, name: str, alpha: float | None, beta: float | None) -> Act:
    lname = name.lower()
    if lname == "sigmoid":
        return xnp.sigmoid
    if lname == "tanh":
        return xnp.tanh
    if lname == "relu":
        return lambda x: binary("xl.max", x, scalar(0, x))
    if lname == "hardsigmoid":
        a, b = alpha if alpha is not None else 0.2, beta if beta is not None else 0.5
        return lambda x: binary("xl.min", binary("xl.max", x * scalar(a, x) + scalar(b, x),
                                                 scalar(0, x)), scalar(1, x))
    if lname == "leakyrelu":
        a = alpha if alpha is not None else 0.01
        return lambda x: xnp.where(x < scalar(0, x), x * scalar(a, x), x)
    if lname == "affine":
        a, b = alpha if alpha is not None else 1.0, beta if beta is not None else 0.0
        return lambda x: x * scalar(a, x) + scalar(b, x)
    raise node.unsupported(f"recurrent activation {name!r}")


def _activations(node: Node, defaults: tuple[str, ...], dirs: int) -> list[list[Act]]:
    names = list(node.attr("activations", defaults * dirs))
    alphas = list(node.attr("activation_alpha", ()))
    betas = list(node.attr("activation_beta", ()))
    acts = [_activation(node, n, alphas[i] if i < len(alphas) else None,
                        betas[i] if i < len(betas) else None) for i, n in enumerate(names)]
    k = len(defaults)
    if len(acts) != k * dirs:
        raise node.error(f"{len(acts)} activations for {dirs} direction(s) of {k}")
    return [acts[d * k:(d + 1) * k] for d in range(dirs)]


def _prepare(node: Node, x: Any, seq_lens: Any):
    x = t(x)
    if node.attr("layout", 0):
        x = xnp.transpose(x, (1, 0, 2))  # [batch, seq, in] -> [seq, batch, in]
    if seq_lens is not None:
        lens = np.asarray(node.static(seq_lens, "sequence_lens"))
        if np.any(lens != x.shape[0]):
            raise node.unsupported("sequence_lens shorter than the sequence (padded batches)")
    direction = node.choice("direction", "forward", ("forward", "reverse", "bidirectional"))
    dirs = 2 if direction == "bidirectional" else 1
    reverse = [False, True] if dirs == 2 else [direction == "reverse"]
    clip = node.attr("clip", None)
    return x, dirs, reverse, clip


def _project(x: TensorBase, w: TensorBase, b: TensorBase | None) -> TensorBase:
    """X W^T + Wb (+ Rb where the gate formula allows) for all steps: [seq, batch, n*H]."""
    y = xnp.matmul(x, xnp.transpose(w))
    return y if b is None else y + xnp.broadcast_to(b, y.shape)


def _clip(v: TensorBase, clip: float | None) -> TensorBase:
    if clip is None:
        return v
    return binary("xl.min", binary("xl.max", v, scalar(-clip, v)), scalar(clip, v))


def _state(v: Any, d: int, batch: int, h: int, like: TensorBase) -> TensorBase:
    if v is None:
        return xnp.broadcast_to(np.zeros((), like.dtype), (batch, h))
    return xnp.reshape(t(v)[d:d + 1], (batch, h))


def _outputs(node: Node, ys: list[TensorBase], finals: list[list[TensorBase]]) -> tuple:
    y = xnp.concatenate([xnp.reshape(v, (v.shape[0], 1, *v.shape[1:])) for v in ys], axis=1)
    if node.attr("layout", 0):  # [seq, dirs, batch, H] -> [batch, seq, dirs, H]
        y = xnp.transpose(y, (2, 0, 1, 3))
    stacked = []
    for k in range(len(finals[0])):
        s = xnp.concatenate([xnp.reshape(f[k], (1, *f[k].shape)) for f in finals], axis=0)
        stacked.append(xnp.transpose(s, (1, 0, 2)) if node.attr("layout", 0) else s)
    return (y, *stacked)


def _split(v: TensorBase, n: int, h: int) -> list[TensorBase]:
    return [v[..., k * h:(k + 1) * h] for k in range(n)]


@handler("LSTM", static=(4,))
def lstm(node: Node, x: Any, w: Any, r: Any, b: Any = None, seq_lens: Any = None,
         h0: Any = None, c0: Any = None, p: Any = None) -> tuple:
    x, dirs, reverse, clip = _prepare(node, x, seq_lens)
    h = node.attr("hidden_size", None) or t(r).shape[-1]
    couple = node.attr("input_forget", 0)
    acts = _activations(node, ("Sigmoid", "Tanh", "Tanh"), dirs)
    ys, finals = [], []
    for d in range(dirs):
        wd, rd = t(w)[d], t(r)[d]
        bias = None if b is None else t(b)[d][:4 * h] + t(b)[d][4 * h:]
        proj = _project(x, wd, bias)
        peep = [None] * 3 if p is None else _split(t(p)[d], 3, h)
        f_act, g_act, h_act = acts[d]
        r_t = xnp.transpose(rd)

        def step(carry, xp, r_t=r_t, peep=peep, f_act=f_act, g_act=g_act, h_act=h_act):
            hp, cp = carry
            gi, go, gf, gc = _split(xp + xnp.matmul(hp, r_t), 4, h)
            pi, po, pf = peep
            i = f_act(_clip(gi if pi is None else gi + pi * cp, clip))
            f = (scalar(1, i) - i) if couple else \
                f_act(_clip(gf if pf is None else gf + pf * cp, clip))
            c = f * cp + i * g_act(_clip(gc, clip))
            o = f_act(_clip(go if po is None else go + po * c, clip))
            hn = o * h_act(c)
            return (hn, c), hn

        init = (_state(h0, d, x.shape[1], h, x), _state(c0, d, x.shape[1], h, x))
        (hn, cn), y = scan(step, init, proj, reverse=reverse[d])
        ys.append(y)
        finals.append([hn, cn])
    return _outputs(node, ys, finals)


@handler("GRU", static=(4,))
def gru(node: Node, x: Any, w: Any, r: Any, b: Any = None, seq_lens: Any = None,
        h0: Any = None) -> tuple:
    x, dirs, reverse, clip = _prepare(node, x, seq_lens)
    h = node.attr("hidden_size", None) or t(r).shape[-1]
    before = node.attr("linear_before_reset", 0)
    acts = _activations(node, ("Sigmoid", "Tanh"), dirs)
    ys, finals = [], []
    for d in range(dirs):
        wd, rd = t(w)[d], t(r)[d]
        wb = None if b is None else t(b)[d][:3 * h]
        rb = None if b is None else t(b)[d][3 * h:]
        proj = _project(x, wd, wb)
        f_act, g_act = acts[d]
        rz_t = xnp.transpose(rd[:2 * h])
        rh_t = xnp.transpose(rd[2 * h:])
        rbz = None if rb is None else rb[:2 * h]
        rbh = None if rb is None else rb[2 * h:]

        def step(hp, xp, rz_t=rz_t, rh_t=rh_t, rbz=rbz, rbh=rbh, f_act=f_act, g_act=g_act):
            xz, xr, xh = _split(xp, 3, h)
            rec = xnp.matmul(hp, rz_t)
            if rbz is not None:
                rec = rec + xnp.broadcast_to(rbz, rec.shape)
            hz, hr = _split(rec, 2, h)
            z = f_act(_clip(xz + hz, clip))
            rr = f_act(_clip(xr + hr, clip))
            if before:
                lin = xnp.matmul(hp, rh_t)
                if rbh is not None:
                    lin = lin + xnp.broadcast_to(rbh, lin.shape)
                cand = xh + rr * lin
            else:
                cand = xh + xnp.matmul(rr * hp, rh_t)
                if rbh is not None:
                    cand = cand + xnp.broadcast_to(rbh, cand.shape)
            hh = g_act(_clip(cand, clip))
            hn = (scalar(1, z) - z) * hh + z * hp
            return hn, hn

        hn, y = scan(step, _state(h0, d, x.shape[1], h, x), proj, reverse=reverse[d])
        ys.append(y)
        finals.append([hn])
    return _outputs(node, ys, finals)


@handler("RNN", static=(4,))
def rnn(node: Node, x: Any, w: Any, r: Any, b: Any = None, seq_lens: Any = None,
        h0: Any = None) -> tuple:
    x, dirs, reverse, clip = _prepare(node, x, seq_lens)
    h = node.attr("hidden_size", None) or t(r).shape[-1]
    acts = _activations(node, ("Tanh",), dirs)
    ys, finals = [], []
    for d in range(dirs):
        bias = None if b is None else t(b)[d][:h] + t(b)[d][h:]
        proj = _project(x, t(w)[d], bias)
        r_t = xnp.transpose(t(r)[d])
        act = acts[d][0]

        def step(hp, xp, r_t=r_t, act=act):
            hn = act(_clip(xp + xnp.matmul(hp, r_t), clip))
            return hn, hn

        hn, y = scan(step, _state(h0, d, x.shape[1], h, x), proj, reverse=reverse[d])
        ys.append(y)
        finals.append([hn])
    return _outputs(node, ys, finals)
