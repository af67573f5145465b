"""``widen-f16``: compute f16 in f32 for targets without half-precision arithmetic.

Numba has no float16 arithmetic on the CPU, so numba-cpu keeps f16 values in f16 memory and
computes them in f32: every op that computes on f16 (elementwise, reductions, products,
windows, convolutions) becomes the same op on f32 with ``xl.cast`` to f32 in front of it and
back to f16 behind it. Each f16 result is therefore rounded to f16 once, as NumPy's float16
ufuncs do (they too compute in float32 and round every result); reductions and products
accumulate in f32 and round once, as NumPy's half loops do. Fusion later puts the casts and the
ops into one kernel, so an f16 chain reads and writes f16 memory only at its ends.

Ops that only move elements (broadcast, injective ops such as reshape, transpose, slice,
concatenate, gather), constants, casts, and the containers of other ops (fusion, control flow:
their bodies are widened op by op) stay as they are. Contract: valid IR in, valid IR out in
which no op but those computes on f16; the same results as NumPy's float16 semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.builder import Builder
from xlalite.ir.core import TERMINATORS, Function, Op, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops.registry import FusionKind, Trait, find_op, fusion_kind, has_trait
from xlalite.passes.manager import FunctionPass, register_pass

#: ops kept on f16: they compute nothing, or hold other ops
_KEPT = frozenset({"xl.cast", "xl.constant", "xl.fusion", "xl.custom_vjp", "xl.debug_print"})


def _computes_on_f16(op: Op) -> bool:
    if op.name in TERMINATORS or op.name in _KEPT or has_trait(op, Trait.CONTROL):
        return False
    if find_op(op.name) is None or fusion_kind(op) in (FusionKind.BROADCAST, FusionKind.INJECTIVE):
        return False
    return any(v.type.dtype is DType.F16 for v in [*op.operands, *op.results])


def _wide(t: TensorType) -> TensorType:
    return t.with_dtype(DType.F32) if t.dtype is DType.F16 else t


def widen(op: Op) -> None:
    """Replace `op` by its f32 form between casts."""
    b = Builder.before(op)
    operands = [b.add("xl.cast", v, dtype=DType.F32) if v.type.dtype is DType.F16 else v
                for v in op.operands]
    attrs = {k: DType.F32 if v is DType.F16 else v for k, v in op.attributes.items()}
    wide = b.create(op.name, operands, attrs, [_wide(r.type) for r in op.results])
    results: list[Value] = [b.add("xl.cast", w, dtype=DType.F16) if r.type.dtype is DType.F16
                            else w for r, w in zip(op.results, wide.results, strict=True)]
    for r, new in zip(op.results, results, strict=True):
        r.replace_all_uses_with(new)
    op.erase()


def widen_function(func: Function) -> int:
    """Widen every f16-computing op of `func` (bodies of regions too); returns how many."""
    todo = [op for op in func.walk() if _computes_on_f16(op)]
    for op in todo:
        widen(op)
    return len(todo)


@register_pass
@dataclass(frozen=True)
class WidenF16(FunctionPass):
    """Compute f16 ops in f32, rounding each result to f16 (targets without half math)."""

    name = "widen-f16"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"ops-widened": widen_function(func)}
