"""Element expressions for the CUDA kernels: the shared table with CUDA's exceptions.

Numba-CUDA compiles NumPy's scalar ``log``/``tanh``/``sin``/``cos`` but not ``exp``,
``sqrt`` or ``sign``; those become ``math`` calls (single precision for f32 operands, as
CUDA's ``expf``/``sqrtf``). Every other entry is the shared one
(``backends/numba_common/scalar.py``), so an elementwise op added there works here unless
CUDA needs an override. GPU math is fast,
so the CPU's vectorizable approximations are never used.
"""

from __future__ import annotations

from xlalite.backends.numba_common.scalar import Expr, ScalarTable, literal
from xlalite.ir.core import Op


def _one(op: Op) -> str:
    return literal(1, op.results[0].type.dtype)


def _sign(a: list[str], op: Op) -> str:
    t = op.results[0].type.dtype
    zero, one = literal(0, t), literal(1, t)
    nan = f" if {a[0]} == {a[0]} else {a[0]}" if t.is_float else ""
    return (f"(({one} if {a[0]} > {zero} else (-{one} if {a[0]} < {zero} else {zero})){nan})")


CUDA_OVERRIDES: dict[str, Expr] = {
    "xl.exp": lambda a, op: f"math.exp({a[0]})",
    "xl.sqrt": lambda a, op: f"math.sqrt({a[0]})",
    "xl.rsqrt": lambda a, op: f"({_one(op)} / math.sqrt({a[0]}))",
    "xl.logistic": lambda a, op: f"({_one(op)} / ({_one(op)} + math.exp(-{a[0]})))",
    "xl.sign": _sign,
}

CUDA_SCALARS = ScalarTable(CUDA_OVERRIDES)
