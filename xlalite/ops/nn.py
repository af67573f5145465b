"""Windowed reductions (max/avg pooling); convolutions live in ``conv.py``."""

from __future__ import annotations

import math

import numpy as np

from xlalite.ir.attributes import IntListAttr, IntListListAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import FLOATS, NUMERIC, DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.reduce import identity
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, Trait, register
from xlalite.ops.rules import require_dtype, require_len, require_pairs, windowed_dim


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
    fill: np.generic = identity("max", x.dtype) if kind == "max" else x.dtype.type(0)
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


def _lows_highs(padding):
    return [p[0] for p in padding], [p[1] for p in padding]


def _vjp_avg(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = avg_pool(x)  =>  dx: g / |window| to every position of each window, summed"""
    x = op.operands[0]
    a = op.attributes
    window, strides = a["window"], a["strides"]
    lows, highs = _lows_highs(a["padding"])
    padded_shape = [n + lo + hi for n, lo, hi in zip(x.type.shape, lows, highs)]
    share = e.scale(g, 1.0 / math.prod(window))
    total: Value | None = None
    for offset in np.ndindex(*window):
        placed = _scatter_back(e, share, offset, strides, padded_shape)
        total = placed if total is None else e.add(total, placed)
    assert total is not None  # a window holds at least one position
    return [e.slice(total, lows, [lo + n for lo, n in zip(lows, x.type.shape)])]


def _vjp_max(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = max_pool(x)  =>  dx = reduce_window_max_grad(x, g): g to each window's first maximum"""
    return [e.op("xl.reduce_window_max_grad", op.operands[0], g, **op.attributes)]


def _window_op(kind: str, dtypes: frozenset[DType], doc: str) -> OpDef:
    name = f"xl.reduce_window_{kind}"

    def infer(x: TensorType, window, strides, padding) -> TensorType:
        require_dtype(name, "operand", x, dtypes)
        return window_infer(name, x, window, strides, padding)

    def reference(x: np.ndarray, window, strides, padding) -> np.ndarray:
        return _window_reference(kind, x, window, strides, padding)

    return register(OpDef(
        name, doc, ("x",), infer, reference, FusionKind.REDUCTION, traits=frozenset({Trait.WINDOW}),
        attrs=(AttrSpec("window", IntListAttr(), doc="window extent per dim"),
               AttrSpec("strides", IntListAttr(), doc="step per dim"),
               AttrSpec("padding", IntListListAttr(), doc="[low, high] per dim")),
        example=lambda: ([TensorType((1, 2, 4, 5), DType.F32)],
                         {"window": (1, 1, 2, 2), "strides": (1, 1, 2, 2),
                          "padding": ((0, 0), (0, 0), (0, 0), (0, 1))}),
        vjp=_vjp_max if kind == "max" else _vjp_avg,
    ))


REDUCE_WINDOW_MAX = _window_op("max", NUMERIC, "Max over sliding windows (max pooling); pads with -inf.")
REDUCE_WINDOW_AVG = _window_op(
    "avg", FLOATS, "Mean over sliding windows (average pooling); zero padding counts in the mean.")


# ------------------------------------------------------------------------ max pooling's gradient
_MAX_GRAD = "xl.reduce_window_max_grad"
_WINDOW_ATTRS = REDUCE_WINDOW_MAX.attrs


def _max_grad_infer(x: TensorType, g: TensorType, window, strides, padding) -> TensorType:
    require_dtype(_MAX_GRAD, "operands", x, FLOATS)
    y = window_infer(_MAX_GRAD, x, window, strides, padding)
    if g != y:
        raise ShapeError(f"'{_MAX_GRAD}' gradient must have the pooled type {y}, got {g}")
    return x


def _window_slices(window, strides, out_shape):
    for offset in np.ndindex(*window):
        yield tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, out_shape))


def _max_grad_reference(x: np.ndarray, g: np.ndarray, window, strides, padding) -> np.ndarray:
    pads = [tuple(p) for p in padding]
    xp = np.pad(x, pads, constant_values=-np.inf)
    inside = np.pad(np.ones(x.shape, bool), pads, constant_values=False)
    y = _window_reference("max", x, window, strides, padding)
    dxp = np.zeros(xp.shape, x.dtype)
    taken = np.zeros(g.shape, bool)
    for sl in _window_slices(window, strides, g.shape):  # offsets in row-major order
        v = xp[sl]
        hit = inside[sl] & ~taken & ((v == y) | (np.isnan(v) & np.isnan(y)))
        taken |= hit
        dxp[sl] += np.where(hit, g, 0)
    return dxp[tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, x.shape))]


def _vjp_max_grad(e: Emitter, op: Op, u: Value) -> list[Value | None]:
    """dx = max_grad(x, g)  =>  dg = u read back at each window's first maximum; x only picks
    the positions (piecewise constant), so it gets no gradient"""
    x, g = op.operands
    a = op.attributes
    lows, highs = _lows_highs(a["padding"])
    y = e.op("xl.reduce_window_max", x, **a)
    xp, up = e.pad(x, lows, highs, value=-np.inf), e.pad(u, lows, highs)
    taken = e.zeros(g)  # 1 once an earlier offset has claimed the window's maximum
    total = None
    views = zip(_window_views(e, xp, a["window"], a["strides"], g.type.shape),
                _window_views(e, up, a["window"], a["strides"], g.type.shape))
    for (_, xv), (_, uv) in views:
        first = e.where_zero(e.compare(xv, y, "eq"), e.sub(e.const(g, 1), taken))
        taken = e.add(taken, first)
        part = e.mul(uv, first)
        total = part if total is None else e.add(total, part)
    return [None, total]


REDUCE_WINDOW_MAX_GRAD = register(OpDef(
    _MAX_GRAD,
    "The gradient of max pooling: each element of g (shaped like the pooled result) is added "
    "at the first in-bounds position of its window that holds the window's maximum.",
    ("x", "g"), _max_grad_infer, _max_grad_reference, FusionKind.OPAQUE, attrs=_WINDOW_ATTRS,
    traits=frozenset({Trait.WINDOW}),
    example=lambda: ([TensorType((1, 2, 4, 5), DType.F32), TensorType((1, 2, 3, 3), DType.F32)],
                     {"window": (1, 1, 2, 2), "strides": (1, 1, 1, 2),
                      "padding": ((0, 0), (0, 0), (0, 0), (0, 1))}),
    vjp=_vjp_max_grad,
))
