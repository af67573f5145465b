"""Row kernels: a ``rows`` fusion (``passes/fuse_rows.py``) as one pass over each row.

For each row ``o...`` of the outer shape, the reductions run in order as phases: a phase
computes its prologue into a row buffer (a plain loop LLVM vectorizes), reduces the buffer
in lanes (``loops.lane_reduction``, the reduction kernels' own order, so results are the
same bits as separate kernels) into ``acc<j>``; later phases read ``acc<j>`` and the buffer
in place of recomputing the prologue, and the last phase writes the output row. A row of
the buffers stays in L1, so the input comes from memory once. Every phase's statements sit
inside the outer loops (per row); the buffers are allocated once per thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from xlalite.backends.numba_common.expr import ExprGen, index_text
from xlalite.backends.numba_cpu.loops import _loops, lane_reduction
from xlalite.backends.numba_cpu.scalar import scalars
from xlalite.ir.core import Op, Value
from xlalite.passes.fuse import is_reduction


def _variants(idx: tuple[str, ...], shape: Sequence[int]) -> list[tuple[str, ...]]:
    """`idx` and the index ExprGen forms for the same element through a broadcast or reshape
    (``0`` at unit dims)."""
    unit = tuple("0" if n == 1 else i for i, n in zip(idx, shape))
    return [idx] if unit == idx else [idx, unit]


def rows_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, parallel: bool,
                approx: bool = True) -> tuple[str, tuple[int, ...]]:
    """The source of ``def kernel(in0, ..., out, n0)`` (n0: the row length) and its extents."""
    reductions = [op for op in ops if is_reduction(op)]
    full = reductions[0].operands[0].type.shape
    outer, m = full[:-1], len(full) - 1
    outs = tuple(f"o{d}" for d in range(m))
    row_idx = (*outs, "r0")
    depth_of = {**{x: d + 1 for d, x in enumerate(outs)}, "r0": m + 1,
                **{f"acc{j}": m for j in range(len(reductions))}}
    counter = itertools.count()
    in_names = {v: f"in{k}" for k, v in enumerate(inputs)}
    known: dict[tuple[Value, tuple[str, ...]], str] = {}
    buffers: list[str] = []  # allocated once per row loop (per slot once sliced)
    body: list[str] = []  # per row, in phase order

    def phase() -> ExprGen:
        gen = ExprGen(depth_of, in_names, {}, counter, scalars(approx))
        gen.memo.update(known)  # earlier phases' per-row results and row buffers
        return gen

    def per_row(gen: ExprGen) -> list[str]:
        return [s for d in sorted(gen.buckets) if d <= m for s in gen.buckets[d]]

    def row_loop(gen: ExprGen, store: str) -> list[str]:
        return ["for r0 in range(n0):", *("    " + s for s in gen.buckets.get(m + 1, [])),
                "    " + store]

    for j, red in enumerate(reductions):
        src, gen = red.operands[0], phase()
        if src in in_names:  # no prologue: reduce the input row where it lies
            row = f"{in_names[src]}[{', '.join(outs + ('{}',))}]".format
            loop: list[str] = []
        else:
            value = gen.at(src, row_idx)
            buffers.append(f"row{j} = np.empty(n0, np.{src.type.dtype.numpy.name})")
            loop = row_loop(gen, f"row{j}[r0] = {value}")
            row = f"row{j}[{{}}]".format
            for idx in _variants(row_idx, full):
                known[(src, idx)] = f"row{j}[{idx[-1]}]"
        start, each_row, finish = lane_reduction(red.name.removeprefix("xl.reduce_"),
                                                 src.type.dtype, "n0", row, f"acc{j}", str(j))
        body += per_row(gen) + start + loop + each_row + finish
        for idx in _variants(outs, outer):
            known[(red.results[0], idx)] = f"acc{j}"
    gen = phase()
    if root.type.shape == full:
        value = gen.at(root, row_idx)
        body += per_row(gen) + row_loop(gen, f"out[{index_text(row_idx)}] = {value}")
    else:
        value = gen.at(root, outs)
        body += per_row(gen) + [f"out[{index_text(outs)}] = {value}"]
    params = ", ".join([f"in{k}" for k in range(len(inputs))] + ["out", "n0"])
    nest = _loops(outs, [f"out.shape[{d}]" for d in range(m)], parallel)
    lines = [f"def kernel({params}):"]
    for d, loop_line in enumerate(nest):
        lines.append("    " * (d + 1) + loop_line)
        if d == 0:
            lines.extend("        " + s for s in buffers)
    lines.extend("    " * (m + 1) + s for s in body)
    return "\n".join(lines) + "\n", (full[-1],)
