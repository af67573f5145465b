"""``dce``: remove ops whose results are unused and that have no side effects.

Contract: valid IR in, valid IR out. Ops whose declaration is not ``pure`` (e.g.
``xl.debug_print``) and unregistered ops are kept; ops inside regions are cleaned too.
Walking each block backwards removes whole dead chains in one sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Block, Function, Op
from xlalite.ops.registry import find_op
from xlalite.passes.manager import FunctionPass, register_pass


def is_removable(op: Op) -> bool:
    """Pure, registered, not a terminator, and no result is used."""
    if op.name in TERMINATORS or any(r.uses for r in op.results):
        return False
    opdef = find_op(op.name)
    return opdef is not None and opdef.pure


def dce_block(block: Block) -> int:
    """Erase dead ops in `block` (and nested regions); returns how many were removed."""
    removed = 0
    for op in reversed(list(block.ops)):
        for region in op.regions:
            for inner in region.blocks:
                removed += dce_block(inner)
        if is_removable(op):
            op.erase()
            removed += 1
    return removed


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(FunctionPass):
    """Remove unused side-effect-free ops (regions included)."""

    name = "dce"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"ops-removed": dce_block(func.body)}
