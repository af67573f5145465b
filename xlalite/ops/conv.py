"""Convolution ops (NCHW): ``xl.conv2d`` and its two gradient forms.

``conv2d_grad_input`` (the transposed convolution) and ``conv2d_grad_weight`` are the same
bilinear map as ``conv2d``, seen from each of its sides. For y = conv2d(x, w) and any g shaped
like y::

    <g, conv2d(x, w)> = <conv2d_grad_input(g, w), x> = <conv2d_grad_weight(x, g), w>

so every VJP in this family is made of the other two members, and derivatives of any order
stay three ops a backend can run as im2col + GEMM (no dilated or flipped convolutions).
"""

from __future__ import annotations

import numpy as np

from xlalite.ir.attributes import IntAttr, IntListAttr, IntListListAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import FLOATS, NUMERIC, DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, Trait, register
from xlalite.ops.rules import require_dtype, require_len, require_pairs, windowed_dim

#: attributes shared by all three ops, with the same meaning
CONV_ATTRS = (
    AttrSpec("stride", IntListAttr(2), default=(1, 1)),
    AttrSpec("padding", IntListListAttr(2), default=((0, 0), (0, 0)),
             doc="[[top, bottom], [left, right]]"),
    AttrSpec("dilation", IntListAttr(2), default=(1, 1)),
    AttrSpec("groups", IntAttr(), default=1),
)
CONV_ATTR_NAMES = tuple(a.name for a in CONV_ATTRS)


def conv_attrs(op) -> dict[str, object]:
    """The shared geometry attributes of a conv-family op (to build its relatives)."""
    return {k: op.attributes[k] for k in CONV_ATTR_NAMES}


def conv_output_hw(name: str, x: TensorType, w: TensorType, stride, padding, dilation,
                   groups) -> tuple[int, int]:
    """Check an input N,C,H,W against a weight O,C/groups,KH,KW; return (OH, OW)."""
    if x.rank != 4 or w.rank != 4:
        raise ShapeError(f"'{name}' needs input N,C,H,W and weight O,C/groups,KH,KW; got {x}, {w}")
    require_len(name, "stride", stride, 2)
    require_len(name, "dilation", dilation, 2)
    require_pairs(name, "padding", padding, 2)
    c, (o, cg) = x.shape[1], w.shape[:2]
    if groups < 1 or c % groups or o % groups or cg * groups != c:
        raise ShapeError(
            f"'{name}' with groups={groups}: input channels {c} and output channels {o} must "
            f"divide by groups and the weight must have {c // max(groups, 1)} input channels, got {cg}"
        )
    (lo_h, hi_h), (lo_w, hi_w) = padding
    return (windowed_dim(name, x.shape[2], w.shape[2], stride[0], lo_h, hi_h, dilation[0]),
            windowed_dim(name, x.shape[3], w.shape[3], stride[1], lo_w, hi_w, dilation[1]))


def _same_dtype(name: str, a: TensorType, b: TensorType, allowed) -> None:
    if a.dtype != b.dtype:
        raise ShapeError(f"'{name}' operands {a} and {b} differ in element type")
    require_dtype(name, "operands", a, allowed)


def _require_rank4(name: str, *types: TensorType) -> None:
    for t in types:
        if t.rank != 4:
            raise ShapeError(f"'{name}' operands must be rank-4 (NCHW / OIHW), got {t}")


def _require_dy(name: str, g: TensorType, want: tuple[int, ...]) -> None:
    if g.shape != want:
        raise ShapeError(f"'{name}' output gradient must be {list(want)} for this geometry, got {g}")


# ------------------------------------------------------------------------ conv2d
_CONV = "xl.conv2d"


def _conv_infer(x: TensorType, w: TensorType, stride, padding, dilation, groups) -> TensorType:
    _same_dtype(_CONV, x, w, NUMERIC)
    oh, ow = conv_output_hw(_CONV, x, w, stride, padding, dilation, groups)
    return TensorType((x.shape[0], w.shape[0], oh, ow), x.dtype)


