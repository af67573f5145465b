"""``schedule-collectives``: start every collective as early as its operand allows.

A data-parallel step averages gradients bucket by bucket, and the last layers' buckets are
ready long before the backward pass ends. Tracing appends the bucket (a concatenate of the
gradients) and its ``xl.all_reduce`` after the whole gradient program, though. This pass
moves each collective, together with the pure ops computing its operand, up to just after
the last value they read, so a target that runs collectives without blocking (numba-cpu
starts an all-reduce there and waits before the first op reading its result) overlaps it with
the rest of the backward pass. Ops with effects keep their order relative to each other (a
collective never passes another collective or a print): every rank runs this same pass, so
all ranks still call the same collectives in the same order.

Top-level ops only (fusion groups count as one op); run after fuse, before plan-memory.
Contract: valid IR in, valid IR out, same results; only the order of ops changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Block, Function, Op
from xlalite.ops.collective import COLLECTIVES
from xlalite.ops.registry import find_op
from xlalite.passes.manager import FunctionPass, register_pass


def _has_effect(op: Op) -> bool:
    opdef = find_op(op.name)
    return op.name in TERMINATORS or opdef is None or not opdef.pure


def _cone(block: Block, root: Op) -> list[Op]:
    """`root` and the pure ops of `block` its operands depend on, producers first."""
    seen: set[int] = set()
    order: list[Op] = []

    def visit(op: Op) -> None:
        if id(op) in seen:
            return
        seen.add(id(op))
        for v in op.operands:
            producer = v.defining_op
            if producer is not None and producer.parent is block and not _has_effect(producer):
                visit(producer)
        order.append(op)

    visit(root)
    return order


def hoist(block: Block, op: Op, floor: int) -> bool:
    """Move `op` to just after the last producer of its operands (never above index
    `floor`); returns whether it moved."""
    ops = block.ops
    here = ops.index(op)
    target = floor
    for v in op.operands:
        producer = v.defining_op
        if producer is not None and producer.parent is block:
            target = max(target, ops.index(producer) + 1)
    if target >= here:
        return False
    ops.pop(here)
    ops.insert(target, op)
    return True


def schedule_block(block: Block) -> int:
    """Hoist every collective of `block` with its operand's pure producers; returns how many
    ops moved."""
    moved = 0
    for collective in [op for op in block.ops if op.name in COLLECTIVES]:
        # effects stay in order: nothing rises above the last effect before the collective
        here = block.ops.index(collective)
        floor = max((i + 1 for i, op in enumerate(block.ops[:here]) if _has_effect(op)),
                    default=0)
        for op in _cone(block, collective):
            moved += hoist(block, op, floor if op is collective else 0)
    return moved


@register_pass
@dataclass(frozen=True)
class ScheduleCollectives(FunctionPass):
    """Start collectives as early as their operands allow (overlap with the backward pass)."""

    name = "schedule-collectives"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"ops-moved": schedule_block(func.body)}
