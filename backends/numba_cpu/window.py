"""Kernels for windowed reductions (max/avg pooling) and max pooling's gradient.

The window, strides and padding are written into the kernel as literals: LLVM then unrolls
the small window loops and keeps the running maximum in a register (a generic library loop
over runtime window tuples ran 5-25x slower on LeNet's 2x2 pools). Bounds tests appear only
for dims that have padding; without padding every window lies inside the input.
"""

from __future__ import annotations

import math

from xlalite.backends.numba_common.scalar import literal
from xlalite.ir.core import Op
from xlalite.ops.reduce import identity


def _pad(depth: int) -> str:
    return "    " * depth


def _window_loops(op: Op, lines: list[str], depth: int) -> tuple[int, str]:
    """Append the loops over window offsets (with bounds tests on padded dims) inside the
    output loops; return the new depth and the input index ``p0, p1, ...``."""
    a = op.attributes
    rank = op.operands[0].type.rank
    for d in range(rank):
        (low, high), s = a["padding"][d], a["strides"][d]
        start = f"o{d} * {s}" if s != 1 else f"o{d}"
        if a["window"][d] == 1 and not (low or high):  # a loop of one trip is no loop
            lines.append(_pad(depth) + f"p{d} = {start}")
            continue
        lines.append(_pad(depth) + f"for w{d} in range({a['window'][d]}):")
        depth += 1
        lines.append(_pad(depth) + f"p{d} = {start} + w{d}" + (f" - {low}" if low else ""))
        if low or high:
            lines.append(_pad(depth) + f"if p{d} < 0 or p{d} >= {op.operands[0].type.shape[d]}:")
            lines.append(_pad(depth + 1) + "continue")
    return depth, ", ".join(f"p{d}" for d in range(rank)) or "()"


def _output_loops(lines: list[str], rank: int, extent: str, parallel: bool) -> int:
    for d in range(rank):
        loop = "prange" if parallel and d == 0 else "range"
        lines.append(_pad(d + 1) + f"for o{d} in {loop}({extent}.shape[{d}]):")
    return rank + 1


def window_kernel(op: Op, parallel: bool) -> str:
    """out[o] = max (or mean) of x over the window of o; padding is the max's identity or 0,
    and the mean divides by the whole window (padding counts, as count_include_pad)."""
    x = op.operands[0].type
    is_max = op.name.endswith("max")
    lines = ["def kernel(in0, out):"]
    depth = _output_loops(lines, x.rank, "out", parallel)
    init = literal(identity("max" if is_max else "sum", x.dtype.numpy).item(), x.dtype)
    lines.append(_pad(depth) + f"acc = {init}")
    inner, index = _window_loops(op, lines, depth)
    if is_max:
        lines += [_pad(inner) + f"v = in0[{index}]",
                  _pad(inner) + "acc = v if (v > acc or v != v) else acc"]
        result = "acc"
    else:
        lines.append(_pad(inner) + f"acc += in0[{index}]")
        result = f"acc / {literal(math.prod(op.attributes['window']), x.dtype)}"
    outs = ", ".join(f"o{d}" for d in range(x.rank)) or "()"
    lines.append(_pad(depth) + f"out[{outs}] = {result}")
    return "\n".join(lines) + "\n"


def max_grad_parallel_safe(op: Op) -> bool:
    """Whether windows never overlap along dim 0, so threads taking different o0 never add
    into the same input element."""
    a = op.attributes
    return op.operands[0].type.rank > 0 and a["strides"][0] >= a["window"][0]


def _tiles_exactly(op: Op) -> bool:
    """Whether the windows tile x: no padding, no overlap, no gap, nothing left over. Then
    every input element belongs to exactly one window."""
    a = op.attributes
    return all(lo == hi == 0 and s == w and n * s == size for (lo, hi), s, w, n, size in zip(
        a["padding"], a["strides"], a["window"], op.operands[1].type.shape,
        op.operands[0].type.shape))


def window_max_grad_kernel(op: Op, parallel: bool) -> str:
    """out = reduce_window_max_grad(x, g): g[o] is added where the window of o first holds its
    maximum (the first NaN, if any), scanning offsets in row-major order.

    Two passes per window: its maximum (a select LLVM vectorizes), then the first position
    equal to it, claimed with selects. A single pass that tracks the argmax with branches ran
    about twice as slowly: the branch on random data is unpredictable. When the windows tile x
    (2x2 pooling with stride 2), every element is written once, with no zero-fill first."""
    x = op.operands[0].type
    rank = x.rank
    tiles = _tiles_exactly(op)
    lines = ["def kernel(in0, in1, out):"] + ([] if tiles else ["    out.reshape(-1)[:] = 0"])
    depth = _output_loops(lines, rank, "in1", parallel and max_grad_parallel_safe(op))
    init = literal(identity("max", x.dtype.numpy).item(), x.dtype)
    zero = literal(0, x.dtype)
    lines.append(_pad(depth) + f"best = {init}")
    inner, index = _window_loops(op, lines, depth)
    lines += [_pad(inner) + f"v = in0[{index}]",
              _pad(inner) + "best = v if (v > best or v != v) else best"]
    outs = ", ".join(f"o{d}" for d in range(rank)) or "()"
    lines += [_pad(depth) + f"g = in1[{outs}]", _pad(depth) + "taken = False"]
    inner, index = _window_loops(op, lines, depth)
    lines += [_pad(inner) + f"v = in0[{index}]",
              # a NaN anywhere makes best NaN, so `v != v` can only hold when best is NaN
              _pad(inner) + "hit = (not taken) & ((v == best) | (v != v))",
              _pad(inner) + f"out[{index}] {'=' if tiles else '+='} g if hit else {zero}",
              _pad(inner) + "taken = taken | hit"]
    return "\n".join(lines) + "\n"
