"""Element expressions for the CUDA kernels: the shared table with CUDA's exceptions.

Numba-CUDA compiles NumPy's scalar ``log``/``tanh``/``sin``/``cos`` but not ``exp``,
``sqrt``, ``sign``, ``floor``/``ceil``/``rint`` or ``fmod``; those become ``math`` calls (and
Python's ``round`` for ``rint``), single precision for f32 operands, as CUDA's ``expf``/``sqrtf``.
Every other entry is the shared one
(``backends/numba_common/scalar.py``), so an elementwise op added there works here unless
CUDA needs an override. GPU math is fast,
so the CPU's vectorizable approximations are never used.
"""

from __future__ import annotations

from xlalite.backends.numba_common.scalar import SCALAR, Expr, ScalarTable, convert, literal
from xlalite.ir.core import Op


def _one(op: Op) -> str:
    return literal(1, op.results[0].type.dtype)


def _sign(a: list[str], op: Op) -> str:
    t = op.results[0].type.dtype
    zero, one = literal(0, t), literal(1, t)
    nan = f" if {a[0]} == {a[0]} else {a[0]}" if t.is_float else ""
    return (f"(({one} if {a[0]} > {zero} else (-{one} if {a[0]} < {zero} else {zero})){nan})")


def _integral(fn: str) -> Expr:
    """``math.floor``/``ceil`` and ``round`` return integers in Numba: a float at or beyond
    2**mantissa (and inf, NaN) is already integral and passes through unconverted."""
    def expr(a: list[str], op: Op) -> str:
        t = op.results[0].type.dtype
        big = literal(2.0 ** (23 if t.itemsize == 4 else 52), t)
        return f"({a[0]} if not (abs({a[0]}) < {big}) else {convert(f'{fn}({a[0]})', t)})"
    return expr


def _fmod(a: list[str], op: Op) -> str:
    t = op.results[0].type.dtype
    if t.is_float:
        return f"math.fmod({a[0]}, {a[1]})"
    return SCALAR["xl.rem"](a, op)


CUDA_OVERRIDES: dict[str, Expr] = {
    "xl.exp": lambda a, op: f"math.exp({a[0]})",
    "xl.sqrt": lambda a, op: f"math.sqrt({a[0]})",
    "xl.rsqrt": lambda a, op: f"({_one(op)} / math.sqrt({a[0]}))",
    "xl.logistic": lambda a, op: f"({_one(op)} / ({_one(op)} + math.exp(-{a[0]})))",
    "xl.sign": _sign,
    "xl.floor": _integral("math.floor"),
    "xl.ceil": _integral("math.ceil"),
    "xl.round": _integral("round"),
    "xl.rem": _fmod,
}

CUDA_SCALARS = ScalarTable(CUDA_OVERRIDES)
