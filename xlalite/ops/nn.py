"""Neural-network ops: ``xl.conv2d`` (NCHW) and windowed reductions (max/avg pooling)."""

from __future__ import annotations

import math

import numpy as np

from xlalite.ir.attributes import DenseElements, IntAttr, IntListAttr, IntListListAttr
from xlalite.ir.types import FLOATS, NUMERIC, DType, TensorType
from xlalite.ops.reduce import identity
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_dtype, require_len, require_pairs, windowed_dim

_CONV = "xl.conv2d"


def _conv_infer(x: TensorType, w: TensorType, stride, padding, dilation, groups) -> TensorType:
    if x.rank != 4 or w.rank != 4:
        raise ShapeError(f"'{_CONV}' needs input N,C,H,W and weight O,C/groups,KH,KW; got {x}, {w}")
    if x.dtype != w.dtype:
        raise ShapeError(f"'{_CONV}' input {x} and weight {w} differ in element type")
    require_dtype(_CONV, "operands", x, NUMERIC)
    require_len(_CONV, "stride", stride, 2)
    require_len(_CONV, "dilation", dilation, 2)
    require_pairs(_CONV, "padding", padding, 2)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if groups < 1 or c % groups or o % groups or cg * groups != c:
        raise ShapeError(
            f"'{_CONV}' with groups={groups}: input channels {c} and output channels {o} must "
            f"divide by groups and the weight must have {c // max(groups, 1)} input channels, got {cg}"
        )
    oh = windowed_dim(_CONV, h, kh, stride[0], *padding[0], dilation[0])
    ow = windowed_dim(_CONV, wd, kw, stride[1], *padding[1], dilation[1])
    return TensorType((n, o, oh, ow), x.dtype)


