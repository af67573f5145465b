"""CUDA kernels for matrix products (``dot_general``) and the conv2d family, each with its
fused elementwise epilogue (bias, activation, an optimizer update) applied to the
accumulator before the one store.

* ``dot_general``: a tiled shared-memory product over the (batch, M, N) grid, TILE x TILE
  threads per block, reading both operands in their own layout (contract, batch and free
  dims are mapped by index arithmetic, so a transposed operand is never copied);
* ``conv2d`` and ``conv2d_grad_input``: direct kernels, one thread per output element
  summing over its taps (grad_input gathers the output positions each input feeds);
* ``conv2d_grad_weight``: one block per weight element, its threads sharing the sum over
  images and positions, then a shared-memory tree (the per-weight sums are long and few).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xlalite.backends.numba_common.expr import combine, index_text
from xlalite.backends.numba_common.scalar import literal
from xlalite.backends.numba_cuda.kernels import (
    MAX_BLOCKS,
    THREADS,
    CudaKernel,
    decompose,
    element_gen,
    flat_statements,
    grid_for,
)
from xlalite.ir.core import Op, Value
from xlalite.ops.linalg import free_dims

TILE = 8 if THREADS < 256 else 16  # the simulator's blocks stay small (see THREADS)


def _split(flat: str, names: Sequence[str], extents: Sequence[int], pad: str) -> list[str]:
    """Statements splitting `flat` into `names` over static `extents` (C order)."""
    if not names:
        return []
    lines = [f"{pad}rest = {flat}"]
    for d in range(len(names) - 1, 0, -1):
        lines += [f"{pad}{names[d]} = rest % {extents[d]}", f"{pad}rest = rest // {extents[d]}"]
    return lines + [f"{pad}{names[0]} = rest"]


def _store(lines: list[str], anchor: Op, inputs: Sequence[Value], root: Value, out: list[str],
           pad: str) -> None:
    """The epilogue at output index `out`, the anchor's value being ``acc``, then the store."""
    epi = element_gen(inputs, out, bound={anchor.results[0]: "acc"})
    result = epi.at(root, tuple(out))
    lines += [pad + s for s in flat_statements(epi)] + [f"{pad}out[{index_text(out)}] = {result}"]


def _shared_type(dtype) -> str:
    return f"numba.{dtype.numpy.name}"


