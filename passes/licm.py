"""``licm``: loop-invariant code motion out of ``xl.while`` and ``xl.scan`` bodies.

An op of a loop body whose operands are all loop-invariant (the body's const arguments,
constants, or other invariant ops) computes the same value every iteration: it moves in
front of the loop, and its result enters the body as one more const. The textbook case is an
RNN's input projection or the transposed weights of its backward pass. Not moved: ops with
effects, unregistered ops, constants themselves (canonicalize sinks them back in to fold), and
broadcasts that would materialize a larger array than they read (fusion computes those
inline for free); when a moved op reads one of those, a copy of it goes along. Bodies are
processed innermost first, so an op can leave several loops.
Contract: valid IR in, valid IR out, same results.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Block, Function, Op, Region, Value, clone_op
from xlalite.ops.regions import drop_args
from xlalite.ops.registry import FusionKind, Trait, find_op, fusion_kind, has_trait
from xlalite.passes.manager import FunctionPass, register_pass

LOOPS = ("xl.while", "xl.scan")


def _pure(op: Op) -> bool:
    opdef = find_op(op.name)
    return opdef is not None and opdef.pure and op.name not in TERMINATORS


def _movable(op: Op) -> bool:
    if not _pure(op) or op.name == "xl.constant":
        return False
    grows = sum(r.type.size for r in op.results) > sum(v.type.size for v in op.operands)
    return not (fusion_kind(op) <= FusionKind.BROADCAST and grows)


def hoist_loop(loop: Op) -> int:
    """Move the invariant ops of `loop`'s regions in front of it; returns how many moved."""
    k = loop.attributes["num_consts"]
    invariant: set[Value] = set()  # body values equal in every iteration
    moved: list[Op] = []
    for region in loop.regions:
        block = region.blocks[0]
        invariant.update(block.args[:k])
        for op in list(block.ops):
            if not _pure(op) or not all(v in invariant for v in op.operands):
                continue
            invariant.update(op.results)
            if _movable(op):
                moved.append(op)
    if not moved:
        return 0
    assert loop.parent is not None
    parent = loop.parent
    mapping: dict[Value, Value] = {}
    for region in loop.regions:
        mapping.update(zip(region.blocks[0].args[:k], loop.operands[:k]))

    def outside(v: Value) -> Value:
        """`v` in front of the loop: constants and ops that stay in the body (broadcasts)
        are cloned there for the ops that move."""
        if v not in mapping:
            producer = v.defining_op
            assert producer is not None
            for operand in producer.operands:
                outside(operand)
            parent.insert_before(loop, clone_op(producer, mapping))
        return mapping[v]

    for op in moved:
        outside(op.results[0])
    # results still read inside (by ops that stay, or yielded) enter as new consts
    stay = {o for r in loop.regions for o in r.blocks[0].ops} - set(moved)
    entering = [r for op in moved for r in op.results if any(u.op in stay for u in r.uses)]
    new_args: dict[Block, list[Value]] = {}
    for region in loop.regions:
        block = region.blocks[0]
        args = [Value(v.type, block, 0) for v in entering]
        block.args[k:k] = args
        for i, a in enumerate(block.args):
            a.index = i
        new_args[block] = args
    for j, v in enumerate(entering):
        for use in list(v.uses):
            if use.op in stay:
                use.op.set_operand(use.index, new_args[_body_of(use.op, loop)][j])
    for op in reversed(moved):
        op.erase()
    operands = list(loop.operands)
    consts = operands[:k] + [mapping[v] for v in entering]
    # consts only the moved ops read are dropped
    blocks = [r.blocks[0] for r in loop.regions]
    unused = {i for i in range(len(consts)) if not any(b.args[i].uses for b in blocks)}
    for block in blocks:
        drop_args(block, unused)
    loop.set_operands([v for i, v in enumerate(consts) if i not in unused] + operands[k:])
    loop.attributes["num_consts"] = len(consts) - len(unused)
    return len(moved)


def _body_of(op: Op, loop: Op) -> Block:
    block = op.parent
    assert block is not None and isinstance(block.parent, Region) and block.parent.parent is loop
    return block


def licm_block(block: Block) -> int:
    """Hoist invariant ops out of every loop in `block` and in their bodies, innermost first."""
    moved = 0
    for op in list(block.ops):
        if has_trait(op, Trait.CONTROL):
            for region in op.regions:
                for inner in region.blocks:
                    moved += licm_block(inner)
            if op.name in LOOPS:
                moved += hoist_loop(op)
    return moved


@register_pass
@dataclass(frozen=True)
class LoopInvariantCodeMotion(FunctionPass):
    """Move loop-invariant ops out of while and scan bodies."""

    name = "licm"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"ops-hoisted": licm_block(func.body)}
