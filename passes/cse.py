"""``cse``: common-subexpression elimination of pure ops.

Two ops are the same expression when they have the same name, operands (by identity),
attributes and result types. The later one is replaced by the earlier one, which dominates it
(straight-line blocks). Regions are isolated from above (a body reads only its block arguments),
so each region block starts a scope of its own. Ops with effects, with regions, and unregistered
ops are never merged.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Block, Function, Op
from xlalite.ops.registry import find_op
from xlalite.passes.manager import FunctionPass, register_pass


def _key(op: Op) -> tuple | None:
    opdef = find_op(op.name)
    if opdef is None or not opdef.pure or op.regions:
        return None
    key = (op.name, tuple(op.operands), tuple(op.attributes.items()), tuple(op.result_types))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def cse_block(block: Block, known: ChainMap) -> int:
    """Merge duplicate expressions in `block`; `known` holds those seen before in it."""
    merged = 0
    for op in list(block.ops):
        if op.name in TERMINATORS:
            continue
        for region in op.regions:
            for inner in region.blocks:
                merged += cse_block(inner, ChainMap())
        key = _key(op)
        if key is None:
            continue
        earlier = known.get(key)
        if earlier is None:
            known[key] = op
            continue
        for old, new in zip(op.results, earlier.results, strict=True):
            old.replace_all_uses_with(new)
        op.erase()
        merged += 1
    return merged


@register_pass
@dataclass(frozen=True)
class CommonSubexpressionElimination(FunctionPass):
    """Merge identical pure ops (name, operands, attributes, types)."""

    name = "cse"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"ops-merged": cse_block(func.body, ChainMap())}
