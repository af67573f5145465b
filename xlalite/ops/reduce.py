"""Reductions over a set of axes (the axes are removed) and argmax."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xlalite.ir.attributes import IntAttr, IntListAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import NUMERIC, DType, TensorType
from xlalite.ops import patterns as P
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, Trait, register
from xlalite.ops.rules import require_axes, require_axis, require_dtype

_T = TensorType((2, 3), DType.F32)


def identity(kind: str, dtype: np.dtype) -> np.generic:
    """The identity element of a reduction (what an empty reduction returns)."""
    if kind == "sum":
        return dtype.type(0)
    if kind == "prod":
        return dtype.type(1)
    if dtype.kind == "f":
        return dtype.type(-np.inf if kind == "max" else np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.min if kind == "max" else info.max)


def _kept_dims(rank: int, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in range(rank) if d not in axes)


def _vjp_sum(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = sum(x, axes)  =>  dx = broadcast(g) back over the reduced axes"""
    x = op.operands[0]
    return [e.broadcast(g, x.type.shape, _kept_dims(x.type.rank, op.attributes["axes"]))]


def _vjp_extremum(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = max(x, axes) (or min)  =>  dx = g at the positions equal to y, shared among ties"""
    x = op.operands[0]
    kept = _kept_dims(x.type.rank, op.attributes["axes"])
    hit = e.compare(x, e.broadcast(op.result, x.type.shape, kept), "eq")
    ones = e.where_zero(hit, e.const(x, 1))
    count = e.sum(ones, op.attributes["axes"])
    share = e.broadcast(e.div(g, count), x.type.shape, kept)
    return [e.mul(ones, share)]


def _vjp_prod(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = prod(x, axes)  =>  dx_i = g * prod_{j != i} x_j, exactly, zeros included:
    no zero in the slice: g * y / x_i; one zero: g * (product of the others) at the zero and 0
    elsewhere; two or more zeros: 0"""
    x = op.operands[0]
    axes = op.attributes["axes"]
    kept = _kept_dims(x.type.rank, axes)
    is_zero = e.compare(x, e.zeros(x), "eq")
    zeros = e.sum(e.where_zero(is_zero, e.const(x, 1)), axes)
    others = e.op("xl.reduce_prod", e.select(is_zero, e.const(x, 1), x), axes=tuple(axes))
    back = lambda v: e.broadcast(v, x.type.shape, kept)  # noqa: E731
    safe_x = e.select(is_zero, e.const(x, 1), x)
    no_zero = e.div(back(e.mul(g, op.result)), safe_x)
    one_zero = e.where_zero(is_zero, back(e.mul(g, others)))
    n = back(zeros)
    return [e.select(e.compare(n, e.zeros(n), "eq"), no_zero,
                     e.where_zero(e.compare(n, e.const(n, 1), "eq"), one_zero))]


_REDUCTION_VJPS = {"sum": _vjp_sum, "max": _vjp_extremum, "min": _vjp_extremum,
                   "prod": _vjp_prod}


def reduction(name: str, kind: str, fn: Callable[..., np.ndarray], doc: str) -> OpDef:
    """Declare ``xl.reduce_<kind>`` over `axes`; the result drops those axes."""

    def infer(x: TensorType, axes: tuple[int, ...]) -> TensorType:
        require_dtype(name, "operand", x, NUMERIC)
        require_axes(name, axes, x.rank)
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    def reference(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        # dtype= keeps i32 sums in i32 (NumPy would widen); initial= defines empty reductions.
        extra = {"dtype": x.dtype} if kind in ("sum", "prod") else {}
        return np.asarray(fn(x, axis=axes, initial=identity(kind, x.dtype), **extra))

    return register(OpDef(name, doc, ("x",), infer, reference, FusionKind.REDUCTION,
                          attrs=(AttrSpec("axes", IntListAttr(), doc="axes to reduce"),),
                          example=lambda: ([_T], {"axes": (1,)}),
                          patterns=(P.empty_reduction,), vjp=_REDUCTION_VJPS[kind],
                          traits=frozenset({Trait.REDUCTION})))


REDUCE_SUM = reduction("xl.reduce_sum", "sum", np.sum, "Sum over `axes`.")
REDUCE_MAX = reduction("xl.reduce_max", "max", np.max, "Maximum over `axes` (-inf if empty).")
REDUCE_MIN = reduction("xl.reduce_min", "min", np.min, "Minimum over `axes` (+inf if empty).")
REDUCE_PROD = reduction("xl.reduce_prod", "prod", np.prod, "Product over `axes`.")


def _argmax_infer(x: TensorType, axis: int) -> TensorType:
    require_dtype("xl.argmax", "operand", x, NUMERIC)
    require_axis("xl.argmax", axis, x.rank)
    if x.shape[axis] == 0:
        raise ShapeError(f"'xl.argmax' axis {axis} of {x} is empty")
    return TensorType(tuple(d for i, d in enumerate(x.shape) if i != axis), DType.I64)


ARGMAX = register(OpDef(
    "xl.argmax", "Index (i64) of the first maximum along `axis`.",
    ("x",), _argmax_infer,
    lambda x, axis: np.asarray(np.argmax(x, axis=axis)).astype(np.int64),
    FusionKind.REDUCTION,
    attrs=(AttrSpec("axis", IntAttr()),),
    example=lambda: ([_T], {"axis": 1}),
    differentiable=False,
))
