"""ONNX convolutions and pooling (1-D and 2-D convolutions, pooling of any rank) and the
normalizations: BatchNormalization (inference), LayerNormalization, InstanceNormalization,
LRN."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.tensor import TensorBase, bind
from xlalite.onnx.ops.common import ints, scalar, t
from xlalite.onnx.registry import Node, handler

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _pads(node: Node, sizes: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
          dilations: tuple[int, ...]) -> list[tuple[int, int]]:
    """(low, high) padding per spatial dim from `pads` or `auto_pad`."""
    n = len(sizes)
    auto = node.choice("auto_pad", "NOTSET", _AUTO_PAD)
    if auto == "VALID":
        return [(0, 0)] * n
    if auto == "NOTSET":
        p = ints(node.attr("pads", (0,) * 2 * n))
        if len(p) != 2 * n:
            raise node.error(f"pads {list(p)} need {2 * n} values")
        return [(p[i], p[i + n]) for i in range(n)]
    out = []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        out.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
    return out


def _spatial_attrs(node: Node, rank: int, kernel: tuple[int, ...] | None = None):
    k = ints(node.attr("kernel_shape")) if kernel is None else kernel
    s = ints(node.attr("strides", (1,) * rank))
    d = ints(node.attr("dilations", (1,) * rank))
    if not len(k) == len(s) == len(d) == rank:
        raise node.error(f"kernel_shape, strides and dilations must have {rank} values")
    return k, s, d


def _as_2d(node: Node, x: TensorBase) -> tuple[TensorBase, bool]:
    if x.ndim == 3:
        return xnp.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2])), True
    if x.ndim != 4:
        raise node.unsupported(f"{x.ndim - 2}-D convolutions (xlalite has 1-D and 2-D)")
    return x, False


def _bias(y: TensorBase, b: Any) -> TensorBase:
    if b is None:
        return y
    b = xnp.reshape(t(b), (1, -1) + (1,) * (y.ndim - 2))
    return y + xnp.broadcast_to(b, y.shape)


@handler("Conv")
def conv(node: Node, x: Any, w: Any, b: Any = None) -> TensorBase:
    x, w = t(x), t(w)
    rank = x.ndim - 2
    k, s, d = _spatial_attrs(node, rank, ints(node.attr("kernel_shape", w.shape[2:])))
    pads = _pads(node, x.shape[2:], k, s, d)
    x2, one_d = _as_2d(node, x)
    w2 = xnp.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2])) if one_d else w
    if one_d:
        s, d, pads = (1, *s), (1, *d), [(0, 0), *pads]
    y = bind("xl.conv2d", [x2, w2], stride=tuple(s), padding=tuple(pads), dilation=tuple(d),
             groups=node.attr("group", 1))
    if one_d:
        y = xnp.reshape(y, (y.shape[0], y.shape[1], y.shape[3]))
    return _bias(y, b)


def _flip(x: TensorBase, axes: tuple[int, ...]) -> TensorBase:
    for a in axes:
        x = bind("xl.gather", [x, t(np.arange(x.shape[a] - 1, -1, -1))], axis=a, batch_dims=0)
    return x


@handler("ConvTranspose")
def conv_transpose(node: Node, x: Any, w: Any, b: Any = None) -> TensorBase:
    x, w = t(x), t(w)
    rank = x.ndim - 2
    k, s, d = _spatial_attrs(node, rank, ints(node.attr("kernel_shape", w.shape[2:])))
    extra = ints(node.attr("output_padding", (0,) * rank))
    shape = node.attr("output_shape", None)
    auto = node.choice("auto_pad", "NOTSET", _AUTO_PAD)
    if shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = ints(shape)[-rank:] if shape is not None else tuple(n * st for n, st in
                                                                      zip(x.shape[2:], s))
        pads = []
        for n, kk, st, dd, op, want in zip(x.shape[2:], k, s, d, extra, target):
            total = st * (n - 1) + op + (kk - 1) * dd + 1 - want
            half = total // 2
            pads.append((half, total - half) if auto == "SAME_UPPER" else (total - half, half))
    else:
        pads = _pads(node, x.shape[2:], k, s, d) if auto != "VALID" else [(0, 0)] * rank
    g = node.attr("group", 1)
    x2, one_d = _as_2d(node, x)
    if one_d:
        w = xnp.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))
        k, s, d, extra, pads = (1, *k), (1, *s), (1, *d), (0, *extra), [(0, 0), *pads]
    c, og = w.shape[0], w.shape[1]
    # the transposed convolution is a convolution of the stride-dilated input with the kernel
    # flipped and its in/out channels swapped per group
    wg = xnp.reshape(w, (g, c // g, og, *w.shape[2:]))
    wg = xnp.transpose(wg, (0, 2, 1, 3, 4))
    w2 = _flip(xnp.reshape(wg, (g * og, c // g, *w.shape[2:])), (2, 3))
    lo, hi, interior = [0, 0], [0, 0], [0, 0]
    crop: list[tuple[int, int]] = []
    for kk, st, dd, (pl, ph), op in zip(k, s, d, pads, extra):
        span = (kk - 1) * dd
        lo.append(span - pl)
        hi.append(span - ph + op)
        interior.append(st - 1)
        crop.append((max(-(span - pl), 0), max(-(span - ph + op), 0)))
    value = scalar(0, x2)
    y = bind("xl.pad", [x2, value], low=tuple(max(v, 0) for v in lo),
             high=tuple(max(v, 0) for v in hi), interior=tuple(interior))
    if any(a or b for a, b in crop):
        limit = [*y.shape[:2]] + [n - b for n, (_, b) in zip(y.shape[2:], crop)]
        y = bind("xl.slice", [y], start=(0, 0, *(a for a, _ in crop)), limit=tuple(limit),
                 stride=(1,) * 4)
    y = bind("xl.conv2d", [y, w2], stride=(1, 1), padding=((0, 0), (0, 0)), dilation=tuple(d),
             groups=g)
    if one_d:
        y = xnp.reshape(y, (y.shape[0], y.shape[1], y.shape[3]))
    return _bias(y, b)


# --- pooling ----------------------------------------------------------------------------------
def _pool_geometry(node: Node, x: TensorBase):
    rank = x.ndim - 2
    k, s, d = _spatial_attrs(node, rank)
    pads = _pads(node, x.shape[2:], k, s, d)
    if node.attr("ceil_mode", 0):
        grown = []
        for n, kk, st, dd, (lo, hi) in zip(x.shape[2:], k, s, d, pads):
            span = (kk - 1) * dd + 1
            out = math.ceil((n + lo + hi - span) / st) + 1
            if (out - 1) * st >= n + lo:  # a last window starting in the padding is dropped
                out -= 1
            grown.append((lo, hi + max((out - 1) * st + span - (n + lo + hi), 0)))
        return k, s, d, pads, grown
    return k, s, d, pads, pads


def _window(kind: str, x: TensorBase, k, s, d, pads) -> TensorBase:
    """Windowed max (padding -inf) or mean (padding counted) over the spatial dims."""
    full_pads = ((0, 0), (0, 0), *(tuple(p) for p in pads))
    if all(v == 1 for v in d):
        return bind(f"xl.reduce_window_{kind}", [x], window=(1, 1, *k), strides=(1, 1, *s),
                    padding=full_pads)
    # dilated windows: one strided slice of the padded input per window tap
    fill = -np.inf if kind == "max" else 0
    if not x.type.dtype.is_float:
        fill = np.iinfo(x.dtype).min if kind == "max" else 0
    xp = bind("xl.pad", [x, scalar(fill, x)], low=tuple(p[0] for p in full_pads),
              high=tuple(p[1] for p in full_pads), interior=(0,) * x.ndim)
    out_shape = [(n - ((kk - 1) * dd + 1)) // st + 1 for n, kk, st, dd in
                 zip(xp.shape[2:], k, s, d)]
    acc = None
    for tap in np.ndindex(*k):
        start = [o * dd for o, dd in zip(tap, d)]
        limit = [a + st * (m - 1) + 1 for a, st, m in zip(start, s, out_shape)]
        view = bind("xl.slice", [xp], start=(0, 0, *start), limit=(*xp.shape[:2], *limit),
                    stride=(1, 1, *s))
        acc = view if acc is None else (xnp.maximum(acc, view) if kind == "max" else acc + view)
    assert acc is not None
    return acc if kind == "max" else acc / scalar(math.prod(k), acc)


@handler("MaxPool")
def max_pool(node: Node, x: Any) -> TensorBase:
    x = t(x)
    if node.output_used(1):
        raise node.unsupported("the Indices output of MaxPool")
    k, s, d, _, pads = _pool_geometry(node, x)
    return _window("max", x, k, s, d, pads)


@handler("AveragePool")
def average_pool(node: Node, x: Any) -> TensorBase:
    x = t(x)
    k, s, d, explicit, pads = _pool_geometry(node, x)
    mean = _window("avg", x, k, s, d, pads)
    # the divisor: window positions inside the input, or inside the explicit padding too
    # (count_include_pad); the ceil_mode overhang never counts
    ones = np.ones(x.shape[2:], np.float64)
    if node.attr("count_include_pad", 0):
        ones = np.pad(ones, explicit, constant_values=1)
        pads = [(0, hi - e_hi) for (_, hi), (_, e_hi) in zip(pads, explicit)]
    counted = _count(ones, k, s, d, pads)
    total = math.prod(k)
    if np.all(counted == total):
        return mean
    factor = (total / counted).astype(x.dtype)
    return mean * xnp.broadcast_to(factor, mean.shape)


def _count(ones: np.ndarray, k, s, d, pads) -> np.ndarray:
    padded = np.pad(ones, pads)
    out = [(n - ((kk - 1) * dd + 1)) // st + 1 for n, kk, st, dd in zip(padded.shape, k, s, d)]
    acc = np.zeros(out)
    for tap in np.ndindex(*k):
        acc += padded[tuple(slice(o * dd, o * dd + st * (m - 1) + 1, st)
                            for o, dd, st, m in zip(tap, d, s, out))]
    return acc


@handler("GlobalAveragePool", "GlobalMaxPool")
def global_pool(node: Node, x: Any) -> TensorBase:
    x = t(x)
    axes = tuple(range(2, x.ndim))
    if node.op_type == "GlobalMaxPool":
        return xnp.max(x, axes, keepdims=True)
    return xnp.reshape(bind("xl.reduce_sum", [x], axes=axes) /
                       scalar(math.prod(x.shape[2:]), x), x.shape[:2] + (1,) * len(axes))


# --- normalization ----------------------------------------------------------------------------
def _per_channel(v: Any, x: TensorBase) -> TensorBase:
    return xnp.broadcast_to(xnp.reshape(t(v), (1, -1) + (1,) * (x.ndim - 2)), x.shape)


@handler("BatchNormalization")
def batch_norm(node: Node, x: Any, scale: Any, bias: Any, mean: Any, var: Any) -> TensorBase:
    x = t(x)
    if node.attr("training_mode", 0) or any(node.output_used(i) for i in range(1, 5)):
        raise node.unsupported("training-mode BatchNormalization (running statistics outputs)")
    eps = node.attr("epsilon", 1e-5)
    if all(isinstance(v, np.ndarray) for v in (scale, bias, mean, var)):
        # folded at import: y = x * a + b
        a = (scale / np.sqrt(var + np.asarray(eps, var.dtype))).astype(x.dtype)
        return x * _per_channel(a, x) + _per_channel((bias - mean * a).astype(x.dtype), x)
    inv = xnp.rsqrt(_per_channel(var, x) + scalar(eps, x))
    return (x - _per_channel(mean, x)) * inv * _per_channel(scale, x) + _per_channel(bias, x)


def _normalize(x: TensorBase, axes: tuple[int, ...], eps: float):
    count = scalar(math.prod(x.shape[a] for a in axes), x)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    mean = xnp.reshape(bind("xl.reduce_sum", [x], axes=axes) / count, kept)
    centred = x - xnp.broadcast_to(mean, x.shape)
    var = xnp.reshape(bind("xl.reduce_sum", [centred * centred], axes=axes) / count, kept)
    inv = xnp.rsqrt(var + scalar(eps, var))
    return centred * xnp.broadcast_to(inv, x.shape), mean, inv


@handler("LayerNormalization")
def layer_norm(node: Node, x: Any, scale: Any, bias: Any = None) -> Any:
    x = t(x)
    axis = node.attr("axis", -1) % x.ndim
    y, mean, inv = _normalize(x, tuple(range(axis, x.ndim)), node.attr("epsilon", 1e-5))
    y = y * xnp.broadcast_to(t(scale), x.shape)
    if bias is not None:
        y = y + xnp.broadcast_to(t(bias), x.shape)
    return y, mean, inv


@handler("InstanceNormalization")
def instance_norm(node: Node, x: Any, scale: Any, bias: Any) -> TensorBase:
    x = t(x)
    y, _, _ = _normalize(x, tuple(range(2, x.ndim)), node.attr("epsilon", 1e-5))
    return y * _per_channel(scale, x) + _per_channel(bias, x)


@handler("LRN")
def lrn(node: Node, x: Any) -> TensorBase:
    x = t(x)
    size = node.attr("size")
    alpha, beta, bias = node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    window = (1, size) + (1,) * (x.ndim - 2)
    mean_sq = bind("xl.reduce_window_avg", [x * x], window=window, strides=(1,) * x.ndim,
                   padding=((0, 0), (lo, hi)) + ((0, 0),) * (x.ndim - 2))
    return x / xnp.power(scalar(bias, x) + scalar(alpha, x) * mean_sq, scalar(beta, x))
