"""ONNX reductions (Reduce*, ArgMax/ArgMin) and the softmax family."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.tensor import TensorBase, bind
from xlalite.ir.types import DType
from xlalite.onnx.ops.common import compare, ints, is_float, scalar, t
from xlalite.onnx.registry import Node, axis_of, handler

#: the opset from which each reduction takes `axes` as an input instead of an attribute
_AXES_INPUT = {"ReduceSum": 13}


def _reduce_axes(node: Node, x: TensorBase, axes: Any) -> tuple[int, ...] | None:
    """The reduced axes, sorted; None for "no reduction" (noop_with_empty_axes)."""
    if node.opset < _AXES_INPUT.get(node.op_type, 18):
        given = node.attr("axes", None)
    else:
        given = None if axes is None else node.static(axes, "axes")
    if given is None or len(ints(given)) == 0:
        if node.attr("noop_with_empty_axes", 0):
            return None
        return tuple(range(x.ndim))
    return tuple(sorted({axis_of(node, a, x.ndim) for a in ints(given)}))


def _keep(node: Node, x: TensorBase, r: TensorBase, axes: tuple[int, ...]) -> TensorBase:
    if node.attr("keepdims", 1):
        return xnp.reshape(r, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return r


def _sum(x: TensorBase, axes: tuple[int, ...]) -> TensorBase:
    return bind("xl.reduce_sum", [x], axes=axes)


def _logsumexp(x: TensorBase, axes: tuple[int, ...]) -> TensorBase:
    m = bind("xl.reduce_max", [x], axes=axes)
    m = xnp.where(compare("eq", xnp.abs(m), scalar(math.inf, m)), scalar(0, m), m)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    shifted = x - xnp.broadcast_to(xnp.reshape(m, shape), x.shape)
    return xnp.log(_sum(xnp.exp(shifted), axes)) + m


_REDUCERS = {
    "ReduceSum": _sum,
    "ReduceMax": lambda x, a: bind("xl.reduce_max", [x], axes=a),
    "ReduceMin": lambda x, a: bind("xl.reduce_min", [x], axes=a),
    "ReduceProd": lambda x, a: bind("xl.reduce_prod", [x], axes=a),
    "ReduceMean": lambda x, a: _sum(x, a) / scalar(math.prod(x.shape[i] for i in a), x),
    "ReduceL1": lambda x, a: _sum(xnp.abs(x), a),
    "ReduceL2": lambda x, a: xnp.sqrt(_sum(x * x, a)),
    "ReduceSumSquare": lambda x, a: _sum(x * x, a),
    "ReduceLogSum": lambda x, a: xnp.log(_sum(x, a)),
    "ReduceLogSumExp": _logsumexp,
}


@handler(*_REDUCERS, static=(1,))
def reduction(node: Node, x: Any, axes: Any = None) -> TensorBase:
    x = t(x)
    dims = _reduce_axes(node, x, axes)
    if dims is None:
        return x
    kind = x.type.dtype
    work = xnp.astype(x, DType.I32) if kind is DType.BOOL else x
    if node.op_type == "ReduceL2" and not is_float(work):
        r = xnp.astype(xnp.round(_REDUCERS[node.op_type](xnp.astype(work, DType.F64), dims)), kind)
    elif any(x.shape[i] == 0 for i in dims) and node.op_type in ("ReduceMax", "ReduceMin"):
        fill = -np.inf if node.op_type == "ReduceMax" else np.inf
        if kind is DType.BOOL:
            fill = 0 if node.op_type == "ReduceMax" else 1  # any() and all() of nothing
        elif not is_float(work):
            info = np.iinfo(work.dtype)
            fill = info.min if node.op_type == "ReduceMax" else info.max
        out = tuple(d for i, d in enumerate(x.shape) if i not in dims)
        r = xnp.broadcast_to(np.asarray(fill, work.dtype), out)
    else:
        r = _REDUCERS[node.op_type](work, dims)
    r = xnp.astype(r, kind)
    return _keep(node, x, r, dims)


@handler("ArgMax", "ArgMin")
def argmax(node: Node, x: Any) -> TensorBase:
    x = t(x)
    axis = axis_of(node, node.attr("axis", 0), x.ndim)
    y = -x if node.op_type == "ArgMin" else x
    if x.type.dtype is DType.BOOL:
        y = xnp.astype(x, DType.I32)
        y = -y if node.op_type == "ArgMin" else y
    last = node.attr("select_last_index", 0)
    n = x.shape[axis]
    if last:  # the first maximum of the reversed axis is the last one
        y = bind("xl.gather", [y, t(np.arange(n - 1, -1, -1))], axis=axis, batch_dims=0)
    i = bind("xl.argmax", [y], axis=axis)
    if last:
        i = scalar(n - 1, i) - i
    if node.attr("keepdims", 1):
        i = xnp.reshape(i, tuple(1 if d == axis else s for d, s in enumerate(x.shape)))
    return i


def _softmax_axes(node: Node, x: TensorBase) -> tuple[TensorBase, tuple[int, ...]]:
    """Opset < 13: the input as 2-D [before axis, from axis] over dim 1; later: one axis."""
    if node.opset < 13:
        axis = axis_of(node, node.attr("axis", 1), x.ndim)
        flat = xnp.reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))
        return flat, (1,)
    return x, (axis_of(node, node.attr("axis", -1), x.ndim),)


def _shifted(x: TensorBase, axes: tuple[int, ...]) -> TensorBase:
    m = bind("xl.reduce_max", [x], axes=axes)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return x - xnp.broadcast_to(xnp.reshape(m, shape), x.shape)


@handler("Softmax", "LogSoftmax", "Hardmax")
def softmax(node: Node, x: Any) -> TensorBase:
    x = t(x)
    y, axes = _softmax_axes(node, x)
    shape = tuple(1 if i in axes else d for i, d in enumerate(y.shape))
    if node.op_type == "Hardmax":
        i = xnp.reshape(bind("xl.argmax", [y], axis=axes[0]), shape)
        hot = compare("eq", bind("xl.iota", [], shape=y.shape, dim=axes[0], dtype=DType.I64), i)
        out = xnp.astype(hot, x.dtype)
    else:
        z = _shifted(y, axes)
        total = xnp.broadcast_to(xnp.reshape(_sum(xnp.exp(z), axes), shape), y.shape)
        out = z - xnp.log(total) if node.op_type == "LogSoftmax" else xnp.exp(z) / total
    return xnp.reshape(out, x.shape)
