"""``dce``: remove ops whose results are unused and that have no side effects.

Contract: valid IR in, valid IR out. Ops whose declaration is not ``pure`` (e.g.
``xl.debug_print``) and unregistered ops are kept; ops inside regions are cleaned too.
Walking each block backwards removes whole dead chains in one sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Block, Module, Op
from xlalite.passes.manager import Pass, register_pass


def is_removable(op: Op) -> bool:
    """Pure, registered, not a terminator, and no result is used."""
    if op.name in TERMINATORS or any(r.uses for r in op.results):
        return False
    from xlalite.ops.registry import get_op

    try:
        return get_op(op.name).pure
    except KeyError:
        return False


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
class DeadCodeElimination(Pass):
    """Remove unused side-effect-free ops (regions included)."""

    name = "dce"

    def apply(self, module: Module) -> dict[str, int]:
        return {"ops-removed": sum(dce_block(f.body) for f in module.functions)}
