"""Loop-nest kernels for fused groups: ``loop`` and ``reduction``, and the elementwise epilogue
of product kernels (matmul.py, conv.py).

A group is (ops, inputs, root): `inputs` are the values read from memory (kernel parameters
``in0, in1, ...``), `root` the value written to ``out``. :class:`ExprGen` computes any value of
the group at an index tuple by recursion through the ops (broadcasts and unit reshapes only
re-index their operand), naming each computed element once, and places every statement at
the shallowest loop depth its indices allow, so loop-invariant work (a broadcast row value, a
bias) is hoisted out of inner loops. Kernels read shapes from their arrays, so one generated
kernel serves every shape with the same structure.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

from xlalite.backends.base import CodegenError  # noqa: F401  (re-exported)
from xlalite.backends.numba_cpu.scalar import SCALAR, convert, literal, scalar_expr
from xlalite.ir.core import Op, Value
from xlalite.ops.reduce import identity
from xlalite.passes.fuse import REDUCTION_ANCHORS

_NAME = re.compile(r"[A-Za-z_]\w*")


def index_text(idx: Sequence[str]) -> str:
    return ", ".join(idx) if idx else "()"


class ExprGen:
    """Emits `name = expr` statements into per-depth buckets; `at(v, idx)` returns a name."""

    def __init__(self, depth_of: dict[str, int], inputs: dict[Value, str],
                 bound: dict[Value, str], counter: itertools.count, approx: bool = True,
                 column: bool = False, expr: Callable[[Op, list[str], bool], str] = scalar_expr):
        self.approx = approx
        self.expr = expr  # the element expression of an elementwise op (a backend's table)
        # column mode (column reductions): an input read whose last index is `o0` goes through
        # a row slice `in[r..., c0:c1]` indexed by `j`; LLVM vectorizes that, not in[r, c0 + j]
        self.column = column
        self.depth_of = depth_of  # loop variable -> depth (1-based); others are depth 0
        self.inputs = inputs
        self.bound = bound
        self.counter = counter
        self.memo: dict[tuple[Value, tuple[str, ...]], str] = {}
        self.level: dict[str, int] = {}  # temp name -> depth it was defined at
        self.buckets: dict[int, list[str]] = {}

    def _depth(self, parts: Sequence[str]) -> int:
        """Deepest loop any name in `parts` (index expressions like ``rb + 3`` too) needs."""
        names = [n for p in parts for n in _NAME.findall(p)]
        return max((self.depth_of.get(n, self.level.get(n, 0)) for n in names), default=0)

    def _emit(self, expr: str, depth: int) -> str:
        name = f"t{next(self.counter)}"
        self.buckets.setdefault(depth, []).append(f"{name} = {expr}")
        self.level[name] = depth
        return name

    def at(self, v: Value, idx: tuple[str, ...]) -> str:
        if v in self.bound:
            return self.bound[v]
        key = (v, idx)
        if key in self.memo:
            return self.memo[key]
        if v in self.inputs and self.column and idx and idx[-1] == "o0":
            lead = idx[:-1]
            row_key = (v, lead + ("c0:c1",))
            if row_key not in self.memo:
                self.memo[row_key] = self._emit(  # c0/c1 exist from the block loop on
                    f"{self.inputs[v]}[{', '.join(lead + ('c0:c1',))}]", max(1, self._depth(lead)))
            name = self._emit(f"{self.memo[row_key]}[j]", self._depth(idx))
        elif v in self.inputs:
            name = self._emit(f"{self.inputs[v]}[{index_text(idx)}]", self._depth(idx))
        else:
            name = self._compute(v.defining_op, v, idx)
        self.memo[key] = name
        return name

    def _compute(self, op: Op | None, v: Value, idx: tuple[str, ...]) -> str:
        if op is None:
            raise CodegenError("a block argument that is not a kernel input")
        a = op.attributes
        if op.name == "xl.broadcast_in_dim":
            src = op.operands[0]
            return self.at(src, tuple("0" if src.type.shape[i] == 1 else idx[d]
                                      for i, d in enumerate(a["dims"])))
        if op.name == "xl.reshape":  # only unit-dim reshapes are fused (see passes/fuse.py)
            src = op.operands[0]
            live = iter(i for i, d in zip(idx, v.type.shape) if d != 1)
            return self.at(src, tuple("0" if d == 1 else next(live) for d in src.type.shape))
        if op.name == "xl.constant":
            return literal(a["value"].array.reshape(-1)[0].item(), v.type.dtype)
        if op.name == "xl.iota":
            return self._emit(convert(idx[a["dim"]], v.type.dtype), self._depth(idx[a["dim"]:a["dim"] + 1]))
        if op.name not in SCALAR:
            raise CodegenError(f"'{op.name}' cannot be computed inside a loop kernel")
        args = [self.at(x, idx) for x in op.operands]
        return self._emit(self.expr(op, args, self.approx), self._depth(args))


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


def input_names(inputs: Sequence[Value], alias: int = -1) -> dict[Value, str]:
    """Kernel names of the inputs; the one `out` overwrites in place (`alias`) is read as
    ``out``. LLVM can then see that each element is read before it is written at the same
    index; as two arguments, a runtime overlap test fails and the loop runs scalar (10x)."""
    return {v: "out" if k == alias else f"in{k}" for k, v in enumerate(inputs)}


def loop_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, parallel: bool,
                approx: bool = True, alias: int = -1) -> str:
    """out[i...] = root(i...) over the root's shape; input `alias` shares out's storage."""
    rank = root.type.rank
    idx = tuple(f"i{d}" for d in range(rank))
    gen = ExprGen({x: d + 1 for d, x in enumerate(idx)}, input_names(inputs, alias), {},
                  itertools.count(), approx)
    result = gen.at(root, idx)
    params = ", ".join([f"in{k}" for k in range(len(inputs))] + ["out"])
    nest = _loops(idx, [f"out.shape[{d}]" for d in range(rank)], parallel)
    return _assemble(f"def kernel({params}):", nest, gen.buckets,
                     [f"out[{index_text(idx)}] = {result}"])


def _combine(kind: str, acc: str, v: str, is_float: bool) -> str:
    if kind == "sum":
        return f"{acc} + {v}"
    if kind == "prod":
        return f"{acc} * {v}"
    cmp = ">" if kind == "max" else "<"
    nan = f" or {v} != {v}" if is_float else ""
    return f"{v} if ({v} {cmp} {acc}{nan}) else {acc}"


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
    (red,) = [op for op in ops if op.name in REDUCTION_ANCHORS]
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
    comb = lambda a, b: _combine(kind, a, b, dtype.is_float)  # noqa: E731
    before: dict[int, list[str]] = {}  # statements at a depth, before its loop
    after: dict[int, list[str]] = {}  # ... and after it
    inner = n_out + len(red_vars)

    def full_index(red_index: Sequence[str]) -> tuple[str, ...]:
        it_red = iter(red_index)
        return tuple(next(it_red) if d in axes else out_vars[sum(1 for a in range(d) if a not in axes)]
                     for d in range(src.type.rank))

    pro = ExprGen(depth_of, in_names, {}, counter, approx)
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
        n = f"n{last}"
        before.setdefault(n_out, []).extend([f"lanes = np.empty({LANES}, {np_dtype})",
                                             f"lanes[:] = {init}", f"acc = {init}"])
        after.setdefault(row_depth, []).extend([
            f"for rb in range(0, {n} - {n} % {LANES}, {LANES}):",
            f"    for k in range({LANES}):",
            f"        lanes[k] = {comb('lanes[k]', row('rb + k'))}",
            f"for rt in range({n} - {n} % {LANES}, {n}):",
            f"    acc = {comb('acc', row('rt'))}"])
        after.setdefault(n_out, []).extend([f"for k in range({LANES}):",
                                            f"    acc = {comb('acc', 'lanes[k]')}"])
    for d, stmts in pro.buckets.items():
        before.setdefault(d, []).extend(stmts)
    epi = ExprGen(depth_of, in_names, {red.results[0]: "acc"}, counter, approx)
    result = epi.at(root, tuple(out_vars))
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
    pro = ExprGen(depth_of, in_names, {}, counter, approx, column=True)
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
    body.append(f"    acc[j] = {_combine(kind, 'acc[j]', value, dtype.is_float)}")
    epi = ExprGen({"o0": 1}, in_names, {red.results[0]: "total"}, counter, approx)
    result = epi.at(root, ("o0",))
    finish = ["for j in range(c1 - c0):", "    o0 = c0 + j", "    total = acc[j]"]
    finish += ["    " + stmt for d in sorted(epi.buckets) for stmt in epi.buckets[d]]
    finish.append(f"    out[o0] = {result}")
    params = ", ".join([f"in{k}" for k in range(len(inputs))] + ["out"]
                       + [f"n{j}" for j in range(len(axes))])
    lines = [f"def kernel({params}):",
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
    gen = ExprGen({x: d + 1 for d, x in enumerate(idx)}, names, {}, itertools.count(), approx)
    result = gen.at(root, idx)
    nest = _loops(idx, [f"out.shape[{d}]" for d in range(rank)], parallel)
    body = _assemble("", nest, gen.buckets, [f"out[{index_text(idx)}] = {result}"])
    lines.extend(body.splitlines()[1:])


def group_of(op: Op) -> tuple[list[Op], list[Value], Value]:
    """(ops, inputs, root) of a fusion op's region, or of a single op as its own group."""
    if op.name == "xl.fusion":
        block = op.regions[0].blocks[0]
        return list(block.ops[:-1]), list(block.args), block.terminator.operands[0]
    return [op], list(op.operands), op.results[0]


