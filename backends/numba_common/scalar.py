"""Per-op scalar expressions for elementwise ops: the element table both Numba targets share.

``SCALAR[name](args, op)`` returns Python/Numba source computing one element from the operand
expressions `args`. Constants are written with their dtype (``np.float32(1.0)``) so f32 code
stays f32. Integer results narrower than 64 bits are converted back to their type after every
op: Numba computes small integers in int64, and a division or comparison of an unwrapped sum
would differ from NumPy's wrapped one. f16 values are their IEEE bits in kernels (uint16: Numba
has no float16); only casts touch them, through the target's ``mm.h2f``/``mm.f2h``, because
the ``widen-f16`` pass leaves no other op computing on f16. Adding an elementwise op adds one
entry here; a target overrides only the entries it must (numba-cpu's vectorizable f32
approximations, numba-cuda's ``math`` calls), by passing its table to :func:`ScalarTable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xlalite.ir.attributes import float_repr
from xlalite.ir.core import Op
from xlalite.ir.types import DType

_NP = {d: "np.bool_" if d.is_bool else f"np.{d.numpy.name}" for d in DType if d is not DType.F16}


def literal(value: Any, dtype: DType) -> str:
    """A typed scalar literal (an f16 one as its bits)."""
    if dtype is DType.BOOL:
        return "True" if value else "False"
    if dtype is DType.F16:
        return f"np.uint16({int(np.float16(value).view(np.uint16))})"
    if dtype.is_int:
        return f"{_NP[dtype]}({int(value)})"
    text = float_repr(float(value))
    if text in ("inf", "-inf", "nan"):
        text = {"inf": "np.inf", "-inf": "-np.inf", "nan": "np.nan"}[text]
    return f"{_NP[dtype]}({text})"


def convert(expr: str, dtype: DType) -> str:
    """`expr` (a number, not f16 bits) as a value of `dtype`. An f16 result is rounded from
    f32: a value from f64 is rounded twice, which differs from NumPy only at rare ties."""
    if dtype is DType.F16:
        return f"mm.f2h({expr})"
    return f"({expr} != 0)" if dtype is DType.BOOL else f"{_NP[dtype]}({expr})"


def _cast(a: str, op: Op) -> str:
    if op.operands[0].type.dtype is DType.F16:
        target = op.attributes["dtype"]
        return f"mm.h2f({a})" if target is DType.F32 else convert(f"mm.h2f({a})", target)
    return convert(a, op.attributes["dtype"])


def _sign(a: str, op: Op) -> str:
    # Numba's np.sign of an unsigned integer is -1 for every nonzero value
    return convert(f"{a} != 0", _dtype(op)) if _dtype(op).is_unsigned else f"np.sign({a})"


def _dtype(op: Op) -> DType:
    return op.results[0].type.dtype


def _one(op: Op) -> str:
    return literal(1, _dtype(op))


def _max(a: str, b: str, op: Op) -> str:
    if _dtype(op).is_float:  # NaN propagates, as np.maximum
        return f"({a} if ({a} > {b} or {a} != {a}) else {b})"
    return f"({a} if {a} > {b} else {b})"


def _min(a: str, b: str, op: Op) -> str:
    if _dtype(op).is_float:
        return f"({a} if ({a} < {b} or {a} != {a}) else {b})"
    return f"({a} if {a} < {b} else {b})"


def _trunc_div(a: str, b: str, op: Op) -> str:
    """Integer a / b truncated toward zero, from Python's floor division (0 where b is 0)."""
    zero = literal(0, _dtype(op))
    fix = convert(f"({a} % {b} != {zero}) and (({a} < {zero}) != ({b} < {zero}))", _dtype(op))
    return f"({zero} if {b} == {zero} else ({a} // {b}) + {fix})"


def _div(a: str, b: str, op: Op) -> str:
    return f"({a} / {b})" if _dtype(op).is_float else _trunc_div(a, b, op)


def _rem(a: str, b: str, op: Op) -> str:
    """C's fmod: the dividend's sign (Python's % takes the divisor's)."""
    if _dtype(op).is_float:
        return f"np.fmod({a}, {b})"
    zero = literal(0, _dtype(op))
    return f"({zero} if {b} == {zero} else {a} - {b} * {_trunc_div(a, b, op)})"


_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

Expr = Callable[[list[str], Op], str]

SCALAR: dict[str, Expr] = {
    "xl.neg": lambda a, op: f"(-{a[0]})",
    "xl.exp": lambda a, op: f"np.exp({a[0]})",
    "xl.log": lambda a, op: f"np.log({a[0]})",
    "xl.log1p": lambda a, op: convert(f"math.log1p({a[0]})", _dtype(op)),
    "xl.tanh": lambda a, op: f"np.tanh({a[0]})",
    "xl.logistic": lambda a, op: f"({_one(op)} / ({_one(op)} + np.exp(-{a[0]})))",
    "xl.sqrt": lambda a, op: f"np.sqrt({a[0]})",
    "xl.rsqrt": lambda a, op: f"({_one(op)} / np.sqrt({a[0]}))",
    "xl.abs": lambda a, op: f"abs({a[0]})",
    "xl.sign": lambda a, op: _sign(a[0], op),
    "xl.sin": lambda a, op: f"np.sin({a[0]})",
    "xl.cos": lambda a, op: f"np.cos({a[0]})",
    "xl.erf": lambda a, op: convert(f"math.erf({a[0]})", _dtype(op)),
    "xl.add": lambda a, op: f"({a[0]} + {a[1]})",
    "xl.sub": lambda a, op: f"({a[0]} - {a[1]})",
    "xl.mul": lambda a, op: f"({a[0]} * {a[1]})",
    "xl.div": lambda a, op: _div(a[0], a[1], op),
    "xl.rem": lambda a, op: _rem(a[0], a[1], op),
    "xl.floor": lambda a, op: f"np.floor({a[0]})",
    "xl.ceil": lambda a, op: f"np.ceil({a[0]})",
    "xl.round": lambda a, op: f"np.rint({a[0]})",
    "xl.pow": lambda a, op: f"({a[0]} ** {a[1]})",
    "xl.max": lambda a, op: _max(a[0], a[1], op),
    "xl.min": lambda a, op: _min(a[0], a[1], op),
    "xl.compare": lambda a, op: f"({a[0]} {_COMPARE[op.attributes['direction']]} {a[1]})",
    "xl.select": lambda a, op: f"({a[1]} if {a[0]} else {a[2]})",
    "xl.cast": lambda a, op: _cast(a[0], op),
}


class ScalarTable:
    """A target's element expressions: the shared table with the target's overrides."""

    def __init__(self, overrides: dict[str, Expr] | None = None) -> None:
        self.table: dict[str, Expr] = {**SCALAR, **(overrides or {})}

    def __contains__(self, name: str) -> bool:
        return name in self.table

    def __call__(self, op: Op, args: list[str]) -> str:
        expr = self.table[op.name](args, op)
        dtype = _dtype(op)
        if dtype.is_int and dtype.itemsize < 8 and op.name != "xl.cast":
            return convert(expr, dtype)  # wrap as NumPy does (see the module docstring)
        return expr


#: The shared table as is (no overrides).
PLAIN = ScalarTable()
