"""Source ops with no tensor operands: ``xl.constant`` and ``xl.iota``."""

from __future__ import annotations

import numpy as np

from xlalite.ir.attributes import DenseAttr, DenseElements, DTypeAttr, IntAttr, IntListAttr
from xlalite.ir.types import NUMERIC, DType, TensorType
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, register
from xlalite.ops.rules import require_axis, require_dtype


def _constant_infer(value: DenseElements) -> TensorType:
    return value.type


CONSTANT = register(OpDef(
    "xl.constant", "A tensor literal; the result type is the literal's type.",
    (), _constant_infer,
    lambda value: value.array.copy(),
    FusionKind.ELEMENTWISE,
    attrs=(AttrSpec("value", DenseAttr(), doc="dense<...> : type literal"),),
    example=lambda: ([], {"value": DenseElements(np.arange(6, dtype=np.float32).reshape(2, 3))}),
    differentiable=False,
))


def _iota_infer(shape: tuple[int, ...], dim: int, dtype: DType) -> TensorType:
    t = TensorType(shape, dtype)
    require_axis("xl.iota", dim, t.rank, "dim")
    require_dtype("xl.iota", "result", t, NUMERIC)
    return t


def _iota_reference(shape: tuple[int, ...], dim: int, dtype: DType) -> np.ndarray:
    counts = np.arange(shape[dim], dtype=dtype.numpy)
    view = counts.reshape([-1 if i == dim else 1 for i in range(len(shape))])
    return np.broadcast_to(view, shape).copy()


IOTA = register(OpDef(
    "xl.iota", "Indices 0, 1, ... along `dim`, repeated over the other dims.",
    (), _iota_infer, _iota_reference, FusionKind.ELEMENTWISE,
    attrs=(
        AttrSpec("shape", IntListAttr(), doc="result shape"),
        AttrSpec("dim", IntAttr(), doc="the dim that counts"),
        AttrSpec("dtype", DTypeAttr(), doc="element type"),
    ),
    example=lambda: ([], {"shape": (2, 3), "dim": 1, "dtype": DType.I32}),
    differentiable=False,
))
