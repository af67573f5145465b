"""Elementwise ONNX ops: arithmetic, math, comparison and logic, activations, Where, Clip,
and the variadic Sum/Mean/Max/Min; all with multidirectional (NumPy) broadcasting."""

from __future__ import annotations

import math
from functools import reduce
from typing import Any

import numpy as np

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.tensor import TensorBase
from xlalite.ir.types import DType
from xlalite.onnx.ops.common import binary, broadcast, compare, is_float, scalar, select, t
from xlalite.onnx.registry import Node, handler

_ARITH = {"Add": "xl.add", "Sub": "xl.sub", "Mul": "xl.mul", "Max": "xl.max", "Min": "xl.min"}


@handler("Add", "Sub", "Mul")
def arith(node: Node, a: Any, b: Any) -> TensorBase:
    return binary(_ARITH[node.op_type], a, b)


@handler("Div")
def div(node: Node, a: Any, b: Any) -> TensorBase:
    return binary("xl.div", a, b)  # integers truncate toward zero, as ONNX (and C) define


@handler("Pow")
def pow_(node: Node, a: Any, b: Any) -> TensorBase:
    a, b = t(a), t(b)
    if is_float(a):
        return binary("xl.pow", a, b)
    # integer bases: computed in f64 (exact for every result an int64 holds to 2**53), cast back
    y = binary("xl.pow", xnp.astype(a, DType.F64), xnp.astype(b, DType.F64))
    return xnp.astype(xnp.round(y), a.dtype)


@handler("Mod")
def mod(node: Node, a: Any, b: Any) -> TensorBase:
    r = binary("xl.rem", a, b)  # C fmod: the sign of the dividend
    if node.attr("fmod", 0):
        return r
    # Python's %: the sign of the divisor (ONNX's rule for fmod=0)
    x, y = broadcast(a, xnp.astype(t(b), r.dtype))
    zero = scalar(0, r)
    fix = select(compare("ne", r, zero),
                 compare("ne", compare("lt", r, zero), compare("lt", y, zero)), np.False_)
    return select(fix, r + y, r)


_UNARY = {"Neg": xnp.negative, "Abs": xnp.abs, "Sign": xnp.sign, "Exp": xnp.exp, "Log": xnp.log,
          "Sqrt": xnp.sqrt, "Tanh": xnp.tanh, "Sigmoid": xnp.sigmoid, "Erf": xnp.erf,
          "Sin": xnp.sin, "Cos": xnp.cos, "Floor": xnp.floor, "Ceil": xnp.ceil,
          "Round": xnp.round}


@handler(*_UNARY)
def unary(node: Node, x: Any) -> TensorBase:
    x = t(x)
    if node.op_type in ("Floor", "Ceil", "Round") and not is_float(x):
        return x
    return _UNARY[node.op_type](x)


