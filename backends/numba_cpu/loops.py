"""Loop-nest kernels for fused groups: ``loop`` and ``reduction``, and the elementwise epilogue
of product kernels (matmul.py, conv.py).

Elements come from the shared :class:`~xlalite.backends.numba_common.expr.ExprGen`; this
module nests loops over its depths, so loop-invariant work (a broadcast row value, a bias) is
hoisted out of inner loops. Kernels read shapes from their arrays, so one generated kernel
serves every shape with the same structure.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from xlalite.backends.numba_common.expr import ExprGen, combine, index_text, input_names
from xlalite.backends.numba_common.scalar import literal
from xlalite.backends.numba_cpu.scalar import scalars
from xlalite.ir.core import Op, Value
from xlalite.ir.types import DType
from xlalite.ops.reduce import identity
from xlalite.passes.fuse import is_reduction


def _loops(vars_: Sequence[str], bounds: Sequence[str], parallel: bool) -> list[str]:
    return [f"for {x} in {'prange' if parallel and k == 0 else 'range'}({b}):"
            for k, (x, b) in enumerate(zip(vars_, bounds))]


def _assemble(header: str, nest: list[str], buckets: dict[int, list[str]], store: list[str],
              after: dict[int, list[str]] | None = None) -> str:
    """Nested loops with each bucket's statements at its depth, `store` innermost."""
    lines = [header]
    depth_lines = lambda d: buckets.get(d, [])  # noqa: E731
    for d in range(len(nest) + 1):
        pad = "    " * (d + 1)
        lines.extend(pad + s for s in depth_lines(d))
        if d < len(nest):
            lines.append(pad + nest[d])
    lines.extend("    " * (len(nest) + 1) + s for s in store)
    return "\n".join(lines) + "\n"


def loop_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, parallel: bool,
                approx: bool = True, alias: int = -1) -> str:
    """out[i...] = root(i...) over the root's shape; input `alias` shares out's storage."""
    rank = root.type.rank
    idx = tuple(f"i{d}" for d in range(rank))
    gen = ExprGen({x: d + 1 for d, x in enumerate(idx)}, input_names(inputs, alias), {},
                  itertools.count(), scalars(approx))
    result = gen.at(root, idx)
    params = ", ".join([f"in{k}" for k in range(len(inputs))] + ["out"])
    nest = _loops(idx, [f"out.shape[{d}]" for d in range(rank)], parallel)
    return _assemble(f"def kernel({params}):", nest, gen.buckets,
                     [f"out[{index_text(idx)}] = {result}"])


#: independent accumulators for innermost-axis reductions: without fastmath LLVM may not
#: reorder a float reduction, but it can vectorize these lanes; they are combined in a fixed
#: order (lane 0..7, then the tail), so results are reproducible run to run
LANES = 8


