"""Elementwise ops: unary math, binary arithmetic, compare, select, cast.

Operands of binary ops have identical types: broadcasting is explicit in the IR
(``xl.broadcast_in_dim``), the front end inserts it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xlalite.ir.attributes import DTypeAttr, EnumAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import ALL_DTYPES, FLOATS, NUMERIC, DType, TensorType
from xlalite.ops import merge_patterns as M
from xlalite.ops import patterns as P
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_dtype, require_same

_T = TensorType((2, 3), DType.F32)
_BROADCAST_HINT = " (broadcasting must be explicit: use xl.broadcast_in_dim)"


POSITIVE = (0.0, np.inf)


# SciPy's references, imported on first use: ``import scipy.special`` alone takes ~0.2 s,
# more than the rest of ``import xlalite``
def _expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)


def unary(name: str, fn: Callable[[np.ndarray], np.ndarray], doc: str,
          dtypes: frozenset[DType] = FLOATS, patterns: tuple = (), vjp: Callable | None = None,
          domain: tuple[float, float] = (-np.inf, np.inf)) -> OpDef:
    """Declare a unary elementwise op whose result has the operand's type."""

    def infer(x: TensorType) -> TensorType:
        require_dtype(name, "operand", x, dtypes)
        return x

    def reference(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x)).astype(x.dtype, copy=False)

    example = TensorType((2, 3), min(dtypes, key=lambda d: d.value))
    return register(OpDef(name, doc, ("x",), infer, reference, FusionKind.ELEMENTWISE,
                          example=lambda: ([example], {}), patterns=patterns, vjp=vjp,
                          domain=domain))


