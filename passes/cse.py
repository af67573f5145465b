"""``cse``: common-subexpression elimination of pure ops.

Two ops are the same expression when they have the same name, operands (by identity),
attributes and result types. The later one is replaced by the earlier one, which dominates it
(straight-line blocks). Regions are isolated from above (a body reads only its block arguments),
so each region block starts a scope of its own. Ops with effects, fusions and unregistered ops
are never merged.

Control-flow ops (cond, while, scan) merge when their regions compute the same thing. One may
also compute more: a scan whose body stacks extra per-step values (as the scan VJP makes the
forward scan do) subsumes the plain scan over the same operands, which then reads the first
results of the larger one; the larger one moves up to where the smaller one was (its operands
are the same values, so they are defined there).
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass

from xlalite.ir.core import RETURN, TERMINATORS, Block, Function, Op, clone_op
from xlalite.ir.printer import print_function
from xlalite.ops.regions import replace_yield
from xlalite.ops.registry import Trait, find_op, has_trait
from xlalite.passes.dce import dce_block
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


def _key_ok(op: Op) -> bool:
    """Registered and free of effects (terminators count as such)."""
    opdef = find_op(op.name)
    return op.name in TERMINATORS or (opdef is not None and opdef.pure)


def _comparable(op: Op, n: int) -> bool:
    """Whether the first `n` results of `op` can be computed alone: a scan keeps its carries,
    a while loop all results (they are its carries), a cond any of them."""
    if op.name == "xl.scan":
        return n >= op.attributes["num_carries"]
    return op.name == "xl.cond" or n == len(op.results)


def _signature(op: Op, n: int) -> str:
    """The text of `op` computing only its first `n` results (its operands as arguments,
    later yields dropped, dead code removed)."""
    func = Function("signature", [v.type for v in op.operands], [])
    clone = clone_op(op, dict(zip(op.operands, func.args)))
    clone.results = clone.results[:n]
    for region in clone.regions:
        block = region.blocks[0]
        term = block.terminator
        assert term is not None
        replace_yield(block, term.operands[:n])
        dce_block(block)
    func.body.append(clone)
    func.body.append(Op(RETURN, clone.results, []))
    func.result_types = clone.result_types
    return print_function(func)


def _merge_control(op: Op, seen: list[Op]) -> bool:
    """Merge control-flow `op` with an earlier one of `seen` computing the same or more."""
    for i, earlier in enumerate(seen):
        if (earlier.name, earlier.operands, earlier.attributes) != \
                (op.name, op.operands, op.attributes):
            continue
        n = min(len(op.results), len(earlier.results))
        if not (_comparable(op, n) and _comparable(earlier, n)) or \
                _signature(op, n) != _signature(earlier, n):
            continue
        keep, drop = (earlier, op) if len(op.results) <= len(earlier.results) else (op, earlier)
        if keep is op:  # the larger loop takes the earlier one's place
            block = op.parent
            assert block is not None
            block.ops.remove(op)
            block.ops.insert(block.ops.index(earlier), op)
            seen[i] = op
        for old, new in zip(drop.results, keep.results):
            old.replace_all_uses_with(new)
        drop.erase()
        return True
    seen.append(op)
    return False


def cse_block(block: Block, known: ChainMap) -> int:
    """Merge duplicate expressions in `block`; `known` holds those seen before in it."""
    merged = 0
    control: list[Op] = []
    for op in list(block.ops):
        if op.name in TERMINATORS or op.parent is None:
            continue
        for region in op.regions:
            for inner in region.blocks:
                merged += cse_block(inner, ChainMap())
        if has_trait(op, Trait.CONTROL) and all(_key_ok(o) for o in op.walk()):
            merged += _merge_control(op, control)
            continue
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
