"""``xl.dot_general``: batched matrix products with explicit contraction dims (as in XLA)."""

from __future__ import annotations

import math

import numpy as np

from xlalite.ir.attributes import IntListListAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import NUMERIC, DType, TensorType
from xlalite.ops import patterns as P
from xlalite.ops.emit import Emitter
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
    """One batched matmul on contiguous (B, M, K) x (B, K, N) copies: the summation order then
    depends on the sizes alone, not on which operand layout the IR happens to use (so a
    rewrite that folds a transpose into the contraction dims gives identical results)."""
    fa = free_dims(lhs.ndim, contract[0], batch[0])
    fb = free_dims(rhs.ndim, contract[1], batch[1])
    a = np.ascontiguousarray(lhs.transpose(list(batch[0]) + fa + list(contract[0])))
    b = np.ascontiguousarray(rhs.transpose(list(batch[1]) + list(contract[1]) + fb))
    nb = int(np.prod([lhs.shape[d] for d in batch[0]], dtype=np.int64))
    m = int(np.prod([lhs.shape[d] for d in fa], dtype=np.int64))
    k = int(np.prod([lhs.shape[d] for d in contract[0]], dtype=np.int64))
    n = int(np.prod([rhs.shape[d] for d in fb], dtype=np.int64))
    out = np.matmul(a.reshape(nb, m, k), b.reshape(nb, k, n))
    shape = ([lhs.shape[d] for d in batch[0]] + [lhs.shape[d] for d in fa]
             + [rhs.shape[d] for d in fb])
    return out.reshape(shape).astype(lhs.dtype, copy=False)


def _transpose_back(e, value, batch, free_mine, contract_mine, contract_other):
    """`value` has dims [batch..., my free dims..., the other side's contract partners sorted
    by the other operand's dim order]; permute it back to my operand's layout."""
    rank = len(batch) + len(free_mine) + len(contract_mine)
    order = sorted(range(len(contract_mine)), key=lambda m: contract_other[m])
    position = {}
    for k, d in enumerate(batch):
        position[d] = k
    for j, d in enumerate(free_mine):
        position[d] = len(batch) + j
    for slot, m in enumerate(order):
        position[contract_mine[m]] = len(batch) + len(free_mine) + slot
    return e.transpose(value, [position[d] for d in range(rank)])


def _vjp_dot_general(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = dot(a, b)  =>  da = dot(g, b) over b's free dims, db = dot(g, a) over a's free dims,
    each permuted back to its operand's layout (batch dims stay batch dims)"""
    a, b = op.operands
    (ca, cb), (ba, bb) = op.attributes["contract"], op.attributes["batch"]
    fa, fb = free_dims(a.type.rank, ca, ba), free_dims(b.type.rank, cb, bb)
    nb = len(ba)
    g_batch = tuple(range(nb))
    g_free_a = tuple(range(nb, nb + len(fa)))
    g_free_b = tuple(range(nb + len(fa), nb + len(fa) + len(fb)))
    da = e.op(_OP, g, b, contract=(g_free_b, tuple(fb)), batch=(g_batch, tuple(bb)))
    db = e.op(_OP, g, a, contract=(g_free_a, tuple(fa)), batch=(g_batch, tuple(ba)))
    return [_transpose_back(e, da, ba, fa, ca, cb), _transpose_back(e, db, bb, fb, cb, ca)]


def _cost(op: Op) -> int:
    """Multiply-adds: each result element sums over the contracted dims."""
    lhs = op.operands[0].type
    return op.results[0].type.size * math.prod(lhs.shape[d] for d in op.attributes["contract"][0])


DOT_GENERAL = register(OpDef(
    _OP,
    "Generalized matrix product. Result dims: batch dims, then lhs free dims, then rhs free "
    "dims. `contract = [[lhs], [rhs]]` pairs summed dims, `batch` pairs batch dims.",
    ("lhs", "rhs"), _infer, _reference, FusionKind.MATMUL,
    attrs=(AttrSpec("contract", IntListListAttr(2), doc="[[lhs dims], [rhs dims]] summed over"),
           AttrSpec("batch", IntListListAttr(2), default=((), ()), doc="[[lhs], [rhs]] batch dims")),
    example=lambda: ([TensorType((4, 2, 3), DType.F32), TensorType((4, 3, 5), DType.F32)],
                     {"contract": ((2,), (1,)), "batch": ((0,), (0,))}),
    vjp=_vjp_dot_general, patterns=(P.fold_transpose_into_dot,),
    cost=_cost,
))
