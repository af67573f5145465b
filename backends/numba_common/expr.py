"""Expression generation shared by the Numba targets: element expressions over index tuples.

A group is (ops, inputs, root): `inputs` are the values read from memory (kernel parameters
``in0, in1, ...``), `root` the value written to ``out``. :class:`ExprGen` computes any value of
the group at an index tuple by recursion through the ops (broadcasts and unit reshapes only
re-index their operand), naming each computed element once, and places every statement at
the shallowest loop depth its indices allow, so loop-invariant work (a broadcast row value, a
bias) is hoisted out of inner loops. numba-cpu nests loops over the depths; numba-cuda puts
everything at one depth inside a grid-stride loop. Only the element table differs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from xlalite.backends.base import CodegenError
from xlalite.backends.numba_common.scalar import PLAIN, ScalarTable, convert, literal
from xlalite.ir.core import Op, Value

_NAME = re.compile(r"[A-Za-z_]\w*")


def index_text(idx: Sequence[str]) -> str:
    return ", ".join(idx) if idx else "()"


class ExprGen:
    """Emits `name = expr` statements into per-depth buckets; `at(v, idx)` returns a name."""

    def __init__(self, depth_of: dict[str, int], inputs: dict[Value, str],
                 bound: dict[Value, str], counter: itertools.count,
                 scalars: ScalarTable = PLAIN, column: bool = False):
        self.scalars = scalars  # the element expression of an elementwise op (a target's table)
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
        if op.name == "xl.slice":
            return self.at(op.operands[0], tuple(
                _offset(i, start, step)
                for i, start, step in zip(idx, a["start"], a["stride"], strict=True)))
        if op.name == "xl.constant":
            return literal(a["value"].array.reshape(-1)[0].item(), v.type.dtype)
        if op.name == "xl.iota":
            return self._emit(convert(idx[a["dim"]], v.type.dtype), self._depth(idx[a["dim"]:a["dim"] + 1]))
        if op.name not in self.scalars:
            raise CodegenError(f"'{op.name}' cannot be computed inside a loop kernel")
        args = [self.at(x, idx) for x in op.operands]
        return self._emit(self.scalars(op, args), self._depth(args))


def _offset(index: str, start: int, step: int) -> str:
    """The operand index `start + step * index` of a slice, as short as it gets."""
    scaled = index if step == 1 else f"{step} * {index}"
    if index == "0":
        return str(start)
    return scaled if start == 0 else f"{start} + {scaled}"


def input_names(inputs: Sequence[Value], alias: int = -1) -> dict[Value, str]:
    """Kernel names of the inputs; the one `out` overwrites in place (`alias`) is read as
    ``out``. LLVM can then see that each element is read before it is written at the same
    index; as two arguments, a runtime overlap test fails and the loop runs scalar (10x)."""
    return {v: "out" if k == alias else f"in{k}" for k, v in enumerate(inputs)}


def combine(kind: str, acc: str, v: str, is_float: bool) -> str:
    """The expression folding element `v` into accumulator `acc` for reduction `kind`
    (sum, prod, max, min; max and min propagate NaN, as NumPy does)."""
    if kind == "sum":
        return f"{acc} + {v}"
    if kind == "prod":
        return f"{acc} * {v}"
    cmp = ">" if kind == "max" else "<"
    nan = f" or {v} != {v}" if is_float else ""
    return f"{v} if ({v} {cmp} {acc}{nan}) else {acc}"



def group_of(op: Op) -> tuple[list[Op], list[Value], Value]:
    """(ops, inputs, root) of a fusion op's region, or of a single op as its own group."""
    if op.name == "xl.fusion":
        block = op.regions[0].blocks[0]
        return list(block.ops[:-1]), list(block.args), block.ops[-1].operands[0]
    return [op], list(op.operands), op.results[0]


