"""``xl.gather`` and its transpose ``xl.scatter_add`` (embeddings, label picks, their gradients).

Semantics follow ``tf.gather(x, indices, axis, batch_dims)``: with B = x.shape[:batch_dims]
(equal to indices.shape[:batch_dims]) the result is
``x.shape[:axis] + indices.shape[batch_dims:] + x.shape[axis+1:]`` and
``out[b, ..., i..., ...] = x[b, ..., indices[b, i...], ...]``. Indices out of range are clamped
into ``[0, x.shape[axis])`` (XLA's rule), so the ops never fail at run time.
"""

from __future__ import annotations

import numpy as np

from xlalite.ir.attributes import IntAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import INTS, NUMERIC, DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_axis, require_dtype


def gather_type(op: str, x: TensorType, idx: TensorType, axis: int, batch_dims: int) -> TensorType:
    """Result type of gathering `idx` from `x` along `axis` (shared with scatter_add)."""
    require_dtype(op, "indices", idx, INTS)
    require_axis(op, axis, x.rank)
    if not 0 <= batch_dims <= min(axis, idx.rank):
        raise ShapeError(f"'{op}' needs 0 <= batch_dims ({batch_dims}) <= axis ({axis}) and "
                         f"<= rank of indices ({idx.rank})")
    if x.shape[:batch_dims] != idx.shape[:batch_dims]:
        raise ShapeError(f"'{op}' batch dims of {x} and indices {idx} differ")
    if x.shape[axis] == 0:
        raise ShapeError(f"'{op}' cannot index the empty axis {axis} of {x}")
    return TensorType(x.shape[:axis] + idx.shape[batch_dims:] + x.shape[axis + 1:], x.dtype)


def _batched(x: np.ndarray, idx: np.ndarray, batch_dims: int):
    """Views of x and clamped indices with the batch dims flattened into one leading dim."""
    lead = int(np.prod(x.shape[:batch_dims], dtype=np.int64))
    return x.reshape((lead,) + x.shape[batch_dims:]), idx.reshape((lead,) + idx.shape[batch_dims:])


def _gather_reference(x: np.ndarray, idx: np.ndarray, axis: int, batch_dims: int) -> np.ndarray:
    out_t = gather_type("xl.gather", TensorType.of(x), TensorType.of(idx), axis, batch_dims)
    idx = np.clip(idx, 0, x.shape[axis] - 1)
    xb, ib = _batched(x, idx, batch_dims)
    out = np.empty((xb.shape[0],) + out_t.shape[batch_dims:], dtype=x.dtype)
    for b in range(xb.shape[0]):
        out[b] = np.take(xb[b], ib[b], axis=axis - batch_dims)
    return out.reshape(out_t.shape)


def _vjp_gather(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = gather(x, idx)  =>  dx = scatter_add(zeros, idx, g); no gradient for indices"""
    x, idx = op.operands
    a = op.attributes
    return [e.op("xl.scatter_add", e.zeros(x), idx, g, axis=a["axis"],
                 batch_dims=a["batch_dims"]), None]


def _vjp_scatter_add(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = scatter_add(x, idx, u)  =>  dx = g, du = gather(g, idx)"""
    idx = op.operands[1]
    a = op.attributes
    return [g, None, e.op("xl.gather", g, idx, axis=a["axis"], batch_dims=a["batch_dims"])]


GATHER = register(OpDef(
    "xl.gather", "Pick slices of `x` along `axis` at `indices` (tf.gather semantics, clamped).",
    ("x", "indices"),
    lambda x, indices, axis, batch_dims: gather_type("xl.gather", x, indices, axis, batch_dims),
    _gather_reference, FusionKind.INJECTIVE,
    attrs=(AttrSpec("axis", IntAttr()), AttrSpec("batch_dims", IntAttr(), default=0)),
    example=lambda: ([TensorType((3, 5), DType.F32), TensorType((3,), DType.I32)],
                     {"axis": 1, "batch_dims": 1}),
    vjp=_vjp_gather,
))


def _scatter_infer(x: TensorType, idx: TensorType, updates: TensorType, axis: int,
                   batch_dims: int) -> TensorType:
    require_dtype("xl.scatter_add", "operand", x, NUMERIC)
    expected = gather_type("xl.scatter_add", x, idx, axis, batch_dims)
    if updates != expected:
        raise ShapeError(f"'xl.scatter_add' updates must have the gathered type {expected}, "
                         f"got {updates}")
    return x


def _scatter_reference(x: np.ndarray, idx: np.ndarray, updates: np.ndarray, axis: int,
                       batch_dims: int) -> np.ndarray:
    out = x.copy()
    idx = np.clip(idx, 0, x.shape[axis] - 1)
    ob, ib = _batched(out, idx, batch_dims)
    ub = updates.reshape((ob.shape[0],) + updates.shape[batch_dims:])
    ax, k = axis - batch_dims, ib.ndim - 1
    for b in range(ob.shape[0]):
        target = np.moveaxis(ob[b], ax, 0)  # a view: writes land in `out`
        upd = np.moveaxis(ub[b], list(range(ax, ax + k)), list(range(k)))
        np.add.at(target, ib[b], upd)  # repeated indices accumulate
    return out


SCATTER_ADD = register(OpDef(
    "xl.scatter_add",
    "Add `updates` into a copy of `x` at the slices `xl.gather` would read; duplicates add up.",
    ("x", "indices", "updates"), _scatter_infer, _scatter_reference, FusionKind.OPAQUE,
    attrs=(AttrSpec("axis", IntAttr()), AttrSpec("batch_dims", IntAttr(), default=0)),
    example=lambda: ([TensorType((4, 3), DType.F32), TensorType((5,), DType.I64),
                      TensorType((5, 3), DType.F32)], {"axis": 0, "batch_dims": 0}),
    vjp=_vjp_scatter_add,
))


