"""``fuse-rows``: the reductions of one row space and their consumers become one ``rows`` kernel.

After ``fuse``, a row softmax is three kernels (max; sum of exp(x - max); exp(x - max) / sum),
each sweeping the whole array and the last recomputing the exponentials. When every reduction
runs over the last axis of sources of one shape ``outer + [n]`` and a row fits in cache, one
kernel can do all of it row by row: each reduction's prologue goes into a row buffer that
stays in L1, later phases read the buffer and the per-row results, and the input comes from
memory once. That is the hand-written softmax and layer norm (issue 16: W2 was 0.88x the best
hand-written Numba kernel as three kernels).

Members: top-level reduction groups (a ``reduction`` fusion or a single reduction) of the
final op's row space whose results are read only by other members, per row (see
``xlalite.ops.fusion.reads_per_row``), and the final op: a ``loop`` group of the rows' shape
or one more reduction group. The merged body is CSE'd, so the final op reads the buffered
exponentials instead of recomputing them. Contract: valid IR in, valid IR out, the same
results on the interpreter (the same ops, merged); only targets with a ``rows`` kernel
(numba-cpu) run this pass.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Block, Function, Op, Value, clone_op
from xlalite.ops.fusion import check_rows, make_fusion, row_space
from xlalite.ops.registry import Trait, has_trait
from xlalite.passes.cse import cse_block
from xlalite.passes.dce import dce_block
from xlalite.passes.manager import FunctionPass, register_pass

#: the largest row (bytes per buffered value) fused: beyond a core's L2 the later phases
#: would read the buffers from memory again, and separate kernels are as fast
MAX_ROW_BYTES = 1 << 18


def _body(op: Op) -> tuple[list[Op], list[Value], Value]:
    """(ops, block arguments, root) of a fusion, or of a single op as its own group."""
    if op.name == "xl.fusion":
        block = op.regions[0].blocks[0]
        return list(block.ops[:-1]), list(block.args), block.ops[-1].operands[0]
    return [op], list(op.operands), op.results[0]


def _reduction(op: Op) -> Op | None:
    """The reduction of a top-level reduction group, else None."""
    if op.name == "xl.fusion" and op.attributes["kind"] == "reduction":
        return next(o for o in _body(op)[0] if has_trait(o, Trait.REDUCTION))
    return op if has_trait(op, Trait.REDUCTION) and not op.regions else None


def _space(op: Op) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(outer shape, source shape) of a top-level reduction group over the last axis."""
    red = _reduction(op)
    if red is None or len(op.results) != 1 or (outer := row_space(red)) is None:
        return None
    return outer, red.operands[0].type.shape


def _members(final: Op) -> list[Op] | None:
    """The top-level ops merged with `final` (block order, `final` last), or None."""
    space = _space(final)
    if space is None:  # a loop group: its rows' shape decides, from the reductions it reads
        if final.name != "xl.fusion" or final.attributes["kind"] != "loop":
            return None
        found = [s for v in final.operands if v.defining_op is not None
                 and (s := _space(v.defining_op)) is not None and s[1] == final.results[0].type.shape]
        if not found:
            return None
        space = found[0]
    members, stack = {final}, [final]
    while stack:  # every reduction group of the space this one reads, transitively
        for v in stack.pop().operands:
            p = v.defining_op
            if p is not None and p not in members and p.parent is final.parent and _space(p) == space:
                members.add(p)
                stack.append(p)
    changed = True
    while changed:  # a member read outside the group stays a kernel of its own
        changed = False
        for p in list(members - {final}):
            if any(u.op not in members for u in p.results[0].uses):
                members.discard(p)
                changed = True
    if len(members) < 2:
        return None
    dtypes = {red.operands[0].type.dtype for p in members if (red := _reduction(p)) is not None}
    if len(dtypes) != 1 or space[1][-1] * next(iter(dtypes)).numpy.itemsize > MAX_ROW_BYTES:
        return None
    block = final.parent
    assert block is not None
    return [op for op in block.ops if op in members]


def _merge(block: Block, members: list[Op]) -> Op | None:
    """One ``rows`` fusion computing what `members` do, in place of the last; None (nothing
    changed) when the merged body is not a rows group (a result read at another row)."""
    inputs: list[Value] = []
    for op in members:
        for v in op.operands:
            if v.defining_op not in members and v not in inputs:
                inputs.append(v)

    def body(inner: Block) -> list[Value]:
        mapping = dict(zip(inputs, inner.args))
        for op in members:
            ops, args, root = _body(op)
            local = {a: mapping[v] for a, v in zip(args, op.operands)}
            for o in ops:
                inner.append(clone_op(o, local))
            mapping[op.results[0]] = local[root]
        return [mapping[members[-1].results[0]]]

    fusion = make_fusion(inputs, "rows", body)
    inner = fusion.regions[0].blocks[0]
    cse_block(inner, ChainMap())
    dce_block(inner)
    if check_rows(inner.ops[:-1], inner.ops[-1].operands[0]):
        fusion.erase()  # detached: this only drops its uses of the inputs
        return None
    final = members[-1]
    fusion.loc = final.loc
    block.insert_before(final, fusion)
    final.results[0].replace_all_uses_with(fusion.results[0])
    for op in reversed(members):
        op.erase()
    return fusion


def fuse_rows_block(block: Block) -> int:
    """Merge the row groups of `block` and of its control-flow bodies; returns kernels saved."""
    saved = 0
    for op in block.ops:
        if has_trait(op, Trait.CONTROL):
            saved += sum(fuse_rows_block(b) for r in op.regions for b in r.blocks)
    for op in reversed(list(block.ops)):
        if op.parent is None or op.name in TERMINATORS:
            continue  # erased as a member of a later group
        members = _members(op)
        if members is not None and _merge(block, members) is not None:
            saved += len(members) - 1
    return saved


@register_pass
@dataclass(frozen=True)
class FuseRows(FunctionPass):
    """Merge a row space's reductions and their consumer into one pass over each row."""

    name = "fuse-rows"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"kernels-saved": fuse_rows_block(func.body)}