def matmul_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value) -> CudaKernel:
    (dot,) = [op for op in ops if op.name == "xl.dot_general"]
    lhs, rhs = dot.operands
    (ca, cb), (ba, bb) = dot.attributes["contract"], dot.attributes["batch"]
    fa, fb = free_dims(lhs.type.rank, ca, ba), free_dims(rhs.type.rank, cb, bb)
    ls, rs = lhs.type.shape, rhs.type.shape
    nb, m, k = (math.prod(ls[d] for d in dims) for dims in (ba, fa, ca))
    n = math.prod(rs[d] for d in fb)
    dtype = dot.results[0].type.dtype
    a, b = f"in{inputs.index(lhs)}", f"in{inputs.index(rhs)}"
    bi = [f"bi{j}" for j in range(len(ba))]
    mi = [f"mi{j}" for j in range(len(fa))]
    ni = [f"ni{j}" for j in range(len(fb))]

    def operand(name: str, rank: int, batch, free, contract, bidx, fidx, cidx) -> str:
        idx = [""] * rank
        for d, v in zip(batch, bidx):
            idx[d] = v
        for d, v in zip(free, fidx):
            idx[d] = v
        for d, v in zip(contract, cidx):
            idx[d] = v
        return f"{name}[{index_text(idx)}]"

    ka = [f"ka{j}" for j in range(len(ca))]
    kb = [f"kb{j}" for j in range(len(cb))]
    zero = literal(0, dtype)
    params = [f"in{j}" for j in range(len(inputs))] + ["out"]
    p = "        "
    lines = [f"def kernel({', '.join(params)}):",
             f"    sa = cuda.shared.array(({TILE}, {TILE}), {_shared_type(dtype)})",
             f"    sb = cuda.shared.array(({TILE}, {TILE}), {_shared_type(dtype)})",
             "    tx = cuda.threadIdx.x", "    ty = cuda.threadIdx.y",
             f"    row = cuda.blockIdx.y * {TILE} + ty", f"    col = cuda.blockIdx.x * {TILE} + tx",
             "    batch = cuda.blockIdx.z"]
    lines += _split("batch", bi, [ls[d] for d in ba], "    ")
    lines += [f"    acc = {zero}", f"    for k0 in range(0, {k}, {TILE}):",
              "        kx = k0 + tx", "        ky = k0 + ty",
              f"        if row < {m} and kx < {k}:"]
    lines += _split("row", mi, [ls[d] for d in fa], p + "    ")
    lines += _split("kx", ka, [ls[d] for d in ca], p + "    ")
    lines += [f"{p}    sa[ty, tx] = {operand(a, lhs.type.rank, ba, fa, ca, bi, mi, ka)}",
              f"{p}else:", f"{p}    sa[ty, tx] = {zero}",
              f"{p}if col < {n} and ky < {k}:"]
    lines += _split("col", ni, [rs[d] for d in fb], p + "    ")
    lines += _split("ky", kb, [rs[d] for d in cb], p + "    ")
    lines += [f"{p}    sb[ty, tx] = {operand(b, rhs.type.rank, bb, fb, cb, bi, ni, kb)}",
              f"{p}else:", f"{p}    sb[ty, tx] = {zero}",
              f"{p}cuda.syncthreads()",
              f"{p}for t in range({TILE}):", f"{p}    acc += sa[ty, t] * sb[t, tx]",
              f"{p}cuda.syncthreads()",
              f"    if row < {m} and col < {n}:"]
    lines += _split("row", mi, [ls[d] for d in fa], p) + _split("col", ni, [rs[d] for d in fb], p)
    _store(lines, dot, inputs, root, bi + mi + ni, p)
    grid = (max(1, -(-n // TILE)), max(1, -(-m // TILE)), max(1, nb))
    return CudaKernel("\n".join(lines) + "\n", grid, (TILE, TILE))


# ------------------------------------------------------------------ the conv2d family
def _geometry(conv: Op):
    a = conv.attributes
    (pt, _), (pl, _) = a["padding"]
    return a["stride"], (pt, pl), a["dilation"], a["groups"]


def conv_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, conv: Op) -> CudaKernel:
    (s0, s1), (p0, p1), (d0, d1), groups = _geometry(conv)
    x, y = (f"in{inputs.index(v)}" for v in conv.operands)
    dtype = conv.results[0].type.dtype
    zero = literal(0, dtype)
    params = [f"in{j}" for j in range(len(inputs))] + ["out"]
    out = ["n", "c", "h", "w"]
    if conv.name == "xl.conv2d_grad_weight":
        return _grad_weight_kernel(ops, inputs, root, conv, x, y, params)
    lines = [f"def kernel({', '.join(params)}):",
             "    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):"]
    lines += decompose("flat", out, "out", "        ") + [f"        acc = {zero}"]
    if conv.name == "xl.conv2d":  # x, w: out[n, c(out channel), h, w]
        o, cg, kh, kw = conv.operands[1].type.shape
        og = o // groups
        xh, xw = conv.operands[0].type.shape[2:]
        lines += [f"        g = c // {og}", f"        for ci in range({cg}):",
                  f"            for i in range({kh}):",
                  f"                yy = h * {s0} + i * {d0} - {p0}",
                  f"                if yy < 0 or yy >= {xh}:", "                    continue",
                  f"                for j in range({kw}):",
                  f"                    zz = w * {s1} + j * {d1} - {p1}",
                  f"                    if 0 <= zz < {xw}:",
                  f"                        acc += {x}[n, g * {cg} + ci, yy, zz] * {y}[c, ci, i, j]"]
    else:  # grad_input: g, w: out[n, c(in channel), h, w]
        gt, wt = conv.operands[0].type.shape, conv.operands[1].type.shape
        o, cg, kh, kw = wt
        og = o // groups
        oh, ow = gt[2:]
        lines += [f"        g = c // {cg}", f"        ci = c % {cg}", f"        for oc in range({og}):",
                  f"            o = g * {og} + oc", f"            for i in range({kh}):",
                  f"                yy = h + {p0} - i * {d0}",
                  f"                if yy < 0 or yy % {s0} != 0 or yy // {s0} >= {oh}:",
                  "                    continue", f"                for j in range({kw}):",
                  f"                    zz = w + {p1} - j * {d1}",
                  f"                    if zz >= 0 and zz % {s1} == 0 and zz // {s1} < {ow}:",
                  f"                        acc += {x}[n, o, yy // {s0}, zz // {s1}] * {y}[o, ci, i, j]"]
    _store(lines, conv, inputs, root, out, "        ")
    return CudaKernel("\n".join(lines) + "\n", grid_for(conv.results[0].type.size), THREADS)


def _grad_weight_kernel(ops, inputs, root, conv, x, gy, params) -> CudaKernel:
    (s0, s1), (p0, p1), (d0, d1), groups = _geometry(conv)
    n, c, xh, xw = conv.operands[0].type.shape
    _, o, oh, ow = conv.operands[1].type.shape
    dtype = conv.results[0].type.dtype
    cg, og = c // groups, o // groups
    total = n * oh * ow
    zero = literal(0, dtype)
    lines = [f"def kernel({', '.join(params)}):",
             f"    part = cuda.shared.array({THREADS}, {_shared_type(dtype)})",
             "    t = cuda.threadIdx.x",
             "    for flat in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):"]
    out = ["oc", "ci", "i", "j"]
    lines += decompose("flat", out, "out", "        ")
    lines += [f"        g = oc // {og}", f"        acc = {zero}",
              f"        for q in range(t, {total}, {THREADS}):"]
    lines += _split("q", ["b", "y", "z"], [n, oh, ow], "            ")
    lines += [f"            yy = y * {s0} + i * {d0} - {p0}", f"            zz = z * {s1} + j * {d1} - {p1}",
              f"            if 0 <= yy < {xh} and 0 <= zz < {xw}:",
              f"                acc += {x}[b, g * {cg} + ci, yy, zz] * {gy}[b, oc, y, z]",
              "        part[t] = acc", "        cuda.syncthreads()", f"        width = {THREADS // 2}",
              "        while width > 0:", "            if t < width:",
              f"                part[t] = {combine('sum', 'part[t]', 'part[t + width]', dtype.is_float)}",
              "            cuda.syncthreads()", "            width //= 2",
              "        if t == 0:", "            acc = part[0]"]
    _store(lines, conv, inputs, root, out, "            ")
    lines.append("        cuda.syncthreads()")
    return CudaKernel("\n".join(lines) + "\n", max(1, min(conv.results[0].type.size, MAX_BLOCKS)),
                      THREADS)