def reduction_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value,
                     parallel: bool, approx: bool = True) -> tuple[str, tuple[int, ...]]:
    """out[o...] = epilogue(reduce over the reduced axes of prologue(x)[o..., r...]).

    Returns the source and the reduced extents, passed as arguments ``n0, n1, ...`` so one
    kernel serves every shape. When the innermost axis is reduced, each innermost row's
    prologue is computed into a buffer, then reduced into LANES partial accumulators that
    persist across the rows of one output (the elements past a multiple of LANES go to one
    more accumulator): both loops vectorize, where one fused loop with a loop-carried
    accumulator would not. The lanes are combined in a fixed order, so results are
    reproducible."""
    (red,) = [op for op in ops if is_reduction(op)]
    src = red.operands[0]
    axes = red.attributes["axes"]
    if src.type.rank >= 2 and tuple(axes) == tuple(range(src.type.rank - 1)):
        return column_reduction_kernel(red, inputs, root, parallel, approx)
    kind = red.name.removeprefix("xl.reduce_")
    dtype = src.type.dtype
    n_out = red.results[0].type.rank
    out_vars = [f"o{d}" for d in range(n_out)]
    red_vars = [f"r{d}" for d in range(len(axes))]
    use_lanes = bool(axes) and axes[-1] == src.type.rank - 1
    depth_of = {x: k + 1 for k, x in enumerate(out_vars + red_vars)}
    counter = itertools.count()
    in_names = {v: f"in{k}" for k, v in enumerate(inputs)}
    init = literal(identity(kind, dtype.numpy).item(), dtype)
    comb = lambda a, b: combine(kind, a, b, dtype.is_float)  # noqa: E731
    before: dict[int, list[str]] = {}  # statements at a depth, before its loop
    after: dict[int, list[str]] = {}  # ... and after it
    inner = n_out + len(red_vars)

    def full_index(red_index: Sequence[str]) -> tuple[str, ...]:
        it_red = iter(red_index)
        return tuple(next(it_red) if d in axes else out_vars[sum(1 for a in range(d) if a not in axes)]
                     for d in range(src.type.rank))

    pro = ExprGen(depth_of, in_names, {}, counter, scalars(approx))
    if not use_lanes:
        value = pro.at(src, full_index(red_vars))
        before.setdefault(n_out, []).append(f"acc = {init}")
        pro.buckets.setdefault(inner, []).append(f"acc = {comb('acc', value)}")
        loop_vars = red_vars
    else:
        # per innermost row: 1) the prologue into `row` (a plain loop LLVM vectorizes), 2) the
        # row into the lanes (vectorized too), its tail into `acc`; 3) lanes into acc, in order
        np_dtype = f"np.{dtype.numpy.name}"
        last = len(axes) - 1
        row_depth = n_out + last
        if src in in_names:  # no prologue: reduce the input row where it lies
            index = ", ".join(full_index(red_vars[:-1] + ["{}"]))
            row = f"{in_names[src]}[{index}]".format
            loop_vars = red_vars[:-1]  # no element loop: the lanes read the input directly
        else:
            value = pro.at(src, full_index(red_vars))
            before.setdefault(n_out, []).append(f"row = np.empty(n{last}, {np_dtype})")
            pro.buckets.setdefault(inner, []).append(f"row[r{last}] = {value}")
            row = "row[{}]".format
            loop_vars = red_vars
        start, per_row, finish = lane_reduction(kind, dtype, f"n{last}", row, "acc")
        before.setdefault(n_out, []).extend(start)
        after.setdefault(row_depth, []).extend(per_row)
        after.setdefault(n_out, []).extend(finish)
    for d, stmts in pro.buckets.items():
        before.setdefault(d, []).extend(stmts)
    # the accumulator is known at the output loop's depth, after the reduction loops
    epi = ExprGen({**depth_of, "acc": n_out}, in_names, {red.results[0]: "acc"}, counter,
                  scalars(approx))
    result = epi.at(root, tuple(out_vars))
    if n_out:  # loop-invariant epilogue values (a learning rate read from a rank-0 input)
        # are computed before the loops: inside a prange body after the reduction, Numba's
        # parfor lowering rejects them
        before.setdefault(0, []).extend(epi.buckets.pop(0, []))
    after.setdefault(n_out, []).extend(stmt for d in sorted(epi.buckets) for stmt in epi.buckets[d])
    after[n_out].append(f"out[{index_text(out_vars)}] = {result}")
    params = ", ".join([f"in{k}" for k in range(len(inputs))] + ["out"]
                       + [f"n{j}" for j in range(len(axes))])
    nest = (_loops(out_vars, [f"out.shape[{d}]" for d in range(n_out)], parallel and n_out > 0)
            + _loops(loop_vars, [f"n{j}" for j in range(len(loop_vars))], False))
    lines = [f"def kernel({params}):"]

    def emit(d: int) -> None:
        pad = "    " * (d + 1)
        lines.extend(pad + stmt for stmt in before.get(d, []))
        if d < len(nest):
            lines.append(pad + nest[d])
            emit(d + 1)
        lines.extend(pad + stmt for stmt in after.get(d, []))

    emit(0)
    return "\n".join(lines) + "\n", tuple(src.type.shape[a] for a in axes)


