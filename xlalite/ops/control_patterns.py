"""Canonicalization patterns of the control-flow ops (declared with them in ``control.py``).

* ``cond`` with a constant predicate (or one branch): the taken branch inlined;
* ``scan`` of length 0: the carries are the inits and the ys empty; of length 1: the body
  inlined once;
* constant operands sunk into the regions (so they fold there); operands no region reads,
  scan outputs nobody uses, carries nothing reads (in the body or after the loop) and xs the
  body does not read removed.
"""

from __future__ import annotations

import numpy as np

from xlalite.ir.attributes import DenseElements
from xlalite.ir.builder import Builder
from xlalite.ir.core import Block, Op, Value, clone_op
from xlalite.ir.rewrite import Rewriter, constant_of
from xlalite.ir.types import TensorType
from xlalite.ops.regions import (
    drop_args,
    inline_block,
    rebuild,
    replace_yield,
    scan_parts,
    taken_branch,
)


# --- cond --------------------------------------------------------------------------------
def fold_cond(op: Op, rw: Rewriter) -> bool:
    """cond(constant p, ...) or a one-branch switch  =>  the taken branch, inlined"""
    literal = constant_of(op.operands[0])
    if literal is None and len(op.regions) != 1:
        return False
    k = 0 if literal is None else taken_branch(op, literal.array)
    values = inline_block(op.regions[k].blocks[0], op.operands[1:], rw.builder(op))
    rw.replace(op, values)
    return True


def _region_args(op: Op, first: int, count: int) -> list[list[Value]]:
    """Per region, its block arguments for operands first .. first + count."""
    offset = first - (1 if op.name == "xl.cond" else 0)
    return [r.blocks[0].args[offset:offset + count] for r in op.regions]


def simplify_operands(op: Op, rw: Rewriter, first: int, count: int, attr: str | None) -> bool:
    """Operands first .. first + count (cond inputs, loop consts) that are constants move
    into every region; ones no region reads are dropped. `attr` counts them (num_consts)."""
    args = _region_args(op, first, count)
    gone: set[int] = set()
    for i in range(count):
        v = op.operands[first + i]
        literal_op = v.defining_op if constant_of(v) is not None else None
        uses = [r_args[i] for r_args in args if r_args[i].uses]
        if literal_op is not None:
            for block_arg in uses:
                block = block_arg.owner
                assert isinstance(block, Block)
                copy = block.insert(0, clone_op(literal_op, {}))
                block_arg.replace_all_uses_with(copy.results[0])
            gone.add(i)
        elif not uses:
            gone.add(i)
    if not gone:
        return False
    offset = first - (1 if op.name == "xl.cond" else 0)
    for region in op.regions:
        drop_args(region.blocks[0], {offset + i for i in gone})
    operands = [v for j, v in enumerate(op.operands) if not first <= j < first + count
                or j - first not in gone]
    attrs = dict(op.attributes)
    if attr is not None:
        attrs[attr] = count - len(gone)
    rebuild(op, rw, operands, attrs, range(len(op.results)))
    return True


def cond_operands(op: Op, rw: Rewriter) -> bool:
    return simplify_operands(op, rw, 1, len(op.operands) - 1, None)


def loop_consts(op: Op, rw: Rewriter) -> bool:
    return simplify_operands(op, rw, 0, op.attributes["num_consts"], "num_consts")


# --- scan --------------------------------------------------------------------------------
def _empty(b: Builder, t: TensorType) -> Value:
    return b.add("xl.constant", value=DenseElements(np.zeros(t.shape, t.dtype.numpy), t))


def short_scan(op: Op, rw: Rewriter) -> bool:
    """scan of length 0  =>  (inits, empty ys);  of length 1  =>  the body, inlined once"""
    n = op.attributes["length"]
    if n > 1:
        return False
    consts, init, xs = scan_parts(op)
    b = rw.builder(op)
    c = len(init)
    if n == 0:
        rw.replace(op, list(init) + [_empty(b, r.type) for r in op.results[c:]])
        return True
    slices = []
    for x in xs:
        t = x.type
        part = b.add("xl.slice", x, start=(0,) * t.rank, limit=t.shape, stride=(1,) * t.rank)
        slices.append(b.add("xl.reshape", part, shape=t.shape[1:]))
    outs = inline_block(op.regions[0].blocks[0], consts + init + slices, b)
    ys = [b.add("xl.reshape", y, shape=r.type.shape) for y, r in zip(outs[c:], op.results[c:])]
    rw.replace(op, outs[:c] + ys)
    return True


def scan_outputs(op: Op, rw: Rewriter) -> bool:
    """Per-step outputs nobody reads, carries nothing reads (neither the body nor the code
    after the loop) and xs the body does not read are removed."""
    consts, init, xs = scan_parts(op)
    k, c = len(consts), len(init)
    block = op.regions[0].blocks[0]
    term = block.terminator
    assert term is not None
    dead_y = [j for j in range(c, len(op.results)) if not op.results[j].uses]
    dead_c = [j for j in range(c) if not op.results[j].uses and not block.args[k + j].uses]
    dead_x = [j for j in range(len(xs)) if not block.args[k + c + j].uses]
    if not dead_y and not dead_c and not dead_x:
        return False
    dead = set(dead_c) | set(dead_y)
    replace_yield(block, [v for j, v in enumerate(term.operands) if j not in dead])
    drop_args(block, {k + j for j in dead_c} | {k + c + j for j in dead_x})
    operands = consts + [v for j, v in enumerate(init) if j not in dead] + \
        [v for j, v in enumerate(xs) if j not in dead_x]
    attrs = dict(op.attributes, num_carries=c - len(dead_c))
    rebuild(op, rw, operands, attrs, [j for j in range(len(op.results)) if j not in dead])
    return True
