"""numba-cpu's element expressions: the shared table, with vectorizable f32 approximations.

``np.exp``/``np.tanh`` in ``@njit`` code are scalar libm calls that keep LLVM from vectorizing
a loop (PERF_NOTES: 183 ms against 7 ms for a fused GELU), so f32 exp, tanh, erf and logistic call
mathlib.py's approximations unless the target asks for exact math.
"""

from __future__ import annotations

from xlalite.backends.numba_common.scalar import PLAIN, SCALAR, Expr, ScalarTable, literal
from xlalite.ir.core import Op
from xlalite.ir.types import DType


def _one(op: Op) -> str:
    return literal(1, op.results[0].type.dtype)


#: f32 overrides calling the vectorizable approximations of mathlib.py (unless exact_math)
APPROX_F32: dict[str, Expr] = {
    "xl.exp": lambda a, op: f"mm.exp_f32({a[0]})",
    "xl.tanh": lambda a, op: f"mm.tanh_f32({a[0]})",
    "xl.erf": lambda a, op: f"mm.erf_f32({a[0]})",
    "xl.logistic": lambda a, op: f"({_one(op)} / ({_one(op)} + mm.exp_f32(-{a[0]})))",
}


def _f32_only(name: str, approx: Expr) -> Expr:
    plain = SCALAR[name]
    return lambda a, op: approx(a, op) if op.results[0].type.dtype is DType.F32 else plain(a, op)


APPROX = ScalarTable({name: _f32_only(name, e) for name, e in APPROX_F32.items()})


def scalars(approx: bool) -> ScalarTable:
    """The element table: with the f32 approximations when `approx`, else libm's."""
    return APPROX if approx else PLAIN
