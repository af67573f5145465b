"""Data-movement ops: broadcast_in_dim, reshape, transpose, slice, concatenate, pad."""

from __future__ import annotations

import math

import numpy as np

from xlalite.ir.attributes import IntAttr, IntListAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops import merge_patterns as M
from xlalite.ops import patterns as P
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_axes, require_axis, require_len

_T = TensorType((2, 3), DType.F32)


def _broadcast_infer(x: TensorType, shape: tuple[int, ...], dims: tuple[int, ...]) -> TensorType:
    op = "xl.broadcast_in_dim"
    require_len(op, "dims", dims, x.rank)
    require_axes(op, dims, len(shape), "dims")
    if list(dims) != sorted(dims):
        raise ShapeError(f"'{op}' dims {list(dims)} must be increasing (use xl.transpose first)")
    for i, d in enumerate(dims):
        if x.shape[i] not in (1, shape[d]):
            raise ShapeError(
                f"'{op}' operand dim {i} has size {x.shape[i]}, which cannot broadcast to "
                f"result dim {d} of size {shape[d]}"
            )
    return TensorType(shape, x.dtype)


def _broadcast_reference(x: np.ndarray, shape: tuple[int, ...], dims: tuple[int, ...]) -> np.ndarray:
    expanded = x.reshape([x.shape[dims.index(i)] if i in dims else 1 for i in range(len(shape))])
    return np.broadcast_to(expanded, shape).copy()


def _vjp_broadcast(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = broadcast_in_dim(x, dims)  =>  dx = g summed over the broadcast dims"""
    x = op.operands[0]
    return [e.unbroadcast(g, x.type.shape, op.attributes["dims"])]


BROADCAST_IN_DIM = register(OpDef(
    "xl.broadcast_in_dim",
    "Broadcast to `shape`: operand dim i becomes result dim dims[i] (size 1 or equal).",
    ("x",), _broadcast_infer, _broadcast_reference, FusionKind.BROADCAST,
    attrs=(AttrSpec("shape", IntListAttr(), doc="result shape"),
           AttrSpec("dims", IntListAttr(), doc="result dim of each operand dim")),
    example=lambda: ([TensorType((3,), DType.F32)], {"shape": (2, 3), "dims": (1,)}),
    patterns=(P.same_type_is_noop, P.broadcast_splat, P.compose_broadcast), vjp=_vjp_broadcast,
))


def _reshape_infer(x: TensorType, shape: tuple[int, ...]) -> TensorType:
    if any(d < 0 for d in shape):
        raise ShapeError(f"'xl.reshape' shape {list(shape)} has a negative dim")
    if math.prod(shape) != x.size:
        raise ShapeError(
            f"'xl.reshape' cannot reshape {x} ({x.size} elements) to {list(shape)} "
            f"({math.prod(shape)} elements)"
        )
    return TensorType(shape, x.dtype)


def _vjp_reshape(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = reshape(x)  =>  dx = reshape(g) to x's shape"""
    return [e.reshape(g, op.operands[0].type.shape)]


RESHAPE = register(OpDef(
    "xl.reshape", "Same elements in row-major order, new shape.",
    ("x",), _reshape_infer, lambda x, shape: x.reshape(shape).copy(), FusionKind.INJECTIVE,
    attrs=(AttrSpec("shape", IntListAttr(), doc="result shape"),),
    example=lambda: ([_T], {"shape": (3, 2)}),
    patterns=(P.same_type_is_noop, P.compose_reshape), vjp=_vjp_reshape,
))


def _transpose_infer(x: TensorType, perm: tuple[int, ...]) -> TensorType:
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"'xl.transpose' perm {list(perm)} is not a permutation of 0..{x.rank - 1}")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


