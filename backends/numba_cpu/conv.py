"""Kernels for the convolution family: ``conv2d``, ``conv2d_grad_input``, ``conv2d_grad_weight``.

All three go through one column layout, ``cols[(c, i, j), (n, y, z)]`` (C/groups*KH*KW rows,
one column per output position, built by ``convlib.columns``) and BLAS GEMMs, a chunk of
images at a time so that a chunk's columns stay in the L2 cache between im2col and the GEMM:

* conv2d:      ``prod (O, chunk*OH*pitch) = W @ cols``, moved into N,O,OH,OW;
* grad_weight: ``dW += g_rows @ cols^T``, with g_rows the output gradient in the same layout;
* grad_input:  ``cols = W^T @ g_rows``, then the adjoint of im2col sums them back into dx.

Stride-1 convolutions use the padded input width as the row pitch (see convlib.py). An
elementwise epilogue (bias, activation, an optimizer update) then runs in place over the
result. The buffers live in the executable's scratch (one per executable, shared by every
kernel, since kernels run one after another); this module decides their sizes, and passes
the chunk, the pitch and the region boundaries as integer arguments, so one kernel source
still serves every shape. Integer conv2d (no BLAS) uses the direct loops of
``convlib.conv2d_int``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xlalite.backends.numba_cpu.loops import epilogue
from xlalite.ir.core import Op, Value

CONV_OPS = frozenset({"xl.conv2d", "xl.conv2d_grad_input", "xl.conv2d_grad_weight"})
ALIGN = 64  # scratch regions start on cache-line boundaries
#: target bytes of one chunk's columns and row matrix (about half of a 1 MiB L2 cache)
CHUNK_BYTES = 1 << 19
_FUNCTIONS = {"xl.conv2d": "conv2d", "xl.conv2d_grad_weight": "conv2d_grad_weight",
              "xl.conv2d_grad_input": "conv2d_grad_input"}


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def scratch_plan(conv: Op, full_product: bool) -> tuple[int, int, list[int]]:
    """(images per chunk, row pitch, region end offsets in bytes) of a float conv-family op:
    regions are the columns, the O-row matrix, padded input planes (stride 1 with padding)
    and, if `full_product`, the whole result (for an epilogue that reads out's old value)."""
    first, second = (v.type.shape for v in conv.operands)
    result = conv.results[0].type
    y, w = {"xl.conv2d": (result.shape, second), "xl.conv2d_grad_weight": (second, result.shape),
            "xl.conv2d_grad_input": (first, second)}[conv.name]
    n, o, oh, ow = y
    a = conv.attributes
    (top, bottom), (left, right) = a["padding"]
    in_h, in_w = a["input_size"] if conv.name == "xl.conv2d_grad_input" else first[2:]
    stride1 = tuple(a["stride"]) == (1, 1)
    pitch = in_w + left + right if stride1 else ow
    planes = w[1] * (in_h + top + bottom) * pitch if stride1 and (top or bottom or left or right) else 0
    ckk = math.prod(w[1:])
    itemsize = result.dtype.numpy.itemsize
    chunk = max(1, min(n, CHUNK_BYTES // (((ckk + o) * oh * pitch + planes) * itemsize)))
    counts = [ckk * chunk * oh * pitch, o * chunk * oh * pitch, chunk * planes,
              result.size if full_product else 0]
    ends, at = [], 0
    for c in counts:
        at += _aligned(c * itemsize)
        ends.append(at)
    return chunk, pitch, ends


def conv_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, approx: bool,
                in_place: bool) -> tuple[str, int, tuple[int, ...]]:
    """Source of the kernel for a conv-family anchor (+ epilogue), its scratch bytes and its
    integer arguments (chunk, pitch, region ends).

    `in_place`: ``out`` aliases an input the epilogue reads, so the convolution is formed in
    scratch first."""
    (conv,) = [op for op in ops if op.name in CONV_OPS]
    a = conv.attributes
    dtype = conv.results[0].type.dtype
    p, q = (f"in{inputs.index(v)}" for v in conv.operands)
    has_epilogue = root is not conv.results[0]
    product = "prod" if in_place and has_epilogue else "out"
    (top, bottom), (left, right) = a["padding"]
    params = [f"in{k}" for k in range(len(inputs))] + ["out"]
    if not dtype.is_float:  # integer conv2d: direct loops (BLAS has no integer GEMM)
        lines = [f"def kernel({', '.join(params)}):"]
        if product == "prod":
            lines.append("    prod = np.empty(out.shape, out.dtype)")
        lines.append(f"    convlib.conv2d_int({p}, {q}, {product}, {a['stride']}, {(top, left)}, "
                     f"{a['dilation']}, {a['groups']})")
        scratch, extents = 0, ()
    else:
        chunk, pitch, ends = scratch_plan(conv, product == "prod")
        lines = [f"def kernel({', '.join(params + ['scratch', 'chunk', 'pitch', 'b1', 'b2', 'b3', 'b4'])}):"]
        view = f".view(np.{dtype.numpy.name})"
        lines += [f"    colbuf = scratch[:b1]{view}", f"    tbuf = scratch[b1:b2]{view}",
                  f"    pbuf = scratch[b2:b3]{view}"]
        if product == "prod":
            lines.append(f"    prod = scratch[b3:b4]{view}[:out.size].reshape(out.shape)")
        geometry = f"{a['stride']}, {(top, left)}, {(bottom, right)}, {a['dilation']}, {a['groups']}"
        lines.append(f"    convlib.{_FUNCTIONS[conv.name]}({p}, {q}, {product}, colbuf, tbuf, pbuf, "
                     f"{geometry}, chunk, pitch)")
        scratch, extents = ends[-1], (chunk, pitch, *ends)
    if has_epilogue:
        epilogue(lines, conv, inputs, root, product, approx)
    return "\n".join(lines) + "\n", scratch, extents
