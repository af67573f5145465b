"""Kernels for the convolution family: ``conv2d``, ``conv2d_grad_input``, ``conv2d_grad_weight``.

All three go through one column layout, ``cols[(c, i, j), (n, y, z)]`` (C/groups*KH*KW rows,
one column per output position, built by ``convlib.columns``) and BLAS GEMMs, a chunk of
images at a time so that a chunk's columns stay in the L2 cache between im2col and the GEMM:

* conv2d:      ``prod (O, chunk*OH*pitch) = W @ cols``, moved into N,O,OH,OW;
* grad_weight: ``dW += g_rows @ cols^T``, with g_rows the output gradient in the same layout;
* grad_input:  ``cols = W^T @ g_rows``, then the adjoint of im2col sums them back into dx.

Stride-1 convolutions whose padded width is close to the output width use it as the row
pitch ("wide rows", see convlib.py); the others use classic im2col (pitch = OW). An
elementwise epilogue (bias, activation, an optimizer update) then runs in place over the
result, as a generated kernel of its own. The buffers live in the executable's scratch (one
per executable, shared by every call, since calls run one after another); this module
decides their sizes. Integer conv2d (no BLAS) uses the direct loops of ``convlib.conv2d_int``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from xlalite.backends.numba_cpu.loops import epilogue
from xlalite.backends.numba_cpu.matmul import PARALLEL_MIN_MACS
from xlalite.ir.core import Op, Value
from xlalite.ir.types import TensorType
from xlalite.ops.registry import Trait, has_trait

ALIGN = 64  # scratch regions start on cache-line boundaries
#: target bytes of one chunk's columns and row matrix (a quarter of a 1 MiB L2 cache: the
#: best of 2^17..2^20 on LeNet's layers)
CHUNK_BYTES = 1 << 18
#: wide rows (see convlib.py) only when the padded width adds at most this much GEMM work;
#: LeNet's 28->28 layer (pitch 32) is 20% faster wide, its 14->10 layer (14) 35% slower
WIDE_MAX_OVERHEAD = 1.2
_FUNCTIONS = {"xl.conv2d": "conv2d_slot", "xl.conv2d_grad_weight": "grad_weight_slot",
              "xl.conv2d_grad_input": "grad_input_slot"}


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _geometry(conv: Op) -> tuple[int, int, int, int]:
    """(images, column rows C/groups*KH*KW, output channels O, output positions OH*OW)."""
    first, second = (v.type.shape for v in conv.operands)
    result = conv.results[0].type.shape
    y, w = {"xl.conv2d": (result, second), "xl.conv2d_grad_weight": (second, result),
            "xl.conv2d_grad_input": (first, second)}[conv.name]
    return y[0], math.prod(w[1:]), w[0], y[2] * y[3]


def scratch_plan(conv: Op, slots: int, full_product: bool) -> tuple[int, int, list[int]]:
    """(images per chunk, row pitch, region end offsets in bytes) of a float conv-family op.

    Regions: the columns, the O-row matrix and padded input planes (stride 1 with padding),
    each `slots` times; for grad_weight `slots` partial sums; and, if `full_product`, the whole
    result (for an epilogue that reads out's old value)."""
    first, second = (v.type.shape for v in conv.operands)
    result = conv.results[0].type
    y, w = {"xl.conv2d": (result.shape, second), "xl.conv2d_grad_weight": (second, result.shape),
            "xl.conv2d_grad_input": (first, second)}[conv.name]
    n, o, oh, ow = y
    a = conv.attributes
    (top, bottom), (left, right) = a["padding"]
    in_h, in_w = a["input_size"] if conv.name == "xl.conv2d_grad_input" else first[2:]
    wide = tuple(a["stride"]) == (1, 1) and in_w + left + right <= WIDE_MAX_OVERHEAD * ow
    pitch = in_w + left + right if wide else ow
    planes = w[1] * (in_h + top + bottom) * pitch if wide and (top or bottom or left or right) else 0
    ckk = math.prod(w[1:])
    itemsize = result.dtype.numpy.itemsize
    chunk = max(1, min(n, CHUNK_BYTES // (((ckk + o) * oh * pitch + planes) * itemsize)))
    counts = [slots * ckk * chunk * oh * pitch, slots * o * chunk * oh * pitch, slots * chunk * planes,
              slots * o * ckk if conv.name == "xl.conv2d_grad_weight" else 0,
              result.size if full_product else 0]
    ends, at = [], 0
    for c in counts:
        at += _aligned(c * itemsize)
        ends.append(at)
    return chunk, pitch, ends


@dataclass
class ConvCall:
    """What the driver runs for a conv-family group: library calls, then an epilogue kernel."""

    lines: list[str]  # driver statements (they may slice the executable's ``scratch``)
    scratch: int  # scratch bytes they need
    epilogue: str | None = None  # source of the elementwise epilogue kernel, if any
    epilogue_args: list[str] = field(default_factory=list)  # its array arguments, in order
    product_type: TensorType | None = None  # the convolution's type when formed apart (last arg)


def conv_call(ops: Sequence[Op], inputs: Sequence[Value], root: Value, ins: Sequence[str],
              dest: str, approx: bool, alias: int, slots: int, parallel: bool) -> ConvCall:
    """The driver code for a conv-family anchor (+ epilogue) reading `ins`, writing `dest`.

    The driver calls convlib itself rather than through a generated kernel: a kernel that
    calls convlib links its whole code and LLVM optimizes it again for every kernel (7-12 s
    per layer, cold), while a call from Python reuses the one compiled copy. Numbers go in as
    Python ints, so every layer shares one compiled signature. `alias`: the input `dest`
    overwrites in place (-1: none); the epilogue reads it, so the convolution is then formed
    in scratch first. `slots`: parallel workers the chunks are spread over."""
    (conv,) = [op for op in ops if has_trait(op, Trait.CONVOLUTION)]
    a = conv.attributes
    result = conv.results[0].type
    dtype = result.dtype
    x, w = (ins[inputs.index(v)] for v in conv.operands)
    n, ckk, o, positions = _geometry(conv)
    if n * ckk * o * positions < PARALLEL_MIN_MACS:
        slots = 1  # a second thread costs more than it saves
    has_epilogue = root is not conv.results[0]
    # the epilogue's result cannot hold the convolution if it aliases an input the epilogue
    # reads, or has another element type (a comparison, a cast)
    separate = has_epilogue and (alias >= 0 or root.type.dtype != dtype)
    product = "prod" if separate else dest
    (top, bottom), (left, right) = a["padding"]
    stride, dilation = tuple(a["stride"]), tuple(a["dilation"])
    lines: list[str] = []
    if not dtype.is_float:  # integer conv2d: direct loops (BLAS has no integer GEMM)
        if product == "prod":
            lines.append(f"    prod = empty({result.shape}, np.{dtype.numpy.name})")
        lines.append(f"    convlib.conv2d_int({x}, {w}, {product}, {stride}, {(top, left)}, "
                     f"{dilation}, {a['groups']})")
        scratch = 0
    else:
        chunk, pitch, ends = scratch_plan(conv, slots, product == "prod")
        view = f".view(np.{dtype.numpy.name})"
        starts = [0, *ends[:-1]]
        for name, lo, hi in zip(("colbuf", "tbuf", "pbuf", "accbuf"), starts, ends):
            lines.append(f"    {name} = scratch[{lo}:{hi}]{view}")
        if product == "prod":
            lines.append(f"    prod = scratch[{ends[3]}:{ends[3] + result.nbytes}]{view}"
                         f".reshape({result.shape})")
        acc = "accbuf, " if conv.name == "xl.conv2d_grad_weight" else ""
        lines.append(f"    run_slots(convlib.{_FUNCTIONS[conv.name]}, {slots}, {x}, {w}, {product}, "
                     f"colbuf, tbuf, pbuf, {acc}{stride}, {(top, left)}, {(bottom, right)}, "
                     f"{dilation}, {a['groups']}, {chunk}, {pitch})")
        if conv.name == "xl.conv2d_grad_weight":
            lines.append(f"    convlib.sum_parts(accbuf, {product}, {a['groups']}, {slots})")
        scratch = ends[-1]
    call = ConvCall(lines, scratch, product_type=result if separate else None)
    if has_epilogue:
        params = [f"in{k}" for k in range(len(inputs))] + ["out"] + (["prod"] if product == "prod" else [])
        body = [f"def kernel({', '.join(params)}):"]
        epilogue(body, conv, inputs, root, "prod" if product == "prod" else "out", approx, parallel,
                 alias)
        call.epilogue = "\n".join(body) + "\n"
        call.epilogue_args = list(ins) + [dest] + (["prod"] if product == "prod" else [])
    return call