#: float sums add blocks of this many elements in LANES lanes, then the block sums pairwise
PAIRWISE_BLOCK = 256
#: pairwise levels kept per output: 2^64 blocks, more than any array has
PAIRWISE_LEVELS = 64


def lane_reduction(kind: str, dtype: DType, n: str, row: Callable[[str], str], acc: str,
                   tag: str = "") -> tuple[list[str], list[str], list[str]]:
    """Statements reducing rows ``row(0 .. n-1)`` into `acc`: (before the rows, per row,
    after the rows); temporaries end in `tag`, so reductions of one kernel keep apart.

    Max and min (exact in any order) and products (rounding relative per factor) fold each
    row into LANES vectorizable lanes, its tail into `acc`, the lanes into `acc` in order.
    A float sum's rounding error grows with log(n), as NumPy's pairwise sum: each row is cut
    into blocks of PAIRWISE_BLOCK, a block summed in LANES lanes, and the block sums combined
    pairwise as they come, like a binary counter (``lanes[LANES + k]`` holds the sum of 2^k
    blocks), over all rows of one output. A sequential accumulator was 2.7e-6 off on 1e7 f32
    values; NumPy 2e-8."""
    np_dtype = f"np.{dtype.numpy.name}"
    init = literal(identity(kind, dtype.numpy).item(), dtype)
    lanes, s, blocks, level, carry = (f"{x}{tag}" for x in ("lanes", "s", "blocks", "level", "carry"))
    if not (kind == "sum" and dtype.is_float):
        comb = lambda a, b: combine(kind, a, b, dtype.is_float)  # noqa: E731
        return ([f"{lanes} = np.empty({LANES}, {np_dtype})", f"{lanes}[:] = {init}", f"{acc} = {init}"],
                [f"for rb in range(0, {n} - {n} % {LANES}, {LANES}):",
                 f"    for k in range({LANES}):",
                 f"        {lanes}[k] = {comb(f'{lanes}[k]', row('rb + k'))}",
                 f"for rt in range({n} - {n} % {LANES}, {n}):",
                 f"    {acc} = {comb(acc, row('rt'))}"],
                [f"for k in range({LANES}):", f"    {acc} = {comb(acc, f'{lanes}[k]')}"])
    before = [f"{lanes} = np.empty({LANES + PAIRWISE_LEVELS}, {np_dtype})",  # lanes, then levels
              f"{blocks} = 0", f"{acc} = {init}"]
    per_row = [
        f"for bs in range(0, {n}, {PAIRWISE_BLOCK}):",
        f"    be = min(bs + {PAIRWISE_BLOCK}, {n})",
        f"    {lanes}[:{LANES}] = {init}",
        f"    for rb in range(bs, be - (be - bs) % {LANES}, {LANES}):",
        f"        for k in range({LANES}):",
        f"            {lanes}[k] = {lanes}[k] + {row('rb + k')}",
        f"    {s} = {init}",
        f"    for k in range({LANES}):",
        f"        {s} = {s} + {lanes}[k]",
        f"    for rt in range(be - (be - bs) % {LANES}, be):",
        f"        {s} = {s} + {row('rt')}",
        f"    {level} = 0",
        f"    {carry} = {blocks}",
        f"    while {carry} & 1:",  # merge equal-sized partial sums, as in binary addition
        f"        {s} = {lanes}[{LANES} + {level}] + {s}",
        f"        {level} += 1",
        f"        {carry} >>= 1",
        f"    {lanes}[{LANES} + {level}] = {s}",
        f"    {blocks} += 1"]
    after = [f"{level} = 0", f"{carry} = {blocks}", f"while {carry}:", f"    if {carry} & 1:",
             f"        {acc} = {lanes}[{LANES} + {level}] + {acc}", f"    {level} += 1",
             f"    {carry} >>= 1"]
    return before, per_row, after


COLUMN_BLOCK = 256