def _taps(x_padded: np.ndarray, kh: int, kw: int, oh: int, ow: int, stride, dilation):
    """For each kernel tap (i, j): the strided window of the padded input it meets."""
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                         slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))


def _pad_hw(x: np.ndarray, padding) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), tuple(padding[0]), tuple(padding[1])))


def _conv_reference(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups) -> np.ndarray:
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    oh, ow = _conv_infer(TensorType.of(x), TensorType.of(w), stride, padding, dilation,
                         groups).shape[2:]
    xp = _pad_hw(x, padding)
    xg = xp.reshape(n, groups, cg, *xp.shape[2:])
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    out = np.zeros((n, groups, o // groups, oh, ow), dtype=x.dtype)
    for i, j, (ys, zs) in _taps(xp, kh, kw, oh, ow, stride, dilation):  # one contraction per tap
        out += np.einsum("ngchw,goc->ngohw", xg[..., ys, zs], wg[..., i, j]).astype(x.dtype, copy=False)
    return out.reshape(n, o, oh, ow)


def _vjp_conv2d(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = conv2d(x, w)  =>  dx = conv2d_grad_input(g, w), dw = conv2d_grad_weight(x, g)"""
    x, w = op.operands
    a = conv_attrs(op)
    return [e.op("xl.conv2d_grad_input", g, w, input_size=x.type.shape[2:], **a),
            e.op("xl.conv2d_grad_weight", x, g, kernel_size=w.type.shape[2:], **a)]


CONVOLUTION = frozenset({Trait.CONVOLUTION})

CONV2D = register(OpDef(
    _CONV,
    "2-D convolution (cross-correlation) of input N,C,H,W with weight O,C/groups,KH,KW.",
    ("x", "w"), _conv_infer, _conv_reference, FusionKind.MATMUL,
    traits=CONVOLUTION, attrs=CONV_ATTRS,
    example=lambda: ([TensorType((2, 4, 5, 5), DType.F32), TensorType((6, 2, 3, 3), DType.F32)],
                     {"stride": (2, 1), "padding": ((1, 1), (0, 1)), "dilation": (1, 1), "groups": 2}),
    vjp=_vjp_conv2d,
))


# ------------------------------------------------------------------------ conv2d_grad_input
_GRAD_INPUT = "xl.conv2d_grad_input"


def _grad_input_infer(g: TensorType, w: TensorType, input_size, stride, padding, dilation,
                      groups) -> TensorType:
    _require_rank4(_GRAD_INPUT, g, w)
    _same_dtype(_GRAD_INPUT, g, w, FLOATS)
    require_len(_GRAD_INPUT, "input_size", input_size, 2)
    x = TensorType((g.shape[0], w.shape[1] * groups, *input_size), g.dtype)
    oh, ow = conv_output_hw(_GRAD_INPUT, x, w, stride, padding, dilation, groups)
    _require_dy(_GRAD_INPUT, g, (x.shape[0], w.shape[0], oh, ow))
    return x


def _grad_input_reference(g: np.ndarray, w: np.ndarray, input_size, stride, padding, dilation,
                          groups) -> np.ndarray:
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    h, wd = input_size
    xp = np.zeros((n, groups, cg, h + sum(padding[0]), wd + sum(padding[1])), dtype=g.dtype)
    gg = g.reshape(n, groups, o // groups, oh, ow)
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    for i, j, (ys, zs) in _taps(xp, kh, kw, oh, ow, stride, dilation):
        xp[..., ys, zs] += np.einsum("ngohw,goc->ngchw", gg, wg[..., i, j]).astype(g.dtype, copy=False)
    (top, _), (left, _) = padding
    return xp[..., top:top + h, left:left + wd].reshape(n, groups * cg, h, wd)


def _vjp_grad_input(e: Emitter, op: Op, u: Value) -> list[Value | None]:
    """dx = conv2d_grad_input(g, w)  =>  dg = conv2d(u, w), dw = conv2d_grad_weight(u, g)"""
    g, w = op.operands
    a = conv_attrs(op)
    return [e.op(_CONV, u, w, **a),
            e.op("xl.conv2d_grad_weight", u, g, kernel_size=w.type.shape[2:], **a)]


CONV2D_GRAD_INPUT = register(OpDef(
    _GRAD_INPUT,
    "Transposed convolution: the gradient of conv2d with respect to its input, from the output "
    "gradient N,O,OH,OW and the weight; `input_size` is the input's H,W.",
    ("g", "w"), _grad_input_infer, _grad_input_reference, FusionKind.MATMUL,
    traits=CONVOLUTION,
    attrs=(AttrSpec("input_size", IntListAttr(2), doc="H, W of the convolution's input"),
           *CONV_ATTRS),
    example=lambda: ([TensorType((2, 6, 3, 4), DType.F32), TensorType((6, 2, 3, 3), DType.F32)],
                     {"input_size": (5, 5), "stride": (2, 1), "padding": ((1, 1), (0, 1)),
                      "dilation": (1, 1), "groups": 2}),
    vjp=_vjp_grad_input,
))


# ------------------------------------------------------------------------ conv2d_grad_weight
_GRAD_WEIGHT = "xl.conv2d_grad_weight"


def _grad_weight_infer(x: TensorType, g: TensorType, kernel_size, stride, padding, dilation,
                       groups) -> TensorType:
    _require_rank4(_GRAD_WEIGHT, x, g)
    _same_dtype(_GRAD_WEIGHT, x, g, FLOATS)
    require_len(_GRAD_WEIGHT, "kernel_size", kernel_size, 2)
    if groups < 1 or x.shape[1] % groups:
        raise ShapeError(f"'{_GRAD_WEIGHT}' input channels {x.shape[1]} must divide by groups={groups}")
    w = TensorType((g.shape[1], x.shape[1] // groups, *kernel_size), x.dtype)
    oh, ow = conv_output_hw(_GRAD_WEIGHT, x, w, stride, padding, dilation, groups)
    _require_dy(_GRAD_WEIGHT, g, (x.shape[0], w.shape[0], oh, ow))
    return w


def _grad_weight_reference(x: np.ndarray, g: np.ndarray, kernel_size, stride, padding, dilation,
                           groups) -> np.ndarray:
    n, c = x.shape[:2]
    o, oh, ow = g.shape[1:]
    kh, kw = kernel_size
    xp = _pad_hw(x, padding)
    xg = xp.reshape(n, groups, c // groups, *xp.shape[2:])
    gg = g.reshape(n, groups, o // groups, oh, ow)
    out = np.zeros((groups, o // groups, c // groups, kh, kw), dtype=x.dtype)
    for i, j, (ys, zs) in _taps(xp, kh, kw, oh, ow, stride, dilation):
        out[..., i, j] = np.einsum("ngchw,ngohw->goc", xg[..., ys, zs], gg)
    return out.reshape(o, c // groups, kh, kw)


def _vjp_grad_weight(e: Emitter, op: Op, u: Value) -> list[Value | None]:
    """dw = conv2d_grad_weight(x, g)  =>  dx = conv2d_grad_input(g, u), dg = conv2d(x, u)"""
    x, g = op.operands
    a = conv_attrs(op)
    return [e.op(_GRAD_INPUT, g, u, input_size=x.type.shape[2:], **a), e.op(_CONV, x, u, **a)]


CONV2D_GRAD_WEIGHT = register(OpDef(
    _GRAD_WEIGHT,
    "The gradient of conv2d with respect to its weight, from the input N,C,H,W and the output "
    "gradient N,O,OH,OW; `kernel_size` is the weight's KH,KW.",
    ("x", "g"), _grad_weight_infer, _grad_weight_reference, FusionKind.MATMUL,
    traits=CONVOLUTION,
    attrs=(AttrSpec("kernel_size", IntListAttr(2), doc="KH, KW of the weight"), *CONV_ATTRS),
    example=lambda: ([TensorType((2, 4, 5, 5), DType.F32), TensorType((2, 6, 3, 4), DType.F32)],
                     {"kernel_size": (3, 3), "stride": (2, 1), "padding": ((1, 1), (0, 1)),
                      "dilation": (1, 1), "groups": 2}),
    vjp=_vjp_grad_weight,
))
