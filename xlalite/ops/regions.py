"""Structure helpers of ops with regions, shared by the control-flow ops' declarations,
VJP rules and canonicalization patterns: operand groups, region <-> function conversion,
inlining a region, and rebuilding an op with other operands."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xlalite.ir.builder import Builder
from xlalite.ir.core import RETURN, YIELD, Block, Function, Op, Region, Value, clone_op
from xlalite.ir.rewrite import Rewriter


def taken_branch(op: Op, index: np.ndarray) -> int:
    """The region a cond runs for predicate (bool) or index (integer) value `index`."""
    if np.asarray(index).dtype == np.bool_:
        return 0 if bool(index) else 1
    return int(min(max(int(index), 0), len(op.regions) - 1))


def while_parts(op: Op) -> tuple[list[Value], list[Value]]:
    """(consts, initial carries) of a while op."""
    k = op.attributes["num_consts"]
    return list(op.operands[:k]), list(op.operands[k:])


def scan_parts(op: Op) -> tuple[list[Value], list[Value], list[Value]]:
    """(consts, initial carries, xs) of a scan op."""
    k, c = op.attributes["num_consts"], op.attributes["num_carries"]
    return list(op.operands[:k]), list(op.operands[k:k + c]), list(op.operands[k + c:])


def block_function(block: Block, name: str = "body") -> Function:
    """A function computing what `block` yields from its arguments (a deep copy)."""
    term = block.terminator
    assert term is not None and term.name == YIELD
    func = Function(name, [a.type for a in block.args], [v.type for v in term.operands])
    mapping: dict[Value, Value] = dict(zip(block.args, func.args))
    for op in block.ops[:-1]:
        func.body.append(clone_op(op, mapping))
    func.body.append(Op(RETURN, [mapping[v] for v in term.operands], []))
    return func


def function_region(func: Function, outputs: Sequence[int]) -> Region:
    """`func`'s body as a region block yielding its outputs at `outputs` (a deep copy)."""
    block = Block(func.arg_types, [a.name_hint for a in func.args])
    mapping: dict[Value, Value] = dict(zip(func.args, block.args))
    for op in func.body.ops[:-1]:
        block.append(clone_op(op, mapping))
    block.append(Op(YIELD, [mapping[func.outputs[i]] for i in outputs], []))
    return Region([block])


def inline_block(block: Block, inputs: Sequence[Value], builder: Builder) -> list[Value]:
    """Clone `block`'s ops before the builder's point with its arguments bound to `inputs`;
    returns the values it yields."""
    mapping = dict(zip(block.args, inputs, strict=True))
    for op in block.ops[:-1]:
        builder.insert(clone_op(op, mapping))
    term = block.terminator
    assert term is not None
    return [mapping.get(v, v) for v in term.operands]


def rebuild(op: Op, rw: Rewriter, operands: Sequence[Value], attrs: dict[str, object],
            keep: Sequence[int]) -> Op:
    """Replace `op` by the same op (regions moved over) with new operands and attributes,
    keeping the results at `keep` (the others must be unused)."""
    regions, op.regions = op.regions, []
    new = Op(op.name, list(operands), [op.results[i].type for i in keep], attrs, regions, op.loc)
    rw.builder(op).insert(new)
    for j, i in enumerate(keep):
        rw.touched.extend(u.op for u in op.results[i].uses)
        op.results[i].replace_all_uses_with(new.results[j])
    rw.erase(op)
    return new


def drop_args(block: Block, indices: set[int]) -> None:
    """Remove unused block arguments at `indices`."""
    block.args = [a for i, a in enumerate(block.args) if i not in indices]
    for i, a in enumerate(block.args):
        a.index = i


def replace_yield(block: Block, values: Sequence[Value]) -> None:
    """Make `block` yield `values` instead of what it yields now."""
    term = block.terminator
    assert term is not None and term.name == YIELD
    term.drop_operands()
    new = Op(YIELD, list(values), [], loc=term.loc)
    block.ops[-1] = new
    new.parent, term.parent = block, None