def _vjp_transpose(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = transpose(x, perm)  =>  dx = transpose(g, inverse(perm))"""
    perm = op.attributes["perm"]
    return [e.transpose(g, tuple(perm.index(i) for i in range(len(perm))))]


TRANSPOSE = register(OpDef(
    "xl.transpose", "Permute dims: result dim i is operand dim perm[i].",
    ("x",), _transpose_infer,
    lambda x, perm: np.transpose(x, perm).copy(), FusionKind.INJECTIVE,
    attrs=(AttrSpec("perm", IntListAttr(), doc="a permutation of the dims"),),
    example=lambda: ([_T], {"perm": (1, 0)}),
    patterns=(P.compose_transpose, P.transpose_of_dot), vjp=_vjp_transpose,
))


def _slice_infer(x: TensorType, start: tuple[int, ...], limit: tuple[int, ...],
                 stride: tuple[int, ...]) -> TensorType:
    op = "xl.slice"
    for name, v in (("start", start), ("limit", limit), ("stride", stride)):
        require_len(op, name, v, x.rank)
    shape = []
    for d, (s, e, st, n) in enumerate(zip(start, limit, stride, x.shape)):
        if not 0 <= s <= e <= n or st < 1:
            raise ShapeError(
                f"'{op}' dim {d}: need 0 <= start ({s}) <= limit ({e}) <= size ({n}) and "
                f"stride ({st}) >= 1"
            )
        shape.append((e - s + st - 1) // st)
    return TensorType(tuple(shape), x.dtype)


def _slice_reference(x: np.ndarray, start, limit, stride) -> np.ndarray:
    return x[tuple(slice(s, e, st) for s, e, st in zip(start, limit, stride))].copy()


def _vjp_slice(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = x[start:limit:stride]  =>  dx = g placed back with zeros around and between"""
    x = op.operands[0]
    a = op.attributes
    if g.type.size == 0:
        return [e.zeros(x)]
    high = [n - (s + (k - 1) * st + 1)
            for n, s, st, k in zip(x.type.shape, a["start"], a["stride"], g.type.shape)]
    return [e.pad(g, a["start"], high, [st - 1 for st in a["stride"]])]


SLICE = register(OpDef(
    "xl.slice", "The strided box [start, limit) of the operand.",
    ("x",), _slice_infer, _slice_reference, FusionKind.INJECTIVE,
    attrs=(AttrSpec("start", IntListAttr()), AttrSpec("limit", IntListAttr()),
           AttrSpec("stride", IntListAttr())),
    example=lambda: ([_T], {"start": (0, 1), "limit": (2, 3), "stride": (1, 1)}),
    patterns=(P.full_slice,), vjp=_vjp_slice,
))


def _concat_infer(*xs: TensorType, axis: int) -> TensorType:
    if not xs:
        raise ShapeError("'xl.concatenate' needs at least one operand")
    first = xs[0]
    require_axis("xl.concatenate", axis, first.rank)
    total = 0
    for i, t in enumerate(xs):
        same_rest = t.rank == first.rank and all(
            a == b for d, (a, b) in enumerate(zip(t.shape, first.shape)) if d != axis)
        if t.dtype != first.dtype or not same_rest:
            raise ShapeError(
                f"'xl.concatenate' operand #{i} has type {t}, incompatible with {first} "
                f"(all dims but axis {axis} and the element type must match)"
            )
        total += t.shape[axis]
    shape = list(first.shape)
    shape[axis] = total
    return TensorType(tuple(shape), first.dtype)


def _vjp_concatenate(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = concat(x0, x1, ..., axis)  =>  dxi = the slice of g where xi landed"""
    axis = op.attributes["axis"]
    out: list[Value | None] = []
    offset = 0
    for x in op.operands:
        start = [0] * g.type.rank
        limit = list(g.type.shape)
        start[axis], limit[axis] = offset, offset + x.type.shape[axis]
        out.append(e.slice(g, start, limit))
        offset += x.type.shape[axis]
    return out


CONCATENATE = register(OpDef(
    "xl.concatenate", "Join operands along `axis`.",
    ("xs",), _concat_infer, lambda *xs, axis: np.concatenate(xs, axis=axis),
    FusionKind.INJECTIVE, variadic=True,
    attrs=(AttrSpec("axis", IntAttr()),),
    example=lambda: ([_T, TensorType((2, 1), DType.F32)], {"axis": 1}),
    vjp=_vjp_concatenate, patterns=(M.flatten_concatenate,),
))


def _pad_infer(x: TensorType, value: TensorType, low: tuple[int, ...], high: tuple[int, ...],
               interior: tuple[int, ...]) -> TensorType:
    op = "xl.pad"
    if value != TensorType((), x.dtype):
        raise ShapeError(f"'{op}' padding value must be a {x.dtype}[] scalar, got {value}")
    shape = []
    for name, v in (("low", low), ("high", high), ("interior", interior)):
        require_len(op, name, v, x.rank)
        if any(p < 0 for p in v):
            raise ShapeError(f"'{op}' attribute '{name}' must be non-negative, got {list(v)}")
    for n, lo, hi, inner in zip(x.shape, low, high, interior):
        shape.append(lo + hi + n + max(n - 1, 0) * inner)
    return TensorType(tuple(shape), x.dtype)


def _pad_reference(x: np.ndarray, value: np.ndarray, low, high, interior) -> np.ndarray:
    shape = _pad_infer(TensorType.of(x), TensorType.of(value), low, high, interior).shape
    out = np.full(shape, value, dtype=x.dtype)
    out[tuple(slice(lo, lo + max(n - 1, 0) * (i + 1) + 1 if n else lo, i + 1)
              for n, lo, i in zip(x.shape, low, interior))] = x
    return out


def _vjp_pad(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = pad(x, v)  =>  dx = the strided slice of g where x landed; dv = sum of the rest"""
    x = op.operands[0]
    a = op.attributes
    if x.type.size == 0:
        return [e.zeros(x), e.sum(g, range(g.type.rank))]
    limit = [lo + (n - 1) * (i + 1) + 1 for lo, n, i in zip(a["low"], x.type.shape, a["interior"])]
    dx = e.slice(g, a["low"], limit, [i + 1 for i in a["interior"]])
    everything = e.sum(g, range(g.type.rank))
    dv = e.sub(everything, e.sum(dx, range(dx.type.rank)))
    return [dx, dv]


PAD = register(OpDef(
    "xl.pad", "Surround with `low`/`high` copies of `value` and insert `interior` ones between.",
    ("x", "value"), _pad_infer, _pad_reference, FusionKind.INJECTIVE,
    attrs=(AttrSpec("low", IntListAttr()), AttrSpec("high", IntListAttr()),
           AttrSpec("interior", IntListAttr())),
    example=lambda: ([_T, TensorType((), DType.F32)],
                     {"low": (1, 0), "high": (0, 2), "interior": (0, 1)}),
    vjp=_vjp_pad, patterns=(P.pad_nothing,),
))


def is_reindexing(op: Op) -> bool:
    """An op a loop kernel computes at any index by reading its operand at another one: a
    reshape that only inserts or drops size-1 dims, or a slice (start + stride * index)."""
    return is_unit_reshape(op) or op.name == "xl.slice"


def is_unit_reshape(op: Op) -> bool:
    """A reshape that only inserts or drops size-1 dims: a pure re-indexing, no data motion."""
    if op.name != "xl.reshape":
        return False
    drop_ones = [d for d in op.operands[0].type.shape if d != 1]
    return drop_ones == [d for d in op.results[0].type.shape if d != 1]
