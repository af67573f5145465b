"""``xl.dot_general``: batched matrix products with explicit contraction dims (as in XLA)."""

from __future__ import annotations

import numpy as np

from xlalite.ir.attributes import IntListListAttr
from xlalite.ir.types import NUMERIC, DType, TensorType
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_axes, require_dtype

_OP = "xl.dot_general"


def free_dims(rank: int, contract: tuple[int, ...], batch: tuple[int, ...]) -> list[int]:
    """Dims of one operand that are neither contracted nor batch dims, in order."""
    return [d for d in range(rank) if d not in contract and d not in batch]


def _infer(lhs: TensorType, rhs: TensorType, contract, batch) -> TensorType:
    if lhs.dtype != rhs.dtype:
        raise ShapeError(f"'{_OP}' operands must share an element type, got {lhs} and {rhs}")
    require_dtype(_OP, "operands", lhs, NUMERIC)
    if len(contract) != 2 or len(batch) != 2:
        raise ShapeError(f"'{_OP}' contract and batch need [[lhs dims], [rhs dims]]")
    for side, t, c, b in (("lhs", lhs, contract[0], batch[0]), ("rhs", rhs, contract[1], batch[1])):
        require_axes(_OP, list(c) + list(b), t.rank, f"{side} contract/batch dims")
    for what, (lc, rc) in (("contract", contract), ("batch", batch)):
        if len(lc) != len(rc):
            raise ShapeError(f"'{_OP}' {what} dims {list(lc)} and {list(rc)} differ in number")
        for a, b in zip(lc, rc):
            if lhs.shape[a] != rhs.shape[b]:
                raise ShapeError(
                    f"'{_OP}' {what} dim {a} of lhs {lhs} (size {lhs.shape[a]}) does not match "
                    f"dim {b} of rhs {rhs} (size {rhs.shape[b]})"
                )
    shape = ([lhs.shape[d] for d in batch[0]]
             + [lhs.shape[d] for d in free_dims(lhs.rank, contract[0], batch[0])]
             + [rhs.shape[d] for d in free_dims(rhs.rank, contract[1], batch[1])])
    return TensorType(tuple(shape), lhs.dtype)


def _reference(lhs: np.ndarray, rhs: np.ndarray, contract, batch) -> np.ndarray:
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ls = [next(letters) for _ in range(lhs.ndim)]
    rs = [next(letters) for _ in range(rhs.ndim)]
    for a, b in zip(contract[0] + batch[0], contract[1] + batch[1]):
        rs[b] = ls[a]
    out = ([ls[d] for d in batch[0]]
           + [ls[d] for d in free_dims(lhs.ndim, contract[0], batch[0])]
           + [rs[d] for d in free_dims(rhs.ndim, contract[1], batch[1])])
    spec = f"{''.join(ls)},{''.join(rs)}->{''.join(out)}"
    return np.asarray(np.einsum(spec, lhs, rhs)).astype(lhs.dtype, copy=False)


DOT_GENERAL = register(OpDef(
    _OP,
    "Generalized matrix product. Result dims: batch dims, then lhs free dims, then rhs free "
    "dims. `contract = [[lhs], [rhs]]` pairs summed dims, `batch` pairs batch dims.",
    ("lhs", "rhs"), _infer, _reference, FusionKind.MATMUL,
    attrs=(AttrSpec("contract", IntListListAttr(2), doc="[[lhs dims], [rhs dims]] summed over"),
           AttrSpec("batch", IntListListAttr(2), default=((), ()), doc="[[lhs], [rhs]] batch dims")),
    example=lambda: ([TensorType((4, 2, 3), DType.F32), TensorType((4, 3, 5), DType.F32)],
                     {"contract": ((2,), (1,)), "batch": ((0,), (0,))}),
))