@handler("Reciprocal")
def reciprocal(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return scalar(1, x) / x


@handler("Tan")
def tan(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return xnp.sin(x) / xnp.cos(x)


# --- comparison and logic -------------------------------------------------------------------
_COMPARE = {"Equal": "eq", "Less": "lt", "LessOrEqual": "le", "Greater": "gt",
            "GreaterOrEqual": "ge"}


@handler(*_COMPARE)
def comparison(node: Node, a: Any, b: Any) -> TensorBase:
    return compare(_COMPARE[node.op_type], a, b)


@handler("Not")
def not_(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return select(x, np.False_, np.True_)


@handler("And", "Or", "Xor")
def logic(node: Node, a: Any, b: Any) -> TensorBase:
    if node.op_type == "And":
        return select(a, b, np.False_)
    if node.op_type == "Or":
        return select(a, np.True_, b)
    return compare("ne", a, b)


@handler("Where")
def where(node: Node, cond: Any, x: Any, y: Any) -> TensorBase:
    return select(cond, x, y)


@handler("IsNaN")
def isnan(node: Node, x: Any) -> TensorBase:
    return compare("ne", x, x)


@handler("IsInf")
def isinf(node: Node, x: Any) -> TensorBase:
    x = t(x)
    pos, neg = node.attr("detect_positive", 1), node.attr("detect_negative", 1)
    hits = [compare("eq", x, scalar(s * math.inf, x)) for s, on in ((1, pos), (-1, neg)) if on]
    if not hits:
        return xnp.broadcast_to(np.zeros((), bool), x.shape)
    return reduce(lambda p, q: select(p, np.True_, q), hits)


@handler("Clip")
def clip(node: Node, x: Any, lo: Any = None, hi: Any = None) -> TensorBase:
    x = t(x)
    if node.opset < 11:
        lo = node.attr("min", -np.inf)
        hi = node.attr("max", np.inf)
        lo, hi = np.asarray(lo, x.dtype), np.asarray(hi, x.dtype)
    if lo is not None:
        x = binary("xl.max", x, lo)
    if hi is not None:
        x = binary("xl.min", x, hi)  # min after max: where lo > hi every value is hi (spec)
    return x


@handler("Sum", "Mean", "Max", "Min")
def variadic(node: Node, *xs: Any) -> TensorBase:
    name = "xl.add" if node.op_type in ("Sum", "Mean") else _ARITH[node.op_type]
    out = reduce(lambda a, b: binary(name, a, b), xs[1:], t(xs[0]))
    if node.op_type == "Mean":
        out = out / scalar(len(xs), out)
    return out


# --- activations ------------------------------------------------------------------------------
@handler("Relu")
def relu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return binary("xl.max", x, scalar(0, x))


@handler("LeakyRelu")
def leaky_relu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return select(compare("lt", x, scalar(0, x)), x * scalar(node.attr("alpha", 0.01), x), x)


@handler("PRelu")
def prelu(node: Node, x: Any, slope: Any) -> TensorBase:
    x = t(x)
    return select(compare("lt", x, scalar(0, x)), binary("xl.mul", x, slope), x)


@handler("Elu")
def elu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    alpha = scalar(node.attr("alpha", 1.0), x)
    return select(compare("lt", x, scalar(0, x)), alpha * (xnp.exp(x) - scalar(1, x)), x)


@handler("Selu")
def selu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    alpha = scalar(node.attr("alpha", 1.67326319217681884765625), x)
    gamma = scalar(node.attr("gamma", 1.05070102214813232421875), x)
    neg = alpha * xnp.exp(x) - alpha
    return gamma * select(compare("le", x, scalar(0, x)), neg, x)


@handler("Celu")
def celu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    alpha = scalar(node.attr("alpha", 1.0), x)
    zero = scalar(0, x)
    neg = alpha * (xnp.exp(x / alpha) - scalar(1, x))
    return binary("xl.max", x, zero) + binary("xl.min", neg, zero)


@handler("HardSigmoid")
def hard_sigmoid(node: Node, x: Any) -> TensorBase:
    x = t(x)
    y = x * scalar(node.attr("alpha", 0.2), x) + scalar(node.attr("beta", 0.5), x)
    return binary("xl.min", binary("xl.max", y, scalar(0, x)), scalar(1, x))


@handler("HardSwish")
def hard_swish(node: Node, x: Any) -> TensorBase:
    x = t(x)
    y = x * scalar(1 / 6, x) + scalar(0.5, x)
    return x * binary("xl.min", binary("xl.max", y, scalar(0, x)), scalar(1, x))


def _softplus(x: TensorBase) -> TensorBase:
    # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)
    return binary("xl.max", x, scalar(0, x)) + xnp.log1p(xnp.exp(-xnp.abs(x)))


@handler("Softplus")
def softplus(node: Node, x: Any) -> TensorBase:
    return _softplus(t(x))


@handler("Softsign")
def softsign(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return x / (scalar(1, x) + xnp.abs(x))


@handler("Mish")
def mish(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return x * xnp.tanh(_softplus(x))


@handler("Gelu")
def gelu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    half, one = scalar(0.5, x), scalar(1, x)
    if node.choice("approximate", "none", ("none", "tanh")) == "tanh":
        inner = scalar(math.sqrt(2 / math.pi), x) * (x + scalar(0.044715, x) * x * x * x)
        return half * x * (one + xnp.tanh(inner))
    return half * x * (one + xnp.erf(x * scalar(1 / math.sqrt(2), x)))


@handler("ThresholdedRelu")
def thresholded_relu(node: Node, x: Any) -> TensorBase:
    x = t(x)
    return select(compare("gt", x, scalar(node.attr("alpha", 1.0), x)), x, scalar(0, x))


@handler("Identity")
def identity(node: Node, x: Any) -> Any:
    return x


@handler("Dropout", static=(2,))
def dropout(node: Node, x: Any, ratio: Any = None, training_mode: Any = None) -> Any:
    """Dropout at inference: the identity, and an all-true mask when asked for."""
    training = node.attr("is_test", 1) == 0 if node.opset < 7 else \
        training_mode is not None and bool(node.static(training_mode, "training_mode"))
    if training:
        raise node.unsupported("training-mode dropout (xlalite imports models for inference)")
    if node.output_used(1):
        return x, xnp.broadcast_to(np.ones((), bool), t(x).shape)
    return x
