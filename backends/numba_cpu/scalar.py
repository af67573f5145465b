"""Per-op scalar expressions for elementwise ops: the emitter table of loop kernels.

``SCALAR[name](args, op)`` returns Python/Numba source computing one element from the operand
expressions `args`. Constants are written with their dtype (``np.float32(1.0)``) so f32 code
stays f32. Adding an elementwise op adds one entry here.
"""

from __future__ import annotations

from collections.abc import Callable

from xlalite.ir.attributes import float_repr
from xlalite.ir.core import Op
from xlalite.ir.types import DType

_NP = {DType.F32: "np.float32", DType.F64: "np.float64", DType.I32: "np.int32",
       DType.I64: "np.int64", DType.BOOL: "np.bool_"}


def literal(value: object, dtype: DType) -> str:
    """A typed scalar literal."""
    if dtype is DType.BOOL:
        return "True" if value else "False"
    if dtype.is_int:
        return f"{_NP[dtype]}({int(value)})"
    text = float_repr(float(value))
    if text in ("inf", "-inf", "nan"):
        text = {"inf": "np.inf", "-inf": "-np.inf", "nan": "np.nan"}[text]
    return f"{_NP[dtype]}({text})"


def convert(expr: str, dtype: DType) -> str:
    return f"({expr} != 0)" if dtype is DType.BOOL else f"{_NP[dtype]}({expr})"


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


_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

Expr = Callable[[list[str], Op], str]

SCALAR: dict[str, Expr] = {
    "xl.neg": lambda a, op: f"(-{a[0]})",
    "xl.exp": lambda a, op: f"np.exp({a[0]})",
    "xl.log": lambda a, op: f"np.log({a[0]})",
    "xl.tanh": lambda a, op: f"np.tanh({a[0]})",
    "xl.logistic": lambda a, op: f"({_one(op)} / ({_one(op)} + np.exp(-{a[0]})))",
    "xl.sqrt": lambda a, op: f"np.sqrt({a[0]})",
    "xl.rsqrt": lambda a, op: f"({_one(op)} / np.sqrt({a[0]}))",
    "xl.abs": lambda a, op: f"abs({a[0]})",
    "xl.sign": lambda a, op: f"np.sign({a[0]})",
    "xl.sin": lambda a, op: f"np.sin({a[0]})",
    "xl.cos": lambda a, op: f"np.cos({a[0]})",
    "xl.erf": lambda a, op: convert(f"math.erf({a[0]})", _dtype(op)),
    "xl.add": lambda a, op: f"({a[0]} + {a[1]})",
    "xl.sub": lambda a, op: f"({a[0]} - {a[1]})",
    "xl.mul": lambda a, op: f"({a[0]} * {a[1]})",
    "xl.div": lambda a, op: f"({a[0]} / {a[1]})",
    "xl.pow": lambda a, op: f"({a[0]} ** {a[1]})",
    "xl.max": lambda a, op: _max(a[0], a[1], op),
    "xl.min": lambda a, op: _min(a[0], a[1], op),
    "xl.compare": lambda a, op: f"({a[0]} {_COMPARE[op.attributes['direction']]} {a[1]})",
    "xl.select": lambda a, op: f"({a[1]} if {a[0]} else {a[2]})",
    "xl.cast": lambda a, op: convert(a[0], op.attributes["dtype"]),
}


#: f32 overrides calling the vectorizable approximations of mathlib.py (unless exact_math)
APPROX_F32: dict[str, Expr] = {
    "xl.exp": lambda a, op: f"mm.exp_f32({a[0]})",
    "xl.tanh": lambda a, op: f"mm.tanh_f32({a[0]})",
    "xl.logistic": lambda a, op: f"({_one(op)} / ({_one(op)} + mm.exp_f32(-{a[0]})))",
}


def scalar_expr(op: Op, args: list[str], approx: bool) -> str:
    """The element expression of `op`, preferring f32 approximations when `approx`."""
    if approx and op.results[0].type.dtype is DType.F32 and op.name in APPROX_F32:
        return APPROX_F32[op.name](args, op)
    return SCALAR[op.name](args, op)
