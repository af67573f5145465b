"""ONNX ops that move data or make it: Reshape, Flatten, Transpose, (Un)Squeeze, Concat, Split,
Slice, Gather(Elements), Expand, Tile, Pad, Cast, Constant(OfShape), Shape, Size, Range.

Every shape-deciding input (a Reshape's shape, Slice's starts...) must be known at import time
(``node.static``); when it is computed by a subgraph from shapes, that subgraph has folded."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.tensor import TensorBase, bind
from xlalite.ir.types import DType
from xlalite.onnx.ops.common import compare, ints, scalar, select, t, unsqueeze
from xlalite.onnx.registry import Node, axis_of, handler
from xlalite.onnx.tensors import numpy_dtype


def _axes(node: Node, axes: Any, rank: int, what: str = "axes") -> list[int]:
    out = [axis_of(node, a, rank) for a in ints(axes)]
    if len(set(out)) != len(out):
        raise node.error(f"repeated axis in {what} {list(ints(axes))}")
    return out


def _axes_input(node: Node, given: Any, since: int) -> Any:
    """`axes` from the attribute before opset `since`, from the input from then on."""
    if node.opset < since:
        return node.attr("axes", None)
    return None if given is None else node.static(given, "axes")


@handler("Reshape", static=(1,))
def reshape(node: Node, x: Any, shape: Any = None) -> TensorBase:
    x = t(x)
    dims = list(ints(node.attr("shape") if node.opset < 5 else node.static(shape, "shape")))
    if not node.attr("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if dims.count(-1) > 1:
        raise node.error(f"shape {dims} has more than one -1")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or x.size % known:
            raise node.error(f"cannot reshape {list(x.shape)} to {dims}")
        dims = [x.size // known if d == -1 else d for d in dims]
    if math.prod(dims) != x.size:
        raise node.error(f"cannot reshape {list(x.shape)} ({x.size} elements) to {dims}")
    return xnp.reshape(x, tuple(dims))


@handler("Flatten")
def flatten(node: Node, x: Any) -> TensorBase:
    x = t(x)
    axis = node.attr("axis", 1)
    if not -x.ndim <= axis <= x.ndim:
        raise node.error(f"axis {axis} is out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    return xnp.reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


@handler("Transpose")
def transpose(node: Node, x: Any) -> TensorBase:
    x = t(x)
    perm = node.attr("perm", None)
    return xnp.transpose(x, None if perm is None else [axis_of(node, p, x.ndim) for p in perm])


@handler("Squeeze", static=(1,))
def squeeze(node: Node, x: Any, axes: Any = None) -> TensorBase:
    x = t(x)
    given = _axes_input(node, axes, 13)
    drop = [i for i, d in enumerate(x.shape) if d == 1] if given is None else \
        _axes(node, given, x.ndim)
    for a in drop:
        if x.shape[a] != 1:
            raise node.error(f"cannot squeeze axis {a} of size {x.shape[a]}")
    return xnp.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in drop))


@handler("Unsqueeze", static=(1,))
def unsqueeze_(node: Node, x: Any, axes: Any = None) -> TensorBase:
    x = t(x)
    given = _axes_input(node, axes, 13)
    n = len(ints(given))
    return unsqueeze(x, _axes(node, given, x.ndim + n))


@handler("Concat")
def concat(node: Node, *xs: Any) -> TensorBase:
    ts = [t(x) for x in xs]
    axis = axis_of(node, node.attr("axis"), ts[0].ndim)
    ts = [x for x in ts if x.shape[axis] != 0] or ts[:1]
    return ts[0] if len(ts) == 1 else xnp.concatenate(ts, axis)


def _slice(x: TensorBase, axis: int, start: int, stop: int, step: int = 1) -> TensorBase:
    start_ = [0] * x.ndim
    limit = list(x.shape)
    stride = [1] * x.ndim
    start_[axis], limit[axis], stride[axis] = start, max(stop, start), step
    if (start_, limit, stride) == ([0] * x.ndim, list(x.shape), [1] * x.ndim):
        return x
    return bind("xl.slice", [x], start=tuple(start_), limit=tuple(limit), stride=tuple(stride))


def _take(x: TensorBase, axis: int, index: np.ndarray) -> TensorBase:
    """x at constant, in-range positions `index` along `axis` (any order, repeats allowed)."""
    index = np.asarray(index, np.int64)
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return _slice(x, axis, int(index[0]), int(index[0]) + index.size)
    if index.size == 0:
        return _slice(x, axis, 0, 0)
    return bind("xl.gather", [x, t(index)], axis=axis, batch_dims=0)


@handler("Split", static=(1,))
def split(node: Node, x: Any, sizes: Any = None) -> tuple[TensorBase, ...]:
    x = t(x)
    axis = axis_of(node, node.attr("axis", 0), x.ndim)
    n = x.shape[axis]
    given = node.attr("split", None) if node.opset < 13 else \
        (None if sizes is None else node.static(sizes, "split"))
    if given is not None:
        parts = list(ints(given))
    elif node.opset >= 18 and node.attr("num_outputs", None) is not None:
        k = node.attr("num_outputs")
        chunk = -(-n // k)
        parts = [chunk] * (n // chunk) + ([n % chunk] if n % chunk else [])
    else:
        k = node.n_outputs
        if n % k:
            raise node.error(f"axis of size {n} does not split into {k} equal parts")
        parts = [n // k] * k
    if sum(parts) != n:
        raise node.error(f"split sizes {parts} do not add up to the axis size {n}")
    offsets = np.cumsum([0, *parts])
    return tuple(_slice(x, axis, int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:]))


@handler("Slice", static=(1, 2, 3, 4))
def slice_(node: Node, x: Any, starts: Any = None, ends: Any = None, axes: Any = None,
           steps: Any = None) -> TensorBase:
    x = t(x)
    if node.opset < 10:
        s, e = ints(node.attr("starts")), ints(node.attr("ends"))
        a = node.attr("axes", None)
        st: tuple[int, ...] = (1,) * len(s)
    else:
        s, e = ints(node.static(starts, "starts")), ints(node.static(ends, "ends"))
        a = None if axes is None else node.static(axes, "axes")
        st = (1,) * len(s) if steps is None else ints(node.static(steps, "steps"))
    dims = list(range(len(s))) if a is None else _axes(node, a, x.ndim)
    if not len(s) == len(e) == len(dims) == len(st):
        raise node.error("starts, ends, axes and steps differ in length")
    for axis, b, f, step in zip(dims, s, e, st):
        if step == 0:
            raise node.error("a slice step of 0")
        n = x.shape[axis]
        lo, hi, step = slice(b, f, step).indices(n)
        if step > 0:
            x = _slice(x, axis, lo, hi, step)
        else:
            x = _take(x, axis, np.arange(lo, hi, step))
    return x


def _normalize_indices(idx: Any, n: int) -> Any:
    if isinstance(idx, np.ndarray):
        return np.where(idx < 0, idx + n, idx)
    idx = t(idx)
    return select(compare("lt", idx, scalar(0, idx)), idx + scalar(n, idx), idx)


@handler("Gather")
def gather(node: Node, x: Any, indices: Any) -> TensorBase:
    x = t(x)
    axis = axis_of(node, node.attr("axis", 0), x.ndim)
    idx = _normalize_indices(indices, x.shape[axis])
    return bind("xl.gather", [x, t(idx)], axis=axis, batch_dims=0)


@handler("GatherElements")
def gather_elements(node: Node, x: Any, indices: Any) -> TensorBase:
    x = t(x)
    axis = axis_of(node, node.attr("axis", 0), x.ndim)
    idx = t(_normalize_indices(indices, x.shape[axis]))
    idx = xnp.astype(idx, np.int64)
    strides = [math.prod(x.shape[d + 1:]) for d in range(x.ndim)]
    flat = scalar(0, idx)
    for d in range(x.ndim):
        coord = idx if d == axis else bind("xl.iota", [], shape=idx.shape, dim=d, dtype=DType.I64)
        flat = flat + (coord * scalar(strides[d], idx) if strides[d] != 1 else coord)
    return bind("xl.gather", [xnp.reshape(x, (-1,)), flat], axis=0, batch_dims=0)


@handler("Expand", static=(1,))
def expand(node: Node, x: Any, shape: Any) -> TensorBase:
    x = t(x)
    target = np.broadcast_shapes(x.shape, ints(node.static(shape, "shape")))
    return x if target == x.shape else xnp.broadcast_to(x, target)


@handler("Tile", static=(1,))
def tile(node: Node, x: Any, repeats: Any) -> TensorBase:
    x = t(x)
    reps = ints(node.static(repeats, "repeats"))
    if len(reps) != x.ndim:
        raise node.error(f"repeats {list(reps)} do not match rank {x.ndim}")
    if all(r == 1 for r in reps):
        return x
    inter = tuple(v for d in x.shape for v in (1, d))
    spread = tuple(v for r, d in zip(reps, x.shape) for v in (r, d))
    y = xnp.broadcast_to(xnp.reshape(x, inter), spread)
    return xnp.reshape(y, tuple(r * d for r, d in zip(reps, x.shape)))


@handler("Pad", static=(1, 3))
def pad(node: Node, x: Any, pads: Any = None, value: Any = None, axes: Any = None) -> TensorBase:
    x = t(x)
    mode = node.choice("mode", "constant", ("constant", "reflect", "edge", "wrap"))
    if node.opset < 11:
        widths, fill = ints(node.attr("pads")), node.attr("value", 0.0)
    else:
        widths = ints(node.static(pads, "pads"))
        fill = 0 if value is None else value if isinstance(value, TensorBase) else \
            np.asarray(value).reshape(-1)[0]
    dims = list(range(x.ndim)) if axes is None else _axes(node, node.static(axes, "axes"), x.ndim)
    if len(widths) != 2 * len(dims):
        raise node.error(f"pads {list(widths)} need 2 values per padded axis ({len(dims)})")
    lo, hi = [0] * x.ndim, [0] * x.ndim
    for i, d in enumerate(dims):
        lo[d], hi[d] = widths[i], widths[i + len(dims)]
    for d in range(x.ndim):  # negative pads crop
        if lo[d] < 0 or hi[d] < 0:
            x = _slice(x, d, max(-lo[d], 0), x.shape[d] - max(-hi[d], 0))
            lo[d], hi[d] = max(lo[d], 0), max(hi[d], 0)
    if mode == "constant":
        fill_t = xnp.reshape(xnp.astype(t(fill), x.dtype), ()) if isinstance(fill, TensorBase) \
            else scalar(fill, x)
        if not any(lo) and not any(hi):
            return x
        return bind("xl.pad", [x, fill_t], low=tuple(lo), high=tuple(hi), interior=(0,) * x.ndim)
    for d in range(x.ndim):
        if lo[d] or hi[d]:
            n = x.shape[d]
            if mode == "reflect" and (lo[d] >= n or hi[d] >= n):
                raise node.error(f"reflect padding of {lo[d]}, {hi[d]} needs an axis longer "
                                 f"than {n}")
            x = _take(x, d, np.pad(np.arange(n), (lo[d], hi[d]), mode=mode))  # type: ignore[call-overload]
    return x


@handler("Cast")
def cast(node: Node, x: Any) -> TensorBase:
    to = node.attr("to")
    return xnp.astype(t(x), numpy_dtype(to, f"{node.op_type}'s target type"))


@handler("CastLike")
def cast_like(node: Node, x: Any, like: Any) -> TensorBase:
    return xnp.astype(t(x), t(like).dtype)


@handler("Constant")
def constant(node: Node) -> np.ndarray:
    for name, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)):
        v = node.attr(name, None)
        if v is not None:
            return np.asarray(v, dtype)
    v = node.attr("value", None)
    if v is None:
        raise node.unsupported("only tensor, float(s) and int(s) constants are supported")
    return v


@handler("ConstantOfShape", static=(0,))
def constant_of_shape(node: Node, shape: Any) -> TensorBase:
    fill = node.attr("value", np.zeros(1, np.float32))
    dims = ints(node.static(shape, "input"))
    return xnp.broadcast_to(np.asarray(fill.reshape(-1)[0], fill.dtype), dims)


@handler("Shape")
def shape(node: Node, x: Any) -> np.ndarray:
    dims = np.asarray(t(x).shape if isinstance(x, TensorBase) else np.shape(x), np.int64)
    if node.opset >= 15:
        n = len(dims)
        start = min(max(node.attr("start", 0) + (n if node.attr("start", 0) < 0 else 0), 0), n)
        end = node.attr("end", n)
        end = min(max(end + (n if end < 0 else 0), 0), n)
        dims = dims[start:end]
    return dims


@handler("Size")
def size(node: Node, x: Any) -> np.ndarray:
    return np.asarray(int(np.prod(x.shape)), np.int64)


@handler("Range", static=(0, 1, 2))
def range_(node: Node, start: Any, limit: Any, delta: Any) -> np.ndarray:
    a, b, d = (node.static(v, n) for v, n in ((start, "start"), (limit, "limit"), (delta, "delta")))
    count = max(math.ceil((b.item() - a.item()) / d.item()), 0)
    return (a + d * np.arange(count)).astype(a.dtype)