def binary(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], doc: str,
           dtypes: frozenset[DType] = NUMERIC, patterns: tuple = (), vjp: Callable | None = None,
           domain: tuple[float, float] = (-np.inf, np.inf)) -> OpDef:
    """Declare a binary elementwise op over two operands of the same type."""

    def infer(lhs: TensorType, rhs: TensorType) -> TensorType:
        t = require_same(name, [lhs, rhs], _BROADCAST_HINT)
        require_dtype(name, "operands", t, dtypes)
        return t

    def reference(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        return np.asarray(fn(lhs, rhs)).astype(lhs.dtype, copy=False)

    return register(OpDef(name, doc, ("lhs", "rhs"), infer, reference, FusionKind.ELEMENTWISE,
                          example=lambda: ([_T, _T], {}), patterns=patterns, vjp=vjp,
                          domain=domain))


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return np.reciprocal(np.sqrt(x))


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Floats divide; integers truncate toward zero (C's and ONNX's rule, not Python's floor)."""
    if a.dtype.kind == "f":
        return np.divide(a, b)
    with np.errstate(divide="ignore"):
        q, r = np.floor_divide(a, b), np.remainder(a, b)
    return q + ((r != 0) & ((a < 0) != (b < 0)))


def _fmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.fmod(a, b)


# VJP rules: forward form in the docstring, backward as code. x: operand, y: result,
# g: cotangent of y. Each returns one cotangent per operand (None: no gradient flows).
def _vjp_neg(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = -x  =>  dx = -g"""
    return [e.neg(g)]


def _vjp_exp(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = exp(x)  =>  dx = g * y"""
    return [e.mul(g, op.result)]


def _vjp_log(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = log(x)  =>  dx = g / x"""
    return [e.div(g, op.operands[0])]


def _vjp_log1p(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = log(1 + x)  =>  dx = g / (1 + x)"""
    x = op.operands[0]
    return [e.div(g, e.add(e.const(x, 1.0), x))]


def _vjp_tanh(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = tanh(x)  =>  dx = g * (1 - y²)"""
    y = op.result
    return [e.mul(g, e.sub(e.const(y, 1), e.mul(y, y)))]


def _vjp_logistic(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = σ(x)  =>  dx = g * y * (1 - y)"""
    y = op.result
    return [e.mul(g, e.mul(y, e.sub(e.const(y, 1), y)))]


def _vjp_sqrt(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = √x  =>  dx = g / (2y)"""
    return [e.div(g, e.scale(op.result, 2))]


def _vjp_rsqrt(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = x^-½  =>  dx = -½ g y / x"""
    return [e.scale(e.div(e.mul(g, op.result), op.operands[0]), -0.5)]


def _vjp_abs(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = |x|  =>  dx = g * sign(x)"""
    return [e.mul(g, e.sign(op.operands[0]))]


def _vjp_zero(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """Piecewise constant (sign): the derivative is zero wherever it exists."""
    return [None] * len(op.operands)


def _vjp_sin(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = sin(x)  =>  dx = g * cos(x)"""
    return [e.mul(g, e.cos(op.operands[0]))]


def _vjp_cos(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = cos(x)  =>  dx = -g * sin(x)"""
    return [e.neg(e.mul(g, e.sin(op.operands[0])))]


def _vjp_erf(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = erf(x)  =>  dx = g * 2/√π * exp(-x²)"""
    x = op.operands[0]
    return [e.mul(g, e.scale(e.exp(e.neg(e.mul(x, x))), 2 / np.sqrt(np.pi)))]


def _vjp_add(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = a + b  =>  da = g, db = g"""
    return [g, g]


def _vjp_sub(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = a - b  =>  da = g, db = -g"""
    return [g, e.neg(g)]


def _vjp_mul(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = a * b  =>  da = g * b, db = g * a"""
    a, b = op.operands
    return [e.mul(g, b), e.mul(g, a)]


def _vjp_div(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = a / b  =>  da = g / b, db = -g * y / b"""
    b = op.operands[1]
    return [e.div(g, b), e.neg(e.div(e.mul(g, op.result), b))]


def _vjp_rem(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = a - b * trunc(a / b)  =>  da = g, db = -g * (a - y) / b"""
    a, b = op.operands
    return [g, e.neg(e.div(e.mul(g, e.sub(a, op.result)), b))]


def _vjp_pow(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = a ** b  =>  da = g * b * a**(b-1), db = g * y * log(a) (0 where a = 0)"""
    a, b = op.operands
    da = e.mul(g, e.mul(b, e.pow(a, e.sub(b, e.const(b, 1)))))
    safe_a = e.select(e.compare(a, e.zeros(a), "eq"), e.const(a, 1), a)
    return [da, e.mul(g, e.mul(op.result, e.log(safe_a)))]


def _vjp_minmax(direction: str):
    def rule(e, op, g):
        """y = max(a, b) (or min)  =>  g goes to the winner; ties split it half and half"""
        a, b = op.operands
        half = e.scale(g, 0.5)
        tie = e.compare(a, b, "eq")
        a_wins = e.compare(a, b, direction)
        b_wins = e.compare(b, a, direction)
        da = e.select(a_wins, g, e.where_zero(tie, half))
        db = e.select(b_wins, g, e.where_zero(tie, half))
        return [da, db]

    return rule


NEG = unary("xl.neg", np.negative, "Negation, -x.", NUMERIC, patterns=(P.involution,), vjp=_vjp_neg)
EXP = unary("xl.exp", np.exp, "Exponential, e**x.", vjp=_vjp_exp)
LOG = unary("xl.log", np.log, "Natural logarithm.", vjp=_vjp_log, domain=POSITIVE)
LOG1P = unary("xl.log1p", np.log1p, "log(1 + x), accurate for small x.", vjp=_vjp_log1p,
              domain=(-1.0, np.inf))
TANH = unary("xl.tanh", np.tanh, "Hyperbolic tangent.", vjp=_vjp_tanh)
LOGISTIC = unary("xl.logistic", _expit, "Logistic sigmoid, 1 / (1 + exp(-x)).",
                 vjp=_vjp_logistic)
SQRT = unary("xl.sqrt", np.sqrt, "Square root.", vjp=_vjp_sqrt, domain=POSITIVE)
RSQRT = unary("xl.rsqrt", _rsqrt, "Reciprocal square root, 1 / sqrt(x).", vjp=_vjp_rsqrt,
              domain=POSITIVE)
ABS = unary("xl.abs", np.abs, "Absolute value.", NUMERIC, vjp=_vjp_abs)
SIGN = unary("xl.sign", np.sign, "Sign: -1, 0 or 1 (NaN stays NaN).", NUMERIC, vjp=_vjp_zero)
SIN = unary("xl.sin", np.sin, "Sine of an angle in radians.", vjp=_vjp_sin)
COS = unary("xl.cos", np.cos, "Cosine of an angle in radians.", vjp=_vjp_cos)
ERF = unary("xl.erf", _erf, "Gauss error function.", vjp=_vjp_erf)
FLOOR = unary("xl.floor", np.floor, "Largest integer not above x.", vjp=_vjp_zero)
CEIL = unary("xl.ceil", np.ceil, "Smallest integer not below x.", vjp=_vjp_zero)
ROUND = unary("xl.round", np.rint, "Nearest integer, halves to even (as np.rint).", vjp=_vjp_zero)

ADD = binary("xl.add", np.add, "Sum, lhs + rhs.",
             patterns=(P.identity_rhs(0), P.identity_lhs(0), M.add_of_adjacent_pads),
             vjp=_vjp_add)
SUB = binary("xl.sub", np.subtract, "Difference, lhs - rhs.", patterns=(P.identity_rhs(0),),
             vjp=_vjp_sub)
MUL = binary("xl.mul", np.multiply, "Product, lhs * rhs.",
             patterns=(P.identity_rhs(1), P.identity_lhs(1), P.int_mul_zero), vjp=_vjp_mul)
DIV = binary("xl.div", _divide, "Quotient, lhs / rhs (integers truncate toward zero).",
             patterns=(P.identity_rhs(1),), vjp=_vjp_div)
POW = binary("xl.pow", np.power, "Power of floats, lhs ** rhs.", FLOATS, vjp=_vjp_pow,
             patterns=(P.small_power,), domain=POSITIVE)
REM = binary("xl.rem", _fmod, "Remainder of truncated division, with the sign of lhs "
             "(C's fmod; integer x % 0 is 0).", vjp=_vjp_rem)
MAX = binary("xl.max", np.maximum, "Elementwise maximum (NaN propagates).", vjp=_vjp_minmax("gt"))
MIN = binary("xl.min", np.minimum, "Elementwise minimum (NaN propagates).", vjp=_vjp_minmax("lt"))

COMPARISONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less,
    "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
}


def _compare_infer(lhs: TensorType, rhs: TensorType, direction: str) -> TensorType:
    t = require_same("xl.compare", [lhs, rhs], _BROADCAST_HINT)
    return t.with_dtype(DType.BOOL)


COMPARE = register(OpDef(
    "xl.compare", "Elementwise comparison `lhs <direction> rhs`, producing bool.",
    ("lhs", "rhs"), _compare_infer,
    lambda lhs, rhs, direction: np.asarray(COMPARISONS[direction](lhs, rhs)),
    FusionKind.ELEMENTWISE,
    attrs=(AttrSpec("direction", EnumAttr(*COMPARISONS), doc="eq, ne, lt, le, gt or ge"),),
    example=lambda: ([_T, _T], {"direction": "lt"}),
    differentiable=False,
))


def _select_infer(pred: TensorType, on_true: TensorType, on_false: TensorType) -> TensorType:
    t = require_same("xl.select", [on_true, on_false], _BROADCAST_HINT)
    require_dtype("xl.select", "predicate", pred, {DType.BOOL})
    if pred.shape != t.shape:
        raise ShapeError(
            f"'xl.select' predicate shape {list(pred.shape)} differs from value shape "
            f"{list(t.shape)}"
        )
    return t


def _vjp_select(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = select(p, a, b)  =>  da = select(p, g, 0), db = select(p, 0, g)"""
    pred = op.operands[0]
    return [None, e.where_zero(pred, g), e.select(pred, e.zeros(g), g)]


SELECT = register(OpDef(
    "xl.select", "Elementwise choice: on_true where pred, else on_false.",
    ("pred", "on_true", "on_false"), _select_infer,
    lambda pred, on_true, on_false: np.where(pred, on_true, on_false),
    FusionKind.ELEMENTWISE,
    example=lambda: ([_T.with_dtype(DType.BOOL), _T, _T], {}),
    patterns=(P.select_constant_predicate,), vjp=_vjp_select,
))


def _cast_infer(x: TensorType, dtype: DType) -> TensorType:
    require_dtype("xl.cast", "operand", x, ALL_DTYPES)
    return x.with_dtype(dtype)


def _vjp_cast(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = cast(x)  =>  dx = cast(g) back to x's type (float to float only; no gradient
    flows into or out of integers)"""
    x = op.operands[0]
    if not (x.type.dtype.is_float and g.type.dtype.is_float):
        return [None]
    return [e.cast(g, x.type.dtype)]


CAST = register(OpDef(
    "xl.cast", "Convert elements to `dtype` (float to int truncates toward zero).",
    ("x",), _cast_infer,
    lambda x, dtype: x.astype(dtype.numpy),
    FusionKind.ELEMENTWISE,
    attrs=(AttrSpec("dtype", DTypeAttr(), doc="target element type"),),
    example=lambda: ([_T], {"dtype": DType.F64}),
    patterns=(P.same_type_is_noop,), vjp=_vjp_cast,
))