def column_reduction_kernel(red: Op, inputs: Sequence[Value], root: Value, parallel: bool,
                            approx: bool) -> tuple[str, tuple[int, ...]]:
    """Reduce every axis but the last (column sums, bias gradients): threads take blocks of
    COLUMN_BLOCK output columns and sweep the rows, so the innermost loop walks contiguous
    columns (vectorized) instead of striding down one column at a time."""
    src = red.operands[0]
    axes = red.attributes["axes"]
    kind = red.name.removeprefix("xl.reduce_")
    dtype = src.type.dtype
    red_vars = [f"r{j}" for j in range(len(axes))]
    depth_of = {"blk": 1, **{x: k + 2 for k, x in enumerate(red_vars)}, "o0": len(red_vars) + 2}
    counter = itertools.count()
    in_names = {v: f"in{k}" for k, v in enumerate(inputs)}
    pro = ExprGen(depth_of, in_names, {}, counter, scalars(approx), column=True)
    value = pro.at(src, tuple(red_vars) + ("o0",))
    init = literal(identity(kind, dtype.numpy).item(), dtype)
    inner = len(red_vars) + 2
    head = [f"c0 = blk * {COLUMN_BLOCK}", f"c1 = min(c0 + {COLUMN_BLOCK}, out.shape[0])",
            f"acc = np.empty(c1 - c0, np.{dtype.numpy.name})", f"acc[:] = {init}"]
    buckets = {1: head + pro.buckets.get(0, []) + pro.buckets.get(1, [])}  # depth 0: invariant
    for d in range(2, inner):
        buckets[d] = pro.buckets.get(d, [])
    loop = ["for j in range(c1 - c0):"]
    body = ["    o0 = c0 + j"] + ["    " + stmt for stmt in pro.buckets.get(inner, [])]
    body.append(f"    acc[j] = {combine(kind, 'acc[j]', value, dtype.is_float)}")
    epi = ExprGen({"o0": 1, "total": 1}, in_names, {red.results[0]: "total"}, counter,
                  scalars(approx))
    result = epi.at(root, ("o0",))
    invariant = epi.buckets.pop(0, [])  # before the prange loop (see reduction_kernel)
    finish = ["for j in range(c1 - c0):", "    o0 = c0 + j", "    total = acc[j]"]
    finish += ["    " + stmt for d in sorted(epi.buckets) for stmt in epi.buckets[d]]
    finish.append(f"    out[o0] = {result}")
    params = ", ".join([f"in{k}" for k in range(len(inputs))] + ["out"]
                       + [f"n{j}" for j in range(len(axes))])
    lines = [f"def kernel({params}):", *("    " + stmt for stmt in invariant),
             f"    nblocks = (out.shape[0] + {COLUMN_BLOCK - 1}) // {COLUMN_BLOCK}",
             f"    for blk in {'prange' if parallel else 'range'}(nblocks):"]
    for d in range(1, inner):
        pad = "    " * (d + 1)
        lines.extend(pad + stmt for stmt in buckets.get(d, []))
        if d < inner - 1:
            lines.append(f"{pad}for {red_vars[d - 1]} in range(n{d - 1}):")
    pad = "    " * inner
    lines.extend(pad + stmt for stmt in loop + body)
    pad = "    " * 2
    lines.extend(pad + stmt for stmt in finish)
    return "\n".join(lines) + "\n", tuple(src.type.shape[a] for a in axes)


def epilogue(lines: list[str], anchor: Op, inputs: Sequence[Value], root: Value, product: str,
              approx: bool, parallel: bool = False, alias: int = -1) -> None:
    """out[i...] = root(i...), reading the anchor's result from `product`, in place; input
    `alias` shares out's storage."""
    rank = root.type.rank
    idx = tuple(f"i{d}" for d in range(rank))
    names = input_names(inputs, alias)
    names[anchor.results[0]] = product
    gen = ExprGen({x: d + 1 for d, x in enumerate(idx)}, names, {}, itertools.count(),
                  scalars(approx))
    result = gen.at(root, idx)
    nest = _loops(idx, [f"out.shape[{d}]" for d in range(rank)], parallel)
    body = _assemble("", nest, gen.buckets, [f"out[{index_text(idx)}] = {result}"])
    lines.extend(body.splitlines()[1:])