def _conv_reference(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups) -> np.ndarray:
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    out_t = _conv_infer(TensorType.of(x), TensorType.of(w), stride, padding, dilation, groups)
    oh, ow = out_t.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), tuple(padding[0]), tuple(padding[1])))
    xg = xp.reshape(n, groups, cg, *xp.shape[2:])
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    out = np.zeros((n, groups, o // groups, oh, ow), dtype=x.dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):  # one matmul-like contraction per kernel tap
        for j in range(kw):
            patch = xg[..., i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
            out += np.einsum("ngchw,goc->ngohw", patch, wg[..., i, j]).astype(x.dtype, copy=False)
    return out.reshape(n, o, oh, ow)


def _flip_spatial(e, w):
    """Reverse the two trailing (kernel) dims with a constant-index gather."""
    for axis in (2, 3):
        n = w.type.shape[axis]
        idx = e.op("xl.constant", value=DenseElements(np.arange(n - 1, -1, -1, dtype=np.int32)))
        w = e.op("xl.gather", w, idx, axis=axis)
    return w


def _vjp_conv2d(e, op, g):
    """y = conv2d(x, w)  =>  dx = conv2d(g dilated by the stride, w flipped and transposed
    per group), cropped to x; dw = conv2d of x and g with batch as the contracted channel,
    stride and dilation swapped, cropped to the kernel"""
    x, w = op.operands
    a = op.attributes
    stride, dilation, padding, groups = a["stride"], a["dilation"], a["padding"], a["groups"]
    n, c, h, wd = x.type.shape
    o, cg, kh, kw = w.type.shape
    oh, ow = g.type.shape[2:]
    og = o // groups
    # dx: full correlation of the stride-dilated cotangent with the flipped kernel
    gd = e.pad(g, (0, 0, 0, 0), (0, 0, 0, 0), (0, 0, stride[0] - 1, stride[1] - 1))
    span = [dilation[i] * (k - 1) + 1 for i, k in enumerate((kh, kw))]
    padded = [h + sum(padding[0]), wd + sum(padding[1])]
    conv_pad = tuple((span[i] - 1, padded[i] - gd.type.shape[2 + i]) for i in range(2))
    wt = e.reshape(w, (groups, og, cg, kh, kw))
    wt = e.reshape(e.transpose(wt, (0, 2, 1, 3, 4)), (c, og, kh, kw))
    full = e.op("xl.conv2d", gd, _flip_spatial(e, wt), stride=(1, 1), padding=conv_pad,
                dilation=dilation, groups=groups)
    dx = e.slice(full, (0, 0, padding[0][0], padding[1][0]),
                 (n, c, padding[0][0] + h, padding[1][0] + wd))
    # dw: per group, channels of x act as batch and the batch as contracted channels
    xp = e.pad(x, (0, 0, padding[0][0], padding[1][0]), (0, 0, padding[0][1], padding[1][1]))
    parts = []
    for gi in range(groups):
        xs = e.slice(xp, (0, gi * cg, 0, 0), (n, (gi + 1) * cg) + tuple(padded))
        gs = e.slice(g, (0, gi * og, 0, 0), (n, (gi + 1) * og, oh, ow))
        dwg = e.op("xl.conv2d", e.transpose(xs, (1, 0, 2, 3)), e.transpose(gs, (1, 0, 2, 3)),
                   stride=dilation, dilation=stride, padding=((0, 0), (0, 0)), groups=1)
        dwg = e.slice(dwg, (0, 0, 0, 0), (cg, og, kh, kw))
        parts.append(e.transpose(dwg, (1, 0, 2, 3)))
    dw = parts[0] if groups == 1 else e.op("xl.concatenate", *parts, axis=0)
    return [dx, dw]


CONV2D = register(OpDef(
    _CONV,
    "2-D convolution (cross-correlation) of input N,C,H,W with weight O,C/groups,KH,KW.",
    ("x", "w"), _conv_infer, _conv_reference, FusionKind.MATMUL,
    attrs=(AttrSpec("stride", IntListAttr(2), default=(1, 1)),
           AttrSpec("padding", IntListListAttr(2), default=((0, 0), (0, 0)),
                    doc="[[top, bottom], [left, right]]"),
           AttrSpec("dilation", IntListAttr(2), default=(1, 1)),
           AttrSpec("groups", IntAttr(), default=1)),
    example=lambda: ([TensorType((2, 4, 5, 5), DType.F32), TensorType((6, 2, 3, 3), DType.F32)],
                     {"stride": (2, 1), "padding": ((1, 1), (0, 1)), "dilation": (1, 1), "groups": 2}),
    vjp=_vjp_conv2d,
))


def window_infer(name: str, x: TensorType, window, strides, padding) -> TensorType:
    """Result type of a windowed reduction: one output per window position in each dim."""
    for attr, v in (("window", window), ("strides", strides)):
        require_len(name, attr, v, x.rank)
    require_pairs(name, "padding", padding, x.rank)
    shape = tuple(windowed_dim(name, n, k, s, lo, hi)
                  for n, k, s, (lo, hi) in zip(x.shape, window, strides, padding))
    return TensorType(shape, x.dtype)


def _window_reference(kind: str, x: np.ndarray, window, strides, padding) -> np.ndarray:
    shape = window_infer("xl.reduce_window", TensorType.of(x), window, strides, padding).shape
    fill = identity("max", x.dtype) if kind == "max" else x.dtype.type(0)
    xp = np.pad(x, [tuple(p) for p in padding], constant_values=fill)
    out = np.full(shape, fill, dtype=x.dtype)
    for offset in np.ndindex(*window):
        view = xp[tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, shape))]
        out = np.maximum(out, view) if kind == "max" else out + view
    if kind == "avg":  # padding counts toward the divisor (count_include_pad)
        out = out / x.dtype.type(math.prod(window))
    return out.astype(x.dtype, copy=False)


def _window_views(e, x_padded, window, strides, out_shape):
    """For each window offset: its start, and the strided slice of the padded input it reads."""
    for offset in np.ndindex(*window):
        limit = [o + s * (n - 1) + 1 for o, s, n in zip(offset, strides, out_shape)]
        yield offset, e.slice(x_padded, offset, limit, strides)


def _scatter_back(e, contribution, offset, strides, padded_shape):
    """Place a window-offset contribution at the input positions it came from (pad, no loop)."""
    high = [p - (o + s * (n - 1) + 1) for p, o, s, n in
            zip(padded_shape, offset, strides, contribution.type.shape)]
    return e.pad(contribution, offset, high, [s - 1 for s in strides])


def _vjp_window(kind: str):
    def rule(e, op, g):
        """y = pool(x)  =>  max: g goes to the first maximum of each window; avg: g / |window|
        to every position of the window (both accumulated per window offset)"""
        x = op.operands[0]
        a = op.attributes
        window, strides = a["window"], a["strides"]
        lows, highs = [p[0] for p in a["padding"]], [p[1] for p in a["padding"]]
        padded_shape = [n + lo + hi for n, lo, hi in zip(x.type.shape, lows, highs)]
        if kind == "avg":
            share = e.scale(g, 1.0 / math.prod(window))
            parts = [(offset, share) for offset in np.ndindex(*window)]
        else:
            xp = e.pad(x, lows, highs, value=-np.inf)
            taken = e.zeros(g)  # 1 once an earlier offset has claimed the window's maximum
            parts = []
            for offset, view in _window_views(e, xp, window, strides, g.type.shape):
                first = e.where_zero(e.compare(view, op.result, "eq"), e.sub(e.const(g, 1), taken))
                taken = e.add(taken, first)
                parts.append((offset, e.mul(g, first)))
        total = None
        for offset, part in parts:
            placed = _scatter_back(e, part, offset, strides, padded_shape)
            total = placed if total is None else e.add(total, placed)
        return [e.slice(total, lows, [lo + n for lo, n in zip(lows, x.type.shape)])]

    return rule


def _window_op(kind: str, dtypes: frozenset[DType], doc: str) -> OpDef:
    name = f"xl.reduce_window_{kind}"

    def infer(x: TensorType, window, strides, padding) -> TensorType:
        require_dtype(name, "operand", x, dtypes)
        return window_infer(name, x, window, strides, padding)

    def reference(x: np.ndarray, window, strides, padding) -> np.ndarray:
        return _window_reference(kind, x, window, strides, padding)

    return register(OpDef(
        name, doc, ("x",), infer, reference, FusionKind.REDUCTION,
        attrs=(AttrSpec("window", IntListAttr(), doc="window extent per dim"),
               AttrSpec("strides", IntListAttr(), doc="step per dim"),
               AttrSpec("padding", IntListListAttr(), doc="[low, high] per dim")),
        example=lambda: ([TensorType((1, 2, 4, 5), DType.F32)],
                         {"window": (1, 1, 2, 2), "strides": (1, 1, 2, 2),
                          "padding": ((0, 0), (0, 0), (0, 0), (0, 1))}),
        vjp=_vjp_window(kind),
    ))


REDUCE_WINDOW_MAX = _window_op("max", NUMERIC, "Max over sliding windows (max pooling); pads with -inf.")
REDUCE_WINDOW_AVG = _window_op(
    "avg", FLOATS, "Mean over sliding windows (average pooling); zero padding counts in the mean.")
