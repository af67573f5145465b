"""Elementwise ops: unary math, binary arithmetic, compare, select, cast.

Operands of binary ops have identical types: broadcasting is explicit in the IR
(``xl.broadcast_in_dim``), the front end inserts it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.special

from xlalite.ir.attributes import DTypeAttr, EnumAttr
from xlalite.ir.types import ALL_DTYPES, FLOATS, NUMERIC, DType, TensorType
from xlalite.ops import patterns as P
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_dtype, require_same

_T = TensorType((2, 3), DType.F32)
_BROADCAST_HINT = " (broadcasting must be explicit: use xl.broadcast_in_dim)"


def unary(name: str, fn: Callable[[np.ndarray], np.ndarray], doc: str,
          dtypes: frozenset[DType] = FLOATS, patterns: tuple = ()) -> OpDef:
    """Declare a unary elementwise op whose result has the operand's type."""

    def infer(x: TensorType) -> TensorType:
        require_dtype(name, "operand", x, dtypes)
        return x

    def reference(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x)).astype(x.dtype, copy=False)

    example = TensorType((2, 3), min(dtypes, key=lambda d: d.value))
    return register(OpDef(name, doc, ("x",), infer, reference, FusionKind.ELEMENTWISE,
                          example=lambda: ([example], {}), patterns=patterns))


def binary(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], doc: str,
           dtypes: frozenset[DType] = NUMERIC, patterns: tuple = ()) -> OpDef:
    """Declare a binary elementwise op over two operands of the same type."""

    def infer(lhs: TensorType, rhs: TensorType) -> TensorType:
        t = require_same(name, [lhs, rhs], _BROADCAST_HINT)
        require_dtype(name, "operands", t, dtypes)
        return t

    def reference(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        return np.asarray(fn(lhs, rhs)).astype(lhs.dtype, copy=False)

    return register(OpDef(name, doc, ("lhs", "rhs"), infer, reference, FusionKind.ELEMENTWISE,
                          example=lambda: ([_T, _T], {}), patterns=patterns))


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return np.reciprocal(np.sqrt(x))


NEG = unary("xl.neg", np.negative, "Negation, -x.", NUMERIC, patterns=(P.involution,))
EXP = unary("xl.exp", np.exp, "Exponential, e**x.")
LOG = unary("xl.log", np.log, "Natural logarithm.")
TANH = unary("xl.tanh", np.tanh, "Hyperbolic tangent.")
LOGISTIC = unary("xl.logistic", scipy.special.expit, "Logistic sigmoid, 1 / (1 + exp(-x)).")
SQRT = unary("xl.sqrt", np.sqrt, "Square root.")
RSQRT = unary("xl.rsqrt", _rsqrt, "Reciprocal square root, 1 / sqrt(x).")
ABS = unary("xl.abs", np.abs, "Absolute value.", NUMERIC)
SIGN = unary("xl.sign", np.sign, "Sign: -1, 0 or 1 (NaN stays NaN).", NUMERIC)
SIN = unary("xl.sin", np.sin, "Sine of an angle in radians.")
COS = unary("xl.cos", np.cos, "Cosine of an angle in radians.")
ERF = unary("xl.erf", scipy.special.erf, "Gauss error function.")

ADD = binary("xl.add", np.add, "Sum, lhs + rhs.",
             patterns=(P.identity_rhs(0), P.identity_lhs(0)))
SUB = binary("xl.sub", np.subtract, "Difference, lhs - rhs.", patterns=(P.identity_rhs(0),))
MUL = binary("xl.mul", np.multiply, "Product, lhs * rhs.",
             patterns=(P.identity_rhs(1), P.identity_lhs(1), P.int_mul_zero))
DIV = binary("xl.div", np.divide, "Quotient of floats, lhs / rhs.", FLOATS,
             patterns=(P.identity_rhs(1),))
POW = binary("xl.pow", np.power, "Power of floats, lhs ** rhs.", FLOATS)
MAX = binary("xl.max", np.maximum, "Elementwise maximum (NaN propagates).")
MIN = binary("xl.min", np.minimum, "Elementwise minimum (NaN propagates).")

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


SELECT = register(OpDef(
    "xl.select", "Elementwise choice: on_true where pred, else on_false.",
    ("pred", "on_true", "on_false"), _select_infer,
    lambda pred, on_true, on_false: np.where(pred, on_true, on_false),
    FusionKind.ELEMENTWISE,
    example=lambda: ([_T.with_dtype(DType.BOOL), _T, _T], {}),
    patterns=(P.select_constant_predicate,),
))


def _cast_infer(x: TensorType, dtype: DType) -> TensorType:
    require_dtype("xl.cast", "operand", x, ALL_DTYPES)
    return x.with_dtype(dtype)


CAST = register(OpDef(
    "xl.cast", "Convert elements to `dtype` (float to int truncates toward zero).",
    ("x",), _cast_infer,
    lambda x, dtype: x.astype(dtype.numpy),
    FusionKind.ELEMENTWISE,
    attrs=(AttrSpec("dtype", DTypeAttr(), doc="target element type"),),
    example=lambda: ([_T], {"dtype": DType.F64}),
    patterns=(P.same_type_is_noop,),
))
